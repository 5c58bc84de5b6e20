/**
 * A small seeded pseudo-random generator (mulberry32) and a seeded shuffle,
 * so that batching and splits are the same for the same seed everywhere.
 *
 * @module
 */

/**
 * Returns a mulberry32 generator: each call gives a float in [0, 1). The same
 * seed gives the same sequence on every platform.
 *
 * @param seed Any integer (taken modulo 2^32).
 * @returns The generator.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const a = mulberry32(7), b = mulberry32(7);
 * assert.equal(a(), b());
 * ```
 */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Shuffles an array in place (Fisher–Yates) with a generator.
 *
 * @param items The array to shuffle.
 * @param random A generator of floats in [0, 1), for example {@linkcode mulberry32}.
 * @returns The same array.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const a = shuffle([1, 2, 3, 4, 5], mulberry32(1));
 * assert.deepEqual([...a].sort(), [1, 2, 3, 4, 5]);
 * assert.deepEqual(a, shuffle([1, 2, 3, 4, 5], mulberry32(1)));
 * ```
 */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}

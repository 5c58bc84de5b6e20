/**
 * Reference for the dropout family: the counter-based mask in plain u32
 * arithmetic (`Math.imul`, `>>> 0`), bit for bit what `shaders/dropout.wgsl`
 * computes, and inverted dropout in float64. For tests and benchmarks only.
 *
 * @module
 */

import { dropoutThreshold } from "./dropout.ts";

/**
 * The PCG RXS-M-XS 32-bit hash (Jarzynski & Olano 2020) on a u32.
 *
 * @param v the input, taken as u32
 * @returns the hash, a u32
 *
 * @example
 * ```ts
 * import { pcgHash } from "./dropout_ref.ts";
 * if (pcgHash(0) !== pcgHash(0) || pcgHash(0) === pcgHash(1)) throw new Error("not a hash");
 * ```
 */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

export { dropoutThreshold } from "./dropout.ts";

/**
 * The keep mask of one launch: `keep[i] = pcg(pcg(i) ^ pcg(seed ^ pcg(step))) ≥ threshold(p)`.
 *
 * @param n elements
 * @param options drop probability, seed and step
 * @returns 1 where kept, 0 where dropped
 *
 * @example
 * ```ts
 * import { dropoutMaskRef } from "./dropout_ref.ts";
 * const mask = dropoutMaskRef(8, { p: 0, seed: 1, step: 0 });
 * if (mask.some((m) => m !== 1)) throw new Error("p = 0 must keep everything");
 * ```
 */
export function dropoutMaskRef(
  n: number,
  options: { p: number; seed: number; step: number },
): Uint8Array {
  const key = pcgHash((options.seed ^ pcgHash(options.step)) >>> 0);
  const threshold = dropoutThreshold(options.p);
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = pcgHash((pcgHash(i) ^ key) >>> 0) >= threshold ? 1 : 0;
  return mask;
}

/**
 * Inverted dropout: y[i] = keep[i] · x[i] / (1 − p). Its backward is the same
 * map applied to dy (the map is linear and diagonal).
 *
 * @param x input (n)
 * @param options drop probability, seed and step
 * @returns y (n), float64
 *
 * @example
 * ```ts
 * import { dropoutRef } from "./dropout_ref.ts";
 * const y = dropoutRef([1, 2], { p: 0, seed: 3, step: 4 });
 * if (y.join() !== "1,2") throw new Error("p = 0 must be the identity");
 * ```
 */
export function dropoutRef(
  x: ArrayLike<number>,
  options: { p: number; seed: number; step: number },
): Float64Array {
  const mask = dropoutMaskRef(x.length, options);
  const scale = 1 / (1 - options.p);
  return Float64Array.from(x, (v, i) => mask[i] ? v * scale : 0);
}

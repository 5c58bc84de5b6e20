/**
 * A seeded split of sentences into train, dev and test sets.
 *
 * @module
 */

import { mulberry32, shuffle } from "./random.ts";

/** Options for {@linkcode splitCorpus}. */
export interface SplitOptions {
  /** The seed of the shuffle. Default 42. */
  seed?: number;
  /** Fractions for train, dev and test (normalised). Default `[0.8, 0.1, 0.1]`. */
  ratios?: readonly [number, number, number];
}

/** Three disjoint parts of a list. */
export interface Split<T> {
  /** The training part. */
  train: T[];
  /** The development (validation) part. */
  dev: T[];
  /** The test part. */
  test: T[];
}

/**
 * Shuffles items with a seed and cuts them into train, dev and test parts.
 * Dev and test get `floor(n · ratio)` items each; train gets the rest.
 *
 * @param items The items (for example sentences); not changed.
 * @param options The seed and the ratios.
 * @returns The three parts.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const parts = splitCorpus(Array.from({ length: 100 }, (_, i) => i), { seed: 1 });
 * assert.deepEqual([parts.train.length, parts.dev.length, parts.test.length], [80, 10, 10]);
 * ```
 */
export function splitCorpus<T>(items: readonly T[], options: SplitOptions = {}): Split<T> {
  const [a, b, c] = options.ratios ?? [0.8, 0.1, 0.1];
  const total = a + b + c;
  if (!(a >= 0 && b >= 0 && c >= 0 && total > 0)) {
    throw new RangeError(
      `Cannot split: expected three non-negative ratios with a positive sum, found [${a}, ${b}, ${c}]`,
    );
  }
  const order = shuffle(items.map((_, i) => i), mulberry32(options.seed ?? 42));
  const nDev = Math.floor((items.length * b) / total);
  const nTest = Math.floor((items.length * c) / total);
  const nTrain = items.length - nDev - nTest;
  const pick = (from: number, to: number) => order.slice(from, to).map((i) => items[i]);
  return {
    train: pick(0, nTrain),
    dev: pick(nTrain, nTrain + nDev),
    test: pick(nTrain + nDev, items.length),
  };
}

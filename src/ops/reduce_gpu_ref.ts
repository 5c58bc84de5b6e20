/**
 * Float64 reference for the split-K reductions (`reduce_gpu.ts`): column
 * sums over rows, written as plain loops. For tests and benchmarks only.
 *
 * @module
 */

/**
 * out[j] = Σ_i x[i, j] over an (m, n) row-major matrix, in float64.
 *
 * @param x the matrix, (m, n)
 * @param m rows
 * @param n columns
 * @returns the n column sums
 *
 * @example
 * ```ts
 * import { columnSumRef } from "./reduce_gpu_ref.ts";
 * if (columnSumRef([1, 2, 3, 4, 5, 6], 3, 2).join() !== "9,12") throw new Error("wrong");
 * ```
 */
export function columnSumRef(x: ArrayLike<number>, m: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) out[j] += x[i * n + j];
  }
  return out;
}

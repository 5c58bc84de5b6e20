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

/**
 * out[i, j] = Σ_r x[r, i] · y[r, j] (the product xᵀ·y) over row-major x (m, p)
 * and y (m, q), in float64.
 *
 * @param x the left rows, (m, p)
 * @param y the right rows, (m, q)
 * @param shape m rows, p and q columns
 * @returns out, (p, q)
 *
 * @example
 * ```ts
 * import { outerSumRef } from "./reduce_gpu_ref.ts";
 * const out = outerSumRef([1, 2], [1, 10, 100, 1000], { m: 2, p: 1, q: 2 });
 * if (out.join() !== "201,2010") throw new Error("wrong");
 * ```
 */
export function outerSumRef(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  shape: { m: number; p: number; q: number },
): Float64Array {
  const { m, p, q } = shape;
  const out = new Float64Array(p * q);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < q; j++) {
      let sum = 0;
      for (let r = 0; r < m; r++) sum += x[r * p + i] * y[r * q + j];
      out[i * q + j] = sum;
    }
  }
  return out;
}

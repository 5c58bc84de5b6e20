/**
 * Float64 reference for the matmul family, written from the maths with
 * plain loops. For tests and benchmarks only.
 *
 * @module
 */

import type { MatmulDims } from "./matmul.ts";

export type { MatmulDims } from "./matmul.ts";

/** op(A)[i, p] for A stored as `dims` says. */
function opA(a: ArrayLike<number>, dims: MatmulDims, i: number, p: number): number {
  return dims.transA ? a[p * dims.m + i] : a[i * dims.k + p];
}

/** op(B)[p, j] for B stored as `dims` says. */
function opB(b: ArrayLike<number>, dims: MatmulDims, p: number, j: number): number {
  return dims.transB ? b[j * dims.k + p] : b[p * dims.n + j];
}

/**
 * C[i, j] = Σ_p op(A)[i, p] · op(B)[p, j] + bias[j].
 *
 * @param a A, row-major
 * @param b B, row-major
 * @param dims shape and transposes
 * @param bias optional (n)
 * @returns C (m, n)
 *
 * @example
 * ```ts
 * import { matmulRef } from "./matmul_ref.ts";
 * const c = matmulRef([1, 2], [3, 4], { m: 1, n: 1, k: 2 });
 * if (c[0] !== 11) throw new Error("wrong");
 * ```
 */
export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dims: MatmulDims,
  bias?: ArrayLike<number>,
): Float64Array {
  const c = new Float64Array(dims.m * dims.n);
  for (let i = 0; i < dims.m; i++) {
    for (let j = 0; j < dims.n; j++) {
      let sum = bias ? bias[j] : 0;
      for (let p = 0; p < dims.k; p++) sum += opA(a, dims, i, p) * opB(b, dims, p, j);
      c[i * dims.n + j] = sum;
    }
  }
  return c;
}

/** Gradients of L with respect to A, B and the bias, stored as the inputs are. */
export interface MatmulGrads {
  /** dL/dA, same layout as A. */
  dA: Float64Array;
  /** dL/dB, same layout as B. */
  dB: Float64Array;
  /** dL/dbias (n). */
  dBias: Float64Array;
}

/**
 * Backward of {@linkcode matmulRef}: given dC, dA[i, p] = Σ_j dC[i, j]·op(B)[p, j],
 * dB[p, j] = Σ_i op(A)[i, p]·dC[i, j], dbias[j] = Σ_i dC[i, j] — each
 * scattered back into its input's storage layout.
 *
 * @param a A as given to the forward
 * @param b B as given to the forward
 * @param dC upstream gradient (m, n)
 * @param dims shape and transposes
 * @returns the three gradients
 *
 * @example
 * ```ts
 * import { matmulBackwardRef } from "./matmul_ref.ts";
 * const g = matmulBackwardRef([1, 2], [3, 4], [1], { m: 1, n: 1, k: 2 });
 * if (g.dA[1] !== 4 || g.dB[0] !== 1) throw new Error("wrong");
 * ```
 */
export function matmulBackwardRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dC: ArrayLike<number>,
  dims: MatmulDims,
): MatmulGrads {
  const { m, n, k } = dims;
  const dA = new Float64Array(m * k);
  const dB = new Float64Array(k * n);
  const dBias = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const g = dC[i * n + j];
      dBias[j] += g;
      for (let p = 0; p < k; p++) {
        dA[dims.transA ? p * m + i : i * k + p] += g * opB(b, dims, p, j);
        dB[dims.transB ? j * k + p : p * n + j] += g * opA(a, dims, i, p);
      }
    }
  }
  return { dA, dB, dBias };
}

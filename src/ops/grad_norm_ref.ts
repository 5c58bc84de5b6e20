/**
 * Float64 reference for the gradient-norm family: the global L2 norm and the
 * clip factor of `clip_grad_norm_`. For tests and benchmarks only.
 *
 * @module
 */

/**
 * The L2 norm sqrt(Σ g²) in float64 (NaN or Infinity when any g is).
 *
 * @param g the gradients
 * @returns the norm
 *
 * @example
 * ```ts
 * import { gradNormRef } from "./grad_norm_ref.ts";
 * if (gradNormRef([3, 4]) !== 5) throw new Error("wrong norm");
 * ```
 */
export function gradNormRef(g: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
  return Math.sqrt(sum);
}

/**
 * The factor that gradient-norm clipping multiplies every gradient by:
 * min(1, maxNorm / (norm + 1e-6)), or 1 when `maxNorm` ≤ 0 (clipping off).
 *
 * @param norm the global gradient norm
 * @param maxNorm the largest norm allowed; ≤ 0 disables clipping
 * @returns the factor in (0, 1]
 *
 * @example
 * ```ts
 * import { clipFactorRef } from "./grad_norm_ref.ts";
 * if (clipFactorRef(10, 1) > 0.1 || clipFactorRef(0.5, 1) !== 1) throw new Error("wrong factor");
 * ```
 */
export function clipFactorRef(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}

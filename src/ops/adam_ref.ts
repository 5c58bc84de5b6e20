/**
 * Float64 reference for the Adam family: one Adam or AdamW step with bias
 * correction, global gradient-norm clipping and the skip on non-finite
 * gradients, written from the maths (Kingma & Ba 2015, Algorithm 1;
 * Loshchilov & Hutter 2019 for the decoupled decay). For tests and
 * benchmarks only.
 *
 * @module
 */

import type { AdamHyper } from "./adam.ts";
import { clipFactorRef, gradNormRef } from "./grad_norm_ref.ts";

export type { AdamHyper } from "./adam.ts";

/** The optimizer state the reference updates in place. */
export interface AdamStateRef {
  /** Parameters (P). */
  params: Float64Array;
  /** First moments (P). */
  m: Float64Array;
  /** Second moments (P). */
  v: Float64Array;
}

/**
 * One optimizer step in float64, in place. The norm of `grads` decides
 * everything first: when it is not finite the state is left unchanged and
 * false is returned; otherwise gradients are scaled by the clip factor and
 *
 *   g ← c·grad + λ·p (Adam, L2 only)      m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²                m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t)
 *   p ← p − α·λ·p (AdamW only) − α·m̂ / (sqrt(v̂) + ε)
 *
 * Weight decay applies to indices below `decayEnd` only. With `active`
 * (lazy Adam), only elements marked 1 count in the norm and are updated; the
 * others keep their parameter and moments whatever their gradient holds.
 *
 * @param state params, m, v (updated in place)
 * @param grads the gradients (P)
 * @param hyper hyper-parameters
 * @param t the step number, 1-based
 * @param decayEnd weight decay applies to [0, decayEnd) (default: all)
 * @param active 1 for the elements this step updates (default: all)
 * @returns true when the step was applied, false when skipped
 *
 * @example
 * ```ts
 * import { adamStepRef } from "./adam_ref.ts";
 * const state = { params: Float64Array.of(1), m: new Float64Array(1), v: new Float64Array(1) };
 * adamStepRef(state, [0.5], { lr: 0.1 }, 1);
 * // The first step moves each parameter by ≈ lr against the gradient's sign.
 * if (Math.abs(state.params[0] - 0.9) > 1e-6) throw new Error(String(state.params[0]));
 * ```
 */
export function adamStepRef(
  state: AdamStateRef,
  grads: ArrayLike<number>,
  hyper: AdamHyper,
  t: number,
  decayEnd: number = state.params.length,
  active?: ArrayLike<number>,
): boolean {
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0 } = hyper;
  const decoupled = hyper.decoupled ?? true;
  const norm = gradNormRef(active ? Array.from(grads).filter((_, i) => active[i]) : grads);
  if (!Number.isFinite(norm)) return false;
  const c = clipFactorRef(norm, hyper.maxNorm ?? 0);
  const { params, m, v } = state;
  for (let i = 0; i < params.length; i++) {
    if (active && !active[i]) continue;
    const lambda = i < decayEnd ? weightDecay : 0;
    let g = c * grads[i];
    if (!decoupled) g += lambda * params[i];
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    const mHat = m[i] / (1 - beta1 ** t);
    const vHat = v[i] / (1 - beta2 ** t);
    if (decoupled) params[i] -= lr * lambda * params[i];
    params[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
  }
  return true;
}

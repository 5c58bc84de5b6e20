/**
 * Float64 reference for the softmax cross-entropy head (the plain BiLSTM
 * variant without a CRF): per-token loss −log softmax(emissions)[gold],
 * masked at padding, its gradient, and the argmax prediction. For tests
 * and benchmarks only.
 *
 * @module
 */

import type { CrfShape } from "./crf_ref.ts";

/** A padded batch for the softmax head. */
export interface SoftmaxBatch {
  /** (B, T, K) scores, row b·T + t. */
  emissions: ArrayLike<number>;
  /** (B) valid lengths. */
  lengths: ArrayLike<number>;
  /** (B, T) gold tag ids (only for the loss), ignored at padding. */
  tags?: ArrayLike<number>;
}

/** softmax of row `row` of (rows, K) as float64. */
function softmaxRow(x: ArrayLike<number>, row: number, k: number): Float64Array {
  let m = -Infinity;
  for (let j = 0; j < k; j++) m = Math.max(m, x[row * k + j]);
  const p = new Float64Array(k);
  let s = 0;
  for (let j = 0; j < k; j++) s += p[j] = Math.exp(x[row * k + j] - m);
  for (let j = 0; j < k; j++) p[j] /= s;
  return p;
}

/**
 * Per-token cross-entropy −log softmax(emissions[b, t])[tags[b, t]]; 0 at padding.
 *
 * @param batch emissions, tags, lengths
 * @param shape B, T, K
 * @returns (B, T) token losses
 *
 * @example
 * ```ts
 * import { softmaxXentRef } from "./softmax_xent_ref.ts";
 * const l = softmaxXentRef({ emissions: [0, 0, 0, 0], tags: [1, 0], lengths: [1] },
 *   { batch: 1, time: 2, tags: 2 });
 * if (Math.abs(l[0] - Math.log(2)) > 1e-12 || l[1] !== 0) throw new Error("wrong");
 * ```
 */
export function softmaxXentRef(batch: SoftmaxBatch, shape: CrfShape): Float64Array {
  const { batch: B, time: T, tags: K } = shape;
  const loss = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < Math.min(batch.lengths[b], T); t++) {
      const p = softmaxRow(batch.emissions, b * T + t, K);
      loss[b * T + t] = -Math.log(p[batch.tags![b * T + t]]);
    }
  }
  return loss;
}

/**
 * Gradient of Σ dLoss[b, t]·loss[b, t] with respect to the emissions:
 * dLoss·(softmax − onehot(gold)); 0 at padding.
 *
 * @param batch emissions, tags, lengths
 * @param shape B, T, K
 * @param dLoss (B, T) upstream weights (e.g. all equal to a loss scale)
 * @returns (B, T, K) dEmissions
 *
 * @example
 * ```ts
 * import { softmaxXentBackwardRef } from "./softmax_xent_ref.ts";
 * const d = softmaxXentBackwardRef({ emissions: [0, 0], tags: [1], lengths: [1] },
 *   { batch: 1, time: 1, tags: 2 }, [2]);
 * if (d.join() !== "1,-1") throw new Error(d.join());
 * ```
 */
export function softmaxXentBackwardRef(
  batch: SoftmaxBatch,
  shape: CrfShape,
  dLoss: ArrayLike<number>,
): Float64Array {
  const { batch: B, time: T, tags: K } = shape;
  const d = new Float64Array(B * T * K);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < Math.min(batch.lengths[b], T); t++) {
      const row = b * T + t;
      const p = softmaxRow(batch.emissions, row, K);
      for (let j = 0; j < K; j++) {
        d[row * K + j] = dLoss[row] * (p[j] - (batch.tags![row] === j ? 1 : 0));
      }
    }
  }
  return d;
}

/**
 * Argmax tag (lowest id on ties) and the softmax probabilities of each token.
 *
 * @param batch emissions, lengths
 * @param shape B, T, K
 * @returns predictions (B, T) with −1 at padding, probabilities (B, T, K) with 0 at padding
 *
 * @example
 * ```ts
 * import { softmaxPredictRef } from "./softmax_xent_ref.ts";
 * const r = softmaxPredictRef({ emissions: [0, 1, 0, 0], lengths: [1] }, { batch: 1, time: 2, tags: 2 });
 * if (r.prediction.join() !== "1,-1") throw new Error(r.prediction.join());
 * ```
 */
export function softmaxPredictRef(
  batch: SoftmaxBatch,
  shape: CrfShape,
): { prediction: Int32Array; probabilities: Float64Array } {
  const { batch: B, time: T, tags: K } = shape;
  const prediction = new Int32Array(B * T).fill(-1);
  const probabilities = new Float64Array(B * T * K);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < Math.min(batch.lengths[b], T); t++) {
      const row = b * T + t;
      const p = softmaxRow(batch.emissions, row, K);
      let arg = 0;
      for (let j = 0; j < K; j++) {
        probabilities[row * K + j] = p[j];
        if (p[j] > p[arg]) arg = j;
      }
      prediction[row] = arg;
    }
  }
  return { prediction, probabilities };
}

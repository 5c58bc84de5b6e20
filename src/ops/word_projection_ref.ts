/**
 * Float64 reference of the first layer's input projection, written from the
 * maths with plain loops: pre = x·W_ihᵀ + b_ih with x = [emb[w] | x_rest]
 * per token (no table). For tests and benchmarks only.
 *
 * @module
 */

/** Shapes of {@linkcode wordProjectionRef}. */
export interface WordProjectionRefDims {
  /** B. */
  batch: number;
  /** T. */
  time: number;
  /** E_w. */
  wordDim: number;
  /** E (E_r = E − E_w). */
  inputSize: number;
  /** H. */
  hiddenSize: number;
}

/**
 * pre[r, j] = Σ_e x[r, e]·W_ih[j, e] + b_ih[j] with x[r] = [emb[w_r] | rest[r]] on token
 * rows; on padding rows (t ≥ lengths[b]) the word part is left out, as the GPU op does.
 *
 * @param p embeddings (V, E_w), W_ih (8H, E), b_ih (8H), ids (B·T), lengths (B), rest (B·T, E_r)
 * @param dims B, T, E_w, E, H
 * @returns pre (B·T, 8H)
 *
 * @example
 * ```ts
 * import { wordProjectionRef } from "./word_projection_ref.ts";
 * const pre = wordProjectionRef({
 *   emb: [0, 2], wIh: [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], bIh: new Array(8).fill(0),
 *   ids: [1], lengths: [1], rest: [3],
 * }, { batch: 1, time: 1, wordDim: 1, inputSize: 2, hiddenSize: 1 });
 * if (pre[0] !== 5) throw new Error(String(pre[0]));
 * ```
 */
export function wordProjectionRef(
  p: {
    emb: ArrayLike<number>;
    wIh: ArrayLike<number>;
    bIh: ArrayLike<number>;
    ids: ArrayLike<number>;
    lengths: ArrayLike<number>;
    rest: ArrayLike<number>;
  },
  dims: WordProjectionRefDims,
): Float64Array {
  const { batch: B, time: T, wordDim: Ew, inputSize: E, hiddenSize: H } = dims;
  const Er = E - Ew;
  const N = 8 * H;
  const pre = new Float64Array(B * T * N);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const r = b * T + t;
      const token = t < p.lengths[b];
      for (let j = 0; j < N; j++) {
        let sum = token ? p.bIh[j] : 0;
        for (let e = 0; e < Er; e++) sum += p.rest[r * Er + e] * p.wIh[j * E + Ew + e];
        if (token) {
          for (let e = 0; e < Ew; e++) sum += p.emb[p.ids[r] * Ew + e] * p.wIh[j * E + e];
        }
        pre[r * N + j] = sum;
      }
    }
  }
  return pre;
}

/**
 * Float64 reference for the character CNN family, written from the maths:
 * embed each character, zero-pad the word by one position on each side,
 * convolve with width 3 (PyTorch Conv1d, padding 1), take the max over the
 * word's positions. Its backward routes each filter's gradient through the
 * position of the max. For tests and benchmarks only.
 *
 * @module
 */

import type { CharCnnSize } from "./common.ts";

/** Shape of a character CNN over a (B, T) batch of words. */
export type CharCnnRefDims = CharCnnSize;

/** The inputs of the reference. */
export interface CharCnnRefInputs {
  /** (C, Dc) character table. */
  table: ArrayLike<number>;
  /** (F, Dc, 3) Conv1d weight. */
  weight: ArrayLike<number>;
  /** (F) Conv1d bias. */
  bias: ArrayLike<number>;
  /** (B·T, Lc) character ids. */
  charIds: ArrayLike<number>;
  /** (B·T) characters per token. */
  charLengths: ArrayLike<number>;
  /** (B) sentence lengths. */
  lengths: ArrayLike<number>;
}

/** The padded sequence of one token: L + 2 vectors of Dc, the first and last zero. */
function paddedWord(x: CharCnnRefInputs, dims: CharCnnRefDims, r: number): Float64Array[] {
  const { time, chars, charDim, charVocab } = dims;
  if (r % time >= x.lengths[Math.floor(r / time)]) return [];
  const len = Math.max(0, Math.min(x.charLengths[r], chars));
  const seq = [new Float64Array(charDim)];
  for (let i = 0; i < len; i++) {
    const c = x.charIds[r * chars + i];
    const v = new Float64Array(charDim);
    if (c >= 0 && c < charVocab) {
      for (let d = 0; d < charDim; d++) v[d] = x.table[c * charDim + d];
    }
    seq.push(v);
  }
  if (len === 0) return [];
  seq.push(new Float64Array(charDim));
  return seq;
}

/** conv[j] for filter f over a padded sequence: bias + Σ_k Σ_d W[f, d, k] · seq[j + k]. */
function conv(
  x: CharCnnRefInputs,
  dims: CharCnnRefDims,
  seq: Float64Array[],
  j: number,
  f: number,
) {
  let s = x.bias[f];
  for (let k = 0; k < 3; k++) {
    for (let d = 0; d < dims.charDim; d++) {
      s += x.weight[(f * dims.charDim + d) * 3 + k] * seq[j + k][d];
    }
  }
  return s;
}

/**
 * The features: out[r, f] = max_j conv_f(word r)[j] (0 for padding and
 * empty words) and the first j reaching it (−1 for those).
 *
 * @param x table, weight, bias and the batch's character ids
 * @param dims shape
 * @returns out (B·T, F) and argmax (B·T, F)
 *
 * @example
 * ```ts
 * import { charCnnForwardRef } from "./char_cnn_ref.ts";
 * // One filter that reads the middle tap: conv[j] = e_j, so out = max e = 3.
 * const { out, argmax } = charCnnForwardRef({
 *   table: [0, 1, 3], weight: [0, 1, 0], bias: [0],
 *   charIds: [1, 2, 1], charLengths: [3], lengths: [1],
 * }, { batch: 1, time: 1, chars: 3, charDim: 1, filters: 1, charVocab: 3 });
 * if (out[0] !== 3 || argmax[0] !== 1) throw new Error(`${out} ${argmax}`);
 * ```
 */
export function charCnnForwardRef(
  x: CharCnnRefInputs,
  dims: CharCnnRefDims,
): { out: Float64Array; argmax: Int32Array } {
  const rows = dims.batch * dims.time;
  const out = new Float64Array(rows * dims.filters);
  const argmax = new Int32Array(rows * dims.filters).fill(-1);
  for (let r = 0; r < rows; r++) {
    const seq = paddedWord(x, dims, r);
    for (let f = 0; f < dims.filters; f++) {
      for (let j = 0; j + 2 < seq.length; j++) {
        const v = conv(x, dims, seq, j, f);
        if (j === 0 || v > out[r * dims.filters + f]) {
          out[r * dims.filters + f] = v;
          argmax[r * dims.filters + f] = j;
        }
      }
    }
  }
  return { out, argmax };
}

/**
 * Gradients of sum(out · dOut): the max passes dOut[r, f] to position
 * j* = argmax; conv_f[j*] = bias[f] + Σ_k Σ_d W[f, d, k] · seq[j* + k][d]
 * then gives dbias[f], dW[f, d, k] (× seq[j* + k][d]) and the character
 * vectors (× W[f, d, k]), whose gradient lands on their table rows.
 *
 * @param x table, weight, bias and the batch's character ids
 * @param dOut (B·T, F) upstream gradient
 * @param dims shape
 * @returns dTable (C, Dc), dWeight (F, Dc, 3), dBias (F)
 *
 * @example
 * ```ts
 * import { charCnnBackwardRef } from "./char_cnn_ref.ts";
 * const g = charCnnBackwardRef({
 *   table: [0, 1, 3], weight: [0, 1, 0], bias: [0],
 *   charIds: [1, 2, 1], charLengths: [3], lengths: [1],
 * }, [2], { batch: 1, time: 1, chars: 3, charDim: 1, filters: 1, charVocab: 3 });
 * if (g.dBias[0] !== 2 || g.dWeight.join() !== "2,6,2" || g.dTable.join() !== "0,0,2") {
 *   throw new Error(`${g.dBias} ${g.dWeight} ${g.dTable}`);
 * }
 * ```
 */
export function charCnnBackwardRef(
  x: CharCnnRefInputs,
  dOut: ArrayLike<number>,
  dims: CharCnnRefDims,
): { dTable: Float64Array; dWeight: Float64Array; dBias: Float64Array } {
  const { charDim, filters, chars } = dims;
  const rows = dims.batch * dims.time;
  const { argmax } = charCnnForwardRef(x, dims);
  const dTable = new Float64Array(dims.charVocab * charDim);
  const dWeight = new Float64Array(filters * charDim * 3);
  const dBias = new Float64Array(filters);
  for (let r = 0; r < rows; r++) {
    const seq = paddedWord(x, dims, r);
    for (let f = 0; f < filters; f++) {
      const j = argmax[r * filters + f];
      if (j < 0) continue;
      const g = dOut[r * filters + f];
      dBias[f] += g;
      for (let k = 0; k < 3; k++) {
        // seq[j + k] is character j + k − 1; the pads (outside 0 .. L − 1) have no table row.
        const i = j + k - 1;
        const real = i >= 0 && i < seq.length - 2;
        const c = real ? x.charIds[r * chars + i] : -1;
        for (let d = 0; d < charDim; d++) {
          const w = (f * charDim + d) * 3 + k;
          dWeight[w] += g * seq[j + k][d];
          if (c >= 0 && c < dims.charVocab) dTable[c * charDim + d] += g * x.weight[w];
        }
      }
    }
  }
  return { dTable, dWeight, dBias };
}

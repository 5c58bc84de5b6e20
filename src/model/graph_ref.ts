/**
 * Float64 reference of the whole graph (embeddings → char CNN → dropout →
 * BiLSTM layers → dropout → linear → CRF NLL or softmax cross-entropy),
 * composed from the ops' references: the loss and every parameter's
 * gradient, to check the GPU graph end to end. Dropout is applied from
 * given keep masks (none by default). For tests only.
 *
 * @module
 */

import type { Batch } from "../data/batch.ts";
import { charCnnBackwardRef, charCnnForwardRef } from "../ops/char_cnn_ref.ts";
import { crfBackwardRef, crfNllRef } from "../ops/crf_ref.ts";
import { embeddingBackwardRef, embeddingForwardRef } from "../ops/embedding_ref.ts";
import { softmaxXentBackwardRef, softmaxXentRef } from "../ops/softmax_xent_ref.ts";
import { biLstmBackwardRef, biLstmRef } from "../ops/lstm_ref.ts";
import { matmulBackwardRef, matmulRef } from "../ops/matmul_ref.ts";
import { inputDim, type ModelConfig } from "./config.ts";
import type { VocabularySizes } from "./parameters.ts";

/** Copies column block [offset, offset + width) of a (rows, stride) matrix. */
function columns(
  x: ArrayLike<number>,
  rows: number,
  stride: number,
  offset: number,
  width: number,
) {
  const out = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < width; c++) out[r * width + c] = x[r * stride + offset + c];
  }
  return out;
}

/** Writes a (rows, width) block into columns [offset, offset + width) of `into`. */
function placeColumns(
  into: Float64Array,
  block: ArrayLike<number>,
  rows: number,
  stride: number,
  offset: number,
  width: number,
) {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < width; c++) into[r * stride + offset + c] = block[r * width + c];
  }
}

/** Keep masks (1 kept, 0 dropped) of the two dropout sites of one training step. */
export interface DropoutMasksRef {
  /** Drop probability p: kept values are scaled by 1/(1 − p). */
  p: number;
  /** (B, T, E) mask of the LSTM input. */
  input: ArrayLike<number>;
  /** (B, T, 2H) mask of the last LSTM layer's output. */
  output: ArrayLike<number>;
}

/** Inverted dropout from a keep mask: x·keep/(1 − p) (its backward is the same map). */
function masked(x: ArrayLike<number>, keep: ArrayLike<number>, p: number): Float64Array {
  if (keep.length !== x.length) {
    throw new Error(`dropout mask: expected ${x.length} values, found ${keep.length}`);
  }
  return Float64Array.from(x, (v, i) => keep[i] ? v / (1 - p) : 0);
}

/** The head's loss (mean over sentences), dLoss/dEmissions and the head's own gradients. */
function headRef(
  config: ModelConfig,
  tensors: Record<string, ArrayLike<number>>,
  batch: Batch,
  emissions: Float64Array, // (B, T, K)
  K: number,
): { loss: number; dEmissions: Float64Array; grads: Record<string, Float64Array> } {
  const B = batch.size;
  const shape = { batch: B, time: batch.maxLength, tags: K };
  const gold = { emissions, lengths: batch.lengths, tags: batch.tagIds };
  if (config.head === "softmax") {
    const tokenLoss = softmaxXentRef(gold, shape);
    const dLoss = new Array(tokenLoss.length).fill(1 / B);
    const dEmissions = softmaxXentBackwardRef(gold, shape, dLoss);
    return { loss: tokenLoss.reduce((a, v) => a + v, 0) / B, dEmissions, grads: {} };
  }
  const crf = {
    ...gold,
    transitions: tensors["crf.transitions"],
    start: tensors["crf.start"],
    end: tensors["crf.end"],
  };
  const nll = crfNllRef(crf, shape);
  const d = crfBackwardRef(crf, shape, new Array(B).fill(1 / B));
  return {
    loss: nll.reduce((a, v) => a + v, 0) / B,
    dEmissions: d.dEmissions,
    grads: { "crf.transitions": d.dTransitions, "crf.start": d.dStart, "crf.end": d.dEnd },
  };
}

/**
 * The loss L = (1/B)·Σ_b loss_b of the model on `batch` (a sentence's loss
 * is its CRF NLL, or the sum of its tokens' cross-entropies for the softmax
 * head), and dL/dθ for every parameter (GPU layout names: LSTM directions
 * stacked).
 *
 * @param config the model configuration (`config.dropout` is not read: pass `dropout`)
 * @param sizes vocabulary sizes
 * @param tensors parameters, GPU layout
 * @param batch the batch
 * @param dropout keep masks of the step (default: no dropout)
 * @returns the loss and the gradients by name
 *
 * @example
 * ```ts
 * import { modelLossRef } from "./graph_ref.ts";
 * if (typeof modelLossRef !== "function") throw new Error();
 * ```
 */
export function modelLossRef(
  config: ModelConfig,
  sizes: VocabularySizes,
  tensors: Record<string, ArrayLike<number>>,
  batch: Batch,
  dropout?: DropoutMasksRef,
): { loss: number; grads: Record<string, Float64Array> } {
  const B = batch.size;
  const T = batch.maxLength;
  const rows = B * T;
  const E = inputDim(config);
  const H = config.hidden;
  const K = sizes.tags;
  const lengths = batch.lengths;
  const x = new Float64Array(rows * E);
  const word = embeddingForwardRef(tensors["word_emb.weight"], batch.wordIds, lengths, {
    batch: B,
    time: T,
    dim: config.wordDim,
    vocab: sizes.words,
  });
  placeColumns(x, word, rows, E, 0, config.wordDim);
  if (config.casingDim > 0) {
    const casing = embeddingForwardRef(tensors["casing_emb.weight"], batch.casingIds, lengths, {
      batch: B,
      time: T,
      dim: config.casingDim,
      vocab: sizes.casings,
    });
    placeColumns(x, casing, rows, E, config.wordDim, config.casingDim);
  }
  const charDims = {
    batch: B,
    time: T,
    chars: batch.maxChars,
    charDim: config.charDim,
    filters: config.charFilters,
    charVocab: sizes.chars,
  };
  const charInputs = config.charFeatures === "cnn"
    ? {
      table: tensors["char_emb.weight"],
      weight: tensors["char_cnn.weight"],
      bias: tensors["char_cnn.bias"],
      charIds: batch.charIds,
      charLengths: batch.charLengths,
      lengths,
    }
    : null;
  if (charInputs) {
    placeColumns(
      x,
      charCnnForwardRef(charInputs, charDims).out,
      rows,
      E,
      config.wordDim + config.casingDim,
      config.charFilters,
    );
  }
  const layerInputs: Float64Array[] = [];
  let h: Float64Array = dropout ? masked(x, dropout.input, dropout.p) : x;
  const lstmParams = (layer: number) => ({
    wIh: tensors[`lstm.weight_ih_l${layer}`],
    wHh: tensors[`lstm.weight_hh_l${layer}`],
    bIh: tensors[`lstm.bias_ih_l${layer}`],
    bHh: tensors[`lstm.bias_hh_l${layer}`],
  });
  for (let layer = 0; layer < config.layers; layer++) {
    layerInputs.push(h);
    h = biLstmRef(h, lengths, lstmParams(layer), {
      batch: B,
      time: T,
      inputSize: layer === 0 ? E : 2 * H,
      hiddenSize: H,
    });
  }
  if (dropout) h = masked(h, dropout.output, dropout.p);
  const outDims = { m: rows, n: K, k: 2 * H, transB: true };
  const emissions = matmulRef(h, tensors["out.weight"], outDims, tensors["out.bias"]);
  const head = headRef(config, tensors, batch, emissions, K);
  const loss = head.loss;

  const grads: Record<string, Float64Array> = { ...head.grads };
  const dOut = matmulBackwardRef(h, tensors["out.weight"], head.dEmissions, outDims);
  grads["out.weight"] = dOut.dB;
  grads["out.bias"] = dOut.dBias;
  let dh: Float64Array = dropout ? masked(dOut.dA, dropout.output, dropout.p) : dOut.dA;
  for (let layer = config.layers - 1; layer >= 0; layer--) {
    const g = biLstmBackwardRef(layerInputs[layer], lengths, lstmParams(layer), {
      batch: B,
      time: T,
      inputSize: layer === 0 ? E : 2 * H,
      hiddenSize: H,
    }, dh);
    grads[`lstm.weight_ih_l${layer}`] = g.dWIh;
    grads[`lstm.weight_hh_l${layer}`] = g.dWHh;
    grads[`lstm.bias_ih_l${layer}`] = g.dBIh;
    grads[`lstm.bias_hh_l${layer}`] = g.dBHh;
    dh = g.dX;
  }
  if (dropout) dh = masked(dh, dropout.input, dropout.p);
  grads["word_emb.weight"] = embeddingBackwardRef(
    columns(dh, rows, E, 0, config.wordDim),
    batch.wordIds,
    lengths,
    {
      batch: B,
      time: T,
      dim: config.wordDim,
      vocab: sizes.words,
    },
  );
  if (config.casingDim > 0) {
    grads["casing_emb.weight"] = embeddingBackwardRef(
      columns(dh, rows, E, config.wordDim, config.casingDim),
      batch.casingIds,
      lengths,
      { batch: B, time: T, dim: config.casingDim, vocab: sizes.casings },
    );
  }
  if (charInputs) {
    const g = charCnnBackwardRef(
      charInputs,
      columns(dh, rows, E, config.wordDim + config.casingDim, config.charFilters),
      charDims,
    );
    grads["char_emb.weight"] = g.dTable;
    grads["char_cnn.weight"] = g.dWeight;
    grads["char_cnn.bias"] = g.dBias;
  }
  return { loss, grads };
}

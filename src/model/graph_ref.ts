/**
 * Float64 reference of the whole graph without dropout (embeddings →
 * char CNN → BiLSTM layers → linear → CRF NLL), composed from the ops'
 * references: the loss and every parameter's gradient, to check the GPU
 * graph end to end. For tests only.
 *
 * @module
 */

import type { Batch } from "../data/batch.ts";
import { charCnnBackwardRef, charCnnForwardRef } from "../ops/char_cnn_ref.ts";
import { crfBackwardRef, crfNllRef } from "../ops/crf_ref.ts";
import { embeddingBackwardRef, embeddingForwardRef } from "../ops/embedding_ref.ts";
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

/**
 * The loss L = (1/B)·Σ_b NLL_b of a CRF model on `batch`, and dL/dθ for
 * every parameter (GPU layout names: LSTM directions stacked).
 *
 * @param config the model configuration (dropout is ignored: none here)
 * @param sizes vocabulary sizes
 * @param tensors parameters, GPU layout
 * @param batch the batch
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
  let h: Float64Array = x;
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
  const outDims = { m: rows, n: K, k: 2 * H, transB: true };
  const emissions = matmulRef(h, tensors["out.weight"], outDims, tensors["out.bias"]);
  const crf = {
    emissions,
    lengths,
    tags: batch.tagIds,
    transitions: tensors["crf.transitions"],
    start: tensors["crf.start"],
    end: tensors["crf.end"],
  };
  const shape = { batch: B, time: T, tags: K };
  const nll = crfNllRef(crf, shape);
  const loss = nll.reduce((a, b) => a + b, 0) / B;

  const grads: Record<string, Float64Array> = {};
  const dCrf = crfBackwardRef(crf, shape, new Array(B).fill(1 / B));
  grads["crf.transitions"] = dCrf.dTransitions;
  grads["crf.start"] = dCrf.dStart;
  grads["crf.end"] = dCrf.dEnd;
  const dOut = matmulBackwardRef(h, tensors["out.weight"], dCrf.dEmissions, outDims);
  grads["out.weight"] = dOut.dB;
  grads["out.bias"] = dOut.dBias;
  let dh: Float64Array = dOut.dA;
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

/**
 * The fixed graph of the BiLSTM-CRF on the GPU: every parameter, gradient
 * and activation buffer, allocated once for the largest batch, and the
 * dispatch lists of a training step (forward, backward, clipping, Adam —
 * one submit with a fixed number of dispatches) and of inference.
 *
 * Per batch the host uploads the ids, resizes the dispatches (uniform
 * writes only) and submits; nothing is read back inside an epoch except
 * the loss every N steps.
 *
 * Parameters live in one flat buffer (and gradients, Adam's m and v in
 * three more) laid out by {@linkcode ParameterLayout}; each op binds its
 * slice. The two directions of each LSTM layer are stacked along the first
 * axis (`lstm.weight_ih_l0` is (2·4H, E): forward rows, then reverse rows),
 * which is how the kernels read them; checkpoints split them into PyTorch's
 * names ({@linkcode toPytorchTensors}).
 *
 * @module
 */

import {
  type Binding,
  createBuffer,
  destroyBuffer,
  type Dispatch,
  type Gpu,
  gpuMemory,
  readFloat32,
  readInt32,
  submitDispatches,
  writeBuffer,
} from "../gpu/mod.ts";
import { type AdamOptimizer, adamOptimizer, ParameterLayout } from "../ops/adam.ts";
import type { AdamHyper } from "../ops/adam_ref.ts";
import { type ParameterAverage, parameterAverage } from "../ops/average.ts";
import { charCnnBackward, charCnnForward, groupCharIds } from "../ops/char_cnn.ts";
import { crfLoss, crfMarginals, type LossOp, resetLoss, type SequenceOp } from "../ops/crf.ts";
import { dropoutBackward, type DropoutDispatch, dropoutForward } from "../ops/dropout.ts";
import { embeddingBackward, embeddingForward, groupTokenIds } from "../ops/embedding.ts";
import { fillBuffer } from "../ops/fill.ts";
import { type BiLstm, createBiLstm } from "../ops/lstm.ts";
import { matmulBackward, matmulForward } from "../ops/matmul.ts";
import { softmaxPredict, softmaxXentLoss } from "../ops/softmax_xent.ts";
import { createTransitionMask, packTransitionMask, viterbiDecode } from "../ops/viterbi.ts";
import type { Batch } from "../data/batch.ts";
import { inputDim, type ModelConfig } from "./config.ts";
import { initialValues, parameterSpecs, type VocabularySizes } from "./parameters.ts";
import { mulberry32 } from "../data/random.ts";

/** The largest batch the graph's buffers hold. */
export interface GraphCapacity {
  /** Sentences per batch B. */
  maxBatch: number;
  /** Tokens per sentence T. */
  maxTime: number;
  /** Characters per word Lc (char CNN only). */
  maxChars: number;
}

/** Options for {@linkcode NerGraph.create}. */
export interface GraphOptions {
  /** Seed of the initial weights and the dropout masks. */
  seed?: number;
  /** Build the training step (default true); false for inference only. */
  training?: boolean;
  /** Allowed transitions for constrained decoding, (K, K) [from, to] and (K) start/end, 1 = allowed. */
  constraints?: {
    transitions: ArrayLike<number>;
    start: ArrayLike<number>;
    end: ArrayLike<number>;
  };
}

/** The stacked GPU-side name of a PyTorch LSTM tensor name, or the name itself. */
function stackedName(name: string): string {
  return name.replace(/_reverse$/, "");
}

/**
 * Converts GPU-layout tensors (LSTM directions stacked) to PyTorch's
 * per-direction tensors.
 *
 * @param tensors GPU-layout tensors by name
 * @returns PyTorch-named tensors
 *
 * @example
 * ```ts
 * import { toPytorchTensors } from "./graph.ts";
 * const t = toPytorchTensors({ "lstm.bias_ih_l0": new Float32Array([1, 2, 3, 4]) });
 * if (t["lstm.bias_ih_l0_reverse"][0] !== 3) throw new Error();
 * ```
 */
export function toPytorchTensors(
  tensors: Record<string, Float32Array>,
): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, data] of Object.entries(tensors)) {
    if (name.startsWith("lstm.")) {
      const half = data.length / 2;
      out[name] = data.slice(0, half);
      out[`${name}_reverse`] = data.slice(half);
    } else {
      out[name] = data;
    }
  }
  return out;
}

/**
 * Converts PyTorch-named tensors to the GPU layout (LSTM directions stacked).
 *
 * @param tensors PyTorch-named tensors
 * @returns GPU-layout tensors
 *
 * @example
 * ```ts
 * import { fromPytorchTensors } from "./graph.ts";
 * const t = fromPytorchTensors({
 *   "lstm.bias_ih_l0": new Float32Array([1, 2]),
 *   "lstm.bias_ih_l0_reverse": new Float32Array([3, 4]),
 * });
 * if (t["lstm.bias_ih_l0"].join() !== "1,2,3,4") throw new Error();
 * ```
 */
export function fromPytorchTensors(
  tensors: Record<string, ArrayLike<number>>,
): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, data] of Object.entries(tensors)) {
    if (name.startsWith("lstm.") && name.endsWith("_reverse")) continue;
    if (name.startsWith("lstm.")) {
      const reverse = tensors[`${name}_reverse`];
      if (!reverse) throw new Error(`Missing tensor '${name}_reverse' beside '${name}'`);
      const both = new Float32Array(data.length + reverse.length);
      both.set(data);
      both.set(reverse, data.length);
      out[name] = both;
    } else {
      out[name] = Float32Array.from(data);
    }
  }
  return out;
}

/** A buffer slice passed where an op expects a buffer: ops only bind it, and its `size` is bytes. */
function asBuffer(binding: Binding): GPUBuffer {
  return binding as unknown as GPUBuffer;
}

/** Inputs uploaded per batch. */
interface InputBuffers {
  wordIds: GPUBuffer;
  casingIds: GPUBuffer;
  charIds: GPUBuffer;
  charLengths: GPUBuffer;
  lengths: GPUBuffer;
  tagIds: GPUBuffer;
  wordUnique: GPUBuffer;
  wordOffsets: GPUBuffer;
  wordPositions: GPUBuffer;
  casingUnique: GPUBuffer;
  casingOffsets: GPUBuffer;
  casingPositions: GPUBuffer;
  charUnique: GPUBuffer;
  charOffsets: GPUBuffer;
  charPositions: GPUBuffer;
}

/** What {@linkcode NerGraph.infer} returns for a batch. */
export interface Inference {
  /** (B, T) best tag ids, batch-major (padding: see the Viterbi op). */
  tags: Int32Array;
  /** (B, T, K) per-token marginals p(yₜ = k | x) (CRF) or softmax probabilities; only with `marginals`. */
  marginals?: Float32Array;
  /** (B, T, K) log α, with `marginals` and a CRF head. */
  logAlpha?: Float32Array;
  /** (B, T, K) log β, with `marginals` and a CRF head. */
  logBeta?: Float32Array;
  /** (B) log Z, with `marginals` and a CRF head. */
  logZ?: Float32Array;
  /** (B, T, K) emission scores, with `marginals`. */
  emissions?: Float32Array;
}

/**
 * The flat GPU layout of a model's parameters (LSTM directions stacked):
 * where each tensor lives in `params`, in the optimizer's `m` and `v` and in
 * the weight average of a resumable checkpoint.
 *
 * @param config the model configuration
 * @param sizes vocabulary sizes
 * @returns the layout
 *
 * @example
 * ```ts
 * import { parameterLayout } from "./graph.ts";
 * import { resolveConfig } from "./config.ts";
 * const layout = parameterLayout(resolveConfig(), { words: 10, chars: 5, casings: 8, tags: 3 });
 * if (layout.get("crf.transitions").size !== 9) throw new Error("wrong transitions");
 * ```
 */
export function parameterLayout(config: ModelConfig, sizes: VocabularySizes): ParameterLayout {
  const layout = new ParameterLayout();
  for (const spec of parameterSpecs(config, sizes)) {
    if (spec.name.endsWith("_reverse")) continue;
    const name = stackedName(spec.name);
    const shape = name.startsWith("lstm.")
      ? [2 * spec.shape[0], ...spec.shape.slice(1)]
      : spec.shape;
    layout.add(name, shape);
  }
  return layout;
}

/**
 * The BiLSTM-CRF on the GPU. Create with {@linkcode NerGraph.create}.
 */
export class NerGraph {
  /** Dispatches of one training step, in order (fixed count). */
  readonly trainStep: Dispatch[] = [];
  /** Dispatches of inference up to the emissions (no dropout). */
  readonly inferForward: Dispatch[] = [];
  #resizers: ((batch: Batch, extra: BatchExtras) => void)[] = [];
  #inferResizers: ((batch: Batch) => void)[] = [];
  #dropouts: DropoutDispatch[] = [];
  #lossOp?: LossOp;
  #adam?: AdamOptimizer;
  #sparseWords = false;
  #average?: { op: ParameterAverage; buffer: GPUBuffer; swapped: boolean };
  #decode!: { dispatches: Dispatch[]; resize(b: Batch): void };
  #marginals?: SequenceOp;
  #step = 0;
  #allowed!: GPUBuffer;
  #owned: GPUBuffer[] = [];
  #layers: BiLstm[] = [];

  private constructor(
    readonly gpu: Gpu,
    readonly config: ModelConfig,
    readonly sizes: VocabularySizes,
    readonly capacity: GraphCapacity,
    readonly layout: ParameterLayout,
    readonly params: GPUBuffer,
    readonly grads: GPUBuffer | null,
    readonly inputs: InputBuffers,
    readonly outputs: {
      emissions: GPUBuffer;
      predictions: GPUBuffer;
      scores: GPUBuffer;
      loss: GPUBuffer;
      nll: GPUBuffer;
      marginals: GPUBuffer;
      logAlpha: GPUBuffer;
      logBeta: GPUBuffer;
      logZ: GPUBuffer;
    },
    readonly optimizerState: { m: GPUBuffer; v: GPUBuffer } | null,
  ) {}

  /** Host milliseconds the last {@linkcode NerGraph.trainOn} spent preparing the step (grouping ids, uploads, resizes), before recording and submitting. */
  lastHostMs = 0;

  /** Bytes of GPU buffers this graph's creation allocated (parameters, state, activations, scratch). */
  gpuBytes = 0;

  /** The training step count so far (Adam's t). */
  get step(): number {
    return this.#step;
  }

  /** Dispatches per training step (the same for every batch shape). */
  get dispatchesPerStep(): number {
    return this.trainStep.length;
  }

  /**
   * Allocates the buffers, initialises the parameters from the seed and
   * builds the dispatch lists.
   *
   * @param gpu the device
   * @param config the model configuration
   * @param sizes vocabulary sizes
   * @param capacity the largest batch
   * @param options seed, training or inference only, decoding constraints
   * @returns the graph
   */
  static async create(
    gpu: Gpu,
    config: ModelConfig,
    sizes: VocabularySizes,
    capacity: GraphCapacity,
    options: GraphOptions = {},
  ): Promise<NerGraph> {
    const training = options.training ?? true;
    const seed = options.seed ?? 1;
    // The LSTM's gate buffers, (B·T, 8H) f32, are the largest; each must fit one storage binding.
    const largest = capacity.maxBatch * capacity.maxTime * 8 * config.hidden * 4;
    const limit = gpu.device.limits.maxStorageBufferBindingSize;
    if (largest > limit) {
      throw new RangeError(
        `A batch of ${capacity.maxBatch} sentences × ${capacity.maxTime} tokens at hidden size ` +
          `${config.hidden} needs ${
            (largest / 2 ** 20).toFixed(0)
          } MiB per LSTM gate buffer, more than ` +
          `this adapter's ${
            (limit / 2 ** 20).toFixed(0)
          } MiB storage binding limit; use a smaller batch size`,
      );
    }
    const bytesBefore = gpuMemory(gpu).allocatedBytes;
    const { maxBatch, maxTime } = capacity;
    const maxChars = config.charFeatures === "cnn"
      ? Math.min(capacity.maxChars, config.maxChars)
      : 1;
    const rows = maxBatch * maxTime;
    const E = inputDim(config);
    const H = config.hidden;
    const K = sizes.tags;
    const cnn = config.charFeatures === "cnn";
    const crf = config.head === "crf";

    // Parameters: one flat buffer, PyTorch tensors with LSTM directions stacked.
    const layout = parameterLayout(config, sizes);
    const random = mulberry32(seed);
    const initial: Record<string, Float32Array> = {};
    for (const spec of parameterSpecs(config, sizes)) {
      initial[spec.name] = initialValues(spec, random);
    }
    const stacked = fromPytorchTensors(initial);
    const params = createBuffer(gpu, "parameters", layout.pack(stacked));
    const P = layout.size;
    const grads = training ? createBuffer(gpu, "gradients", P * 4) : null;
    const optimizerState = training
      ? { m: createBuffer(gpu, "adam m", P * 4), v: createBuffer(gpu, "adam v", P * 4) }
      : null;
    const stateBuffers = [params, grads, optimizerState?.m, optimizerState?.v]
      .filter((b): b is GPUBuffer => b !== null && b !== undefined);
    const p = (name: string) => asBuffer(layout.binding(params, name));
    const g = (name: string) => asBuffer(layout.binding(grads!, name));

    const owned: GPUBuffer[] = [];
    const own = (b: GPUBuffer) => (owned.push(b), b);
    const i32 = (label: string, n: number) => own(createBuffer(gpu, label, Math.max(1, n) * 4));
    const inputs: InputBuffers = {
      wordIds: i32("word ids", rows),
      casingIds: i32("casing ids", rows),
      charIds: i32("char ids", rows * maxChars),
      charLengths: i32("char lengths", rows),
      lengths: i32("lengths", maxBatch),
      tagIds: i32("tag ids", rows),
      wordUnique: i32("word groups ids", rows),
      wordOffsets: i32("word groups offsets", rows + 1),
      wordPositions: i32("word groups positions", rows),
      casingUnique: i32("casing groups ids", rows),
      casingOffsets: i32("casing groups offsets", rows + 1),
      casingPositions: i32("casing groups positions", rows),
      charUnique: i32("char groups ids", rows * maxChars),
      charOffsets: i32("char groups offsets", rows * maxChars + 1),
      charPositions: i32("char groups positions", rows * maxChars),
    };
    const f32 = (label: string, n: number) => own(createBuffer(gpu, label, Math.max(1, n) * 4));
    const outputs = {
      emissions: f32("emissions", rows * K),
      predictions: i32("predictions", rows),
      scores: f32("path scores", maxBatch),
      loss: f32("loss accumulator", 4),
      nll: f32("sentence nll", maxBatch),
      marginals: f32("marginals", rows * K),
      logAlpha: f32("log alpha", rows * K),
      logBeta: f32("log beta", rows * K),
      logZ: f32("log Z", maxBatch),
    };
    const graph = new NerGraph(
      gpu,
      config,
      sizes,
      { maxBatch, maxTime, maxChars },
      layout,
      params,
      grads,
      inputs,
      outputs,
      optimizerState,
    );
    graph.#owned = owned;
    owned.push(...stateBuffers);

    const x = f32("lstm input", rows * E);
    const charArgmax = i32("char cnn argmax", cnn ? rows * config.charFilters : 1);
    const hOut: GPUBuffer[] = [];
    const layers: BiLstm[] = [];
    graph.#layers = layers;
    const shape0 = { batch: maxBatch, time: maxTime };

    // Forward up to the emissions, shared by training (with dropout) and inference.
    const embedForward: Dispatch[] = [];
    const word = await embeddingForward(
      gpu,
      x,
      {
        table: p("word_emb.weight"),
        ids: inputs.wordIds,
        lengths: inputs.lengths,
      },
      { ...shape0, dim: config.wordDim, vocab: sizes.words, rowStride: E, columnOffset: 0 },
      {
        label: "word embedding",
      },
    );
    embedForward.push(word);
    const resizeTokens: ((b: Batch) => void)[] = [
      (b) => word.resize({ batch: b.size, time: b.maxLength }),
    ];
    if (config.casingDim > 0) {
      const casing = await embeddingForward(gpu, x, {
        table: p("casing_emb.weight"),
        ids: inputs.casingIds,
        lengths: inputs.lengths,
      }, {
        ...shape0,
        dim: config.casingDim,
        vocab: sizes.casings,
        rowStride: E,
        columnOffset: config.wordDim,
      }, { label: "casing embedding" });
      embedForward.push(casing);
      resizeTokens.push((b) => casing.resize({ batch: b.size, time: b.maxLength }));
    }
    const charDims = {
      ...shape0,
      chars: maxChars,
      charDim: config.charDim,
      filters: config.charFilters,
      charVocab: sizes.chars,
      rowStride: E,
      columnOffset: config.wordDim + config.casingDim,
    };
    const charInputs = {
      charIds: inputs.charIds,
      charLengths: inputs.charLengths,
      lengths: inputs.lengths,
      table: cnn ? p("char_emb.weight") : inputs.charIds,
      weight: cnn ? p("char_cnn.weight") : inputs.charIds,
      bias: cnn ? p("char_cnn.bias") : inputs.charIds,
    };
    if (cnn) {
      const chars = await charCnnForward(
        gpu,
        { out: x, argmax: charArgmax },
        charInputs,
        charDims,
        {
          label: "char cnn",
        },
      );
      embedForward.push(chars);
      resizeTokens.push((b) =>
        chars.resize({ batch: b.size, time: b.maxLength, chars: charCount(b, maxChars) })
      );
    }

    for (let layer = 0; layer < config.layers; layer++) {
      const out = f32(`lstm ${layer} output`, rows * 2 * H);
      hOut.push(out);
      layers.push(
        await createBiLstm(
          gpu,
          {
            x: layer === 0 ? x : hOut[layer - 1],
            lengths: inputs.lengths,
            wIh: p(`lstm.weight_ih_l${layer}`),
            wHh: p(`lstm.weight_hh_l${layer}`),
            bIh: p(`lstm.bias_ih_l${layer}`),
            bHh: p(`lstm.bias_hh_l${layer}`),
            hOut: out,
          },
          { maxBatch, maxTime, inputSize: layer === 0 ? E : 2 * H, hiddenSize: H },
          {
            label: `lstm ${layer}`,
          },
        ),
      );
    }
    const lastOut = hOut[hOut.length - 1];
    const outDims = { m: rows, n: K, k: 2 * H, transB: true };
    const resizeRows = (b: Batch) => ({ m: b.size * b.maxLength, n: K, k: 2 * H });

    // Inference: emissions straight from the last LSTM output.
    const inferEmissions = await matmulForward(
      gpu,
      outputs.emissions,
      lastOut,
      p("out.weight"),
      outDims,
      {
        bias: p("out.bias"),
        label: "output layer",
      },
    );
    graph.inferForward.push(...embedForward, ...layers.flatMap((l) => l.forward), inferEmissions);
    graph.#inferResizers.push(
      ...resizeTokens,
      (b) => layers.forEach((l) => l.resize(b.size, b.maxLength)),
      (b) => inferEmissions.resize(resizeRows(b)),
    );
    const allowed = createTransitionMask(gpu, options.constraints, K);
    graph.#allowed = allowed;
    if (crf) {
      const decode = await viterbiDecode(gpu, {
        emissions: outputs.emissions,
        lengths: inputs.lengths,
        transitions: p("crf.transitions"),
        start: p("crf.start"),
        end: p("crf.end"),
        allowed,
        path: outputs.predictions,
        score: outputs.scores,
      }, { batch: maxBatch, time: maxTime, tags: K });
      graph.#decode = {
        dispatches: decode.dispatches,
        resize: (b) => decode.resize({ batch: b.size, time: b.maxLength }),
      };
      graph.#marginals = await crfMarginals(gpu, {
        emissions: outputs.emissions,
        lengths: inputs.lengths,
        transitions: p("crf.transitions"),
        start: p("crf.start"),
        end: p("crf.end"),
        logZ: outputs.logZ,
        marginals: outputs.marginals,
        logAlpha: outputs.logAlpha,
        logBeta: outputs.logBeta,
      }, { batch: maxBatch, time: maxTime, tags: K });
    } else {
      const predict = await softmaxPredict(gpu, {
        emissions: outputs.emissions,
        lengths: inputs.lengths,
        prediction: outputs.predictions,
        probabilities: outputs.marginals,
      }, { batch: maxBatch, time: maxTime, tags: K });
      graph.#decode = {
        dispatches: predict.dispatches,
        resize: (b) => predict.resize({ batch: b.size, time: b.maxLength }),
      };
    }

    if (!training) {
      graph.gpuBytes = gpuMemory(gpu).allocatedBytes - bytesBefore;
      return graph;
    }

    // Training: dropout on the LSTM input and output, loss, backward, Adam.
    const dX = f32("lstm input gradient", rows * E);
    const hDrop = f32("lstm output after dropout", rows * 2 * H);
    const dHDrop = f32("output layer input gradient", rows * 2 * H);
    const dH: GPUBuffer[] = hOut.map((_, layer) =>
      f32(`lstm ${layer} output gradient`, rows * 2 * H)
    );
    const dEmissions = f32("emission gradients", rows * K);
    const pDrop = config.dropout;
    const dropIn = { p: pDrop, seed: (seed * 2654435761) >>> 0 };
    const dropOut = { p: pDrop, seed: (seed * 2246822519 + 7) >>> 0 };
    // Lazy Adam on the word embedding (a row-length multiple of 4 and first in the layout):
    // its gradient rows are overwritten for the batch's words and never zeroed, the
    // optimizer touches only those rows, and the rest of the gradients are zeroed per step.
    const wordTable = layout.get("word_emb.weight");
    const sparseWords = wordTable.offset === 0 && config.wordDim % 4 === 0 &&
      Math.ceil(wordTable.size / 64) * 64 < P;
    const denseStart = sparseWords ? Math.ceil(wordTable.size / 64) * 64 : 0;
    const zero = await fillBuffer(gpu, grads!, 0, {
      label: "zero gradients",
      offset: denseStart,
      count: P - denseStart,
    });
    const dropX = await dropoutForward(gpu, { x }, rows * E, {
      ...dropIn,
      label: "dropout (lstm input)",
    });
    const dropH = await dropoutForward(gpu, { x: lastOut, y: hDrop }, rows * 2 * H, {
      ...dropOut,
      label: "dropout (lstm output)",
    });
    const emissions = await matmulForward(gpu, outputs.emissions, hDrop, p("out.weight"), outDims, {
      bias: p("out.bias"),
      label: "output layer",
    });
    const lossOp: LossOp = crf
      ? await crfLoss(gpu, {
        emissions: outputs.emissions,
        tags: inputs.tagIds,
        lengths: inputs.lengths,
        transitions: p("crf.transitions"),
        start: p("crf.start"),
        end: p("crf.end"),
        nll: outputs.nll,
        dEmissions,
        dTransitions: g("crf.transitions"),
        dStart: g("crf.start"),
        dEnd: g("crf.end"),
        loss: outputs.loss,
      }, { batch: maxBatch, time: maxTime, tags: K })
      : await softmaxXentLoss(gpu, {
        emissions: outputs.emissions,
        tags: inputs.tagIds,
        lengths: inputs.lengths,
        dEmissions,
        loss: outputs.loss,
      }, { batch: maxBatch, time: maxTime, tags: K });
    const outBackward = await matmulBackward(
      gpu,
      {
        dA: dHDrop,
        dB: g("out.weight"),
        dBias: g("out.bias"),
      },
      { a: hDrop, b: p("out.weight"), dC: dEmissions },
      outDims,
      { label: "output layer" },
    );
    const dropHBack = await dropoutBackward(
      gpu,
      { dy: dHDrop, dx: dH[dH.length - 1] },
      rows * 2 * H,
      {
        ...dropOut,
        label: "dropout (lstm output) backward",
      },
    );
    const lstmBackward: Dispatch[] = [];
    for (let layer = config.layers - 1; layer >= 0; layer--) {
      lstmBackward.push(
        ...await layers[layer].backward({
          dhOut: dH[layer],
          dX: layer === 0 ? dX : dH[layer - 1],
          dWIh: g(`lstm.weight_ih_l${layer}`),
          dWHh: g(`lstm.weight_hh_l${layer}`),
          dBIh: g(`lstm.bias_ih_l${layer}`),
          dBHh: g(`lstm.bias_hh_l${layer}`),
        }),
      );
    }
    const dropXBack = await dropoutBackward(gpu, { dy: dX }, rows * E, {
      ...dropIn,
      label: "dropout (lstm input) backward",
    });
    const embedBackward: Dispatch[] = [];
    const wordBack = await embeddingBackward(gpu, g("word_emb.weight"), {
      dOut: dX,
      uniqueIds: inputs.wordUnique,
      offsets: inputs.wordOffsets,
      positions: inputs.wordPositions,
    }, {
      uniqueCount: rows,
      dim: config.wordDim,
      vocab: sizes.words,
      rowStride: E,
      columnOffset: 0,
    }, {
      label: "word embedding backward",
      overwrite: sparseWords,
    });
    embedBackward.push(wordBack);
    const backResizers: ((b: Batch, extra: BatchExtras) => void)[] = [
      (b) => wordBack.resize({ uniqueCount: b.wordGroups.uniqueIds.length }),
    ];
    if (config.casingDim > 0) {
      const casingBack = await embeddingBackward(gpu, g("casing_emb.weight"), {
        dOut: dX,
        uniqueIds: inputs.casingUnique,
        offsets: inputs.casingOffsets,
        positions: inputs.casingPositions,
      }, {
        uniqueCount: rows,
        dim: config.casingDim,
        vocab: sizes.casings,
        rowStride: E,
        columnOffset: config.wordDim,
      }, { label: "casing embedding backward" });
      embedBackward.push(casingBack);
      backResizers.push((_, extra) => casingBack.resize({ uniqueCount: extra.casingGroups }));
    }
    if (cnn) {
      const charBack = await charCnnBackward(
        gpu,
        {
          dTable: g("char_emb.weight"),
          dWeight: g("char_cnn.weight"),
          dBias: g("char_cnn.bias"),
        },
        {
          ...charInputs,
          dOut: dX,
          argmax: charArgmax,
          uniqueIds: inputs.charUnique,
          offsets: inputs.charOffsets,
          positions: inputs.charPositions,
        },
        { ...charDims, uniqueCount: rows * maxChars },
        {
          label: "char cnn backward",
          capacity: { rows, chars: maxChars },
        },
      );
      embedBackward.push(...charBack);
      backResizers.push((b, extra) =>
        charBack.resize({
          batch: b.size,
          time: b.maxLength,
          chars: charCount(b, maxChars),
          uniqueCount: extra.charGroups,
        })
      );
    }
    const adam = await adamOptimizer(gpu, { params, grads: grads!, ...optimizerState! }, {
      size: P,
      decayEnd: layout.decayEnd,
      sparseTable: sparseWords
        ? { rows: sizes.words, dim: config.wordDim, ids: inputs.wordUnique }
        : undefined,
    });
    graph.#adam = adam;
    graph.#sparseWords = sparseWords;
    const averageBuffer = createBuffer(gpu, "parameter average", P * 4);
    graph.#owned.push(averageBuffer);
    graph.#average = {
      op: await parameterAverage(gpu, { params, average: averageBuffer }, P),
      buffer: averageBuffer,
      swapped: false,
    };
    graph.#lossOp = lossOp;
    graph.#dropouts = [dropX, dropH, dropHBack, dropXBack];
    graph.trainStep.push(
      zero,
      ...embedForward,
      dropX,
      ...layers.flatMap((l) => l.forward),
      dropH,
      emissions,
      ...lossOp.dispatches,
      ...outBackward,
      dropHBack,
      ...lstmBackward,
      dropXBack,
      ...embedBackward,
      ...adam.dispatches,
    );
    graph.#resizers.push(
      ...resizeTokens,
      (b) => layers.forEach((l) => l.resize(b.size, b.maxLength)),
      (b) => {
        const n = b.size * b.maxLength;
        dropX.resize({ n: n * E });
        dropXBack.resize({ n: n * E });
        dropH.resize({ n: n * 2 * H });
        dropHBack.resize({ n: n * 2 * H });
      },
      (b) => emissions.resize(resizeRows(b)),
      (b) => {
        lossOp.resize({ batch: b.size, time: b.maxLength });
        lossOp.setLossScale(1 / b.size);
      },
      (b) => outBackward.forEach((d) => d.resize(resizeRows(b))),
      ...backResizers,
    );
    graph.gpuBytes = gpuMemory(gpu).allocatedBytes - bytesBefore;
    return graph;
  }

  /** Uploads a batch's inputs (no readback). Returns the per-batch group counts. */
  #upload(batch: Batch, training: boolean): BatchExtras {
    const { gpu, inputs } = this;
    const B = batch.size;
    const T = batch.maxLength;
    if (B > this.capacity.maxBatch || T > this.capacity.maxTime) {
      throw new RangeError(
        `Batch of ${B} sentences × ${T} tokens exceeds the graph's capacity ` +
          `${this.capacity.maxBatch} × ${this.capacity.maxTime}`,
      );
    }
    writeBuffer(gpu, inputs.wordIds, batch.wordIds);
    writeBuffer(gpu, inputs.lengths, batch.lengths);
    if (this.config.casingDim > 0) writeBuffer(gpu, inputs.casingIds, batch.casingIds);
    const cnn = this.config.charFeatures === "cnn";
    const Lc = charCount(batch, this.capacity.maxChars);
    const charIds = cnn ? trimChars(batch, Lc) : null;
    const charLengths = cnn ? batch.charLengths.map((n) => Math.min(n, Lc)) : null;
    if (cnn) {
      writeBuffer(gpu, inputs.charIds, charIds!);
      writeBuffer(gpu, inputs.charLengths, charLengths!);
    }
    const extras: BatchExtras = { casingGroups: 0, charGroups: 0 };
    if (!training) return extras;
    writeBuffer(gpu, inputs.tagIds, batch.tagIds);
    const wg = batch.wordGroups;
    writeBuffer(gpu, inputs.wordUnique, wg.uniqueIds);
    if (this.#sparseWords) this.#adam!.setRowCount(wg.uniqueIds.length);
    writeBuffer(gpu, inputs.wordOffsets, wg.offsets);
    writeBuffer(gpu, inputs.wordPositions, wg.positions);
    if (this.config.casingDim > 0) {
      const cg = groupTokenIds(batch.casingIds, batch.lengths, T);
      writeBuffer(gpu, inputs.casingUnique, cg.uniqueIds);
      writeBuffer(gpu, inputs.casingOffsets, cg.offsets);
      writeBuffer(gpu, inputs.casingPositions, cg.positions);
      extras.casingGroups = cg.uniqueIds.length;
    }
    if (cnn) {
      const chg = groupCharIds(charIds!, charLengths!, batch.lengths, { time: T, chars: Lc });
      writeBuffer(gpu, inputs.charUnique, chg.uniqueIds);
      writeBuffer(gpu, inputs.charOffsets, chg.offsets);
      writeBuffer(gpu, inputs.charPositions, chg.positions);
      extras.charGroups = chg.uniqueIds.length;
    }
    return extras;
  }

  /**
   * Runs one training step on `batch`: upload, forward, backward, clipping
   * and Adam, as one submit. Does not wait for the GPU.
   *
   * @param batch the batch
   * @param hyper optimizer settings for this step
   * @param averageWeight when > 0, also moves the parameter average toward
   *   the new parameters by this fraction (1 copies them)
   */
  trainOn(batch: Batch, hyper: AdamHyper, averageWeight = 0): void {
    if (!this.#adam) throw new Error("This graph was built for inference only (training: false)");
    if (this.#average!.swapped) {
      throw new Error(
        "The averaged weights are swapped in; call useAverage(false) before training",
      );
    }
    const start = performance.now();
    const extras = this.#upload(batch, true);
    for (const resize of this.#resizers) resize(batch, extras);
    this.#step++;
    for (const d of this.#dropouts) d.setStep(this.#step);
    this.#adam.setStep(this.#step, hyper);
    let dispatches = this.trainStep;
    if (averageWeight > 0) {
      this.#average!.op.setWeight(averageWeight);
      dispatches = [...dispatches, this.#average!.op.update];
    }
    this.lastHostMs = performance.now() - start;
    submitDispatches(this.gpu, dispatches, "training step");
  }

  /**
   * Swaps the running parameter average in (`true`: inference, reads and
   * checkpoints see the averaged weights) or back out (`false`). The
   * average is updated by {@linkcode NerGraph.trainOn}'s `averageWeight`;
   * before any update it holds zeros.
   *
   * @param averaged whether the averaged weights should be the live ones
   */
  useAverage(averaged: boolean): void {
    const average = this.#average;
    if (!average) throw new Error("This graph was built for inference only");
    if (average.swapped === averaged) return;
    submitDispatches(this.gpu, [average.op.swap], "swap averaged weights");
    average.swapped = averaged;
  }

  /**
   * Reads the parameter average (flat, GPU layout) for a resumable checkpoint.
   *
   * @returns the flat average
   */
  async readAverage(): Promise<Float32Array> {
    const average = this.#average;
    if (!average) throw new Error("This graph was built for inference only");
    return await readFloat32(
      this.gpu,
      average.swapped ? this.params : average.buffer,
      this.layout.size,
    );
  }

  /**
   * Overwrites the parameter average (resume).
   *
   * @param flat the flat average, GPU layout
   */
  writeAverage(flat: Float32Array): void {
    const average = this.#average;
    if (!average) throw new Error("This graph was built for inference only");
    if (flat.length !== this.layout.size) {
      throw new RangeError(`Average: expected ${this.layout.size} values, got ${flat.length}`);
    }
    writeBuffer(this.gpu, average.swapped ? this.params : average.buffer, flat);
  }

  /**
   * Replaces the allowed-transition mask used by decoding (1 = allowed).
   *
   * @param mask (K, K) [from, to] transitions and (K) start and end
   */
  setConstraints(
    mask: { transitions: ArrayLike<number>; start: ArrayLike<number>; end: ArrayLike<number> },
  ): void {
    writeBuffer(this.gpu, this.#allowed, packTransitionMask(mask, this.sizes.tags));
  }

  /**
   * Sets the step counter (when resuming from a checkpoint).
   *
   * @param step Adam's t of the last completed step
   */
  setStepCount(step: number): void {
    this.#step = step;
  }

  /**
   * Reads the loss accumulated since the last call (one readback) and
   * resets it.
   *
   * @returns the summed per-batch mean losses
   */
  async takeLoss(): Promise<number> {
    const [value] = await readFloat32(this.gpu, this.outputs.loss, 1);
    resetLoss(this.gpu, this.outputs.loss);
    return value;
  }

  /**
   * Reads the optimizer's statistics (gradient norm, skipped steps).
   *
   * @returns the statistics
   */
  readOptimizerStats(): ReturnType<AdamOptimizer["readStats"]> {
    if (!this.#adam) throw new Error("This graph was built for inference only");
    return this.#adam.readStats();
  }

  /**
   * Tags a batch: forward without dropout, then Viterbi (CRF) or argmax
   * (softmax); with `marginals`, also forward-backward marginals. One
   * submit and one readback per output.
   *
   * @param batch the batch
   * @param options ask for marginals and lattice
   * @returns the best tags, and marginals when asked
   */
  async infer(batch: Batch, options: { marginals?: boolean } = {}): Promise<Inference> {
    this.#upload(batch, false);
    for (const resize of this.#inferResizers) resize(batch);
    this.#decode.resize(batch);
    const dispatches = [...this.inferForward, ...this.#decode.dispatches];
    if (options.marginals && this.#marginals) {
      this.#marginals.resize({ batch: batch.size, time: batch.maxLength });
      dispatches.push(...this.#marginals.dispatches);
    }
    submitDispatches(this.gpu, dispatches, "inference");
    const n = batch.size * batch.maxLength;
    const K = this.sizes.tags;
    if (!options.marginals) return { tags: await readInt32(this.gpu, this.outputs.predictions, n) };
    // All readbacks in flight at once: one wait for the GPU instead of one per output.
    const { outputs, gpu } = this;
    const lattice = this.#marginals !== undefined;
    const [tags, marginals, emissions, logAlpha, logBeta, logZ] = await Promise.all([
      readInt32(gpu, outputs.predictions, n),
      readFloat32(gpu, outputs.marginals, n * K),
      readFloat32(gpu, outputs.emissions, n * K),
      lattice ? readFloat32(gpu, outputs.logAlpha, n * K) : undefined,
      lattice ? readFloat32(gpu, outputs.logBeta, n * K) : undefined,
      lattice ? readFloat32(gpu, outputs.logZ, batch.size) : undefined,
    ]);
    const result: Inference = { tags, marginals, emissions };
    if (lattice) Object.assign(result, { logAlpha, logBeta, logZ });
    return result;
  }

  /**
   * Reads every parameter back, GPU layout (LSTM directions stacked).
   *
   * @returns tensors by name
   */
  async readParameters(): Promise<Record<string, Float32Array>> {
    return this.layout.unpack(await readFloat32(this.gpu, this.params, this.layout.size));
  }

  /**
   * Reads the optimizer state (m, v) for a resumable checkpoint.
   *
   * @returns the flat m and v
   */
  async readOptimizerState(): Promise<{ m: Float32Array; v: Float32Array }> {
    if (!this.optimizerState) throw new Error("This graph was built for inference only");
    return {
      m: await readFloat32(this.gpu, this.optimizerState.m, this.layout.size),
      v: await readFloat32(this.gpu, this.optimizerState.v, this.layout.size),
    };
  }

  /**
   * Overwrites parameters (e.g. from a checkpoint or pretrained vectors).
   * Tensors not named keep their values.
   *
   * @param tensors GPU-layout tensors by name
   */
  writeParameters(tensors: Record<string, ArrayLike<number>>): void {
    for (const [name, data] of Object.entries(tensors)) {
      const slice = this.layout.get(name);
      if (data.length !== slice.size) {
        throw new RangeError(`Tensor '${name}': expected ${slice.size} values, got ${data.length}`);
      }
      writeBuffer(this.gpu, this.params, Float32Array.from(data), slice.offset * 4);
    }
  }

  /**
   * Overwrites the optimizer state (resume).
   *
   * @param state flat m and v
   */
  writeOptimizerState(state: { m: Float32Array; v: Float32Array }): void {
    if (!this.optimizerState) throw new Error("This graph was built for inference only");
    writeBuffer(this.gpu, this.optimizerState.m, state.m);
    writeBuffer(this.gpu, this.optimizerState.v, state.v);
  }

  /** Releases the graph's GPU buffers; the graph cannot be used afterwards. */
  destroy(): void {
    for (const layer of this.#layers) layer.destroy();
    for (const buffer of this.#owned) destroyBuffer(this.gpu, buffer);
    this.#owned = [];
    this.#layers = [];
  }

  /**
   * Reads the gradient buffer (tests and debugging).
   *
   * @returns tensors by name, GPU layout
   */
  async readGradients(): Promise<Record<string, Float32Array>> {
    if (!this.grads) throw new Error("This graph was built for inference only");
    return this.layout.unpack(await readFloat32(this.gpu, this.grads, this.layout.size));
  }
}

/** Per-batch counts computed on the host at upload. */
interface BatchExtras {
  casingGroups: number;
  charGroups: number;
}

/** Characters per word the char CNN sees for this batch (at least 1). */
function charCount(batch: Batch, maxChars: number): number {
  return Math.max(1, Math.min(batch.maxChars, maxChars));
}

/** The batch's char ids with each word cut to `Lc` characters. */
function trimChars(batch: Batch, Lc: number): Int32Array {
  if (Lc === batch.maxChars) return batch.charIds;
  const rows = batch.size * batch.maxLength;
  const out = new Int32Array(rows * Lc);
  for (let r = 0; r < rows; r++) {
    out.set(batch.charIds.subarray(r * batch.maxChars, r * batch.maxChars + Lc), r * Lc);
  }
  return out;
}

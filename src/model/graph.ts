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
  Allocator,
  type Dispatch,
  type Gpu,
  readFloat32,
  readInt32,
  submitDispatches,
  writeBuffer,
} from "../gpu/mod.ts";
import type { AdamHyper, AdamOptimizer } from "../ops/adam.ts";
import { ParameterLayout } from "../ops/common.ts";
import { resetLoss } from "../ops/crf.ts";
import { packTransitionMask, type TransitionMask } from "../ops/viterbi.ts";
import type { Batch } from "../data/batch.ts";
import { mulberry32 } from "../data/random.ts";
import type { ModelConfig } from "./config.ts";
import { initialValues, parameterSpecs, type VocabularySizes } from "./parameters.ts";
import { bilstmStage } from "./stages/bilstm.ts";
import { featuresStage } from "./stages/features.ts";
import {
  crfHead,
  type HeadOutputs,
  type HeadStage,
  headStage,
  softmaxHead,
} from "./stages/heads.ts";
import { type OptimizerStage, optimizerStage } from "./stages/optimizer.ts";
import {
  createInputs,
  type GraphCapacity,
  type InputBuffers,
  type Stage,
  type StageContext,
  uploadBatch,
} from "./stages/stage.ts";

export type { GraphCapacity } from "./stages/stage.ts";

/** Options for {@linkcode NerGraph.create}. */
export interface GraphOptions {
  /** Seed of the initial weights and the dropout masks. */
  seed?: number;
  /** Build the training step (default true); false for inference only. */
  training?: boolean;
  /** Allowed transitions for constrained decoding, (K, K) [from, to] and (K) start/end, 1 = allowed. */
  constraints?: TransitionMask;
  /**
   * Bytes one storage binding may hold (default: the device's limit). BiLSTM layers whose
   * saved buffers would pass it run as groups of sentences (`src/ops/lstm_split.ts`); a
   * small value forces that split at small shapes (tests).
   */
  maxBindingBytes?: number;
  /**
   * Inference graphs: fold the word-embedding part of the first BiLSTM layer's input
   * projection into a per-word table, (V, 8H) f32, rebuilt before the next inference after
   * every {@linkcode NerGraph.writeParameters}. Default: on when the first layer runs the
   * inference recurrence (the cpu kernel profile) and the table is at most 128 MiB and
   * within the binding limit; `true` insists (an error when it cannot be built), `false`
   * turns it off. Equal to the plain projection within float32 rounding.
   */
  wordTable?: boolean;
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
 * Throws when an LSTM layer's output, (B·T, 2H) f32, would not fit one storage binding (the
 * layer's larger saved buffers, (B·T, 8H), split into groups of sentences when they pass it),
 * or when B would pass 65,535 sentences (the per-sentence grids have one workgroup per ≥ 1
 * sentences in x; the per-row grids fit any B·T the output allows: ≤ 2²² rows).
 */
function checkCapacity(gpu: Gpu, config: ModelConfig, capacity: GraphCapacity): void {
  const maxGroups = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  if (capacity.maxBatch > maxGroups) {
    throw new RangeError(
      `A batch of ${capacity.maxBatch} sentences is more than the ${maxGroups} workgroups per ` +
        `dimension this adapter allows; use a smaller batch size`,
    );
  }
  const largest = capacity.maxBatch * capacity.maxTime * 2 * config.hidden * 4;
  const limit = gpu.device.limits.maxStorageBufferBindingSize;
  if (largest > limit) {
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    throw new RangeError(
      `A batch of ${capacity.maxBatch} sentences × ${capacity.maxTime} tokens at hidden size ` +
        `${config.hidden} needs ${mib(largest)} MiB per LSTM output buffer, more than ` +
        `this adapter's ${mib(limit)} MiB storage binding limit; use a smaller batch size`,
    );
  }
}

/** The flat initial parameters: PyTorch's tensors from the seed, LSTM directions stacked. */
function initialParameters(
  config: ModelConfig,
  sizes: VocabularySizes,
  layout: ParameterLayout,
  seed: number,
): Float32Array {
  const random = mulberry32(seed);
  const initial: Record<string, Float32Array> = {};
  for (const spec of parameterSpecs(config, sizes)) {
    initial[spec.name] = initialValues(spec, random);
  }
  return layout.pack(fromPytorchTensors(initial));
}

/** The stages of the model, in forward order, and the head (the last of them). */
async function buildStages(
  ctx: StageContext,
  options: GraphOptions,
): Promise<{ stages: Stage[]; head: HeadStage; build: Dispatch[] }> {
  const { constraints, maxBindingBytes } = options;
  const features = await featuresStage(ctx, {
    wordTable: options.wordTable,
    split: { maxBindingBytes },
  });
  const stages: Stage[] = [features.stage];
  let activation = features.output;
  for (let layer = 0; layer < ctx.config.layers; layer++) {
    const lstm = await bilstmStage(ctx, layer, activation, { maxBindingBytes });
    stages.push(lstm.stage);
    activation = lstm.output;
  }
  const kind = ctx.config.head === "crf" ? crfHead : softmaxHead;
  const head = await headStage(ctx, activation, kind, constraints);
  stages.push(head);
  return { stages, head, build: features.build };
}

/**
 * The BiLSTM-CRF on the GPU, assembled from stages (input features, the
 * BiLSTM layers, the head, the optimizer; see `stages/`). Create with
 * {@linkcode NerGraph.create}; free with {@linkcode NerGraph.destroy}.
 */
export class NerGraph {
  /** Dispatches of one training step, in order (fixed count). */
  readonly trainStep: Dispatch[] = [];
  /** Dispatches of inference up to the emissions (no dropout). */
  readonly inferForward: Dispatch[] = [];
  #stages: Stage[] = [];
  #head!: HeadStage;
  #optimizer?: OptimizerStage;
  #ctx!: StageContext;
  #swapped = false;
  #step = 0;
  /** Dispatches that rebuild the per-word table from the parameters (none without it). */
  #tableBuild: Dispatch[] = [];
  /** Whether the parameters changed since the table was built. */
  #tableStale = true;

  private constructor(
    readonly gpu: Gpu,
    readonly config: ModelConfig,
    readonly sizes: VocabularySizes,
    readonly capacity: GraphCapacity,
    readonly layout: ParameterLayout,
    readonly params: GPUBuffer,
    readonly grads: GPUBuffer | null,
    readonly inputs: InputBuffers,
    readonly allocator: Allocator,
  ) {}

  /** Host milliseconds the last {@linkcode NerGraph.trainOn} spent preparing the step (grouping ids, uploads, resizes), before recording and submitting. */
  lastHostMs = 0;

  /** Bytes of GPU buffers and uniform blocks this graph holds (parameters, state, activations, scratch). */
  gpuBytes = 0;

  /** The training step count so far (Adam's t). */
  get step(): number {
    return this.#step;
  }

  /** Dispatches per training step (the same for every batch shape). */
  get dispatchesPerStep(): number {
    return this.trainStep.length;
  }

  /** The buffers the graph reads back (emissions, predictions, loss, marginals, lattice). */
  get outputs(): HeadOutputs {
    return this.#head.outputs;
  }

  /** Inference's dispatches after {@linkcode NerGraph.inferForward}: the decoder and the marginals (CRF only; else empty), as sized by the last {@linkcode NerGraph.infer}. */
  get inferHead(): { decode: readonly Dispatch[]; marginals: readonly Dispatch[] } {
    return {
      decode: this.#head.decode.dispatches,
      marginals: this.#head.marginals?.dispatches ?? [],
    };
  }

  /** Whether inference reads the first layer's word projection from a per-word table. */
  get wordTable(): boolean {
    return this.#tableBuild.length > 0;
  }

  /** Adam's m and v (training graphs), else null. */
  get optimizerState(): { m: GPUBuffer; v: GPUBuffer } | null {
    return this.#optimizer?.moments ?? null;
  }

  /**
   * Allocates the buffers, initialises the parameters from the seed and
   * builds the stages and their dispatch lists.
   *
   * @param gpu the device
   * @param config the model configuration
   * @param sizes vocabulary sizes
   * @param capacity the largest batch
   * @param options seed, training or inference only, decoding constraints, binding limit
   * @returns the graph
   */
  static async create(
    gpu: Gpu,
    config: ModelConfig,
    sizes: VocabularySizes,
    capacity: GraphCapacity,
    options: GraphOptions = {},
  ): Promise<NerGraph> {
    checkCapacity(gpu, config, capacity);
    const training = options.training ?? true;
    const seed = options.seed ?? 1;
    const maxChars = config.charFeatures === "cnn"
      ? Math.min(capacity.maxChars, config.maxChars)
      : 1;
    const cap = { maxBatch: capacity.maxBatch, maxTime: capacity.maxTime, maxChars };
    const allocator = new Allocator(gpu, "graph");
    try {
      const layout = parameterLayout(config, sizes);
      const params = allocator.buffer("parameters", initialParameters(config, sizes, layout, seed));
      const grads = training ? allocator.buffer("gradients", layout.size * 4) : null;
      const inputs = createInputs(allocator, cap);
      const graph = new NerGraph(gpu, config, sizes, cap, layout, params, grads, inputs, allocator);
      const ctx: StageContext = {
        gpu,
        config,
        sizes,
        capacity: cap,
        layout,
        params,
        grads,
        inputs,
        allocator,
        training,
        seed,
      };
      await graph.#build(ctx, options);
      graph.gpuBytes = allocator.liveBytes;
      return graph;
    } catch (e) {
      allocator.destroy();
      throw e;
    }
  }

  /** Builds the stages and the step's dispatch list: zero, forwards, backwards reversed, update. */
  async #build(ctx: StageContext, options: GraphOptions): Promise<void> {
    this.#ctx = ctx;
    const { stages, head, build } = await buildStages(ctx, options);
    this.#tableBuild = build;
    this.#stages = stages;
    this.#head = head;
    this.inferForward.push(...stages.flatMap((s) => s.infer));
    if (!ctx.training) return;
    const optimizer = await optimizerStage(ctx);
    this.#optimizer = optimizer;
    this.trainStep.push(
      ...optimizer.zero,
      ...stages.flatMap((s) => s.forward),
      ...stages.toReversed().flatMap((s) => s.backward),
      ...optimizer.update,
    );
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
    const optimizer = this.#optimizer;
    if (!optimizer) throw new Error("This graph was built for inference only (training: false)");
    if (this.#swapped) {
      throw new Error(
        "The averaged weights are swapped in; call useAverage(false) before training",
      );
    }
    const start = performance.now();
    const extras = uploadBatch(this.#ctx, batch, true);
    for (const stage of this.#stages) stage.resize(batch, extras, true);
    this.#step++;
    for (const stage of this.#stages) stage.setStep(this.#step);
    optimizer.setStep(this.#step, hyper, batch.wordGroups.uniqueIds.length);
    let dispatches = this.trainStep;
    if (averageWeight > 0) {
      optimizer.average.setWeight(averageWeight);
      dispatches = [...dispatches, optimizer.average.update];
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
    const optimizer = this.#trainingOnly();
    if (this.#swapped === averaged) return;
    submitDispatches(this.gpu, [optimizer.average.swap], "swap averaged weights");
    this.#swapped = averaged;
  }

  /**
   * Reads the parameter average (flat, GPU layout) for a resumable checkpoint.
   *
   * @returns the flat average
   */
  async readAverage(): Promise<Float32Array> {
    const optimizer = this.#trainingOnly();
    const source = this.#swapped ? this.params : optimizer.averageBuffer;
    return await readFloat32(this.gpu, source, this.layout.size);
  }

  /**
   * Overwrites the parameter average (resume).
   *
   * @param flat the flat average, GPU layout
   */
  writeAverage(flat: Float32Array): void {
    const optimizer = this.#trainingOnly();
    if (flat.length !== this.layout.size) {
      throw new RangeError(`Average: expected ${this.layout.size} values, got ${flat.length}`);
    }
    writeBuffer(this.gpu, this.#swapped ? this.params : optimizer.averageBuffer, flat);
  }

  /**
   * Replaces the allowed-transition mask used by decoding (1 = allowed).
   *
   * @param mask (K, K) [from, to] transitions and (K) start and end
   */
  setConstraints(mask: TransitionMask): void {
    writeBuffer(this.gpu, this.#head.allowed, packTransitionMask(mask, this.sizes.tags));
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
    return this.#trainingOnly().adam.readStats();
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
    const extras = uploadBatch(this.#ctx, batch, false);
    for (const stage of this.#stages) stage.resize(batch, extras, false);
    const head = this.#head;
    const table = this.#tableStale ? this.#tableBuild : [];
    this.#tableStale = false;
    const dispatches = [...table, ...this.inferForward, ...head.decode.dispatches];
    if (options.marginals && head.marginals) dispatches.push(...head.marginals.dispatches);
    submitDispatches(this.gpu, dispatches, "inference");
    const n = batch.size * batch.maxLength;
    const K = this.sizes.tags;
    const { outputs, gpu } = this;
    if (!options.marginals) return { tags: await readInt32(gpu, outputs.predictions, n) };
    // All readbacks in flight at once: one wait for the GPU instead of one per output.
    const lattice = head.marginals !== undefined;
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
    const { m, v } = this.#trainingOnly().moments;
    return {
      m: await readFloat32(this.gpu, m, this.layout.size),
      v: await readFloat32(this.gpu, v, this.layout.size),
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
    this.#tableStale = true;
  }

  /**
   * Overwrites the optimizer state (resume).
   *
   * @param state flat m and v
   */
  writeOptimizerState(state: { m: Float32Array; v: Float32Array }): void {
    const { m, v } = this.#trainingOnly().moments;
    writeBuffer(this.gpu, m, state.m);
    writeBuffer(this.gpu, v, state.v);
  }

  /**
   * Frees every GPU buffer and uniform block of the graph, its stages and
   * their ops (through the graph's allocator, so `gpuMemory()` goes back
   * to what it was before {@linkcode NerGraph.create}); idempotent. The
   * graph cannot be used afterwards.
   */
  destroy(): void {
    this.allocator.destroy();
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

  #trainingOnly(): OptimizerStage {
    if (!this.#optimizer) throw new Error("This graph was built for inference only");
    return this.#optimizer;
  }
}

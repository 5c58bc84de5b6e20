/**
 * The input-features stage: word embedding, casing embedding and character
 * CNN, each writing its column block of the LSTM input x (B·T, E), then
 * dropout on x; the backward is the dropout's, then each feature's table
 * (and filter) gradient. Inference graphs whose first BiLSTM layer runs the
 * inference recurrence may instead fold the word embedding into that layer's
 * input projection (a per-word table, `src/ops/word_projection.ts`): the stage
 * then writes casing and char CNN into x_rest and outputs the projection itself.
 *
 * @module
 */

import type { Dispatch } from "../../gpu/kernel.ts";
import { charCnnBackward, charCnnForward } from "../../ops/char_cnn.ts";
import type { Op } from "../../ops/common.ts";
import { dropoutBackward, dropoutForward, type DropoutOp } from "../../ops/dropout.ts";
import { embeddingBackward, embeddingForward } from "../../ops/embedding.ts";
import type { Batch } from "../../data/batch.ts";
import { inputDim } from "../config.ts";
import {
  type Activation,
  type BatchExtras,
  charCount,
  slice,
  type Stage,
  type StageContext,
} from "./stage.ts";
import { sparseWordTable } from "./optimizer.ts";
import { inferenceRecurrence } from "./bilstm.ts";
import type { SplitOptions } from "../../ops/lstm_split.ts";
import {
  WORD_TABLE_DEFAULT_BYTES,
  wordProjection,
  wordTableBytes,
  wordTableProblem,
} from "../../ops/word_projection.ts";

/** An op and how it is resized for a batch. */
interface Sized {
  op: Op<never>;
  resize(batch: Batch, extras: BatchExtras): void;
}

function sized<S>(op: Op<S>, shape: (b: Batch, e: BatchExtras) => S): Sized {
  return { op: op as Op<never>, resize: (b, e) => op.resize(shape(b, e)) };
}

/** Options of {@linkcode featuresStage}. */
export interface FeaturesOptions {
  /**
   * Fold the word-embedding part of the first BiLSTM layer's input projection into a
   * per-word table, (V, 8H) f32, rebuilt from the parameters after every write (inference
   * graphs whose first layer runs the inference recurrence). `true`: always (an error
   * when it cannot be built), `false`: never, default: when the table is at most
   * {@linkcode WORD_TABLE_DEFAULT_BYTES} (128 MiB) and within the binding limit.
   */
  wordTable?: boolean;
  /** The binding limit the BiLSTM layers are built with. */
  split?: SplitOptions;
}

/** The features stage, its output, and the dispatches that rebuild the word table (or none). */
export interface FeaturesStage {
  stage: Stage;
  output: Activation;
  /** Run after every parameter write before inference (empty without the table). */
  build: Dispatch[];
}

/** The dropout seed of the LSTM input. */
export function inputDropoutSeed(seed: number): number {
  return (seed * 2654435761) >>> 0;
}

/**
 * Builds the input-features stage: its output is x (B·T, E) with E =
 * {@linkcode inputDim}, and (training) its gradient dX; or, with the per-word table
 * (inference), the first layer's input projection (B·T, 8H) (`projected`).
 *
 * @param ctx the stage context
 * @param options the per-word table, the BiLSTM's binding limit
 * @returns the stage, its output activation and the table's build dispatches
 */
export async function featuresStage(
  ctx: StageContext,
  options: FeaturesOptions = {},
): Promise<FeaturesStage> {
  if (wordTableApplies(ctx, options)) return await projectedStage(ctx);
  const { config, capacity } = ctx;
  const mem = ctx.allocator.scope("input features");
  const rows = capacity.maxBatch * capacity.maxTime;
  const E = inputDim(config);
  const x = mem.buffer("lstm input", Math.max(1, rows * E) * 4);
  const dX = ctx.training ? mem.buffer("lstm input gradient", Math.max(1, rows * E) * 4) : null;
  const sub = { ...ctx, allocator: mem };
  // The char CNN's argmax, kept from its forward for its backward.
  const cnn = config.charFeatures === "cnn";
  const argmax = cnn
    ? mem.buffer("char cnn argmax", Math.max(1, rows * config.charFilters) * 4)
    : x;
  const forward = await forwardOps(sub, x, argmax);
  const backward = dX ? await backwardOps(sub, dX, argmax) : [];
  const drops: DropoutOp[] = [];
  if (dX) {
    const options = {
      n: rows * E,
      p: config.dropout,
      seed: inputDropoutSeed(ctx.seed),
      allocator: mem,
    };
    drops.push(await dropoutForward(ctx.gpu, { x }, { ...options, label: "dropout (lstm input)" }));
    drops.push(
      await dropoutBackward(ctx.gpu, { dy: dX }, {
        ...options,
        label: "dropout (lstm input) backward",
      }),
    );
  }
  const stage: Stage = {
    name: "input features",
    forward: [...dispatchesOf(forward), ...(drops[0]?.dispatches ?? [])],
    backward: [...(drops[1]?.dispatches ?? []), ...dispatchesOf(backward)],
    infer: dispatchesOf(forward),
    resize(batch, extras, training) {
      for (const s of forward) s.resize(batch, extras);
      if (!training) return;
      for (const d of drops) d.resize({ n: batch.size * batch.maxLength * E });
      for (const s of backward) s.resize(batch, extras);
    },
    setStep(step) {
      for (const d of drops) d.setStep(step);
    },
    destroy: () => mem.destroy(),
  };
  return { stage, output: { value: x, gradient: dX, width: E }, build: [] };
}

/**
 * Whether the graph folds the first layer's word projection into a per-word table: asked
 * for (`true`: an error when it cannot), or by default when it is at most
 * {@linkcode WORD_TABLE_DEFAULT_BYTES} and can be built.
 */
function wordTableApplies(ctx: StageContext, options: FeaturesOptions): boolean {
  if (options.wordTable === false) return false;
  const blocked = wordTableBlocked(ctx, options.split ?? {});
  if (blocked && options.wordTable) throw new Error(`Cannot build the word table: ${blocked}`);
  if (blocked) return false;
  return options.wordTable === true ||
    wordTableBytes(ctx.sizes.words, ctx.config.hidden) <= WORD_TABLE_DEFAULT_BYTES;
}

function wordTableBlocked(ctx: StageContext, split: SplitOptions): string | null {
  if (ctx.training) return "it is for inference-only graphs (training: false)";
  if (!inferenceRecurrence(ctx, inputDim(ctx.config), split)) {
    return "the first BiLSTM layer does not run the inference recurrence on this device " +
      "(the gpu kernel profile, or H or the longest batch past that kernel's reach)";
  }
  return wordTableProblem(ctx.gpu, ctx.sizes.words, ctx.config.hidden);
}

/**
 * The inference-only features stage with the per-word table: casing and char CNN into
 * x_rest (B·T, E_r), then the first layer's input projection (B·T, 8H) as the table's
 * rows plus x_rest's projection (`src/ops/word_projection.ts`).
 */
async function projectedStage(ctx: StageContext): Promise<FeaturesStage> {
  const { config, capacity, inputs } = ctx;
  const mem = ctx.allocator.scope("input features");
  const rows = capacity.maxBatch * capacity.maxTime;
  const H = config.hidden;
  const cnn = config.charFeatures === "cnn";
  const Er = config.casingDim + (cnn ? config.charFilters : 0);
  const rest = Er > 0 ? mem.buffer("lstm input, other columns", rows * Er * 4) : null;
  const pre = mem.buffer("lstm 0 input projection", Math.max(1, rows * 8 * H) * 4);
  const argmax = cnn ? mem.buffer("char cnn argmax", rows * config.charFilters * 4) : pre;
  const sub = { ...ctx, allocator: mem };
  const cols = { stride: Math.max(1, Er), word: null, casing: 0, chars: config.casingDim };
  const features = await forwardOps(sub, rest ?? pre, argmax, cols);
  const p = (name: string) => slice(ctx, ctx.params, name);
  const projection = await wordProjection(ctx.gpu, {
    wordTable: p("word_emb.weight"),
    wIh: p("lstm.weight_ih_l0"),
    bIh: p("lstm.bias_ih_l0"),
    wordIds: inputs.wordIds,
    lengths: inputs.lengths,
    ...(rest ? { rest } : {}),
    pre,
  }, {
    maxBatch: capacity.maxBatch,
    maxTime: capacity.maxTime,
    vocab: ctx.sizes.words,
    wordDim: config.wordDim,
    inputSize: inputDim(config),
    hiddenSize: H,
    label: "lstm 0 word projection",
    allocator: mem,
  });
  const stage: Stage = {
    name: "input features",
    forward: [],
    backward: [],
    infer: [...dispatchesOf(features), ...projection.dispatches],
    resize(batch, extras) {
      for (const s of features) s.resize(batch, extras);
      projection.resize({ batch: batch.size, time: batch.maxLength });
    },
    setStep() {},
    destroy: () => mem.destroy(),
  };
  const output = { value: pre, gradient: null, width: 8 * H, projected: true };
  return { stage, output, build: projection.build };
}

function dispatchesOf(list: Sized[]): Dispatch[] {
  return list.flatMap((s) => s.op.dispatches);
}

/** Where each feature writes in x: its row stride and column offsets (word: null = not written). */
interface Columns {
  stride: number;
  word: number | null;
  casing: number;
  chars: number;
}

/** The full input x (B·T, E): [word | casing | chars]. */
function fullColumns(config: StageContext["config"]): Columns {
  return {
    stride: inputDim(config),
    word: 0,
    casing: config.wordDim,
    chars: config.wordDim + config.casingDim,
  };
}

/** Word, casing and char CNN lookups into their column blocks of x. */
async function forwardOps(
  ctx: StageContext,
  x: GPUBuffer,
  argmax: GPUBuffer,
  cols: Columns = fullColumns(ctx.config),
): Promise<Sized[]> {
  const { gpu, config, sizes, inputs, capacity, allocator } = ctx;
  const p = (name: string) => slice(ctx, ctx.params, name);
  const shape = {
    batch: capacity.maxBatch,
    time: capacity.maxTime,
    rowStride: cols.stride,
    allocator,
  };
  const tokens = (b: Batch) => ({ batch: b.size, time: b.maxLength });
  const ops: Sized[] = [];
  if (cols.word !== null) {
    const word = await embeddingForward(gpu, {
      table: p("word_emb.weight"),
      ids: inputs.wordIds,
      lengths: inputs.lengths,
      out: x,
    }, {
      ...shape,
      dim: config.wordDim,
      vocab: sizes.words,
      columnOffset: cols.word,
      label: "word embedding",
    });
    ops.push(sized(word, tokens));
  }
  if (config.casingDim > 0) {
    const casing = await embeddingForward(gpu, {
      table: p("casing_emb.weight"),
      ids: inputs.casingIds,
      lengths: inputs.lengths,
      out: x,
    }, {
      ...shape,
      dim: config.casingDim,
      vocab: sizes.casings,
      columnOffset: cols.casing,
      label: "casing embedding",
    });
    ops.push(sized(casing, tokens));
  }
  if (config.charFeatures === "cnn") {
    const chars = await charCnnForward(gpu, { ...charInputs(ctx), out: x, argmax }, {
      ...charDims(ctx),
      rowStride: cols.stride,
      columnOffset: cols.chars,
      label: "char cnn",
    });
    ops.push(sized(chars, (b) => ({ ...tokens(b), chars: charCount(b, capacity.maxChars) })));
  }
  return ops;
}

function charInputs(ctx: StageContext) {
  const p = (name: string) => slice(ctx, ctx.params, name);
  return {
    charIds: ctx.inputs.charIds,
    charLengths: ctx.inputs.charLengths,
    lengths: ctx.inputs.lengths,
    table: p("char_emb.weight"),
    weight: p("char_cnn.weight"),
    bias: p("char_cnn.bias"),
  };
}

function charDims(ctx: StageContext) {
  const { config, sizes, capacity } = ctx;
  return {
    batch: capacity.maxBatch,
    time: capacity.maxTime,
    chars: capacity.maxChars,
    charDim: config.charDim,
    filters: config.charFilters,
    charVocab: sizes.chars,
    rowStride: inputDim(config),
    columnOffset: config.wordDim + config.casingDim,
    allocator: ctx.allocator,
  };
}

/** The table (and filter) gradients of each feature, from dX. */
async function backwardOps(
  ctx: StageContext,
  dX: GPUBuffer,
  argmax: GPUBuffer,
): Promise<Sized[]> {
  const { gpu, config, sizes, inputs, capacity, allocator } = ctx;
  const rows = capacity.maxBatch * capacity.maxTime;
  const E = inputDim(config);
  const g = (name: string) => slice(ctx, ctx.grads, name);
  const ops: Sized[] = [];
  const word = await embeddingBackward(gpu, {
    dOut: dX,
    uniqueIds: inputs.wordUnique,
    offsets: inputs.wordOffsets,
    positions: inputs.wordPositions,
    dTable: g("word_emb.weight"),
  }, {
    uniqueCount: rows,
    dim: config.wordDim,
    vocab: sizes.words,
    rowStride: E,
    columnOffset: 0,
    label: "word embedding backward",
    overwrite: sparseWordTable(ctx) !== null,
    allocator,
  });
  ops.push(sized(word, (b) => ({ uniqueCount: b.wordGroups.uniqueIds.length })));
  if (config.casingDim > 0) {
    const casing = await embeddingBackward(gpu, {
      dOut: dX,
      uniqueIds: inputs.casingUnique,
      offsets: inputs.casingOffsets,
      positions: inputs.casingPositions,
      dTable: g("casing_emb.weight"),
    }, {
      uniqueCount: rows,
      dim: config.casingDim,
      vocab: sizes.casings,
      rowStride: E,
      columnOffset: config.wordDim,
      label: "casing embedding backward",
      allocator,
    });
    ops.push(sized(casing, (_, e) => ({ uniqueCount: e.casingGroups })));
  }
  if (config.charFeatures === "cnn") {
    const chars = await charCnnBackward(gpu, {
      ...charInputs(ctx),
      dOut: dX,
      argmax,
      uniqueIds: inputs.charUnique,
      offsets: inputs.charOffsets,
      positions: inputs.charPositions,
      dTable: g("char_emb.weight"),
      dWeight: g("char_cnn.weight"),
      dBias: g("char_cnn.bias"),
    }, {
      ...charDims(ctx),
      uniqueCount: rows * capacity.maxChars,
      capacity: { rows, chars: capacity.maxChars },
      label: "char cnn backward",
    });
    ops.push(sized(chars, (b, e) => ({
      batch: b.size,
      time: b.maxLength,
      chars: charCount(b, capacity.maxChars),
      uniqueCount: e.charGroups,
    })));
  }
  return ops;
}

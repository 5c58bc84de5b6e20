/**
 * The input-features stage: word embedding, casing embedding and character
 * CNN, each writing its column block of the LSTM input x (B·T, E), then
 * dropout on x; the backward is the dropout's, then each feature's table
 * (and filter) gradient.
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

/** An op and how it is resized for a batch. */
interface Sized {
  op: Op<never>;
  resize(batch: Batch, extras: BatchExtras): void;
}

function sized<S>(op: Op<S>, shape: (b: Batch, e: BatchExtras) => S): Sized {
  return { op: op as Op<never>, resize: (b, e) => op.resize(shape(b, e)) };
}

/** The dropout seed of the LSTM input. */
export function inputDropoutSeed(seed: number): number {
  return (seed * 2654435761) >>> 0;
}

/**
 * Builds the input-features stage: its output is x (B·T, E) with E =
 * {@linkcode inputDim}, and (training) its gradient dX.
 *
 * @param ctx the stage context
 * @returns the stage and its output activation
 */
export async function featuresStage(
  ctx: StageContext,
): Promise<{ stage: Stage; output: Activation }> {
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
  return { stage, output: { value: x, gradient: dX, width: E } };
}

function dispatchesOf(list: Sized[]): Dispatch[] {
  return list.flatMap((s) => s.op.dispatches);
}

/** Word, casing and char CNN lookups into their column blocks of x. */
async function forwardOps(ctx: StageContext, x: GPUBuffer, argmax: GPUBuffer): Promise<Sized[]> {
  const { gpu, config, sizes, inputs, capacity, allocator } = ctx;
  const E = inputDim(config);
  const p = (name: string) => slice(ctx, ctx.params, name);
  const shape = { batch: capacity.maxBatch, time: capacity.maxTime, rowStride: E, allocator };
  const tokens = (b: Batch) => ({ batch: b.size, time: b.maxLength });
  const ops: Sized[] = [];
  const word = await embeddingForward(gpu, {
    table: p("word_emb.weight"),
    ids: inputs.wordIds,
    lengths: inputs.lengths,
    out: x,
  }, {
    ...shape,
    dim: config.wordDim,
    vocab: sizes.words,
    columnOffset: 0,
    label: "word embedding",
  });
  ops.push(sized(word, tokens));
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
      columnOffset: config.wordDim,
      label: "casing embedding",
    });
    ops.push(sized(casing, tokens));
  }
  if (config.charFeatures === "cnn") {
    const chars = await charCnnForward(gpu, { ...charInputs(ctx), out: x, argmax }, {
      ...charDims(ctx),
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

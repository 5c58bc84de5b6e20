/**
 * The head stages: dropout on the last LSTM output, the output layer
 * (emissions (B·T, K) = h·W_outᵀ + b), and the loss with its gradient
 * (training); the emissions from the undropped h and decoding (inference).
 * The CRF head decodes with Viterbi and gives marginals by forward-backward;
 * the softmax head decodes by argmax. A new head is one more {@linkcode HeadKind}.
 *
 * @module
 */

import type { Allocator } from "../../gpu/allocator.ts";
import { kernelProfile } from "../../gpu/profile.ts";
import type { Dispatch } from "../../gpu/kernel.ts";
import type { LossOp, SequenceOp, SequenceShape } from "../../ops/common.ts";
import { crfLoss, crfMarginals } from "../../ops/crf.ts";
import { dropoutBackward, dropoutForward, type DropoutOp } from "../../ops/dropout.ts";
import { matmulBackward, matmulForward } from "../../ops/matmul.ts";
import { softmaxPredict, softmaxXentLoss } from "../../ops/softmax_xent.ts";
import { createTransitionMask, type TransitionMask } from "../../ops/viterbi.ts";
import { viterbiDecode } from "../../ops/viterbi.ts";
import { type Activation, slice, type Stage, type StageContext } from "./stage.ts";

/** The graph's outputs, all (B·T, K) f32 unless noted. */
export interface HeadOutputs {
  emissions: GPUBuffer;
  /** (B·T) i32 best tags. */
  predictions: GPUBuffer;
  /** (B) best path scores (CRF). */
  scores: GPUBuffer;
  /** (1) the loss accumulator. */
  loss: GPUBuffer;
  /** (B) per-sentence NLL (CRF). */
  nll: GPUBuffer;
  marginals: GPUBuffer;
  logAlpha: GPUBuffer;
  logBeta: GPUBuffer;
  /** (B) log Z (CRF). */
  logZ: GPUBuffer;
}

/** A head stage: also the decoding ops of inference and the allowed-transition mask. */
export interface HeadStage extends Stage {
  /** The buffers the graph reads back. */
  readonly outputs: HeadOutputs;
  /** Best tags (and probabilities, for the softmax head) from the emissions. */
  readonly decode: SequenceOp;
  /** Forward-backward marginals and lattice (CRF only). */
  readonly marginals?: SequenceOp;
  /** (K·K + 2K) u32 allowed-transition mask (CRF decoding). */
  readonly allowed: GPUBuffer;
}

/** What a head adds to the output layer: its loss, its decoder and optional marginals. */
export interface HeadKind {
  /** Builds the loss and its emission gradient (training). */
  loss(
    ctx: StageContext,
    outputs: HeadOutputs,
    dEmissions: GPUBuffer,
    mem: Allocator,
  ): Promise<LossOp>;
  /** Builds the decoder of inference. */
  decode(
    ctx: StageContext,
    outputs: HeadOutputs,
    allowed: GPUBuffer,
    mem: Allocator,
  ): Promise<SequenceOp>;
  /** Builds the marginals of inference, if the head has them. */
  marginals?(ctx: StageContext, outputs: HeadOutputs, mem: Allocator): Promise<SequenceOp>;
}

function shapeOf(ctx: StageContext, mem: Allocator) {
  const { maxBatch, maxTime } = ctx.capacity;
  return { batch: maxBatch, time: maxTime, tags: ctx.sizes.tags, allocator: mem };
}

function crfParams(ctx: StageContext) {
  const p = (name: string) => slice(ctx, ctx.params, name);
  return { transitions: p("crf.transitions"), start: p("crf.start"), end: p("crf.end") };
}

/** The CRF head: NLL by forward-backward, Viterbi decoding, marginals. */
export const crfHead: HeadKind = {
  loss: (ctx, outputs, dEmissions, mem) => {
    const g = (name: string) => slice(ctx, ctx.grads, name);
    return crfLoss(ctx.gpu, {
      emissions: outputs.emissions,
      tags: ctx.inputs.tagIds,
      lengths: ctx.inputs.lengths,
      ...crfParams(ctx),
      nll: outputs.nll,
      dEmissions,
      dTransitions: g("crf.transitions"),
      dStart: g("crf.start"),
      dEnd: g("crf.end"),
      loss: outputs.loss,
    }, shapeOf(ctx, mem));
  },
  decode: (ctx, outputs, allowed, mem) =>
    viterbiDecode(ctx.gpu, {
      emissions: outputs.emissions,
      lengths: ctx.inputs.lengths,
      ...crfParams(ctx),
      allowed,
      path: outputs.predictions,
      score: outputs.scores,
    }, shapeOf(ctx, mem)),
  marginals: (ctx, outputs, mem) =>
    crfMarginals(ctx.gpu, {
      emissions: outputs.emissions,
      lengths: ctx.inputs.lengths,
      ...crfParams(ctx),
      logZ: outputs.logZ,
      marginals: outputs.marginals,
      logAlpha: outputs.logAlpha,
      logBeta: outputs.logBeta,
    }, shapeOf(ctx, mem)),
};

/** The softmax head: per-token cross-entropy, argmax decoding with probabilities. */
export const softmaxHead: HeadKind = {
  loss: (ctx, outputs, dEmissions, mem) =>
    softmaxXentLoss(ctx.gpu, {
      emissions: outputs.emissions,
      tags: ctx.inputs.tagIds,
      lengths: ctx.inputs.lengths,
      dEmissions,
      loss: outputs.loss,
    }, shapeOf(ctx, mem)),
  decode: (ctx, outputs, _allowed, mem) =>
    softmaxPredict(ctx.gpu, {
      emissions: outputs.emissions,
      lengths: ctx.inputs.lengths,
      prediction: outputs.predictions,
      probabilities: outputs.marginals,
    }, shapeOf(ctx, mem)),
};

/** The dropout seed of the LSTM output. */
export function outputDropoutSeed(seed: number): number {
  return (seed * 2246822519 + 7) >>> 0;
}

function allocateOutputs(mem: Allocator, rows: number, batch: number, K: number): HeadOutputs {
  const f32 = (label: string, n: number) => mem.buffer(label, Math.max(1, n) * 4);
  return {
    emissions: f32("emissions", rows * K),
    predictions: f32("predictions", rows),
    scores: f32("path scores", batch),
    loss: f32("loss accumulator", 4),
    nll: f32("sentence nll", batch),
    marginals: f32("marginals", rows * K),
    logAlpha: f32("log alpha", rows * K),
    logBeta: f32("log beta", rows * K),
    logZ: f32("log Z", batch),
  };
}

/**
 * Builds a head stage over the last LSTM output.
 *
 * @param ctx the stage context
 * @param input the last layer's activation (B·T, 2H) and its gradient
 * @param kind the head ({@linkcode crfHead} or {@linkcode softmaxHead})
 * @param constraints allowed transitions for decoding (default: all)
 * @returns the stage
 */
export async function headStage(
  ctx: StageContext,
  input: Activation,
  kind: HeadKind,
  constraints?: TransitionMask,
): Promise<HeadStage> {
  const { gpu, capacity, sizes } = ctx;
  const mem = ctx.allocator.scope("head");
  const rows = capacity.maxBatch * capacity.maxTime;
  const K = sizes.tags;
  const outputs = allocateOutputs(mem, rows, capacity.maxBatch, K);
  const p = (name: string) => slice(ctx, ctx.params, name);
  const outDims = { m: rows, n: K, k: input.width, transB: true };
  const resizeRows = (b: SequenceShape) => ({ m: b.batch * b.time, n: K, k: input.width });
  // Inference: emissions straight from the last LSTM output.
  const inferEmissions = await matmulForward(gpu, {
    a: input.value,
    b: p("out.weight"),
    c: outputs.emissions,
    bias: p("out.bias"),
  }, { ...outDims, label: "output layer", allocator: mem });
  const allowed = createTransitionMask(gpu, constraints, K, mem);
  const decode = await kind.decode(ctx, outputs, allowed, mem);
  const marginals = await kind.marginals?.(ctx, outputs, mem);
  const train = ctx.training ? await trainingOps(ctx, mem, input, outputs, kind) : null;
  const decoders = [decode, ...(marginals ? [marginals] : [])];
  return {
    name: "head",
    outputs,
    decode,
    marginals,
    allowed,
    forward: train?.forward ?? [],
    backward: train?.backward ?? [],
    infer: inferEmissions.dispatches,
    resize(batch, _extras, training) {
      const shape = { batch: batch.size, time: batch.maxLength };
      if (training) {
        train!.resize(shape);
        return;
      }
      inferEmissions.resize(resizeRows(shape));
      for (const op of decoders) op.resize(shape);
    },
    setStep(step) {
      for (const d of train?.drops ?? []) d.setStep(step);
    },
    destroy: () => mem.destroy(),
  };
}

/** Dropout on h, the output layer on the dropped h, the loss, and their backward. */
async function trainingOps(
  ctx: StageContext,
  mem: Allocator,
  input: Activation,
  outputs: HeadOutputs,
  kind: HeadKind,
) {
  const { gpu, capacity, config } = ctx;
  const rows = capacity.maxBatch * capacity.maxTime;
  const K = ctx.sizes.tags;
  const width = input.width;
  const f32 = (label: string, n: number) => mem.buffer(label, Math.max(1, n) * 4);
  const hDrop = f32("lstm output after dropout", rows * width);
  const dHDrop = f32("output layer input gradient", rows * width);
  const dEmissions = f32("emission gradients", rows * K);
  const p = (name: string) => slice(ctx, ctx.params, name);
  const g = (name: string) => slice(ctx, ctx.grads, name);
  const dropOptions = {
    n: rows * width,
    p: config.dropout,
    seed: outputDropoutSeed(ctx.seed),
    allocator: mem,
  };
  const dropH = await dropoutForward(gpu, { x: input.value, y: hDrop }, {
    ...dropOptions,
    label: "dropout (lstm output)",
  });
  const outDims = { m: rows, n: K, k: width, transB: true };
  const emissions = await matmulForward(gpu, {
    a: hDrop,
    b: p("out.weight"),
    c: outputs.emissions,
    bias: p("out.bias"),
  }, { ...outDims, label: "output layer", allocator: mem });
  const loss = await kind.loss(ctx, outputs, dEmissions, mem);
  const outBackward = await matmulBackward(gpu, {
    a: hDrop,
    b: p("out.weight"),
    dC: dEmissions,
    dA: dHDrop,
    dB: g("out.weight"),
    dBias: g("out.bias"),
  }, {
    ...outDims,
    // gpu profile: dW_out and db_out, sums over B·T, by split-K (deterministic chunks).
    splitK: kernelProfile(gpu).profile === "gpu",
    label: "output layer",
    allocator: mem,
  });
  const dropHBack = await dropoutBackward(gpu, { dy: dHDrop, dx: input.gradient! }, {
    ...dropOptions,
    label: "dropout (lstm output) backward",
  });
  const forward: Dispatch[] = [...dropH.dispatches, ...emissions.dispatches, ...loss.dispatches];
  const backward: Dispatch[] = [...outBackward.dispatches, ...dropHBack.dispatches];
  const drops: DropoutOp[] = [dropH, dropHBack];
  return {
    forward,
    backward,
    drops,
    resize(shape: SequenceShape) {
      const n = shape.batch * shape.time;
      for (const d of drops) d.resize({ n: n * width });
      emissions.resize({ m: n, n: K, k: width });
      loss.resize(shape);
      loss.setLossScale(1 / shape.batch);
      outBackward.resize({ m: n, n: K, k: width });
    },
  };
}

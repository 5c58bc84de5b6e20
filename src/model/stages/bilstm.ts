/**
 * One BiLSTM layer as a stage: reads the previous stage's activation
 * (B·T, E) and writes h (B·T, 2H); its backward reads dh and writes the
 * previous activation's gradient. Stack layers by chaining stages.
 *
 * @module
 */

import { createBiLstm } from "../../ops/lstm.ts";
import { sentenceGroups, type SplitOptions } from "../../ops/lstm_split.ts";
import { createBiLstmInfer, lstmInferForward, lstmInferSupports } from "../../ops/lstm_infer.ts";
import { kernelProfile } from "../../gpu/profile.ts";
import type { Allocator } from "../../gpu/allocator.ts";
import { type Activation, slice, type Stage, type StageContext } from "./stage.ts";

/**
 * Builds layer `layer` of the BiLSTM.
 *
 * @param ctx the stage context
 * @param layer the layer index k (its tensors are `lstm.*_l{k}`)
 * @param input the previous stage's output activation
 * @param split the binding limit the layer's saved buffers must fit (default: the device's)
 * @returns the stage and its output activation (B·T, 2H)
 */
export async function bilstmStage(
  ctx: StageContext,
  layer: number,
  input: Activation,
  split: SplitOptions = {},
): Promise<{ stage: Stage; output: Activation }> {
  const { gpu, config, capacity, inputs } = ctx;
  const name = `lstm ${layer}`;
  const mem = ctx.allocator.scope(name);
  const H = config.hidden;
  const rows = capacity.maxBatch * capacity.maxTime;
  const p = (tensor: string) => slice(ctx, ctx.params, `lstm.${tensor}_l${layer}`);
  const hOut = mem.buffer(`${name} output`, Math.max(1, rows * 2 * H) * 4);
  const dH = ctx.training
    ? mem.buffer(`${name} output gradient`, Math.max(1, rows * 2 * H) * 4)
    : null;
  if (input.projected || (!ctx.training && inferenceRecurrence(ctx, input.width, split))) {
    return {
      stage: await inferStage(ctx, layer, input, { hOut, mem }),
      output: { value: hOut, gradient: null, width: 2 * H },
    };
  }
  const op = await createBiLstm(gpu, {
    x: input.value,
    lengths: inputs.lengths,
    wIh: p("weight_ih"),
    wHh: p("weight_hh"),
    bIh: p("bias_ih"),
    bHh: p("bias_hh"),
    hOut,
  }, {
    maxBatch: capacity.maxBatch,
    maxTime: capacity.maxTime,
    inputSize: input.width,
    hiddenSize: H,
    label: name,
    allocator: mem,
    ...split,
  });
  const g = (tensor: string) => slice(ctx, ctx.grads, `lstm.${tensor}_l${layer}`);
  const backward = dH
    ? await op.backward({
      dhOut: dH,
      ...(input.gradient ? { dX: input.gradient } : {}),
      dWIh: g("weight_ih"),
      dWHh: g("weight_hh"),
      dBIh: g("bias_ih"),
      dBHh: g("bias_hh"),
    })
    : null;
  const stage: Stage = {
    name,
    forward: op.dispatches,
    backward: backward?.dispatches ?? [],
    infer: op.dispatches,
    // The layer resizes its backward too.
    resize: (batch) => op.resize({ batch: batch.size, time: batch.maxLength }),
    setStep() {},
    destroy: () => mem.destroy(),
  };
  return { stage, output: { value: hOut, gradient: dH, width: 2 * H } };
}

/**
 * Whether an inference-only graph runs this layer on `lstm_infer.ts` (cpu profile: nothing
 * saved for backward; h_out equals `createBiLstm`'s within float rounding): H and the
 * longest batch within that kernel's reach, and the batch not split by the binding limit.
 *
 * @param ctx the stage context
 * @param E the layer's input width
 * @param split the binding limit the layer is built with
 * @returns true when the layer runs the inference recurrence
 */
export function inferenceRecurrence(ctx: StageContext, E: number, split: SplitOptions): boolean {
  const { gpu, capacity } = ctx;
  const size = {
    maxBatch: capacity.maxBatch,
    maxTime: capacity.maxTime,
    hiddenSize: ctx.config.hidden,
  };
  return kernelProfile(gpu).profile === "cpu" && lstmInferSupports(gpu, size) &&
    sentenceGroups(gpu, { ...size, inputSize: E }, split).length === 1;
}

/** The inference-only stage of layer `layer` (no training dispatches); it frees `mem`. */
async function inferStage(
  ctx: StageContext,
  layer: number,
  input: Activation,
  { hOut, mem }: { hOut: GPUBuffer; mem: Allocator },
): Promise<Stage> {
  const name = `lstm ${layer}`;
  const p = (tensor: string) => slice(ctx, ctx.params, `lstm.${tensor}_l${layer}`);
  const size = {
    maxBatch: ctx.capacity.maxBatch,
    maxTime: ctx.capacity.maxTime,
    hiddenSize: ctx.config.hidden,
    label: name,
    allocator: mem,
  };
  // With the per-word table the features stage wrote this layer's input projection.
  const op = input.projected
    ? await lstmInferForward(ctx.gpu, {
      pre: input.value,
      wHh: p("weight_hh"),
      bHh: p("bias_hh"),
      lengths: ctx.inputs.lengths,
      hOut,
    }, size)
    : await createBiLstmInfer(ctx.gpu, {
      x: input.value,
      lengths: ctx.inputs.lengths,
      wIh: p("weight_ih"),
      wHh: p("weight_hh"),
      bIh: p("bias_ih"),
      bHh: p("bias_hh"),
      hOut,
    }, { ...size, inputSize: input.width });
  return {
    name,
    forward: [],
    backward: [],
    infer: op.dispatches,
    resize: (batch) => op.resize({ batch: batch.size, time: batch.maxLength }),
    setStep() {},
    destroy: () => mem.destroy(),
  };
}

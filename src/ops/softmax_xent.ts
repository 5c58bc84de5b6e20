/**
 * The softmax cross-entropy head on the GPU (the plain BiLSTM variant the
 * seeds compare against): masked per-token loss, its gradient, the loss
 * sum into the shared loss accumulator, and argmax prediction with
 * softmax probabilities. Kernel: `shaders/softmax_xent.wgsl`; reference:
 * `softmax_xent_ref.ts`.
 *
 * @module
 */

import { softmaxXent as softmaxXentWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Binding, makeBindGroup, makeDispatch } from "../gpu/kernel.ts";
import {
  type CrfShape,
  type LossOp,
  opAllocator,
  type OpOptions,
  Scratch,
  type SequenceOp,
  type SequenceShape,
} from "./common.ts";

export { resetLoss } from "./crf.ts";

/** Buffers of {@linkcode softmaxXentLoss}. */
export interface SoftmaxXentBuffers {
  /** (B, T, K) f32 scores, row b·T + t. */
  emissions: Binding;
  /** (B, T) i32 gold tags, in [0, K) where t < length. */
  tags: Binding;
  /** (B) i32 lengths. */
  lengths: Binding;
  /** Output (B, T, K) f32: lossScale·(softmax − onehot(gold)), written with `=`, 0 at padding. */
  dEmissions: Binding;
  /** Output (1) f32 loss accumulator: `+=` lossScale·Σ token losses. */
  loss: Binding;
  /** Output (B, T) f32 unscaled token losses, `=`, 0 at padding (internal scratch if omitted). */
  tokenLoss?: Binding;
}

/** Buffers of {@linkcode softmaxPredict}. */
export interface SoftmaxPredictBuffers {
  /** (B, T, K) f32 scores. */
  emissions: Binding;
  /** (B) i32 lengths. */
  lengths: Binding;
  /** Output (B, T) i32 argmax tag (lowest id on ties), `=`, −1 at padding. */
  prediction: Binding;
  /** Output (B, T, K) f32 softmax probabilities, `=`, 0 at padding. */
  probabilities: Binding;
}

function checkShape(label: string, dims: CrfShape): void {
  const { batch, time, tags } = dims;
  if (!Number.isInteger(tags) || tags < 1 || tags > 4096) {
    throw new RangeError(`${label}: expected 1 to 4096 tags, got ${tags}`);
  }
  if (!Number.isInteger(batch) || batch < 0 || !Number.isInteger(time) || time < 0) {
    throw new RangeError(
      `${label}: expected non-negative integer batch and time, got ${batch}, ${time}`,
    );
  }
  if (Math.ceil(batch * time / 64) > 65535) {
    throw new RangeError(`${label}: expected at most ${65535 * 64} tokens, got ${batch * time}`);
  }
}

/**
 * Builds the dispatches for the softmax cross-entropy loss of a padded
 * batch: per-token loss and dEmissions (one invocation per token), then a
 * deterministic reduction that adds lossScale·Σ loss into the accumulator.
 * Two dispatches.
 *
 * @param gpu the device
 * @param buffers inputs and outputs, see {@linkcode SoftmaxXentBuffers}
 * @param options B, T, K; loss scale (default 1; change with `setLossScale`), label, allocator
 * @returns the op: `dispatches`, `resize`, `setLossScale`, `destroy`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { softmaxXentLoss } from "./softmax_xent.ts";
 * const gpu = await acquireGpu();
 * const b = {
 *   emissions: createBuffer(gpu, "em", new Float32Array([0, 0])), // B=1, T=1, K=2
 *   tags: createBuffer(gpu, "tags", new Int32Array([1])),
 *   lengths: createBuffer(gpu, "len", new Int32Array([1])),
 *   dEmissions: createBuffer(gpu, "d", 8),
 *   loss: createBuffer(gpu, "loss", 4),
 * };
 * submitDispatches(gpu, (await softmaxXentLoss(gpu, b, { batch: 1, time: 1, tags: 2 })).dispatches);
 * if ((await readFloat32(gpu, b.dEmissions, 2)).join() !== "0.5,-0.5") throw new Error("wrong");
 * ```
 */
export async function softmaxXentLoss(
  gpu: Gpu,
  buffers: SoftmaxXentBuffers,
  options: CrfShape & OpOptions & { lossScale?: number },
): Promise<LossOp> {
  const label = options.label ?? "softmax xent";
  const dims: CrfShape = options;
  checkShape(label, dims);
  const K = dims.tags;
  let scale = options.lossScale ?? 1;
  const groupsOf = (s: SequenceShape) => Math.ceil(s.batch * s.time / 64);
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} params`, [dims.batch, dims.time, 0]);
  params.setFloat(3, scale);
  const rows = (s: SequenceShape) => s.batch * s.time;
  const tokenLoss = buffers.tokenLoss ? null : new Scratch(mem, `${label} token loss`, rows(dims));
  const partials = new Scratch(mem, `${label} partials`, groupsOf(dims));
  const mainBindings = () => [
    params.buffer,
    buffers.emissions,
    buffers.lengths,
    buffers.tags,
    buffers.dEmissions,
    buffers.tokenLoss ?? tokenLoss!.buffer,
    partials.buffer,
  ];
  const reduceBindings = () => [params.buffer, partials.buffer, buffers.loss];
  const main = await makeDispatch(
    gpu,
    { label, code: softmaxXentWgsl, constants: { K } },
    mainBindings(),
    [groupsOf(dims)],
  );
  const reduce = await makeDispatch(
    gpu,
    { label: `${label} reduce`, code: softmaxXentWgsl, entryPoint: "reduce", constants: { K } },
    reduceBindings(),
    [1],
  );
  return {
    label,
    dispatches: [main, reduce],
    resize(next: SequenceShape) {
      checkShape(label, { ...next, tags: K });
      params.set([next.batch, next.time, 0]);
      params.setFloat(3, scale);
      const grewLoss = tokenLoss?.ensure(rows(next)) ?? false;
      const grewPartials = partials.ensure(groupsOf(next));
      if (grewLoss || grewPartials) {
        main.bindGroup = makeBindGroup(gpu, main.label, main.pipeline, mainBindings());
        reduce.bindGroup = makeBindGroup(gpu, reduce.label, reduce.pipeline, reduceBindings());
      }
      main.workgroups = [groupsOf(next), 1, 1];
    },
    setLossScale(next: number) {
      scale = next;
      params.setFloat(3, scale);
    },
    destroy: () => mem.destroy(),
  };
}

/**
 * Builds the dispatch for inference with the softmax head: the argmax tag
 * of each token and its softmax probabilities (the Tagger's confidences).
 * One dispatch, one invocation per token.
 *
 * @param gpu the device
 * @param buffers inputs and outputs, see {@linkcode SoftmaxPredictBuffers}
 * @param options B, T, K; label, allocator
 * @returns the op: `dispatches`, `resize`, `destroy`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readInt32, submitDispatches } from "../gpu/mod.ts";
 * import { softmaxPredict } from "./softmax_xent.ts";
 * const gpu = await acquireGpu();
 * const b = {
 *   emissions: createBuffer(gpu, "em", new Float32Array([0, 1, 0, 0])), // B=1, T=2, K=2
 *   lengths: createBuffer(gpu, "len", new Int32Array([1])),
 *   prediction: createBuffer(gpu, "pred", 8),
 *   probabilities: createBuffer(gpu, "p", 16),
 * };
 * submitDispatches(gpu, (await softmaxPredict(gpu, b, { batch: 1, time: 2, tags: 2 })).dispatches);
 * if ((await readInt32(gpu, b.prediction, 2)).join() !== "1,-1") throw new Error("wrong");
 * ```
 */
export async function softmaxPredict(
  gpu: Gpu,
  buffers: SoftmaxPredictBuffers,
  options: CrfShape & OpOptions,
): Promise<SequenceOp> {
  const label = options.label ?? "softmax predict";
  const dims: CrfShape = options;
  checkShape(label, dims);
  const K = dims.tags;
  const groupsOf = (s: SequenceShape) => Math.ceil(s.batch * s.time / 64);
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} params`, [dims.batch, dims.time, 0, 0]);
  const main = await makeDispatch(
    gpu,
    { label, code: softmaxXentWgsl, entryPoint: "predict", constants: { K } },
    [params.buffer, buffers.emissions, buffers.lengths, buffers.prediction, buffers.probabilities],
    [groupsOf(dims)],
  );
  return {
    label,
    dispatches: [main],
    resize(next: SequenceShape) {
      checkShape(label, { ...next, tags: K });
      params.set([next.batch, next.time, 0, 0]);
      main.workgroups = [groupsOf(next), 1, 1];
    },
    destroy: () => mem.destroy(),
  };
}

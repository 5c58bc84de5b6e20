/**
 * An inference-only BiLSTM layer for the `cpu` kernel profile (software
 * adapters): the same maths as `lstm.ts`'s forward (torch.nn.LSTM
 * semantics, gate order i, f, g, o), but the recurrence kernel
 * (`shaders/lstm_infer.wgsl`) saves nothing for a backward pass, keeps
 * h_{t−1} in workgroup memory and reads W_hh from uniform bindings when
 * they fit. Reference: `lstm_ref.ts` (`biLstmRef`).
 *
 * Layouts (f32, row-major; token (b, t) is row b·T + t):
 * - `pre` (B·T, 8H): x·W_ihᵀ + b_ih, [forward i f g o | reverse i f g o].
 * - `wHh` (2, 4H, H), `bHh` (2·4H): each direction in PyTorch's layout.
 * - `hOut` (B·T, 2H): [forward H | reverse H] per token, written with `=`,
 *   zero at padding rows.
 *
 * @module
 */

import { lstmInfer as lstmInferWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Allocator } from "../gpu/allocator.ts";
import { type Binding, makeDispatch } from "../gpu/kernel.ts";
import {
  checkBindings,
  checkSequenceShape,
  LOOP_LIMIT,
  opAllocator,
  type OpOptions,
  type RecurrenceSize,
  type SequenceCapacity,
  type SequenceOp,
  type SequenceShape,
} from "./common.ts";
import {
  type BiLstmBuffers,
  type BiLstmSize,
  packWhhDispatch,
  UNIFORM_BLOCK,
  uniformBlocks,
  unusedUniform,
} from "./lstm.ts";
import { matmulForward } from "./matmul.ts";

/** Uniform bindings the kernel declares: params and eight W_hh blocks. */
const UNIFORMS = 9;

/** Options for {@linkcode lstmInferForward}. */
export interface LstmInferOptions extends OpOptions {
  /**
   * Rows of 8 sentences per workgroup (default 2, capped to fit the device's workgroup
   * storage: on llvmpipe 2 rows ran the recurrence 1.7× faster than 1 at H = 100 in
   * bench/lstm_infer_bench.ts; 4 rows at H = 100 (25 KiB of workgroup memory) took llvmpipe
   * over a minute to compile).
   */
  quads?: number;
  /** Read W_hh from uniform bindings when it fits the device (default true). */
  uniformWeights?: boolean;
}

/** The caller's buffers of the recurrence (see the module doc for layouts). */
export interface LstmInferBuffers {
  /** (B·T, 8H) input projection plus b_ih. */
  pre: Binding;
  /** (2, 4H, H). */
  wHh: Binding;
  /** (2·4H). */
  bHh: Binding;
  /** (B) i32 sentence lengths. */
  lengths: Binding;
  /** (B·T, 2H) output. */
  hOut: Binding;
}

/** The recurrence op, with the layout it chose. */
export interface LstmInferOp extends SequenceOp {
  /** Whether W_hh is read from uniform bindings. */
  readonly uniformWeights: boolean;
  /** Rows of 8 sentences per workgroup. */
  readonly quads: number;
}

/** How the kernel is laid out for H on this device. */
interface InferPlan {
  H: number;
  UB: number;
  qy: number;
  useUniform: boolean;
  wStride: number;
}

/**
 * The largest H the kernel takes on a device: h of 8 sentences, two parities
 * (16·ceil(H/4) vec4), must fit its workgroup storage beside a u32, and
 * ceil(H/4) ≤ 256 invocations.
 *
 * @param gpu the device
 * @returns the largest hidden size per direction
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../gpu/mod.ts";
 * import { lstmInferMaxHidden } from "./lstm_infer.ts";
 * const gpu = await acquireGpu();
 * if (lstmInferMaxHidden(gpu) < 100) throw new Error("too small");
 * ```
 */
export function lstmInferMaxHidden(gpu: Gpu): number {
  const vec4 = Math.floor((gpu.device.limits.maxComputeWorkgroupStorageSize - 16) / 16);
  return 4 * Math.min(Math.floor(vec4 / 16), 256);
}

/**
 * Whether {@linkcode lstmInferForward} takes a layer of this size on this device: H within
 * {@linkcode lstmInferMaxHidden}, and the longest batch within llvmpipe's loop budget on
 * fallback adapters.
 *
 * @param gpu the device
 * @param size largest B and T, and H
 * @returns true when the inference kernel can run every batch up to the size
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../gpu/mod.ts";
 * import { lstmInferSupports } from "./lstm_infer.ts";
 * const gpu = await acquireGpu();
 * if (!lstmInferSupports(gpu, { maxBatch: 8, maxTime: 40, hiddenSize: 100 })) throw new Error();
 * ```
 */
export function lstmInferSupports(gpu: Gpu, size: RecurrenceSize): boolean {
  const UB = Math.ceil(size.hiddenSize / 4);
  return size.hiddenSize <= lstmInferMaxHidden(gpu) &&
    (!gpu.adapter.isFallbackAdapter || loopCount(size.maxTime, UB) <= LOOP_LIMIT);
}

/** Loop iterations of one invocation at padded length T: the time loop and the padding rows. */
function loopCount(time: number, UB: number): number {
  return time * (UB + 1) + 8 * time + 16;
}

function plan(gpu: Gpu, size: RecurrenceSize, options: LstmInferOptions): InferPlan {
  const H = size.hiddenSize;
  for (const [name, value] of Object.entries(size)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(
        `lstmInferForward: expected ${name} to be a positive integer, got ${value}`,
      );
    }
  }
  const maxH = lstmInferMaxHidden(gpu);
  if (H > maxH) {
    throw new RangeError(
      `lstmInferForward: expected hiddenSize ≤ ${maxH} (workgroup storage), got ${H}`,
    );
  }
  const UB = Math.ceil(H / 4);
  const limits = gpu.device.limits;
  const vec4 = Math.floor((limits.maxComputeWorkgroupStorageSize - 16) / 16);
  const fit = Math.min(Math.floor(vec4 / (16 * UB)), Math.floor(256 / UB));
  // One (direction, gate) block holds 4·UB·UB vec4 = Hp² floats: 64 KiB at H = 128.
  const useUniform = (options.uniformWeights ?? true) && UB * UB * 4 * 16 <= UNIFORM_BLOCK &&
    limits.maxUniformBufferBindingSize >= UNIFORM_BLOCK &&
    limits.maxUniformBuffersPerShaderStage >= UNIFORMS;
  return {
    H,
    UB,
    qy: Math.max(1, Math.min(options.quads ?? 2, fit)),
    useUniform,
    wStride: useUniform ? UNIFORM_BLOCK / 16 : UB * UB * 4,
  };
}

/**
 * Builds the inference recurrence of one BiLSTM layer: 2 dispatches, pack
 * W_hh (lstm.wgsl `pack`) and the fused time loop of both directions.
 *
 * @param gpu the device
 * @param buffers pre-activations, W_hh, b_hh, lengths and the output
 * @param options largest B and T, H; kernel tuning, label, allocator
 * @returns the op, sized for (maxBatch, maxTime)
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { lstmInferForward } from "./lstm_infer.ts";
 * const gpu = await acquireGpu();
 * const H = 2;
 * const buf = (n: number) => createBuffer(gpu, "b", Math.max(16, n * 4));
 * const hOut = createBuffer(gpu, "h", new Float32Array(4).fill(7));
 * const op = await lstmInferForward(gpu, {
 *   pre: buf(8 * H), wHh: buf(8 * H * H), bHh: buf(8 * H),
 *   lengths: createBuffer(gpu, "lengths", new Int32Array([1])), hOut,
 * }, { maxBatch: 1, maxTime: 1, hiddenSize: H });
 * submitDispatches(gpu, op.dispatches);
 * // zero inputs: c = 0.5·tanh(0) = 0, so h = 0
 * if ((await readFloat32(gpu, hOut)).some((v) => v !== 0)) throw new Error("wrong h");
 * op.destroy();
 * ```
 */
export async function lstmInferForward(
  gpu: Gpu,
  buffers: LstmInferBuffers,
  options: RecurrenceSize & LstmInferOptions,
): Promise<LstmInferOp> {
  const { maxBatch, maxTime, hiddenSize } = options;
  const p = plan(gpu, { maxBatch, maxTime, hiddenSize }, options);
  const { H, UB, qy } = p;
  const label = options.label ?? "lstm infer";
  const rows = maxBatch * maxTime;
  checkBindings(label, { lengths: [buffers.lengths, maxBatch] }, 4);
  checkBindings(label, {
    pre: [buffers.pre, rows * 8 * H],
    wHh: [buffers.wHh, 8 * H * H],
    bHh: [buffers.bHh, 8 * H],
    hOut: [buffers.hOut, rows * 2 * H],
  }, 16);
  const mem = opAllocator(gpu, label, options);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC;
  const packed = mem.buffer(`${label} W_hh packed`, 8 * p.wStride * 16, usage);
  const standIn = unusedUniform(mem, label, p.useUniform);
  const params = mem.uniform(`${label} shape`, [0, 0, 0, 0]);
  const pack = await packWhhDispatch(gpu, label, p, buffers.wHh, packed);
  const recurrence = await makeDispatch(gpu, {
    label: `${label} inference recurrence`,
    code: lstmInferWgsl,
    constants: {
      H,
      UB,
      QY: qy,
      USE_UNIFORM: p.useUniform,
      WSTRIDE: p.wStride,
      SHARED: 16 * qy * UB,
    },
  }, [
    params.buffer,
    buffers.pre,
    p.useUniform ? standInStorage(mem) : packed,
    buffers.bHh,
    buffers.lengths,
    buffers.hOut,
    ...uniformBlocks(packed, standIn),
  ], [1, 2]);
  const groups = (b: number) => Math.ceil(b / (8 * qy));
  const op: LstmInferOp = {
    label,
    dispatches: [pack, recurrence],
    uniformWeights: p.useUniform,
    quads: qy,
    resize({ batch, time }: SequenceShape) {
      checkShape(gpu, label, { batch, time }, { maxBatch, maxTime, UB });
      params.set([batch, time, groups(batch), 0]);
      recurrence.workgroups = [groups(batch), 2, 1];
    },
    destroy: () => mem.destroy(),
  };
  op.resize({ batch: maxBatch, time: maxTime });
  return op;
}

/** A 16-byte storage buffer for the unused `whh` binding of the uniform path. */
function standInStorage(mem: Allocator): GPUBuffer {
  return mem.buffer("lstm infer unused W_hh", 16);
}

function checkShape(
  gpu: Gpu,
  label: string,
  { batch, time }: SequenceShape,
  limits: SequenceCapacity & { UB: number },
): void {
  checkSequenceShape(label, { batch, time }, limits);
  if (gpu.adapter.isFallbackAdapter && loopCount(time, limits.UB) > LOOP_LIMIT) {
    throw new RangeError(
      `${label}: a padded length of ${time} with H=${4 * limits.UB} would exceed the ` +
        `software adapter's ${LOOP_LIMIT} loop iterations per invocation; use shorter sentences`,
    );
  }
}

/**
 * Builds a whole inference-only BiLSTM layer: 3 dispatches (pack W_hh, the
 * input projection matmul into its own `pre`, the recurrence), the same
 * outputs as `createBiLstm`'s forward.
 *
 * @param gpu the device
 * @param buffers input, parameters, lengths and output
 * @param options largest B and T, E and H; kernel tuning, label, allocator
 * @returns the layer
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { createBiLstmInfer } from "./lstm_infer.ts";
 * const gpu = await acquireGpu();
 * const H = 2, E = 3;
 * const buf = (n: number) => createBuffer(gpu, "b", Math.max(16, n * 4));
 * const hOut = buf(2 * 2 * H);
 * const layer = await createBiLstmInfer(gpu, {
 *   x: createBuffer(gpu, "x", new Float32Array(2 * E).fill(1)),
 *   lengths: createBuffer(gpu, "lengths", new Int32Array([2])),
 *   wIh: buf(8 * H * E), wHh: buf(8 * H * H), bIh: buf(8 * H), bHh: buf(8 * H), hOut,
 * }, { maxBatch: 1, maxTime: 2, inputSize: E, hiddenSize: H });
 * submitDispatches(gpu, layer.dispatches);
 * // zero weights: every h is 0.5·tanh(0) = 0
 * if ((await readFloat32(gpu, hOut)).some((v) => v !== 0)) throw new Error("wrong h");
 * layer.destroy();
 * ```
 */
export async function createBiLstmInfer(
  gpu: Gpu,
  buffers: BiLstmBuffers,
  options: BiLstmSize & LstmInferOptions,
): Promise<LstmInferOp> {
  const { maxBatch, maxTime, inputSize: E, hiddenSize: H } = options;
  if (!Number.isInteger(E) || E < 1) {
    throw new RangeError(
      `createBiLstmInfer: expected inputSize to be a positive integer, got ${E}`,
    );
  }
  const label = options.label ?? "lstm infer";
  const mem = opAllocator(gpu, label, options);
  const pre = mem.buffer(`${label} pre`, Math.max(16, maxBatch * maxTime * 8 * H * 4));
  const shape = (batch: number, time: number) => ({ m: batch * time, n: 8 * H, k: E });
  const projection = await matmulForward(
    gpu,
    { a: buffers.x, b: buffers.wIh, c: pre, bias: buffers.bIh },
    {
      ...shape(maxBatch, maxTime),
      transB: true,
      allocator: mem,
      label: `${label} input projection`,
    },
  );
  const recurrence = await lstmInferForward(gpu, { ...buffers, pre }, {
    ...options,
    allocator: mem,
    label,
  });
  const [pack, step] = recurrence.dispatches;
  return {
    label,
    dispatches: [pack, ...projection.dispatches, step],
    uniformWeights: recurrence.uniformWeights,
    quads: recurrence.quads,
    resize(s: SequenceShape) {
      recurrence.resize(s);
      projection.resize(shape(s.batch, s.time));
    },
    destroy: () => mem.destroy(),
  };
}

/**
 * The `gpu` kernel profile of the bidirectional LSTM layer's sequential
 * parts (see `src/gpu/profile.ts`): recurrences with one lane per hidden
 * unit and S sentences per workgroup, and split-K weight and bias
 * gradients. They read and write the buffers of the `cpu` profile's
 * kernels (`lstm.ts`) in the same layouts, so the input projection and
 * the dX / dW_ih matmuls are shared and either profile can run a layer.
 *
 * - {@linkcode lstmGpuForward}: pack W_hh and b_hh, then the fused
 *   recurrence (`shaders/lstm_gpu.wgsl`).
 * - {@linkcode lstmGpuBackward}: the fused reverse-time kernel that turns
 *   dL/dh_out into dz (`shaders/lstm_backward_gpu.wgsl`).
 * - {@linkcode lstmGpuWeightGrads}: dW_hh += Σ dzᵀ·h_prev and
 *   dB_ih = dB_hh += Σ dz over B·T rows, in chunks added in a fixed order.
 *
 * Layouts (f32; token (b, t) is row b·T + t; Hp = H rounded up to 4):
 * `pre`/`dz` (B·T, 8H) [forward i f g o | reverse i f g o]; `gates`
 * (B·T, 2, 4, Hp); `cell` and `hPrev` (B·T, 2, Hp); `hOut` and `dhOut`
 * (B·T, 2H); `wHh` (2, 4H, H) and biases (2·4H), PyTorch's layouts.
 * Reference: `lstm_ref.ts`.
 *
 * @module
 */

import { lstmBackwardGpu as backwardWgsl, lstmGpu as forwardWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Allocator } from "../gpu/allocator.ts";
import { type Binding, type Dispatch, type KernelSpec, makeDispatch } from "../gpu/kernel.ts";
import {
  checkBindings,
  checkPositiveInteger,
  checkSequenceShape,
  LOOP_LIMIT,
  opAllocator,
  type OpOptions,
  type RecurrenceSize,
  type SequenceOp,
  type SequenceShape,
} from "./common.ts";
import type { BiLstmBuffers, BiLstmGradBuffers } from "./lstm.ts";
import { matmulBackward, matmulForward } from "./matmul.ts";
import {
  chunksFor,
  columnSumSplit,
  combineDispatch,
  grid256,
  MAX_CHUNKS,
  splitPlan,
} from "./reduce_gpu.ts";

/** Workgroup storage the recurrences use at most: WebGPU's default limit. */
const WORKGROUP_BYTES = 16_384;

/** Shape and settings of the recurrence builders. */
export interface LstmGpuOptions extends OpOptions, RecurrenceSize {
  /** Lanes per workgroup (default Hp rounded up to 32; Hp … 256). */
  lanes?: number;
  /** Sentences per workgroup (default 4, fewer when workgroup memory or B is smaller; 1 … 8). */
  sentences?: number;
}

/** How a recurrence is laid out on the device. */
export interface LstmGpuLayout {
  /** Hp: H rounded up to a multiple of 4. */
  hp: number;
  /** Lanes per workgroup (one per hidden unit; lanes ≥ Hp idle but for barriers). */
  lanes: number;
  /** S: sentences per workgroup. */
  sentences: number;
  /** Bytes of workgroup memory declared. */
  workgroupBytes: number;
}

/**
 * The workgroup layout of a gpu-profile recurrence: lanes, S and the
 * workgroup memory it takes (h or dz of S sentences, double-buffered),
 * within WebGPU's default limits (256 invocations, 16 KiB).
 *
 * @param gpu the device (its limits bound the lanes and memory)
 * @param options H, largest B, requested lanes and S
 * @param direction "forward" (h: 8·Hp bytes per sentence) or "backward" (dz: 32·Hp)
 * @returns the layout
 * @throws {RangeError} when H, the lanes or S are out of range
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../gpu/mod.ts";
 * import { lstmGpuLayout } from "./lstm_gpu.ts";
 * const gpu = await acquireGpu();
 * const opts = { maxBatch: 32, maxTime: 40, hiddenSize: 100 };
 * const f = lstmGpuLayout(gpu, opts, "forward");
 * if (f.lanes !== 128 || f.sentences !== 4) throw new Error(JSON.stringify(f));
 * if (lstmGpuLayout(gpu, { ...opts, hiddenSize: 256 }, "backward").sentences !== 1) {
 *   throw new Error("dz of two sentences at H = 256 would pass 16 KiB");
 * }
 * ```
 */
export function lstmGpuLayout(
  gpu: Gpu,
  options: LstmGpuOptions,
  direction: "forward" | "backward",
): LstmGpuLayout {
  const label = options.label ?? "lstm (gpu)";
  const { maxBatch, maxTime, hiddenSize: H } = options;
  checkPositiveInteger(label, "maxBatch", maxBatch);
  checkPositiveInteger(label, "maxTime", maxTime);
  checkPositiveInteger(label, "hiddenSize", H, 256);
  const limits = gpu.device.limits;
  const hp = 4 * Math.ceil(H / 4);
  const most = Math.min(
    256,
    limits.maxComputeInvocationsPerWorkgroup,
    limits.maxComputeWorkgroupSizeX,
  );
  const lanes = options.lanes ?? Math.min(most, 32 * Math.ceil(hp / 32));
  if (!Number.isInteger(lanes) || lanes < hp || lanes > most) {
    throw new RangeError(`${label}: expected lanes in ${hp}…${most} (one per unit), got ${lanes}`);
  }
  const perSentence = (direction === "forward" ? 8 : 32) * hp;
  const budget = Math.min(WORKGROUP_BYTES, limits.maxComputeWorkgroupStorageSize) - 16;
  const fit = Math.min(8, Math.floor(budget / perSentence));
  if (options.sentences !== undefined) {
    checkPositiveInteger(label, "sentences", options.sentences, fit);
  }
  const sentences = options.sentences ?? Math.max(1, Math.min(4, fit, maxBatch));
  return { hp, lanes, sentences, workgroupBytes: sentences * perSentence + 4 };
}

/**
 * Throws when a shape would run past llvmpipe's silent 65,535-iteration
 * limit per invocation (fallback adapters only; real GPUs have none).
 */
function checkLoopLimit(gpu: Gpu, label: string, layout: LstmGpuLayout, time: number): void {
  if (!gpu.adapter.isFallbackAdapter) return;
  const s = layout.sentences;
  const iterations = time * (layout.hp / 4 * (s + 1) + 3 * s) + time * s + 4 * s;
  if (iterations > LOOP_LIMIT) {
    throw new RangeError(
      `${label}: T = ${time} with H = ${layout.hp} and ${s} sentences per workgroup needs ` +
        `${iterations} loop iterations per invocation, over the software adapter's ` +
        `${LOOP_LIMIT}; use the cpu profile or shorter sentences`,
    );
  }
}

/** A recurrence dispatch and the resize that checks a batch and sizes it. */
interface Recurrence {
  /** The dispatch: workgroups (⌈B / S⌉, 2), its shape uniform bound first. */
  dispatch: Dispatch;
  /** Checks a batch (B ≤ maxBatch, T ≤ maxTime, the loop limit) and sets the uniform and grid. */
  resize(shape: SequenceShape): void;
}

/**
 * Builds the recurrence dispatch of the forward or backward op: its shape
 * uniform (B, T) bound before `bindings`, sized for (maxBatch, maxTime).
 */
async function recurrenceDispatch(
  gpu: Gpu,
  mem: Allocator,
  options: LstmGpuOptions & { label: string },
  layout: LstmGpuLayout,
  code: string,
  bindings: Binding[],
): Promise<Recurrence> {
  const { label } = options;
  const params = mem.uniform(`${label} shape`, [0, 0, 0, 0]);
  const spec: KernelSpec = {
    label: `${label} recurrence`,
    code,
    constants: { H: options.hiddenSize, HP: layout.hp, LANES: layout.lanes, S: layout.sentences },
  };
  const dispatch = await makeDispatch(gpu, spec, [params.buffer, ...bindings], [0]);
  const resize = (shape: SequenceShape) => {
    checkSequenceShape(label, shape, options);
    checkLoopLimit(gpu, label, layout, shape.time);
    params.set([shape.batch, shape.time, 0, 0]);
    dispatch.workgroups = [Math.ceil(shape.batch / layout.sentences), 2, 1];
  };
  resize({ batch: options.maxBatch, time: options.maxTime });
  return { dispatch, resize };
}

/** Buffers of {@linkcode lstmGpuForward} (layouts in the module doc). */
export interface LstmGpuForwardBuffers {
  /** (B·T, 8H) x·W_ihᵀ + b_ih, read. */
  pre: Binding;
  /** (2, 4H, H), read (packed once per step with b_hh). */
  wHh: Binding;
  /** (2·4H), read. */
  bHh: Binding;
  /** (B) i32 sentence lengths. */
  lengths: Binding;
  /** (B·T, 2H) output, `=` (zero at padding rows). */
  hOut: Binding;
  /** (B·T, 2, 4, Hp) i f g o, `=` at real rows. */
  gates: Binding;
  /** (B·T, 2, Hp) c, `=` at real rows. */
  cell: Binding;
  /** (B·T, 2, Hp) h before each step, `=` (zero at padding rows). */
  hPrev: Binding;
}

/**
 * Builds the gpu-profile forward recurrence: 2 dispatches, pack W_hh and
 * b_hh into the kernel's coalesced layout, then the recurrence over both
 * directions (workgroups (⌈B/S⌉, 2)).
 *
 * @param gpu the device
 * @param buffers pre, weights, lengths and the outputs
 * @param options largest B and T, H, lanes, S, label, allocator
 * @returns the op, sized for (maxBatch, maxTime); `resize({ batch, time })`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { lstmGpuForward } from "./lstm_gpu.ts";
 * const gpu = await acquireGpu();
 * const H = 2, b = (n: number) => createBuffer(gpu, "b", Math.max(16, n * 4));
 * const gates = b(8 * 4);
 * const op = await lstmGpuForward(gpu, {
 *   pre: b(8 * H), wHh: b(8 * H * H), bHh: b(8 * H),
 *   lengths: createBuffer(gpu, "lengths", new Int32Array([1])),
 *   hOut: b(2 * H), gates, cell: b(8), hPrev: b(8),
 * }, { maxBatch: 1, maxTime: 1, hiddenSize: H });
 * submitDispatches(gpu, op.dispatches);
 * // zero weights and inputs: i = σ(0) = 0.5
 * if ((await readFloat32(gpu, gates))[0] !== 0.5) throw new Error("wrong gate");
 * op.destroy();
 * ```
 */
export async function lstmGpuForward(
  gpu: Gpu,
  buffers: LstmGpuForwardBuffers,
  options: LstmGpuOptions,
): Promise<SequenceOp & { layout: LstmGpuLayout; saved: { packed: GPUBuffer } }> {
  const label = options.label ?? "lstm (gpu)";
  const layout = lstmGpuLayout(gpu, options, "forward");
  const { maxBatch, maxTime, hiddenSize: H } = options;
  const { hp } = layout;
  const rows = maxBatch * maxTime;
  checkBindings(label, {
    pre: [buffers.pre, rows * 8 * H],
    wHh: [buffers.wHh, 8 * H * H],
    bHh: [buffers.bHh, 8 * H],
    lengths: [buffers.lengths, maxBatch],
    hOut: [buffers.hOut, rows * 2 * H],
    gates: [buffers.gates, rows * 8 * hp],
    cell: [buffers.cell, rows * 2 * hp],
    hPrev: [buffers.hPrev, rows * 2 * hp],
  });
  const mem = opAllocator(gpu, label, options);
  const packedFloats = 8 * hp * hp + 8 * hp;
  const packed = mem.buffer(`${label} W_hh packed`, packedFloats * 4);
  const pack = await makeDispatch(
    gpu,
    {
      label: `${label} pack W_hh`,
      code: forwardWgsl,
      entryPoint: "pack",
      constants: { H, HP: hp },
    },
    [buffers.wHh, buffers.bHh, packed],
    grid256(packedFloats),
  );
  const recurrence = await recurrenceDispatch(
    gpu,
    mem,
    { ...options, label },
    layout,
    forwardWgsl,
    [
      buffers.pre,
      packed,
      buffers.lengths,
      buffers.hOut,
      buffers.gates,
      buffers.cell,
      buffers.hPrev,
    ],
  );
  return {
    label,
    layout,
    saved: { packed },
    dispatches: [pack, recurrence.dispatch],
    resize: recurrence.resize,
    destroy: () => mem.destroy(),
  };
}

/** Buffers of {@linkcode lstmGpuBackward} (layouts in the module doc). */
export interface LstmGpuBackwardBuffers {
  /** (B·T, 2H) upstream gradient, read. */
  dhOut: Binding;
  /** (B·T, 2, 4, Hp) saved by the forward, read. */
  gates: Binding;
  /** (B·T, 2, Hp) saved by the forward, read. */
  cell: Binding;
  /** (2, 4H, H), read. */
  wHh: Binding;
  /** (B) i32. */
  lengths: Binding;
  /** (B·T, 8H) dz, `=` (zero at padding rows); may be the forward's `pre`. */
  dz: Binding;
}

/**
 * Builds the gpu-profile backward recurrence: 1 dispatch (workgroups
 * (⌈B/S⌉, 2)) that writes dz, the gate pre-activation gradients, for the
 * matmuls and sums over B·T that follow.
 *
 * @param gpu the device
 * @param buffers dh_out, the forward's saved activations, W_hh, lengths and dz
 * @param options largest B and T, H, lanes, S, label, allocator
 * @returns the op, sized for (maxBatch, maxTime); `resize({ batch, time })`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { lstmGpuBackward } from "./lstm_gpu.ts";
 * const gpu = await acquireGpu();
 * const H = 2, b = (n: number) => createBuffer(gpu, "b", Math.max(16, n * 4));
 * const dz = b(8 * H);
 * const op = await lstmGpuBackward(gpu, {
 *   dhOut: b(2 * H), gates: b(8 * 4), cell: b(8), wHh: b(8 * H * H),
 *   lengths: createBuffer(gpu, "lengths", new Int32Array([1])), dz,
 * }, { maxBatch: 1, maxTime: 1, hiddenSize: H });
 * submitDispatches(gpu, op.dispatches);
 * if ((await readFloat32(gpu, dz)).some((v) => v !== 0)) throw new Error("dh_out = 0 gives dz = 0");
 * op.destroy();
 * ```
 */
export async function lstmGpuBackward(
  gpu: Gpu,
  buffers: LstmGpuBackwardBuffers,
  options: LstmGpuOptions,
): Promise<SequenceOp & { layout: LstmGpuLayout }> {
  const label = options.label ?? "lstm (gpu) backward";
  const layout = lstmGpuLayout(gpu, options, "backward");
  const { maxBatch, maxTime, hiddenSize: H } = options;
  const { hp } = layout;
  const rows = maxBatch * maxTime;
  checkBindings(label, {
    dhOut: [buffers.dhOut, rows * 2 * H],
    gates: [buffers.gates, rows * 8 * hp],
    cell: [buffers.cell, rows * 2 * hp],
    wHh: [buffers.wHh, 8 * H * H],
    lengths: [buffers.lengths, maxBatch],
    dz: [buffers.dz, rows * 8 * H],
  });
  const mem = opAllocator(gpu, label, options);
  const recurrence = await recurrenceDispatch(
    gpu,
    mem,
    { ...options, label },
    layout,
    backwardWgsl,
    [
      buffers.dhOut,
      buffers.gates,
      buffers.cell,
      buffers.wHh,
      buffers.lengths,
      buffers.dz,
    ],
  );
  return {
    label,
    layout,
    dispatches: [recurrence.dispatch],
    resize: recurrence.resize,
    destroy: () => mem.destroy(),
  };
}

/** Buffers of {@linkcode lstmGpuWeightGrads}. */
export interface LstmGpuWeightGradBuffers {
  /** (B·T, 8H) dz from the backward recurrence, read (zero at padding rows). */
  dz: Binding;
  /** (B·T, 2, Hp) h before each step, saved by the forward, read. */
  hPrev: Binding;
  /** (2, 4H, H), `+=`. */
  dWHh: Binding;
  /** (2·4H), `+=`. */
  dBIh: Binding;
  /** (2·4H), `+=` (the same sums as dB_ih). */
  dBHh: Binding;
}

/**
 * Builds the split-K gradients over B·T rows: dW_hh[d] += Σ_n dz[n, d]ᵀ·h_prev[n, d]
 * and dB_ih, dB_hh += Σ_n dz[n] (computed once, written to both). 4 dispatches:
 * dW_hh chunks, their combination, bias chunks, their combination; chunks of
 * rows summed in a fixed order ({@linkcode splitPlan}), so results are
 * deterministic.
 *
 * @param gpu the device
 * @param buffers dz, h_prev and the three gradients
 * @param options largest B and T, H, most chunks, label, allocator
 * @returns the op, sized for (maxBatch, maxTime); `resize({ batch, time })`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { lstmGpuWeightGrads } from "./lstm_gpu.ts";
 * const gpu = await acquireGpu();
 * const H = 1, b = (n: number) => createBuffer(gpu, "b", Math.max(16, n * 4));
 * const dBIh = b(8);
 * const op = await lstmGpuWeightGrads(gpu, {
 *   dz: createBuffer(gpu, "dz", new Float32Array([1, 2, 3, 4, 5, 6, 7, 8])),
 *   hPrev: b(8), dWHh: b(8), dBIh, dBHh: b(8),
 * }, { maxBatch: 1, maxTime: 1, hiddenSize: H });
 * submitDispatches(gpu, op.dispatches);
 * if ((await readFloat32(gpu, dBIh)).join() !== "1,2,3,4,5,6,7,8") throw new Error("wrong");
 * op.destroy();
 * ```
 */
export async function lstmGpuWeightGrads(
  gpu: Gpu,
  buffers: LstmGpuWeightGradBuffers,
  options: RecurrenceSize & OpOptions & { maxChunks?: number },
): Promise<SequenceOp> {
  const label = options.label ?? "lstm (gpu) weight gradients";
  const { maxBatch, maxTime, hiddenSize: H } = options;
  checkPositiveInteger(label, "hiddenSize", H, 256);
  const hp = 4 * Math.ceil(H / 4);
  const maxRows = maxBatch * maxTime;
  checkPositiveInteger(label, "maxBatch·maxTime", maxRows);
  checkBindings(label, {
    dz: [buffers.dz, maxRows * 8 * H],
    hPrev: [buffers.hPrev, maxRows * 2 * hp],
    dWHh: [buffers.dWHh, 8 * H * H],
    dBIh: [buffers.dBIh, 8 * H],
    dBHh: [buffers.dBHh, 8 * H],
  }, 16);
  const maxChunks = options.maxChunks ?? MAX_CHUNKS;
  const mem = opAllocator(gpu, label, options);
  const n = 8 * H * H;
  const partials = mem.buffer(`${label} dW_hh partials`, chunksFor(maxRows, maxChunks) * n * 4);
  const params = mem.uniform(`${label} split`, [0, n, 0, 0]);
  const partial = await makeDispatch(
    gpu,
    {
      label: `${label} dW_hh partial`,
      code: backwardWgsl,
      entryPoint: "dwhh_partial",
      constants: { H, HP: hp },
    },
    [params.buffer, buffers.dz, buffers.hPrev, partials],
    [0],
  );
  const combine = await combineDispatch(
    gpu,
    `${label} dW_hh`,
    params,
    partials,
    [
      buffers.dWHh,
    ],
    n,
    true,
  );
  const bias = await columnSumSplit(gpu, { x: buffers.dz, out: buffers.dBIh, out2: buffers.dBHh }, {
    maxRows,
    columns: 8 * H,
    maxChunks,
    label: `${label} dB`,
    allocator: mem,
  });
  const op: SequenceOp = {
    label,
    dispatches: [partial, combine, ...bias.dispatches],
    resize(shape: SequenceShape) {
      checkSequenceShape(label, shape, options);
      const rows = shape.batch * shape.time;
      const plan = splitPlan(rows, maxChunks);
      params.set([rows, n, plan.rowsPerChunk, plan.chunks]);
      partial.workgroups = plan.chunks
        ? [Math.ceil(hp / 4 / 16), Math.ceil(H / 16), 2 * plan.chunks]
        : [0, 1, 1];
      bias.resize({ rows });
    },
    destroy: () => mem.destroy(),
  };
  op.resize({ batch: maxBatch, time: maxTime });
  return op;
}

/** The buffers a BiLSTM layer keeps between its forward and backward (see `lstm.ts`). */
export interface LstmGpuSaved {
  /** (B·T, 8H): x·W_ihᵀ + b_ih after the forward; dz after the backward recurrence. */
  pre: Binding;
  /** (B·T, 2, 4, Hp). */
  gates: Binding;
  /** (B·T, 2, Hp). */
  cell: Binding;
  /** (B·T, 2, Hp). */
  hPrev: Binding;
}

/** Shape and settings of the whole-layer builders. */
export interface LstmGpuLayerOptions extends LstmGpuOptions {
  /** E: input features per token. */
  inputSize: number;
}

/**
 * A whole BiLSTM layer's forward in the gpu profile, 3 dispatches like the
 * cpu profile's: pack W_hh (with b_hh), the input projection of all steps
 * (the shared matmul, pre = x·W_ihᵀ + b_ih), the recurrence.
 *
 * @param gpu the device
 * @param buffers x (B·T, E), lengths, W_ih (2·4H, E), W_hh, b_ih, b_hh, h_out
 * @param saved pre, gates, cell, h_prev (sized for maxBatch × maxTime)
 * @param options largest B and T, E, H, lanes, S, label, allocator
 * @returns the op; `resize({ batch, time })`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { lstmGpuLayerForward } from "./lstm_gpu.ts";
 * const gpu = await acquireGpu();
 * const H = 2, E = 3, b = (n: number) => createBuffer(gpu, "b", Math.max(16, n * 4));
 * const hOut = b(2 * H);
 * const op = await lstmGpuLayerForward(gpu, {
 *   x: b(E), lengths: createBuffer(gpu, "lengths", new Int32Array([1])),
 *   wIh: b(8 * H * E), wHh: b(8 * H * H), bIh: b(8 * H), bHh: b(8 * H), hOut,
 * }, { pre: b(8 * H), gates: b(8 * 4), cell: b(8), hPrev: b(8) },
 *   { maxBatch: 1, maxTime: 1, inputSize: E, hiddenSize: H });
 * submitDispatches(gpu, op.dispatches);
 * if ((await readFloat32(gpu, hOut)).some((v) => v !== 0)) throw new Error("zero weights: h = 0");
 * op.destroy();
 * ```
 */
export async function lstmGpuLayerForward(
  gpu: Gpu,
  buffers: LstmLayerBuffers,
  saved: LstmGpuSaved,
  options: LstmGpuLayerOptions,
): Promise<SequenceOp> {
  const label = options.label ?? "lstm (gpu)";
  const { maxBatch, maxTime, inputSize: E, hiddenSize: H } = options;
  checkPositiveInteger(label, "inputSize", E);
  const mem = opAllocator(gpu, label, options);
  const shape = (batch: number, time: number) => ({ m: batch * time, n: 8 * H, k: E });
  const projection = await matmulForward(
    gpu,
    { a: buffers.x, b: buffers.wIh, c: saved.pre, bias: buffers.bIh },
    {
      ...shape(maxBatch, maxTime),
      transB: true,
      allocator: mem,
      label: `${label} input projection`,
    },
  );
  const recurrence = await lstmGpuForward(gpu, { ...buffers, ...saved }, {
    ...options,
    allocator: mem,
  });
  const [pack, run] = recurrence.dispatches;
  return {
    label,
    dispatches: [pack, ...projection.dispatches, run],
    resize(next: SequenceShape) {
      recurrence.resize(next);
      projection.resize(shape(next.batch, next.time));
    },
    destroy: () => mem.destroy(),
  };
}

/** The caller's buffers of a layer: `lstm.ts`'s `BiLstmBuffers` (x, lengths, weights, h_out). */
export type LstmLayerBuffers = BiLstmBuffers;

/** Where a layer's backward reads dh_out and writes its gradients: `lstm.ts`'s `BiLstmGradBuffers`. */
export type LstmLayerGradBuffers = BiLstmGradBuffers;

/**
 * A whole BiLSTM layer's backward in the gpu profile, 7 dispatches (6
 * without dX): the backward recurrence (dz into `saved.pre`), dX = dz·W_ih,
 * dW_ih += dzᵀ·x (the shared matmuls), then the split-K dW_hh and bias
 * sums ({@linkcode lstmGpuWeightGrads}; dB_ih = dB_hh computed once).
 *
 * @param gpu the device
 * @param buffers the forward's buffers and the gradients
 * @param saved the forward's saved activations
 * @param options as the forward, plus `accumulateDx`
 * @returns the op; `resize({ batch, time })`
 */
export async function lstmGpuLayerBackward(
  gpu: Gpu,
  buffers: LstmLayerBuffers & LstmLayerGradBuffers,
  saved: LstmGpuSaved,
  options: LstmGpuLayerOptions & { accumulateDx?: boolean },
): Promise<SequenceOp> {
  const label = options.label ?? "lstm (gpu)";
  const { maxBatch, maxTime, inputSize: E, hiddenSize: H } = options;
  const mem = opAllocator(gpu, `${label} backward`, options);
  const scoped = { ...options, allocator: mem };
  const reverse = await lstmGpuBackward(gpu, { ...buffers, ...saved, dz: saved.pre }, {
    ...scoped,
    label: `${label} backward`,
  });
  const shape = (batch: number, time: number) => ({ m: batch * time, n: 8 * H, k: E });
  const full = { ...shape(maxBatch, maxTime), transB: true, allocator: mem };
  const inputs = { a: buffers.x, b: buffers.wIh, dC: saved.pre };
  const dx = buffers.dX
    ? await matmulBackward(gpu, { ...inputs, dA: buffers.dX }, {
      ...full,
      accumulate: Boolean(options.accumulateDx),
      label: `${label} dX`,
    })
    : null;
  const dw = await matmulBackward(gpu, { ...inputs, dB: buffers.dWIh }, {
    ...full,
    accumulate: true,
    label: `${label} dW_ih`,
  });
  const grads = await lstmGpuWeightGrads(gpu, { ...buffers, dz: saved.pre, hPrev: saved.hPrev }, {
    ...scoped,
    label: `${label} dW_hh and biases`,
  });
  const matmuls = [...(dx ? [dx] : []), dw];
  return {
    label: `${label} backward`,
    dispatches: [
      ...reverse.dispatches,
      ...matmuls.flatMap((m) => m.dispatches),
      ...grads.dispatches,
    ],
    resize(next: SequenceShape) {
      reverse.resize(next);
      for (const m of matmuls) m.resize(shape(next.batch, next.time));
      grads.resize(next);
    },
    destroy: () => mem.destroy(),
  };
}

/**
 * One bidirectional LSTM layer on the GPU (torch.nn.LSTM semantics, gate
 * order i, f, g, o): the input projection of all time steps as one matmul,
 * then a fused recurrence kernel with the time loop inside and both
 * directions in one dispatch (`shaders/lstm.wgsl`); backward is a fused
 * reverse-time kernel for the sequential part (`shaders/lstm_backward.wgsl`)
 * followed by matmuls over all time steps. Reference: `lstm_ref.ts`.
 *
 * Layouts (f32, row-major; token (b, t) is row b·T + t):
 * - `x` (B·T, E) input; `hOut` (B·T, 2H) output, [forward H | reverse H] per
 *   token, zero at padding rows (it feeds the next layer, E' = 2H).
 * - `wIh` (2·4H, E) = [weight_ih_l{k}; weight_ih_l{k}_reverse], `wHh` (2, 4H, H),
 *   `bIh` and `bHh` (2·4H), each direction in PyTorch's layout.
 * - Saved for backward: `gates` (B·T, 2, 4, Hp) activations i f g o per direction,
 *   `cell` (B·T, 2, Hp),
 *   `hPrev` (B·T, 2, Hp) the h each step started from (Hp = H rounded up to 4),
 *   and `pre` (B·T, 8H), which holds x·W_ihᵀ + b_ih after the forward and is
 *   reused for dz (the gate pre-activation gradients) by the backward.
 *
 * Gradients of weights and biases ACCUMULATE (`+=`): zero them once per step.
 * dX is written with `=` unless `accumulateDx` is set.
 *
 * @module
 */

import { lstm as lstmWgsl, lstmBackward as lstmBackwardWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Allocator } from "../gpu/allocator.ts";
import { type Binding, type Dispatch, makeDispatch, type ParamBlock } from "../gpu/kernel.ts";
import {
  checkBindings,
  checkPositiveInteger,
  checkSequenceShape,
  LOOP_LIMIT,
  type Op,
  opAllocator,
  type OpOptions,
  type RecurrenceSize,
  type SequenceOp,
  type SequenceShape,
} from "./common.ts";
import { columnSum, matmulBackward, matmulForward } from "./matmul.ts";
import { type KernelProfile, kernelProfile } from "../gpu/profile.ts";
import { lstmGpuLayerBackward, lstmGpuLayerForward } from "./lstm_gpu.ts";
import { createSplitBiLstm, sentenceGroups, type SplitOptions } from "./lstm_split.ts";

/** The layer's sizes: the graph is built for the largest batch and resized per batch. */
export interface BiLstmSize extends RecurrenceSize {
  /** E: input features per token. */
  inputSize: number;
}

/** Buffers the caller owns (see the module doc for layouts). */
export interface BiLstmBuffers {
  /** (B·T, E) input; rows at padding must hold finite values (they meet dz = 0). */
  x: Binding;
  /** (B) i32 sentence lengths. */
  lengths: Binding;
  /** (2·4H, E). */
  wIh: Binding;
  /** (2, 4H, H). */
  wHh: Binding;
  /** (2·4H). */
  bIh: Binding;
  /** (2·4H). */
  bHh: Binding;
  /** (B·T, 2H) output, written with `=`. */
  hOut: Binding;
}

/** Where the backward reads dL/dh_out and writes the gradients. */
export interface BiLstmGradBuffers {
  /** (B·T, 2H) upstream gradient, read. */
  dhOut: Binding;
  /** (B·T, E) input gradient; omit to skip (e.g. a frozen first layer). */
  dX?: Binding;
  /** (2·4H, E), `+=`. */
  dWIh: Binding;
  /** (2, 4H, H), `+=`. */
  dWHh: Binding;
  /** (2·4H), `+=`. */
  dBIh: Binding;
  /** (2·4H), `+=`. */
  dBHh: Binding;
}

/** Options for {@linkcode BiLstm.backward}. */
export interface BiLstmBackwardOptions {
  /** Add into dX instead of overwriting it. */
  accumulateDx?: boolean;
}

/** Buffers the layer allocates and keeps between forward and backward. */
export interface BiLstmSaved {
  /** (B·T, 8H): x·W_ihᵀ + b_ih after the forward; dz after the backward's first kernel. */
  pre: GPUBuffer;
  /** (B·T, 2, 4, Hp): i f g o activations per direction (vec4-aligned units). */
  gates: GPUBuffer;
  /** (B·T, 2, Hp): cell states. */
  cell: GPUBuffer;
  /** (B·T, 2, Hp): h before each step, zero at padding; then the forward kernel's h exchange when it is in storage. */
  hPrev: GPUBuffer;
  /** W_hh packed for the forward kernel. */
  whhPacked: GPUBuffer;
  /** W_hh packed (transposed) for the backward kernel. */
  whhPackedT: GPUBuffer;
  /** The backward kernel's dz exchange, one region per workgroup (contents undefined). */
  dzScratch: GPUBuffer;
}

/**
 * A built BiLSTM layer: an op whose dispatches are the forward (3: pack
 * W_hh, the input projection matmul, the fused recurrence), and a backward
 * builder. `resize` resizes the forward and every backward built from it;
 * `destroy` frees the layer's buffers and its backwards'.
 */
export interface BiLstm extends SequenceOp {
  /** Internal buffers (saved activations, packed weights). */
  readonly saved: BiLstmSaved;
  /** Workgroup rows of the recurrence kernels; each row holds 8 sentences. */
  readonly sentenceQuads: { forward: number; backward: number };
  /** Whether the forward kernel reads W_hh from uniform bindings. */
  readonly uniformWeights: boolean;
  /** The kernels the recurrences run (see `src/gpu/profile.ts`). */
  readonly profile: KernelProfile;
  /**
   * The groups of sentences the layer runs as, each a layer over a contiguous range of the
   * batch, when the whole batch's saved buffers would pass one storage binding
   * (`lstm_split.ts`); absent when the layer is not split.
   */
  readonly groups?: readonly BiLstm[];
  /**
   * Builds the backward, 7 dispatches in order (6 without dX): pack
   * W_hhᵀ, the fused reverse-time kernel (dz), dX = dz·W_ih, dW_ih += dzᵀ·x
   * with dB_ih += Σ dz (two dispatches), dW_hh += Σ_t dz_tᵀ·h_prev_t,
   * dB_hh += Σ dz.
   *
   * @param grads where to read dh_out and write gradients
   * @param options dX accumulation
   * @returns the backward op (resized with the layer; destroyed with it too)
   */
  backward(grads: BiLstmGradBuffers, options?: BiLstmBackwardOptions): Promise<SequenceOp>;
}

/** Options for {@linkcode createBiLstm}: the sizes, kernel tuning, label and allocator. */
export interface BiLstmOptions extends OpOptions, SplitOptions {
  /** Rows of 8 sentences per workgroup of the forward kernel (default 1; capped to fit). */
  forwardQuads?: number;
  /**
   * Read W_hh from uniform bindings in both recurrence kernels when H ≤ 128 and the
   * device allows (default true; false forces the storage path).
   */
  uniformWeights?: boolean;
  /** Rows of 8 sentences per workgroup of the backward kernel (default 1; capped to fit). */
  backwardQuads?: number;
  /**
   * Steps per dispatch of the backward recurrence when it is split (default: on fallback
   * adapters, as many as stay within llvmpipe's 65,535 loop iterations, for batches that
   * need it; never elsewhere). Given, it forces the split for any T above it (tests): the
   * results are bit-identical to one dispatch.
   */
  backwardSteps?: number;
  /**
   * Steps per dispatch of the forward recurrence (cpu profile) when it is split (default: on
   * fallback adapters, as many as stay within llvmpipe's 65,535 loop iterations, for
   * batches that need it; never elsewhere). Given, it forces the split for any T above it
   * (tests): the results are bit-identical to one dispatch.
   */
  forwardSteps?: number;
  /**
   * Keep the forward kernel's h in a storage scratch instead of workgroup memory
   * (default: on fallback (software) adapters, where a large workgroup array makes the
   * shader compile slow — ≈ 20 s at H = 256 on llvmpipe — and storage is as fast).
   * Always on where h of 8 sentences would not fit the device's workgroup storage
   * (H ≥ 253 under WebGPU's default 16 KiB).
   */
  hScratch?: boolean;
  /**
   * The recurrence kernels: `cpu` (lstm.wgsl, lstm_backward.wgsl) or `gpu` (lstm_gpu.ts);
   * default: the device's profile ({@linkcode kernelProfile}).
   */
  profile?: KernelProfile;
}

/** Workgroup memory the forward kernel may declare for h: at most 1024 vec4f (16 KiB). */
const SHARED_VEC4 = 1024;

/**
 * vec4s of h the forward kernel may keep in workgroup memory on a device
 * with `bytes` of workgroup storage: ≤ 1024, and room for its `group_max` u32.
 */
function sharedVec4Limit(bytes: number): number {
  return Math.min(SHARED_VEC4, Math.floor((bytes - 16) / 16));
}
/** Bytes of one uniform W_hh block (the WebGPU default binding limit). */
export const UNIFORM_BLOCK = 65_536;

/** How a layer of this size runs: vec4 unit blocks, sentence rows per workgroup, W_hh path. */
interface LstmPlan {
  label: string;
  maxBatch: number;
  maxTime: number;
  E: number;
  H: number;
  /** Unit quads ceil(H / 4), and Hp = 4·UB. */
  UB: number;
  Hp: number;
  /** Unit quads per backward invocation's row: ceil(UB / 4). */
  UV: number;
  /** Rows of 8 sentences per workgroup, forward and backward. */
  qf: number;
  qb: number;
  useUniform: boolean;
  hInStorage: boolean;
  /** vec4 strides of the packed W_hh blocks (forward) and W_hhᵀ blocks (backward). */
  wStride: number;
  wStrideT: number;
  /** Steps per dispatch of the split backward recurrence, and its ranges (0: never split). */
  backRange: number;
  backRanges: number;
  /** Whether the caller forced the range size (split whenever T passes it). */
  backForced: boolean;
  /** The same for the forward recurrence. */
  fwdRange: number;
  fwdRanges: number;
  fwdForced: boolean;
}

/** Validates the sizes and buffers at the boundary and picks the kernels' layout. */
function planLayer(gpu: Gpu, buffers: BiLstmBuffers, options: BiLstmSize & BiLstmOptions) {
  const { maxBatch, maxTime, inputSize: E, hiddenSize: H } = options;
  checkPositiveInteger("createBiLstm", "maxBatch", maxBatch);
  checkPositiveInteger("createBiLstm", "maxTime", maxTime);
  checkPositiveInteger("createBiLstm", "inputSize", E);
  checkPositiveInteger("createBiLstm", "hiddenSize", H, 256);
  const label = options.label ?? "lstm";
  const rows = maxBatch * maxTime;
  checkSizes(label, {
    x: [buffers.x, rows * E],
    lengths: [buffers.lengths, maxBatch],
    wIh: [buffers.wIh, 8 * H * E],
    wHh: [buffers.wHh, 8 * H * H],
    bIh: [buffers.bIh, 8 * H],
    bHh: [buffers.bHh, 8 * H],
    hOut: [buffers.hOut, rows * 2 * H],
  });
  const UB = Math.ceil(H / 4);
  // Forward: 2·8·QY·UB vec4 of h in workgroup memory (≤ 16 KiB); backward: dz in a storage
  // scratch; UB·QY ≤ 256 invocations.
  const limits = gpu.device.limits;
  const sharedVec4 = sharedVec4Limit(limits.maxComputeWorkgroupStorageSize);
  const fitF = Math.min(Math.floor(sharedVec4 / (16 * UB)), Math.floor(256 / UB));
  // Backward: each invocation owns four unit quads (UV per row of 8 sentences).
  const UV = Math.ceil(UB / 4);
  const fitB = Math.floor(256 / UV);
  // W_hh from uniform bindings: one 64 KiB (direction, gate) block each, nine uniforms in all.
  const useUniform = (options.uniformWeights ?? true) && UB <= 32 &&
    limits.maxUniformBufferBindingSize >= UNIFORM_BLOCK &&
    limits.maxUniformBuffersPerShaderStage >= 9;
  const plan: LstmPlan = {
    label,
    maxBatch,
    maxTime,
    E,
    H,
    UB,
    Hp: 4 * UB,
    UV,
    qf: Math.max(1, Math.min(options.forwardQuads ?? 1, fitF)),
    qb: Math.max(1, Math.min(options.backwardQuads ?? 1, fitB)),
    useUniform,
    // h in a storage scratch instead of workgroup memory (lstm.wgsl's H_SCRATCH): on software
    // adapters, where a workgroup array's compile time grows with the square of its size and
    // storage is as fast as workgroup memory.
    // Also wherever h of one row of 8 sentences (16·UB vec4) would not fit the device's
    // workgroup storage beside `group_max` (H ≥ 253 under WebGPU's default 16 KiB).
    hInStorage: (options.hScratch ?? gpu.adapter.isFallbackAdapter) || 16 * UB > sharedVec4,
    wStride: useUniform ? UNIFORM_BLOCK / 16 : UB * UB * 4,
    // W_hhᵀ blocks hold 4·UV unit quads (zeros beyond UB).
    wStrideT: useUniform ? UNIFORM_BLOCK / 16 : 4 * UV * UB * 4,
    ...backwardSplit(gpu, maxTime, UB, options.backwardSteps),
    ...forwardSplit(gpu, maxTime, UB, options.forwardSteps),
  };
  return plan;
}

/**
 * Whether the backward recurrence of T steps runs as one dispatch: always on real GPUs; on
 * fallback adapters while its loop count stays within llvmpipe's limit (the split kernel
 * takes over beyond).
 */
function backwardFits(gpu: Gpu, time: number, UB: number): boolean {
  return !gpu.adapter.isFallbackAdapter || time * (4 * UB + 40) + 4 * time <= LOOP_LIMIT;
}

/** Steps per range of the split backward recurrence, and how many ranges T needs. */
function backwardSplit(gpu: Gpu, time: number, UB: number, requested?: number) {
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1)) {
    throw new RangeError(
      `createBiLstm: expected backwardSteps to be a positive integer, got ${requested}`,
    );
  }
  // Per step ≤ 4·UB + 13 iterations, padding rows ≤ 40, and ≈ 600 outside the loop.
  const backRange = requested ?? Math.floor((LOOP_LIMIT - 600) / (4 * UB + 53));
  const split = requested !== undefined ? time > backRange : !backwardFits(gpu, time, UB);
  return {
    backRange,
    backRanges: split ? Math.ceil(time / backRange) : 0,
    backForced: requested !== undefined,
  };
}

/**
 * Whether the forward recurrence of T steps runs as one dispatch: always on real GPUs; on
 * fallback adapters while its loop count (≈ T·(UB + 12) + 8·T) stays within llvmpipe's limit.
 */
function forwardFits(gpu: Gpu, time: number, UB: number): boolean {
  return !gpu.adapter.isFallbackAdapter || time * (UB + 20) + 200 <= LOOP_LIMIT;
}

/** Steps per range of the split forward recurrence, and how many ranges T needs. */
function forwardSplit(gpu: Gpu, time: number, UB: number, requested?: number) {
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1)) {
    throw new RangeError(
      `createBiLstm: expected forwardSteps to be a positive integer, got ${requested}`,
    );
  }
  // Per step ≤ UB + 12 iterations, padding rows ≤ 8, and ≤ 600 outside the loop.
  const fwdRange = requested ?? Math.floor((LOOP_LIMIT - 600) / (UB + 24));
  const split = requested !== undefined ? time > fwdRange : !forwardFits(gpu, time, UB);
  return {
    fwdRange,
    fwdRanges: split ? Math.ceil(time / fwdRange) : 0,
    fwdForced: requested !== undefined,
  };
}

/** Allocates the saved activations, packed weights and exchange scratch for the largest batch. */
function allocateSaved(mem: Allocator, plan: LstmPlan): BiLstmSaved {
  const { label, maxBatch, maxTime, H, Hp, UB, qf, qb } = plan;
  const rows = maxBatch * maxTime;
  const packed = GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC;
  return {
    pre: mem.buffer(`${label} pre/dz`, rows * 8 * H * 4),
    gates: mem.buffer(`${label} gates`, rows * 8 * Hp * 4),
    cell: mem.buffer(`${label} cell`, rows * 2 * Hp * 4),
    // h before each step; then, with hScratch, the forward kernel's h exchange (per workgroup:
    // h of its 8·QY sentences, two parities), so the kernel binds one buffer for both.
    hPrev: mem.buffer(
      `${label} h_prev`,
      rows * 2 * Hp * 4 +
        (plan.hInStorage ? 2 * Math.ceil(maxBatch / (8 * qf)) * 2 * 8 * qf * UB * 16 : 0),
    ),
    whhPacked: mem.buffer(`${label} W_hh packed`, 8 * plan.wStride * 16, packed),
    whhPackedT: mem.buffer(`${label} W_hh packed T`, 8 * plan.wStrideT * 16, packed),
    // Per backward workgroup (2 directions × groups): dz of its 8·QY sentences, two parities;
    // with the split backward, then dc_next of the same sentences (4·UV unit quads).
    dzScratch: mem.buffer(
      `${label} dz scratch`,
      dzCarryOffset(plan) * 16 +
        (plan.backRanges ? 2 * Math.ceil(maxBatch / (8 * qb)) * 8 * qb * 4 * plan.UV * 16 : 0),
    ),
  };
}

/** Where dc_next's carry starts in the dz scratch (vec4s): after the dz exchange. */
function dzCarryOffset(plan: LstmPlan): number {
  return 2 * Math.ceil(plan.maxBatch / (8 * plan.qb)) * 2 * 8 * plan.qb * 4 * plan.UB;
}

/**
 * Bindings 9…16 of the recurrences (training and inference): the packed
 * W_hh's (direction, gate) blocks of {@linkcode UNIFORM_BLOCK} bytes, or the
 * stand-in 8 times when W_hh is read from storage.
 *
 * @param packed the packed W_hh
 * @param standIn the unused uniform of the storage path (null on the uniform path)
 * @returns the 8 bindings
 */
export function uniformBlocks(packed: GPUBuffer, standIn: GPUBuffer | null): Binding[] {
  return Array.from(
    { length: 8 },
    (_, i) => standIn ?? { buffer: packed, offset: i * UNIFORM_BLOCK, size: UNIFORM_BLOCK },
  );
}

/**
 * The stand-in bound to the 8 W_hh uniform bindings when W_hh is read from storage.
 *
 * @param mem the op's allocator
 * @param label the op's label
 * @param useUniform whether W_hh is read from uniform blocks (then none is needed)
 * @returns the stand-in, or null on the uniform path
 */
export function unusedUniform(
  mem: Allocator,
  label: string,
  useUniform: boolean,
): GPUBuffer | null {
  return useUniform
    ? null
    : mem.buffer(`${label} unused uniform`, UNIFORM_BLOCK, GPUBufferUsage.UNIFORM);
}

/** The W_hh layout the `pack` entry point of `lstm.wgsl` writes. */
export interface WhhPacking {
  /** H. */
  H: number;
  /** Unit quads ⌈H / 4⌉. */
  UB: number;
  /** vec4s between the packed (direction, gate) blocks. */
  wStride: number;
}

/**
 * The `pack` dispatch of `lstm.wgsl` (training forward and inference): W_hh
 * (2, 4H, H) into vec4 (direction, gate) blocks `wStride` vec4s apart.
 *
 * @param gpu the device
 * @param label the op's label
 * @param packing H, UB and the block stride
 * @param wHh (2, 4H, H), read
 * @param packed the packed W_hh, `=`
 * @returns the dispatch
 */
export async function packWhhDispatch(
  gpu: Gpu,
  label: string,
  { H, UB, wStride }: WhhPacking,
  wHh: Binding,
  packed: GPUBuffer,
): Promise<Dispatch> {
  return await makeDispatch(
    gpu,
    {
      label: `${label} pack W_hh`,
      code: lstmWgsl,
      entryPoint: "pack",
      constants: { H, UB, WSTRIDE: wStride },
    },
    [wHh, packed],
    [Math.ceil(2 * 4 * UB * UB * 4 / 64)],
  );
}

/**
 * Builds one BiLSTM layer: allocates its saved-activation buffers for the
 * largest batch, compiles the kernels and returns the forward op and a
 * backward builder. Stack layers by passing layer k's `hOut` as layer
 * k+1's `x` with `inputSize = 2H`.
 *
 * @param gpu the device
 * @param buffers the caller's input, parameters and output
 * @param options largest B and T, E and H; kernel tuning, label, allocator
 * @returns the layer, sized for (maxBatch, maxTime)
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { createBiLstm } from "./lstm.ts";
 * const gpu = await acquireGpu();
 * const H = 2, E = 3;
 * const buf = (n: number) => createBuffer(gpu, "b", n * 4);
 * const layer = await createBiLstm(gpu, {
 *   x: createBuffer(gpu, "x", new Float32Array(2 * E).fill(1)),
 *   lengths: createBuffer(gpu, "lengths", new Int32Array([2])),
 *   wIh: buf(8 * H * E), wHh: buf(8 * H * H), bIh: buf(8 * H), bHh: buf(8 * H),
 *   hOut: buf(2 * 2 * H),
 * }, { maxBatch: 1, maxTime: 2, inputSize: E, hiddenSize: H });
 * submitDispatches(gpu, layer.dispatches);
 * // zero weights: every h is 0.5·tanh(0) = 0
 * if ((await readFloat32(gpu, layer.saved.gates))[0] !== 0.5) throw new Error("wrong gate");
 * layer.destroy();
 * ```
 */
export async function createBiLstm(
  gpu: Gpu,
  buffers: BiLstmBuffers,
  options: BiLstmSize & BiLstmOptions,
): Promise<BiLstm> {
  const plan = planLayer(gpu, buffers, options);
  // Saved buffers past one storage binding: run as groups of sentences (lstm_split.ts).
  const counts = sentenceGroups(gpu, options, options);
  if (counts.length > 1) return createSplitBiLstm(gpu, buffers, options, counts, createBiLstm);
  const { label, maxBatch, maxTime } = plan;
  const mem = opAllocator(gpu, label, options);
  const saved = allocateSaved(mem, plan);
  const standIn = unusedUniform(mem, label, plan.useUniform);
  const profile = options.profile ?? kernelProfile(gpu).profile;
  // The gpu profile shares the saved buffers and the matmuls; only the recurrences differ.
  const gpuOptions = {
    maxBatch,
    maxTime,
    inputSize: plan.E,
    hiddenSize: plan.H,
    label,
    allocator: mem,
  };
  const forward = profile === "gpu"
    ? await lstmGpuLayerForward(gpu, buffers, saved, gpuOptions)
    : await forwardOp(gpu, mem, plan, buffers, saved, standIn);
  const backwards: SequenceOp[] = [];
  let current: SequenceShape = { batch: maxBatch, time: maxTime };
  const layer: BiLstm = {
    label,
    dispatches: forward.dispatches,
    saved,
    sentenceQuads: { forward: plan.qf, backward: plan.qb },
    uniformWeights: plan.useUniform,
    profile,
    resize(shape: SequenceShape) {
      checkSequenceShape(label, shape, plan);
      if (profile === "cpu") checkLoopLimits(gpu, label, shape, backwards.length > 0);
      current = { batch: shape.batch, time: shape.time };
      forward.resize(current);
      for (const b of backwards) b.resize(current);
    },
    async backward(grads: BiLstmGradBuffers, backwardOptions: BiLstmBackwardOptions = {}) {
      const accumulateDx = Boolean(backwardOptions.accumulateDx);
      const op = profile === "gpu"
        ? await lstmGpuLayerBackward(gpu, { ...buffers, ...grads }, saved, {
          ...gpuOptions,
          accumulateDx,
        })
        : await backwardOp(gpu, mem, plan, { ...buffers, ...grads }, saved, {
          standIn,
          accumulateDx,
        });
      op.resize(current);
      backwards.push(op);
      return op;
    },
    destroy: () => mem.destroy(),
  };
  layer.resize(current);
  return layer;
}

/** The forward: pack W_hh, the input projection of all steps, the fused recurrence. */
async function forwardOp(
  gpu: Gpu,
  mem: Allocator,
  plan: LstmPlan,
  buffers: BiLstmBuffers,
  saved: BiLstmSaved,
  standIn: GPUBuffer | null,
): Promise<Op<SequenceShape>> {
  const { label, maxBatch, maxTime, UB, qf } = plan;
  const groupsF = (b: number) => Math.ceil(b / (8 * qf));
  const paramsF = mem.uniform(`${label} recurrence shape`, [0, 0, 0, 0]);
  const pack = await packWhhDispatch(gpu, label, plan, buffers.wHh, saved.whhPacked);
  const projection = await matmulForward(
    gpu,
    { a: buffers.x, b: buffers.wIh, c: saved.pre, bias: buffers.bIh },
    {
      ...projectionShape(plan, maxBatch, maxTime),
      transB: true,
      allocator: mem,
      label: `${label} input projection`,
    },
  );
  const recurrence = await recurrenceDispatch(gpu, plan, paramsF, buffers, saved, standIn);
  // The split recurrence: one dispatch per range of steps, in order, each its own params.
  const rangeParams = Array.from(
    { length: plan.fwdRanges },
    (_, r) => mem.uniform(`${label} recurrence range ${r}`, [0, 0, 0, r]),
  );
  const ranges: Dispatch[] = [];
  for (const block of rangeParams) {
    ranges.push(await recurrenceDispatch(gpu, plan, block, buffers, saved, standIn, true));
  }
  return {
    label,
    dispatches: [pack, ...projection.dispatches, recurrence, ...ranges],
    resize({ batch, time }: SequenceShape) {
      projection.resize(projectionShape(plan, batch, time));
      paramsF.set([batch, time, groupsF(batch), 0]);
      const split = plan.fwdRanges > 0 &&
        (plan.fwdForced ? time > plan.fwdRange : !forwardFits(gpu, time, UB));
      recurrence.workgroups = [split ? 0 : groupsF(batch), 2, 1];
      rangeParams.forEach((block, r) => {
        block.set([batch, time, groupsF(batch), r]);
        ranges[r].workgroups = [split && r * plan.fwdRange < time ? groupsF(batch) : 0, 2, 1];
      });
    },
    destroy: () => projection.destroy(),
  };
}

/** The fused forward recurrence (whole, or with `split` one range of steps per dispatch). */
function recurrenceDispatch(
  gpu: Gpu,
  plan: LstmPlan,
  params: ParamBlock,
  buffers: BiLstmBuffers,
  saved: BiLstmSaved,
  standIn: GPUBuffer | null,
  split = false,
): Promise<Dispatch> {
  const { label, maxBatch, maxTime, H, UB, qf } = plan;
  return makeDispatch(gpu, {
    label: `${label} recurrence${split ? ` range ${params.values[3]}` : ""}`,
    code: lstmWgsl,
    constants: {
      H,
      UB,
      QY: qf,
      USE_UNIFORM: plan.useUniform,
      WSTRIDE: plan.wStride,
      SHARED: plan.hInStorage ? 1 : 16 * qf * UB,
      H_SCRATCH: plan.hInStorage,
      HSCR_OFF: maxBatch * maxTime * 2 * UB,
      ...(split ? { SPLIT: true, RANGE: plan.fwdRange } : {}),
    },
  }, [
    params.buffer,
    saved.pre,
    saved.whhPacked,
    buffers.bHh,
    buffers.lengths,
    buffers.hOut,
    saved.gates,
    saved.cell,
    saved.hPrev,
    ...uniformBlocks(saved.whhPacked, standIn),
  ], [1, 2]);
}

/** The shape of the input projection (and of its gradients) for a batch. */
function projectionShape(plan: LstmPlan, batch: number, time: number) {
  return { m: batch * time, n: 8 * plan.H, k: plan.E };
}

/** The backward: pack W_hhᵀ, the reverse-time kernel, then the matmuls over all steps. */
async function backwardOp(
  gpu: Gpu,
  parent: Allocator,
  plan: LstmPlan,
  buffers: BiLstmBuffers & BiLstmGradBuffers,
  saved: BiLstmSaved,
  options: { standIn: GPUBuffer | null; accumulateDx: boolean },
): Promise<SequenceOp> {
  const { label, maxBatch, maxTime, E, H, UB, UV, qb } = plan;
  const rows = maxBatch * maxTime;
  checkSizes(label, {
    dhOut: [buffers.dhOut, rows * 2 * H],
    ...(buffers.dX ? { dX: [buffers.dX, rows * E] as [Binding, number] } : {}),
    dWIh: [buffers.dWIh, 8 * H * E],
    dWHh: [buffers.dWHh, 8 * H * H],
    dBIh: [buffers.dBIh, 8 * H],
    dBHh: [buffers.dBHh, 8 * H],
  });
  const mem = parent.scope(`${label} backward`);
  const paramsB = mem.uniform(`${label} backward shape`, [0, 0, 0, 0]);
  const groupsB = (b: number) => Math.ceil(b / (8 * qb));
  const packT = await makeDispatch(
    gpu,
    {
      label: `${label} pack W_hh T`,
      code: lstmBackwardWgsl,
      entryPoint: "pack_t",
      constants: { H, UB, UBP: 4 * UV, WSTRIDE: plan.wStrideT },
    },
    [buffers.wHh, saved.whhPackedT],
    [Math.ceil(2 * 4 * 4 * UV * UB * 4 / 64)],
  );
  const sweep = await reverseSweep(gpu, mem, plan, paramsB, buffers, saved, options.standIn);
  const full = { ...projectionShape(plan, maxBatch, maxTime), transB: true };
  const inputs = { a: buffers.x, b: buffers.wIh, dC: saved.pre };
  const dx = buffers.dX
    ? await matmulBackward(gpu, { ...inputs, dA: buffers.dX }, {
      ...full,
      accumulate: options.accumulateDx,
      label: `${label} dX`,
      allocator: mem,
    })
    : null;
  const dw = await matmulBackward(gpu, { ...inputs, dB: buffers.dWIh, dBias: buffers.dBIh }, {
    ...full,
    accumulate: true,
    label: `${label} dW_ih`,
    allocator: mem,
  });
  const dwhh = await makeDispatch(
    gpu,
    {
      label: `${label} dW_hh`,
      code: lstmBackwardWgsl,
      entryPoint: "dwhh_main",
      constants: { H, UB },
    },
    [paramsB.buffer, saved.pre, saved.hPrev, buffers.dWHh],
    [Math.ceil(UB / 8), Math.ceil(Math.ceil(4 * H / 8) / 8), 2],
  );
  const dbhh = await columnSum(gpu, { x: saved.pre, out: buffers.dBHh }, {
    m: rows,
    n: 8 * H,
    accumulate: true,
    label: `${label} dB_hh`,
    allocator: mem,
  });
  const matmuls = [...(dx ? [dx] : []), dw];
  return {
    label: `${label} backward`,
    dispatches: [
      packT,
      ...sweep.dispatches,
      ...matmuls.flatMap((m) => m.dispatches),
      dwhh,
      ...dbhh.dispatches,
    ],
    resize({ batch, time }: SequenceShape) {
      paramsB.set([batch, time, groupsB(batch), 0]);
      sweep.resize(batch, time, groupsB(batch));
      for (const m of matmuls) m.resize(projectionShape(plan, batch, time));
      dbhh.resize(projectionShape(plan, batch, time));
    },
    destroy: () => mem.destroy(),
  };
}

/**
 * The backward's reverse sweep: the whole-sentence kernel, and (on fallback adapters, for
 * sentences past the loop limit) one dispatch per range of steps, the last range first;
 * resize runs one or the other.
 */
async function reverseSweep(
  gpu: Gpu,
  mem: Allocator,
  plan: LstmPlan,
  paramsB: ParamBlock,
  buffers: BiLstmGradBuffers & BiLstmBuffers,
  saved: BiLstmSaved,
  standIn: GPUBuffer | null,
): Promise<{ dispatches: Dispatch[]; resize(batch: number, time: number, groups: number): void }> {
  const reverse = await reverseDispatch(gpu, plan, paramsB, buffers, saved, standIn);
  const rangeParams = Array.from(
    { length: plan.backRanges },
    (_, r) => mem.uniform(`${plan.label} backward range ${r}`, [0, 0, 0, r]),
  ).reverse();
  const ranges: Dispatch[] = [];
  for (const block of rangeParams) {
    ranges.push(await reverseDispatch(gpu, plan, block, buffers, saved, standIn, true));
  }
  return {
    dispatches: [reverse, ...ranges],
    resize(batch, time, groups) {
      const split = plan.backRanges > 0 &&
        (plan.backForced ? time > plan.backRange : !backwardFits(gpu, time, plan.UB));
      reverse.workgroups = [split ? 0 : groups, 2, 1];
      rangeParams.forEach((block, i) => {
        const r = block.values[3];
        block.set([batch, time, groups, r]);
        ranges[i].workgroups = [split && r * plan.backRange < time ? groups : 0, 2, 1];
      });
    },
  };
}

/** The fused reverse-time kernel of the backward (dz into `saved.pre`). */
function reverseDispatch(
  gpu: Gpu,
  plan: LstmPlan,
  paramsB: ParamBlock,
  buffers: BiLstmGradBuffers & BiLstmBuffers,
  saved: BiLstmSaved,
  standIn: GPUBuffer | null,
  split = false,
): Promise<Dispatch> {
  const { label, H, UB, UV, qb } = plan;
  const splitConstants: Record<string, number | boolean> = split
    ? { SPLIT: true, RANGE: plan.backRange, DC_OFF: dzCarryOffset(plan) }
    : {};
  return makeDispatch(gpu, {
    label: `${label} backward recurrence${split ? ` range ${paramsB.values[3]}` : ""}`,
    code: lstmBackwardWgsl,
    constants: {
      H,
      UB,
      QY: qb,
      UV,
      USE_UNIFORM: plan.useUniform,
      WSTRIDE: plan.wStrideT,
      ...splitConstants,
    },
  }, [
    paramsB.buffer,
    buffers.dhOut,
    saved.gates,
    saved.cell,
    saved.whhPackedT,
    buffers.lengths,
    saved.pre,
    ...uniformBlocks(saved.whhPackedT, standIn),
    saved.dzScratch,
  ], [1, 2]);
}

/**
 * Throws unless each buffer holds its count of 32-bit values, and the 16
 * bytes a vec4 binding needs (all but `lengths` may be read as vec4).
 */
function checkSizes(label: string, sizes: Record<string, [Binding, number]>): void {
  const { lengths, ...rest } = sizes;
  if (lengths) checkBindings(label, { lengths }, 4);
  checkBindings(label, rest, 16);
}

/**
 * Throws when a shape would run past llvmpipe's silent 65,535-iteration
 * limit per invocation (the software adapter only; real GPUs have none).
 */
function checkLoopLimits(
  gpu: Gpu,
  label: string,
  shape: SequenceShape,
  training: boolean,
) {
  if (!gpu.adapter.isFallbackAdapter) return;
  const { batch, time } = shape;
  // Both recurrences split their steps into ranges of steps where one dispatch would pass
  // the limit; dW_hh sums over all B·T rows in one loop (training only).
  if (training && batch * time > LOOP_LIMIT) {
    throw new RangeError(
      `${label}: a training batch of ${batch}×${time} tokens would exceed the software ` +
        `adapter's ${LOOP_LIMIT} loop iterations per invocation in dW_hh; use smaller batches`,
    );
  }
}

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
import { createBuffer } from "../gpu/buffers.ts";
import { type Dispatch, makeDispatch, ParamBlock } from "../gpu/kernel.ts";
import { columnSum, matmulBackward, matmulForward } from "./matmul.ts";

/** The layer's sizes: the graph is built for the largest batch and resized per batch. */
export interface BiLstmSize {
  /** Largest B the buffers hold. */
  maxBatch: number;
  /** Largest T the buffers hold. */
  maxTime: number;
  /** E: input features per token. */
  inputSize: number;
  /** H: hidden units per direction (1 … 256). */
  hiddenSize: number;
}

/** Buffers the caller owns (see the module doc for layouts). */
export interface BiLstmBuffers {
  /** (B·T, E) input; rows at padding must hold finite values (they meet dz = 0). */
  x: GPUBuffer;
  /** (B) i32 sentence lengths. */
  lengths: GPUBuffer;
  /** (2·4H, E). */
  wIh: GPUBuffer;
  /** (2, 4H, H). */
  wHh: GPUBuffer;
  /** (2·4H). */
  bIh: GPUBuffer;
  /** (2·4H). */
  bHh: GPUBuffer;
  /** (B·T, 2H) output, written with `=`. */
  hOut: GPUBuffer;
}

/** Where the backward reads dL/dh_out and writes the gradients. */
export interface BiLstmGradBuffers {
  /** (B·T, 2H) upstream gradient, read. */
  dhOut: GPUBuffer;
  /** (B·T, E) input gradient; omit to skip (e.g. a frozen first layer). */
  dX?: GPUBuffer;
  /** (2·4H, E), `+=`. */
  dWIh: GPUBuffer;
  /** (2, 4H, H), `+=`. */
  dWHh: GPUBuffer;
  /** (2·4H), `+=`. */
  dBIh: GPUBuffer;
  /** (2·4H), `+=`. */
  dBHh: GPUBuffer;
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
  /** (B·T, 2, Hp): h before each step, zero at padding. */
  hPrev: GPUBuffer;
  /** W_hh packed for the forward kernel. */
  whhPacked: GPUBuffer;
  /** W_hh packed (transposed) for the backward kernel. */
  whhPackedT: GPUBuffer;
  /** The forward kernel's h exchange when it is in storage (else 16 unused bytes). */
  hScratch: GPUBuffer;
  /** The backward kernel's dz exchange, one region per workgroup (contents undefined). */
  dzScratch: GPUBuffer;
}

/** A built BiLSTM layer: its forward dispatch list and a backward builder. */
export interface BiLstm {
  /**
   * Forward dispatches, in order (3): pack W_hh, the input projection
   * matmul, the fused recurrence.
   */
  readonly forward: Dispatch[];
  /** Internal buffers (saved activations, packed weights). */
  readonly saved: BiLstmSaved;
  /** Workgroup rows of the recurrence kernels; each row holds 8 sentences. */
  readonly sentenceQuads: { forward: number; backward: number };
  /** Whether the forward kernel reads W_hh from uniform bindings. */
  readonly uniformWeights: boolean;
  /**
   * Resizes every dispatch built from this layer (forward and all backward
   * lists) for a new batch shape.
   *
   * @param batch B ≤ maxBatch
   * @param time T ≤ maxTime
   */
  resize(batch: number, time: number): void;
  /**
   * Builds the backward dispatches, in order (7, or 6 without dX): pack
   * W_hhᵀ, the fused reverse-time kernel (dz), dX = dz·W_ih, dW_ih += dzᵀ·x (two dispatches)
   * with dB_ih += Σ dz, dW_hh += Σ_t dz_tᵀ·h_prev_t, dB_hh += Σ dz.
   *
   * @param grads where to read dh_out and write gradients
   * @param options dX accumulation
   * @returns the dispatch list (resized together with the forward)
   */
  backward(grads: BiLstmGradBuffers, options?: BiLstmBackwardOptions): Promise<Dispatch[]>;
  /** Destroys the buffers in {@linkcode BiLstm.saved}. */
  destroy(): void;
}

/** Options for {@linkcode createBiLstm}. */
export interface BiLstmOptions {
  /** Label prefix for errors and profiles (default "lstm"). */
  label?: string;
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
   * Keep the forward kernel's h in a storage scratch instead of workgroup memory
   * (default: on fallback (software) adapters, where a large workgroup array makes the
   * shader compile slow — ≈ 20 s at H = 256 on llvmpipe — and storage is as fast).
   */
  hScratch?: boolean;
}

/** Mesa llvmpipe stops an invocation after this many loop iterations in total. */
const LOOP_LIMIT = 65_535;
/** Workgroup memory the kernels declare: 1024 vec4f (16 KiB). */
const SHARED_VEC4 = 1024;
/** Bytes of one uniform W_hh block (the WebGPU default binding limit). */
const UNIFORM_BLOCK = 65_536;

function positiveInteger(name: string, value: number, max = Infinity): void {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(
      `createBiLstm: expected ${name} to be an integer in 1…${max}, got ${value}`,
    );
  }
}

/**
 * Builds one BiLSTM layer: allocates its saved-activation buffers for the
 * largest batch, compiles the kernels and returns the forward dispatch list
 * and a backward builder. Stack layers by passing layer k's `hOut` as layer
 * k+1's `x` with `inputSize = 2H`.
 *
 * @param gpu the device
 * @param buffers the caller's input, parameters and output
 * @param size largest B and T, E and H
 * @param options label and kernel tuning
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
 * submitDispatches(gpu, layer.forward);
 * // zero weights: every h is 0.5·tanh(0) = 0
 * if ((await readFloat32(gpu, layer.saved.gates))[0] !== 0.5) throw new Error("wrong gate");
 * ```
 */
export async function createBiLstm(
  gpu: Gpu,
  buffers: BiLstmBuffers,
  size: BiLstmSize,
  options: BiLstmOptions = {},
): Promise<BiLstm> {
  const { maxBatch, maxTime, inputSize: E, hiddenSize: H } = size;
  positiveInteger("maxBatch", maxBatch);
  positiveInteger("maxTime", maxTime);
  positiveInteger("inputSize", E);
  positiveInteger("hiddenSize", H, 256);
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
  const Hp = 4 * UB;
  // Forward: 2·8·QY·UB vec4 of h in workgroup memory (≤ 16 KiB); backward: dz in a storage
  // scratch (below); UB·QY ≤ 256 invocations.
  const fitF = Math.min(Math.floor(SHARED_VEC4 / (16 * UB)), Math.floor(256 / UB));
  // Backward: each invocation owns four unit quads (UV per row of 8 sentences).
  const UV = Math.ceil(UB / 4);
  const fitB = Math.floor(256 / UV);
  const qf = Math.max(1, Math.min(options.forwardQuads ?? 1, fitF));
  const qb = Math.max(1, Math.min(options.backwardQuads ?? 1, fitB));
  // W_hh from uniform bindings: one 64 KiB (direction, gate) block each, nine uniforms in all.
  const limits = gpu.device.limits;
  const useUniform = (options.uniformWeights ?? true) && UB <= 32 &&
    limits.maxUniformBufferBindingSize >= UNIFORM_BLOCK &&
    limits.maxUniformBuffersPerShaderStage >= 9;
  // h in a storage scratch instead of workgroup memory (lstm.wgsl's H_SCRATCH): on software
  // adapters, where a workgroup array's compile time grows with the square of its size and
  // storage is as fast as workgroup memory.
  const hInStorage = options.hScratch ?? gpu.adapter.isFallbackAdapter;
  const wStride = useUniform ? UNIFORM_BLOCK / 16 : UB * UB * 4;
  // W_hhᵀ blocks hold 4·UV unit quads (zeros beyond UB).
  const wStrideT = useUniform ? UNIFORM_BLOCK / 16 : 4 * UV * UB * 4;
  const saved: BiLstmSaved = {
    pre: createBuffer(gpu, `${label} pre/dz`, rows * 8 * H * 4),
    gates: createBuffer(gpu, `${label} gates`, rows * 8 * Hp * 4),
    cell: createBuffer(gpu, `${label} cell`, rows * 2 * Hp * 4),
    hPrev: createBuffer(gpu, `${label} h_prev`, rows * 2 * Hp * 4),
    whhPacked: createBuffer(
      gpu,
      `${label} W_hh packed`,
      8 * wStride * 16,
      GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC,
    ),
    whhPackedT: createBuffer(
      gpu,
      `${label} W_hh packed T`,
      8 * wStrideT * 16,
      GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC,
    ),
    // Per backward workgroup (2 directions × groups): dz of its 8·QY sentences, two parities.
    // Per forward workgroup, with hScratch: h of its 8·QY sentences, two parities.
    hScratch: createBuffer(
      gpu,
      `${label} h scratch`,
      hInStorage ? 2 * Math.ceil(maxBatch / (8 * qf)) * 2 * 8 * qf * UB * 16 : 16,
    ),
    dzScratch: createBuffer(
      gpu,
      `${label} dz scratch`,
      2 * Math.ceil(maxBatch / (8 * qb)) * 2 * 8 * qb * 4 * UB * 16,
    ),
  };
  const groupsF = (b: number) => Math.ceil(b / (8 * qf));
  const groupsB = (b: number) => Math.ceil(b / (8 * qb));
  const paramsF = new ParamBlock(gpu, `${label} recurrence shape`, [0, 0, 0, 0]);
  const paramsB = new ParamBlock(gpu, `${label} backward shape`, [0, 0, 0, 0]);
  const packLength = 2 * 4 * UB * UB * 4;

  // Bindings 9…16: the packed W_hh's (direction, gate) blocks, or an unused 64 KiB stand-in.
  const standIn = useUniform ? null : createBuffer(
    gpu,
    `${label} unused uniform`,
    UNIFORM_BLOCK,
    GPUBufferUsage.UNIFORM,
  );
  const uniformBlocks = Array.from(
    { length: 8 },
    (_, i) =>
      standIn ?? { buffer: saved.whhPacked, offset: i * UNIFORM_BLOCK, size: UNIFORM_BLOCK },
  );
  const pack = await makeDispatch(
    gpu,
    {
      label: `${label} pack W_hh`,
      code: lstmWgsl,
      entryPoint: "pack",
      constants: { H, UB, WSTRIDE: wStride },
    },
    [buffers.wHh, saved.whhPacked],
    [Math.ceil(packLength / 64)],
  );
  const projection = await matmulForward(gpu, saved.pre, buffers.x, buffers.wIh, {
    m: rows,
    n: 8 * H,
    k: E,
    transB: true,
  }, { bias: buffers.bIh, label: `${label} input projection` });
  const recurrence = await makeDispatch(gpu, {
    label: `${label} recurrence`,
    code: lstmWgsl,
    constants: {
      H,
      UB,
      QY: qf,
      USE_UNIFORM: useUniform,
      WSTRIDE: wStride,
      SHARED: hInStorage ? 1 : 16 * qf * UB,
      H_SCRATCH: hInStorage,
    },
  }, [
    paramsF.buffer,
    saved.pre,
    saved.whhPacked,
    buffers.bHh,
    buffers.lengths,
    buffers.hOut,
    saved.gates,
    saved.cell,
    saved.hPrev,
    ...uniformBlocks,
    saved.hScratch,
  ], [1, 2]);

  const resizers: ((batch: number, time: number) => void)[] = [];
  const matmulShape = (batch: number, time: number) => ({ m: batch * time, n: 8 * H, k: E });
  resizers.push((batch, time) => {
    projection.resize(matmulShape(batch, time));
    paramsF.set([batch, time, groupsF(batch), 0]);
    recurrence.workgroups = [groupsF(batch), 2, 1];
  });

  let current: [number, number] = [maxBatch, maxTime];
  const layer: BiLstm = {
    forward: [pack, projection, recurrence],
    saved,
    sentenceQuads: { forward: qf, backward: qb },
    uniformWeights: useUniform,
    resize(batch: number, time: number) {
      if (!Number.isInteger(batch) || batch < 0 || batch > maxBatch) {
        throw new RangeError(`${label}: expected a batch of 0…${maxBatch} sentences, got ${batch}`);
      }
      if (!Number.isInteger(time) || time < 0 || time > maxTime) {
        throw new RangeError(`${label}: expected a padded length of 0…${maxTime}, got ${time}`);
      }
      checkLoopLimits(gpu, label, batch, time, UB);
      current = [batch, time];
      for (const r of resizers) r(batch, time);
    },
    async backward(grads: BiLstmGradBuffers, backwardOptions: BiLstmBackwardOptions = {}) {
      checkSizes(label, {
        dhOut: [grads.dhOut, rows * 2 * H],
        ...(grads.dX ? { dX: [grads.dX, rows * E] as [GPUBuffer, number] } : {}),
        dWIh: [grads.dWIh, 8 * H * E],
        dWHh: [grads.dWHh, 8 * H * H],
        dBIh: [grads.dBIh, 8 * H],
        dBHh: [grads.dBHh, 8 * H],
      });
      const packT = await makeDispatch(
        gpu,
        {
          label: `${label} pack W_hh T`,
          code: lstmBackwardWgsl,
          entryPoint: "pack_t",
          constants: { H, UB, UBP: 4 * UV, WSTRIDE: wStrideT },
        },
        [buffers.wHh, saved.whhPackedT],
        [Math.ceil(2 * 4 * 4 * UV * UB * 4 / 64)],
      );
      const reverse = await makeDispatch(gpu, {
        label: `${label} backward recurrence`,
        code: lstmBackwardWgsl,
        constants: {
          H,
          UB,
          QY: qb,
          UV,
          USE_UNIFORM: useUniform,
          WSTRIDE: wStrideT,
        },
      }, [
        paramsB.buffer,
        grads.dhOut,
        saved.gates,
        saved.cell,
        saved.whhPackedT,
        buffers.lengths,
        saved.pre,
        ...Array.from({ length: 8 }, (_, i) =>
          standIn ??
            { buffer: saved.whhPackedT, offset: i * UNIFORM_BLOCK, size: UNIFORM_BLOCK }),
        saved.dzScratch,
      ], [1, 2]);
      const dims = { ...matmulShape(current[0], current[1]), transB: true };
      const inputs = { a: buffers.x, b: buffers.wIh, dC: saved.pre };
      const dx = grads.dX
        ? await matmulBackward(gpu, { dA: grads.dX }, inputs, dims, {
          accumulate: Boolean(backwardOptions.accumulateDx),
          label: `${label} dX`,
        })
        : [];
      const dw = await matmulBackward(gpu, { dB: grads.dWIh, dBias: grads.dBIh }, inputs, dims, {
        accumulate: true,
        label: `${label} dW_ih`,
      });
      const dwhh = await makeDispatch(
        gpu,
        {
          label: `${label} dW_hh`,
          code: lstmBackwardWgsl,
          entryPoint: "dwhh_main",
          constants: { H, UB },
        },
        [paramsB.buffer, saved.pre, saved.hPrev, grads.dWHh],
        [
          Math.ceil(UB / 8),
          Math.ceil(Math.ceil(4 * H / 8) / 8),
          2,
        ],
      );
      const dbhh = await columnSum(gpu, grads.dBHh, saved.pre, { m: rows, n: 8 * H }, {
        accumulate: true,
        label: `${label} dB_hh`,
      });
      const resizeBackward = (batch: number, time: number) => {
        paramsB.set([batch, time, groupsB(batch), 0]);
        reverse.workgroups = [groupsB(batch), 2, 1];
        for (const d of [...dx, ...dw]) d.resize(matmulShape(batch, time));
        dbhh.resize(matmulShape(batch, time));
      };
      resizers.push(resizeBackward);
      resizeBackward(current[0], current[1]);
      return [packT, reverse, ...dx, ...dw, dwhh, dbhh];
    },
    destroy() {
      for (const buffer of Object.values(saved)) buffer.destroy();
      standIn?.destroy();
      for (const p of [paramsF, paramsB]) p.buffer.destroy();
    },
  };
  layer.resize(maxBatch, maxTime);
  return layer;
}

/**
 * Throws unless each buffer holds its count of 32-bit values, and the 16
 * bytes a vec4 binding needs (all but `lengths` may be read as vec4).
 */
function checkSizes(label: string, sizes: Record<string, [GPUBuffer, number]>): void {
  for (const [name, [buffer, count]] of Object.entries(sizes)) {
    const bytes = Math.max(name === "lengths" ? 4 : 16, count * 4);
    if (buffer.size < bytes) {
      throw new RangeError(
        `${label}: expected buffer ${name} to hold at least ${bytes} bytes, got ${buffer.size}`,
      );
    }
  }
}

/**
 * Throws when a shape would run past llvmpipe's silent 65,535-iteration
 * limit per invocation (the software adapter only; real GPUs have none).
 */
function checkLoopLimits(gpu: Gpu, label: string, batch: number, time: number, UB: number) {
  if (!gpu.adapter.isFallbackAdapter) return;
  const backward = time * (4 * UB + 40) + 4 * time;
  const tokens = batch * time;
  if (backward > LOOP_LIMIT || tokens > LOOP_LIMIT) {
    throw new RangeError(
      `${label}: a batch of ${batch}×${time} tokens with H=${4 * UB} would exceed the ` +
        `software adapter's ${LOOP_LIMIT} loop iterations per invocation; ` +
        "use shorter sentences or smaller batches",
    );
  }
}

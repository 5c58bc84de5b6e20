/**
 * The Adam family on the GPU: Adam and AdamW with bias correction over one
 * flat parameter buffer, with global gradient-norm clipping and the skip
 * of non-finite steps done on the GPU (no readback). Kernels:
 * `shaders/adam.wgsl` and `shaders/grad_norm.wgsl`; reference: `adam_ref.ts`.
 *
 * All parameters of a model live in one buffer `params (P) f32`, with
 * `grads`, `m` and `v` of the same size beside it; each tensor is a slice
 * assigned by {@linkcode ParameterLayout} (in `common.ts`). One optimizer
 * step is three dispatches in the training step's pass: the two of the
 * gradient norm and the update (two more with a lazily updated table).
 *
 * @module
 */

import { adam as adamWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import { readBytes, writeBuffer } from "../gpu/buffers.ts";
import type { Allocator } from "../gpu/allocator.ts";
import { type Binding, type Dispatch, makeDispatch, type ParamBlock } from "../gpu/kernel.ts";
import {
  bindingBytes,
  flatPlan,
  linearGrid,
  type Op,
  opAllocator,
  type OpOptions,
} from "./common.ts";
import { gradNorm } from "./grad_norm.ts";

export { ParameterLayout, type ParameterLayoutOptions, type ParameterSlice } from "./common.ts";

/** Hyper-parameters of one optimizer step (PyTorch's names and defaults). */
export interface AdamHyper {
  /** Learning rate α. */
  lr: number;
  /** Decay of the first moment (default 0.9). */
  beta1?: number;
  /** Decay of the second moment (default 0.999). */
  beta2?: number;
  /** Added to sqrt(v̂) (default 1e-8). */
  eps?: number;
  /** Weight decay λ (default 0). */
  weightDecay?: number;
  /** True: AdamW, p ← p − α·λ·p beside the Adam step; false: Adam with λ·p added to g (default true). */
  decoupled?: boolean;
  /** Clip gradients to this global L2 norm; ≤ 0 or absent disables clipping. */
  maxNorm?: number;
}

/** The four flat buffers of the optimizer, each P floats (P % 4 == 0). */
export interface AdamBuffers {
  /** Parameters, updated in place. */
  params: GPUBuffer;
  /** Gradients, read only. */
  grads: GPUBuffer;
  /** First moments, zero at the start. */
  m: GPUBuffer;
  /** Second moments, zero at the start. */
  v: GPUBuffer;
}

/** Options for {@linkcode adamOptimizer}. */
export interface AdamOptions extends OpOptions {
  /** Number of floats P in each buffer; a multiple of 4 (see {@linkcode ParameterLayout.size}). */
  size: number;
  /** Weight decay applies to floats [0, decayEnd) (default P; a multiple of 4). */
  decayEnd?: number;
  /**
   * Lazy Adam for an embedding table at the start of the buffers: floats
   * [0, rows·dim) are a (rows, dim) table of which only the rows listed in
   * `ids` are read and updated each step (set their count with
   * {@linkcode AdamOptimizer.setRowCount}); the table's gradient rows of
   * other ids may hold stale values. The dense update covers the rest,
   * from the next 256-byte boundary.
   */
  sparseTable?: { rows: number; dim: number; ids: Binding };
}

/** What the optimizer's small stats buffer holds, as read by {@linkcode AdamOptimizer.readStats}. */
export interface AdamStats {
  /** Global gradient norm of the last step (before clipping; NaN or Infinity if it was not finite). */
  gradNorm: number;
  /** Clip factor applied at the last step (1 when not clipped, 0 when skipped). */
  clipScale: number;
  /** Steps skipped because the gradient norm was not finite, since the last reset. */
  skippedSteps: number;
  /** Steps applied since the last reset. */
  appliedSteps: number;
}

/**
 * A built optimizer step: record {@linkcode AdamOptimizer.dispatches} after
 * the backward pass; `resize({ rowCount })` sets the sparse table's rows.
 */
export interface AdamOptimizer extends Op<{ rowCount: number }> {
  /**
   * Stats buffer (16 bytes): `norm: f32, scale: f32, skipped: u32, applied: u32`.
   * Word 0 is the gradient norm, for logging.
   */
  stats: GPUBuffer;
  /**
   * Sets the hyper-parameters and the step number for the next submit
   * (one 64-byte upload, no readback). Call before every step.
   *
   * @param t the step number, 1-based, counted by the host (skipped steps still count)
   * @param hyper learning rate and the rest (may change every step)
   */
  setStep(t: number, hyper: AdamHyper): void;
  /**
   * Sets how many ids of the sparse table's `ids` the next step updates
   * (only with `sparseTable`; the same as `resize({ rowCount })`).
   *
   * @param count distinct row ids in the buffer for this step
   */
  setRowCount(count: number): void;
  /** Reads the stats buffer (one readback: do it every N steps, not every step). */
  readStats(): Promise<AdamStats>;
  /** Zeroes the skipped and applied counters. */
  resetStats(): void;
}

/** vec4s per invocation when the buffer is small enough (1–2 fastest on llvmpipe). */
const PER = 2;
/** At most this many workgroups (WebGPU's per-dimension limit is 65,535). */
const MAX_GROUPS = 65535;

/**
 * Builds one optimizer step over flat buffers: the global gradient norm
 * (two dispatches, {@linkcode gradNorm}) into `stats`, then the Adam/AdamW
 * update, which multiplies the gradients by min(1, maxNorm / (norm + 1e-6))
 * as it reads them and leaves params, m and v unchanged (counting a
 * skipped step) when the norm is NaN or infinite. Grads are not modified.
 *
 * @param gpu the device
 * @param buffers params, grads, m, v, each P floats
 * @param options P, the weight-decay prefix, the sparse table, label, allocator
 * @returns the optimizer: its dispatches, stats buffer, `setStep`, `resize`, `destroy`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { adamOptimizer } from "./adam.ts";
 * const gpu = await acquireGpu();
 * const buffers = {
 *   params: createBuffer(gpu, "params", new Float32Array([1, 1, 1, 1])),
 *   grads: createBuffer(gpu, "grads", new Float32Array([1, -1, 0, 2])),
 *   m: createBuffer(gpu, "m", 16),
 *   v: createBuffer(gpu, "v", 16),
 * };
 * const adam = await adamOptimizer(gpu, buffers, { size: 4 });
 * adam.setStep(1, { lr: 0.1 });
 * submitDispatches(gpu, adam.dispatches);
 * const p = await readFloat32(gpu, buffers.params);
 * if (Math.abs(p[0] - 0.9) > 1e-6 || Math.abs(p[1] - 1.1) > 1e-6 || p[2] !== 1) {
 *   throw new Error(p.join());
 * }
 * ```
 */
export async function adamOptimizer(
  gpu: Gpu,
  buffers: AdamBuffers,
  options: AdamOptions,
): Promise<AdamOptimizer> {
  const label = options.label ?? "adam";
  const { size } = options;
  const decayEnd = options.decayEnd ?? size;
  const denseStart = checkAdam(label, buffers, options);
  const table = options.sparseTable;
  const denseSize = size - denseStart;
  const plan = flatPlan(denseSize, { per: PER, maxGroups: MAX_GROUPS });
  const denseDecayEnd = Math.max(0, decayEnd - denseStart);
  const dense = (buffer: GPUBuffer) => ({ buffer, offset: denseStart * 4, size: denseSize * 4 });
  const sparse = (buffer: GPUBuffer) => ({ buffer, offset: 0, size: table!.rows * table!.dim * 4 });

  const mem = opAllocator(gpu, label, options);
  const stats = mem.buffer(`${label} stats`, 16);
  const hyperBlock = mem.uniform(`${label} hyper`, new Array(16).fill(0));
  const tail = [plan.len, denseDecayEnd / 4, plan.per];
  const setStep = (t: number, hyper: AdamHyper) => writeHyper(label, hyperBlock, t, hyper, tail);
  setStep(1, { lr: 0 });

  const norm = await gradNorm(gpu, {
    grads: dense(buffers.grads),
    out: stats,
    ...(table ? { table: sparse(buffers.grads), ids: table.ids } : {}),
  }, { n: denseSize, rowDim: table?.dim, label: `${label} grad norm`, allocator: mem });
  const { params, grads, m, v } = buffers;
  const update = await makeDispatch(
    gpu,
    { label: `${label} update`, code: adamWgsl },
    [hyperBlock.buffer, dense(params), dense(grads), dense(m), dense(v), stats],
    [plan.groups],
  );
  const dispatches = [...norm.dispatches, update];
  let setRowCount = (count: number) => norm.setRowCount(count);
  if (table) {
    const rowsUpdate = await sparseRows(gpu, mem, label, {
      hyper: hyperBlock.buffer,
      params: sparse(params),
      grads: sparse(grads),
      m: sparse(m),
      v: sparse(v),
      stats,
      ids: table.ids,
    }, { dim: table.dim, decayed: decayEnd >= table.rows * table.dim });
    dispatches.push(rowsUpdate.dispatch);
    setRowCount = (count: number) => {
      norm.setRowCount(count);
      rowsUpdate.setRowCount(count);
    };
  }
  return {
    label,
    dispatches,
    resize: (shape: { rowCount: number }) => setRowCount(shape.rowCount),
    setRowCount: (count: number) => setRowCount(count),
    stats,
    setStep,
    readStats: () => readAdamStats(gpu, stats),
    resetStats() {
      writeBuffer(gpu, stats, new Uint32Array(2), 8);
    },
    destroy: () => mem.destroy(),
  };
}

/** Checks sizes and the sparse table at the boundary; returns the first dense float. */
function checkAdam(label: string, buffers: AdamBuffers, options: AdamOptions): number {
  const { size } = options;
  const decayEnd = options.decayEnd ?? size;
  if (!Number.isInteger(size) || size < 4 || size % 4 !== 0) {
    throw new RangeError(
      `${label}: size must be a positive multiple of 4 (pad with ParameterLayout), got ${size}`,
    );
  }
  if (!Number.isInteger(decayEnd) || decayEnd < 0 || decayEnd > size || decayEnd % 4 !== 0) {
    throw new RangeError(
      `${label}: decayEnd must be a multiple of 4 in [0, ${size}], got ${decayEnd}`,
    );
  }
  for (const [name, buffer] of Object.entries(buffers)) {
    if (bindingBytes(buffer) < size * 4) {
      throw new RangeError(`${label}: ${name} holds ${buffer.size / 4} floats, expected ≥ ${size}`);
    }
  }
  const table = options.sparseTable;
  if (!table) return 0;
  // With a sparse table the dense update starts after it, at a bindable (256-byte) offset.
  const { rows, dim } = table;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(dim) || dim < 4 || dim % 4) {
    throw new RangeError(
      `${label}: sparseTable needs rows ≥ 1 and a row length that is a multiple of 4, ` +
        `got ${rows} × ${dim}`,
    );
  }
  const denseStart = Math.ceil((rows * dim) / 64) * 64;
  if (denseStart >= size) {
    throw new RangeError(`${label}: the sparse table fills the buffers; nothing is dense`);
  }
  if (decayEnd > 0 && decayEnd < rows * dim) {
    throw new RangeError(`${label}: weight decay must cover the whole sparse table or none of it`);
  }
  return denseStart;
}

/**
 * Validates `hyper` and writes the uniform block of `adam.wgsl`: ten floats
 * (bias corrections in float64 on the host: the kernel has no pow()) and
 * the three u32 of `tail` (len4, decayEnd / 4, per).
 */
function writeHyper(
  label: string,
  block: ParamBlock,
  t: number,
  hyper: AdamHyper,
  tail: number[],
): void {
  if (!Number.isInteger(t) || t < 1) {
    throw new RangeError(`${label}: step t must be ≥ 1, got ${t}`);
  }
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0 } = hyper;
  const decoupled = hyper.decoupled ?? true;
  const maxNorm = hyper.maxNorm ?? 0;
  const bad = (what: string, x: number) => {
    throw new RangeError(`${label}: ${what}, got ${x}`);
  };
  if (!(lr >= 0 && lr < Infinity)) bad("lr must be a finite number ≥ 0", lr);
  if (!(beta1 >= 0 && beta1 < 1)) bad("beta1 must be in [0, 1)", beta1);
  if (!(beta2 >= 0 && beta2 < 1)) bad("beta2 must be in [0, 1)", beta2);
  if (!(eps >= 0 && eps < Infinity)) bad("eps must be a finite number ≥ 0", eps);
  if (!(weightDecay >= 0 && weightDecay < Infinity)) {
    bad("weightDecay must be a finite number ≥ 0", weightDecay);
  }
  if (Number.isNaN(maxNorm)) bad("maxNorm must be a number (≤ 0 disables clipping)", maxNorm);
  const floats = [
    lr / (1 - beta1 ** t),
    beta1,
    beta2,
    eps,
    1 - beta1,
    1 - beta2,
    1 / Math.sqrt(1 - beta2 ** t),
    decoupled ? 1 - lr * weightDecay : 1,
    decoupled ? 0 : weightDecay,
    maxNorm,
  ];
  const words = new DataView(block.values.buffer);
  floats.forEach((x, i) => words.setFloat32(i * 4, x, true));
  tail.forEach((x, i) => words.setUint32((10 + i) * 4, x, true));
  // ParamBlock.set would store integral floats (lr = 1, β = 0) as integers:
  // the words are written above and setFloat uploads the whole block once.
  block.setFloat(0, floats[0]);
}

/** The lazy update of a sparse table's rows (adam.wgsl `sparse_rows`), with its row count. */
async function sparseRows(
  gpu: Gpu,
  mem: Allocator,
  label: string,
  b: Record<"hyper" | "params" | "grads" | "m" | "v" | "stats" | "ids", Binding>,
  table: { dim: number; decayed: boolean },
): Promise<{ dispatch: Dispatch; setRowCount(count: number): void }> {
  const dim4 = table.dim / 4;
  const decayed = table.decayed ? 1 : 0;
  const rowDims = mem.uniform(`${label} row dims`, [0, dim4, 0, 0]);
  const dispatch = await makeDispatch(
    gpu,
    { label: `${label} sparse rows`, code: adamWgsl, entryPoint: "sparse_rows" },
    [b.hyper, b.params, b.grads, b.m, b.v, b.stats, b.ids, rowDims.buffer],
    [0],
  );
  return {
    dispatch,
    setRowCount(count: number) {
      rowDims.set([count, dim4, decayed, 0]);
      dispatch.workgroups = linearGrid(count * dim4);
    },
  };
}

async function readAdamStats(gpu: Gpu, stats: GPUBuffer): Promise<AdamStats> {
  const bytes = await readBytes(gpu, stats, 16);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
  return {
    gradNorm: view.getFloat32(0, true),
    clipScale: view.getFloat32(4, true),
    skippedSteps: view.getUint32(8, true),
    appliedSteps: view.getUint32(12, true),
  };
}

/**
 * The Adam family on the GPU: Adam and AdamW with bias correction over one
 * flat parameter buffer, with global gradient-norm clipping and the skip
 * of non-finite steps done on the GPU (no readback). Kernels:
 * `shaders/adam.wgsl` and `shaders/grad_norm.wgsl`; reference: `adam_ref.ts`.
 *
 * All parameters of a model live in one buffer `params (P) f32`, with
 * `grads`, `m` and `v` of the same size beside it; each tensor is a slice
 * assigned by {@linkcode ParameterLayout}. One optimizer step is three
 * dispatches in the training step's pass: the two of the gradient norm and
 * the update.
 *
 * @module
 */

import { adam as adamWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import { createBuffer, readBytes, writeBuffer } from "../gpu/buffers.ts";
import { type Binding, type Dispatch, makeDispatch, ParamBlock } from "../gpu/kernel.ts";
import type { AdamHyper } from "./adam_ref.ts";
import { gradNormWithRows } from "./grad_norm.ts";
import { linearGrid } from "./fill.ts";

export type { AdamHyper } from "./adam_ref.ts";

/** One tensor's place in the flat parameter buffer. */
export interface ParameterSlice {
  /** Tensor name, e.g. "lstm.weight_ih_l0". */
  name: string;
  /** Shape, row-major. */
  shape: number[];
  /** First float of the tensor in the flat buffer. */
  offset: number;
  /** Number of floats (the product of the shape). */
  size: number;
  /** Whether weight decay applies to it. */
  weightDecay: boolean;
}

/** Options for {@linkcode ParameterLayout}. */
export interface ParameterLayoutOptions {
  /**
   * Byte alignment of every tensor's offset (default 256, WebGPU's default
   * `minStorageBufferOffsetAlignment`, so each slice can be bound on its
   * own). A multiple of 16, so slices can be read as vec4.
   */
  alignment?: number;
}

/**
 * Assigns each named parameter tensor an aligned slice of one flat f32
 * buffer, so that a model allocates `params`, `grads`, `m` and `v` once and
 * one optimizer dispatch updates everything. The total size is a multiple
 * of 4 floats (the optimizer reads vec4s); gaps between slices are
 * padding, which stays 0 as long as its gradient does.
 *
 * Tensors with weight decay must be added before tensors without (decay
 * applies to the prefix [0, `decayEnd`)).
 *
 * @example
 * ```ts
 * import { ParameterLayout } from "./adam.ts";
 * const layout = new ParameterLayout();
 * layout.add("out.weight", [9, 200]);
 * const bias = layout.add("out.bias", [9], { weightDecay: false });
 * if (bias.offset !== 1856 || layout.size !== 1868 || layout.decayEnd !== 1800) {
 *   throw new Error(JSON.stringify([bias.offset, layout.size, layout.decayEnd]));
 * }
 * ```
 */
export class ParameterLayout {
  readonly #slices: ParameterSlice[] = [];
  readonly #byName = new Map<string, ParameterSlice>();
  readonly #alignFloats: number;
  #end = 0;
  #decayEnd = 0;

  /** @param options alignment */
  constructor(options: ParameterLayoutOptions = {}) {
    const alignment = options.alignment ?? 256;
    if (!Number.isInteger(alignment) || alignment < 16 || alignment % 16 !== 0) {
      throw new RangeError(
        `ParameterLayout: alignment must be a positive multiple of 16 bytes, got ${alignment}`,
      );
    }
    this.#alignFloats = alignment / 4;
  }

  /**
   * Appends a tensor.
   *
   * @param name unique name
   * @param shape dimensions (non-negative integers; [] is a scalar)
   * @param options whether weight decay applies (default true)
   * @returns its slice
   */
  add(name: string, shape: number[], options: { weightDecay?: boolean } = {}): ParameterSlice {
    if (this.#byName.has(name)) throw new Error(`ParameterLayout: '${name}' was already added`);
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new RangeError(
        `ParameterLayout: '${name}' has an invalid shape [${shape.join(", ")}]`,
      );
    }
    const weightDecay = options.weightDecay ?? true;
    if (weightDecay && this.#slices.some((s) => !s.weightDecay)) {
      throw new Error(
        `ParameterLayout: '${name}' has weight decay but follows a tensor without; ` +
          "add the decayed tensors first",
      );
    }
    const align = this.#alignFloats;
    const offset = Math.ceil(this.#end / align) * align;
    const size = shape.reduce((a, b) => a * b, 1);
    const slice: ParameterSlice = { name, shape: [...shape], offset, size, weightDecay };
    this.#slices.push(slice);
    this.#byName.set(name, slice);
    this.#end = offset + size;
    if (weightDecay) this.#decayEnd = this.size;
    return slice;
  }

  /** Total floats P of each flat buffer: the end of the last tensor, rounded up to 4. */
  get size(): number {
    return Math.ceil(this.#end / 4) * 4;
  }

  /** Weight decay applies to floats [0, decayEnd); a multiple of 4. */
  get decayEnd(): number {
    return this.#decayEnd;
  }

  /** The slices, in order. */
  get slices(): readonly ParameterSlice[] {
    return this.#slices;
  }

  /**
   * The slice of a tensor.
   *
   * @param name the tensor's name
   * @returns its slice
   */
  get(name: string): ParameterSlice {
    const slice = this.#byName.get(name);
    if (!slice) throw new Error(`ParameterLayout: no tensor named '${name}'`);
    return slice;
  }

  /**
   * A binding of one tensor inside a flat buffer (params, grads, m or v),
   * for `makeDispatch`.
   *
   * @param buffer the flat buffer
   * @param name the tensor's name
   * @returns buffer, byte offset and byte size
   */
  binding(buffer: GPUBuffer, name: string): Binding {
    const slice = this.get(name);
    // A zero-sized binding is invalid: bind one aligned word instead.
    return { buffer, offset: slice.offset * 4, size: Math.max(slice.size, 4) * 4 };
  }

  /**
   * Copies named tensors into a new flat array (absent tensors and padding are 0).
   *
   * @param tensors values by name, each of its slice's size
   * @returns the flat array (P)
   */
  pack(tensors: Record<string, ArrayLike<number>>): Float32Array {
    const flat = new Float32Array(this.size);
    for (const [name, data] of Object.entries(tensors)) {
      const slice = this.get(name);
      if (data.length !== slice.size) {
        throw new RangeError(
          `ParameterLayout: '${name}' expects ${slice.size} values, got ${data.length}`,
        );
      }
      flat.set(data, slice.offset);
    }
    return flat;
  }

  /**
   * Views each tensor of a flat array (no copy).
   *
   * @param flat a flat array (P)
   * @returns views by name
   */
  unpack(flat: Float32Array): Record<string, Float32Array> {
    if (flat.length < this.size) {
      throw new RangeError(`ParameterLayout: expected ${this.size} floats, got ${flat.length}`);
    }
    const out: Record<string, Float32Array> = {};
    for (const s of this.#slices) out[s.name] = flat.subarray(s.offset, s.offset + s.size);
    return out;
  }
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
export interface AdamOptions {
  /** Number of floats P in each buffer; a multiple of 4 (see {@linkcode ParameterLayout.size}). */
  size: number;
  /** Weight decay applies to floats [0, decayEnd) (default P; a multiple of 4). */
  decayEnd?: number;
  /** Label for errors and profiles (default "adam"). */
  label?: string;
  /**
   * Lazy Adam for an embedding table at the start of the buffers: floats
   * [0, rows·dim) are a (rows, dim) table of which only the rows listed in
   * `ids` are read and updated each step (set their count with
   * {@linkcode AdamOptimizer.setRowCount}); the table's gradient rows of
   * other ids may hold stale values. The dense update covers the rest,
   * from the next 256-byte boundary.
   */
  sparseTable?: { rows: number; dim: number; ids: GPUBuffer };
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

/** A built optimizer step: record {@linkcode AdamOptimizer.dispatches} after the backward pass. */
export interface AdamOptimizer {
  /** The three dispatches of one step: gradient-norm partial sums, final sum, update. */
  dispatches: Dispatch[];
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
   * (only with `sparseTable`).
   *
   * @param count distinct row ids in the buffer for this step
   */
  setRowCount(count: number): void;
  /** Reads the stats buffer (one readback: do it every N steps, not every step). */
  readStats(): Promise<AdamStats>;
  /** Zeroes the skipped and applied counters. */
  resetStats(): void;
}

/** Invocations per workgroup in `adam.wgsl`. */
const WG = 64;
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
 * @param options P, the weight-decay prefix, label
 * @returns the optimizer: its dispatches, stats buffer, and `setStep`
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
    if (buffer.size < size * 4) {
      throw new RangeError(`${label}: ${name} holds ${buffer.size / 4} floats, expected ≥ ${size}`);
    }
  }
  // With a sparse table the dense update starts after it, at a bindable (256-byte) offset.
  const table = options.sparseTable;
  let denseStart = 0;
  if (table) {
    const { rows, dim } = table;
    if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(dim) || dim < 4 || dim % 4) {
      throw new RangeError(
        `${label}: sparseTable needs rows ≥ 1 and a row length that is a multiple of 4, ` +
          `got ${rows} × ${dim}`,
      );
    }
    denseStart = Math.ceil((rows * dim) / 64) * 64;
    if (denseStart >= size) {
      throw new RangeError(`${label}: the sparse table fills the buffers; nothing is dense`);
    }
    if (decayEnd > 0 && decayEnd < rows * dim) {
      throw new RangeError(
        `${label}: weight decay must cover the whole sparse table or none of it`,
      );
    }
  }
  const denseSize = size - denseStart;
  const len4 = denseSize / 4;
  let per = PER;
  if (Math.ceil(len4 / (WG * per)) > MAX_GROUPS) per = Math.ceil(len4 / (WG * MAX_GROUPS));
  const groups = Math.ceil(len4 / (WG * per));
  const denseDecayEnd = Math.max(0, decayEnd - denseStart);
  const dense = (buffer: GPUBuffer) => ({ buffer, offset: denseStart * 4, size: denseSize * 4 });
  const sparse = (buffer: GPUBuffer) => ({ buffer, offset: 0, size: table!.rows * table!.dim * 4 });

  const stats = createBuffer(gpu, `${label} stats`, 16);
  const hyperBlock = new ParamBlock(gpu, `${label} hyper`, new Array(16).fill(0));
  const words = new DataView(hyperBlock.values.buffer);
  const setStep = (t: number, hyper: AdamHyper) => {
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
    // Bias corrections in float64 on the host: the kernel has no pow().
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
    floats.forEach((x, i) => words.setFloat32(i * 4, x, true));
    [len4, denseDecayEnd / 4, per].forEach((x, i) => words.setUint32((10 + i) * 4, x, true));
    // ParamBlock.set would store integral floats (lr = 1, β = 0) as integers:
    // the words are written above and setFloat uploads the whole block once.
    hyperBlock.setFloat(0, floats[0]);
  };
  setStep(1, { lr: 0 });

  const norm = await gradNormWithRows(gpu, stats, dense(buffers.grads), denseSize, {
    label: `${label} grad norm`,
    rows: table && { table: sparse(buffers.grads), ids: table.ids, dim: table.dim },
  });
  const { params, grads, m, v } = buffers;
  const update = await makeDispatch(
    gpu,
    { label: `${label} update`, code: adamWgsl },
    [hyperBlock.buffer, dense(params), dense(grads), dense(m), dense(v), stats],
    [groups],
  );
  const dispatches = [...norm.dispatches, update];
  let setRowCount = (count: number) => norm.setRowCount(count);
  if (table) {
    const rowDims = new ParamBlock(gpu, `${label} row dims`, [0, table.dim / 4, 0, 0]);
    const decayed = decayEnd >= table.rows * table.dim ? 1 : 0;
    const rowsUpdate = await makeDispatch(
      gpu,
      { label: `${label} sparse rows`, code: adamWgsl, entryPoint: "sparse_rows" },
      [
        hyperBlock.buffer,
        sparse(params),
        sparse(grads),
        sparse(m),
        sparse(v),
        stats,
        table.ids,
        rowDims.buffer,
      ],
      [0],
    );
    dispatches.push(rowsUpdate);
    setRowCount = (count: number) => {
      norm.setRowCount(count);
      rowDims.set([count, table.dim / 4, decayed, 0]);
      rowsUpdate.workgroups = linearGrid(count * (table.dim / 4));
    };
  }
  return {
    dispatches,
    setRowCount,
    stats,
    setStep,
    async readStats() {
      const bytes = await readBytes(gpu, stats, 16);
      const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
      return {
        gradNorm: view.getFloat32(0, true),
        clipScale: view.getFloat32(4, true),
        skippedSteps: view.getUint32(8, true),
        appliedSteps: view.getUint32(12, true),
      };
    },
    resetStats() {
      writeBuffer(gpu, stats, new Uint32Array(2), 8);
    },
  };
}

/**
 * The character CNN family on the GPU (Ma & Hovy 2016): character
 * embedding, a width-3 convolution over each word's characters (PyTorch
 * Conv1d layout, padding 1) and a max over the word's positions, written
 * into a column block of the LSTM input matrix; and its backward. Kernel:
 * `shaders/char_cnn.wgsl` (plus the scatter of `shaders/embedding.wgsl`);
 * reference: `char_cnn_ref.ts`.
 *
 * @module
 */

import { charCnn as charCnnWgsl } from "../../shaders/mod.ts";
import type { Allocator } from "../gpu/allocator.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Binding, type Dispatch, makeDispatch } from "../gpu/kernel.ts";
import { groupIds, type IdGroups } from "./embedding.ts";
import { type CharCnnSize, linearGrid, type Op, opAllocator, type OpOptions } from "./common.ts";

/**
 * Shape of the character CNN over a (B, T) batch, within
 * {@linkcode CHAR_CNN_LIMITS} (Lc ≤ 64, Dc ≤ 128, F ≤ 256).
 */
export interface CharCnnDims extends CharCnnSize {
  /** Columns of the output matrix (default F). */
  rowStride?: number;
  /** First output column of the feature block (default 0). */
  columnOffset?: number;
}

/** A batch shape, for `resize`. */
export interface CharCnnShape {
  /** B. */
  batch: number;
  /** T. */
  time: number;
  /** Lc. */
  chars: number;
}

/**
 * Limits of the kernels' workgroup and private arrays; `projectedVocab` is
 * the largest C the fast forward (the vocabulary-projected one) takes.
 */
export const CHAR_CNN_LIMITS = {
  chars: 64,
  charDim: 128,
  filters: 256,
  projectedVocab: 1024,
} as const;

/**
 * The forward kernels: `"projected"` builds P = table · weight per tap in
 * scratch memory and sums three rows of it per position (C ≤ 1024, fast);
 * `"direct"` convolves the embedded characters (any C).
 */
export type CharCnnVariant = "projected" | "direct";

/** Distinct ids one weight-gradient slice loops over (llvmpipe's loop trap). */
const SLICE = 4096;

function validate(label: string, dims: CharCnnDims): { rowStride: number; offset: number } {
  const rowStride = dims.rowStride ?? dims.filters;
  const offset = dims.columnOffset ?? 0;
  const checks: [string, number, number, number][] = [
    ["batch", dims.batch, 0, Infinity],
    ["time", dims.time, 0, Infinity],
    ["chars", dims.chars, 0, CHAR_CNN_LIMITS.chars],
    ["charDim", dims.charDim, 1, CHAR_CNN_LIMITS.charDim],
    ["filters", dims.filters, 1, CHAR_CNN_LIMITS.filters],
    ["charVocab", dims.charVocab, 1, Infinity],
    ["columnOffset", offset, 0, rowStride - dims.filters],
  ];
  for (const [name, v, lo, hi] of checks) {
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new RangeError(
        `${label}: expected ${name} to be an integer in [${lo}, ${hi}], found ${v}`,
      );
    }
  }
  return { rowStride, offset };
}

/** The uniform words of `shaders/char_cnn.wgsl`. */
function dimsWords(
  dims: CharCnnDims,
  shape: CharCnnShape,
  layout: { rowStride: number; offset: number },
  extra: { unique?: number; perInvocation?: number } = {},
) {
  const rows = shape.batch * shape.time;
  const unique = extra.unique ?? 0;
  // Bias sums over ≤ 64 token blocks, so the partials have a fixed size.
  const blockRows = Math.max(256, Math.ceil(rows / 64));
  const blocks = Math.ceil(rows / blockRows);
  const slices = Math.max(1, Math.ceil(unique / SLICE));
  return {
    rows,
    blocks,
    slices,
    words: [
      rows,
      Math.max(1, shape.time),
      shape.chars,
      dims.charDim,
      dims.filters,
      dims.charVocab,
      layout.rowStride,
      layout.offset,
      Math.ceil(dims.filters / 4),
      unique,
      blockRows,
      blocks,
      SLICE,
      slices,
      extra.perInvocation ?? 1,
      0,
    ],
  };
}

/** The buffers {@linkcode charCnnForward} reads. */
export interface CharCnnInputs {
  /** (B·T, Lc) i32 character ids, 0 = pad. */
  charIds: Binding;
  /** (B·T) i32 characters per token (clamped to Lc; 0 at padding). */
  charLengths: Binding;
  /** (B) i32 sentence lengths. */
  lengths: Binding;
  /** (C, Dc) f32 character table. */
  table: Binding;
  /** (F, Dc, 3) f32 Conv1d weight. */
  weight: Binding;
  /** (F) f32 Conv1d bias. */
  bias: Binding;
}

/** The forward's outputs. */
export interface CharCnnOutputs {
  /** (B·T, rowStride) f32, its F columns written with `=`. */
  out: Binding;
  /** (B·T, F) i32, written with `=`. */
  argmax: Binding;
}

/** The forward, resizable for a new batch shape (one dispatch, or two: see charCnnForward). */
export type CharCnnForwardOp = Op<CharCnnShape>;

/**
 * Builds the forward: `out[r, off + f] = max_j (bias[f] + Σ_k Σ_d W[f, d, k] ·
 * e_{j+k−1}[d])` over the word's L = min(charLengths[r], Lc) positions, with
 * zero vectors at −1 and L; argmax[r, f] = the first maximising j. No
 * nonlinearity (Ma & Hovy). Padding rows and empty words: 0 and −1. The
 * argmax is kept for the backward. Weight and bias are bound as one range
 * when the bias follows the weight in one buffer (the graph's flat
 * parameters); otherwise a `pack_conv` dispatch first copies them into a
 * buffer of the op's (at most 8 storage buffers per stage, WebGPU's
 * default). The forward is one dispatch: by default, when C ≤
 * 1,024, the `"projected"` kernel (each workgroup first computes P[c, k] =
 * table[c] · W[:, :, k] for its 4 filters into a scratch buffer allocated
 * here, then each position costs three row lookups); otherwise `"direct"`.
 * `resize` accepts up to 512 × 256 × max(2, ceil(B·T / 16,384)) tokens of
 * the build shape (B·T).
 *
 * @param gpu the device
 * @param buffers character ids and lengths, sentence lengths, table, weight, bias; out, argmax
 * @param options shape, row stride and column offset; variant (default: by vocabulary
 *   size); label, allocator
 * @returns the op (the forward, after the pack if one is needed); `resize({ batch, time, chars })`
 *   for a new batch
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { charCnnForward } from "./char_cnn.ts";
 * const gpu = await acquireGpu();
 * const i32 = (a: number[]) => new Int32Array(a);
 * const f32 = (a: number[]) => new Float32Array(a);
 * const out = createBuffer(gpu, "x", 4);
 * const argmax = createBuffer(gpu, "argmax", 4);
 * const cnn = await charCnnForward(gpu, {
 *   out,
 *   argmax,
 *   charIds: createBuffer(gpu, "ids", i32([1, 2, 1])),
 *   charLengths: createBuffer(gpu, "clen", i32([3])),
 *   lengths: createBuffer(gpu, "len", i32([1])),
 *   table: createBuffer(gpu, "table", f32([0, 1, 3])), // (C = 3, Dc = 1)
 *   weight: createBuffer(gpu, "w", f32([0, 1, 0])), // the middle tap: conv[j] = e_j
 *   bias: createBuffer(gpu, "b", f32([0.5])),
 * }, { batch: 1, time: 1, chars: 3, charDim: 1, filters: 1, charVocab: 3 });
 * submitDispatches(gpu, cnn.dispatches);
 * if ((await readFloat32(gpu, out))[0] !== 3.5) throw new Error("wrong max");
 * ```
 */
export async function charCnnForward(
  gpu: Gpu,
  buffers: CharCnnInputs & CharCnnOutputs,
  options: CharCnnDims & OpOptions & { variant?: CharCnnVariant },
): Promise<CharCnnForwardOp> {
  const label = options.label ?? "char cnn";
  const dims: CharCnnDims = options;
  const inputs = buffers;
  const layout = validate(label, dims);
  const variant = options.variant ??
    (dims.charVocab <= CHAR_CNN_LIMITS.projectedVocab ? "projected" : "direct");
  if (variant === "projected" && dims.charVocab > CHAR_CNN_LIMITS.projectedVocab) {
    throw new RangeError(
      `${label}: expected charVocab ≤ ${CHAR_CNN_LIMITS.projectedVocab} for the projected ` +
        `variant, found ${dims.charVocab}`,
    );
  }
  const quads = Math.ceil(dims.filters / 4);
  // Token blocks per filter quad: each block's workgroup projects the vocabulary once
  // for 256 × perInvocation tokens, so few blocks (≥ 2 for two CPU threads).
  const blockCap = tokenBlocks(dims.batch * dims.time);
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} dims`, new Array(16).fill(0));
  const conv = await convParamsBinding(gpu, mem, label, inputs, dims, params.buffer);
  const bindings = [
    params.buffer,
    inputs.charIds,
    inputs.charLengths,
    inputs.lengths,
    inputs.table,
    conv.binding,
    buffers.out,
    buffers.argmax,
  ];
  if (variant === "projected") {
    bindings.push(mem.buffer(`${label} P`, blockCap * quads * dims.charVocab * 3 * 16));
  }
  const dispatch = await makeDispatch(
    gpu,
    {
      label,
      code: charCnnWgsl,
      entryPoint: variant === "projected" ? "forward" : "forward_direct",
    },
    bindings,
    [0],
  );
  const resize = (shape: CharCnnShape) => {
    validateShape(label, dims, shape);
    const rows = shape.batch * shape.time;
    const blocks = Math.min(blockCap, tokenBlocks(rows));
    const perInvocation = Math.max(1, Math.ceil(rows / (256 * blocks)));
    if (variant === "projected" && perInvocation > 512) {
      throw new RangeError(
        `${label}: expected B·T ≤ ${
          256 * blocks * 512
        } (the build shape's capacity), found ${rows}`,
      );
    }
    const { words } = dimsWords(dims, shape, layout, { perInvocation });
    words[11] = blocks;
    words[15] = conv.biasOffset;
    params.set(words);
    dispatch.workgroups = variant === "projected"
      ? [rows === 0 ? 0 : blocks, quads, 1]
      : [Math.ceil(rows / 64), Math.ceil(dims.filters / 8), 1];
  };
  resize(dims);
  const dispatches = conv.pack ? [conv.pack, dispatch] : [dispatch];
  return { label, dispatches, resize, destroy: () => mem.destroy() };
}

/** A binding's buffer and byte range. */
function rangeOf(b: Binding): { buffer: GPUBuffer; offset: number; size: number } {
  if (b instanceof GPUBuffer) return { buffer: b, offset: 0, size: b.size };
  const offset = b.offset ?? 0;
  return { buffer: b.buffer, offset, size: b.size ?? b.buffer.size - offset };
}

/**
 * The forward's one binding for the Conv1d weight and bias (two would pass
 * WebGPU's default 8 storage buffers per stage): when the bias follows the
 * weight in the same buffer (the graph's flat parameters), the range that
 * covers both; otherwise a packed buffer of the op's and a `pack_conv`
 * dispatch that runs before the forward.
 */
async function convParamsBinding(
  gpu: Gpu,
  mem: Allocator,
  label: string,
  inputs: { weight: Binding; bias: Binding },
  dims: CharCnnDims,
  uniform: GPUBuffer,
): Promise<{ binding: Binding; biasOffset: number; pack: Dispatch | null }> {
  const weightCount = dims.filters * dims.charDim * 3;
  const [w, b] = [inputs.weight, inputs.bias].map(rangeOf);
  const gap = b.offset - w.offset;
  if (w.buffer === b.buffer && gap >= weightCount * 4 && gap % 4 === 0) {
    const size = gap + dims.filters * 4;
    return {
      binding: { buffer: w.buffer, offset: w.offset, size },
      biasOffset: gap / 4,
      pack: null,
    };
  }
  const biasOffset = weightCount;
  const packed = mem.buffer(`${label} packed weight and bias`, (biasOffset + dims.filters) * 4);
  const pack = await makeDispatch(
    gpu,
    { label: `${label} pack weight and bias`, code: charCnnWgsl, entryPoint: "pack_conv" },
    [uniform, inputs.weight, inputs.bias, packed],
    linearGrid(biasOffset + dims.filters),
  );
  return { binding: packed, biasOffset, pack };
}

/** Token blocks of the projected forward for B·T rows: 2, or more past 16k rows. */
function tokenBlocks(rows: number): number {
  return Math.max(2, Math.ceil(rows / (256 * 64)));
}

function validateShape(label: string, dims: CharCnnDims, shape: CharCnnShape): CharCnnShape {
  validate(label, { ...dims, ...shape });
  return shape;
}

/**
 * Groups the real character positions of a batch by character id, for the
 * table gradient: position `r·Lc + i` of token row r = b·T + t counts when
 * t < lengths[b] and i < min(charLengths[r], Lc). Runs on the CPU when the
 * batch is built (like the word grouping); see {@linkcode groupIds}.
 *
 * @param charIds (B·T, Lc) character ids
 * @param charLengths (B·T) characters per token
 * @param lengths (B) sentence lengths
 * @param shape T and Lc
 * @returns the CSR grouping; positions index rows of the (B·T·Lc, Dc) character gradient
 *
 * @example
 * ```ts
 * import { groupCharIds } from "./char_cnn.ts";
 * // Two tokens of Lc = 2: "ab" and "a"; the second token's pad (id 0) is left out.
 * const g = groupCharIds(new Int32Array([1, 2, 1, 0]), new Int32Array([2, 1]), new Int32Array([2]), {
 *   time: 2, chars: 2,
 * });
 * if (g.uniqueIds.join() !== "1,2" || g.positions.join() !== "0,2,1") throw new Error("wrong");
 * ```
 */
export function groupCharIds(
  charIds: ArrayLike<number>,
  charLengths: ArrayLike<number>,
  lengths: ArrayLike<number>,
  shape: { time: number; chars: number },
): IdGroups {
  const { time, chars } = shape;
  return groupIds(charIds, (p) => {
    const r = Math.floor(p / chars);
    return r % time < lengths[Math.floor(r / time)] && p % chars < charLengths[r];
  });
}

/** Where {@linkcode charCnnBackward} accumulates (`+=`; zero them each step). */
export interface CharCnnGrads {
  /** (C, Dc) f32. */
  dTable: Binding;
  /** (F, Dc, 3) f32. */
  dWeight: Binding;
  /** (F) f32. */
  dBias: Binding;
}

/** What {@linkcode charCnnBackward} reads. */
export interface CharCnnBackwardInputs extends CharCnnInputs {
  /** (B·T, rowStride) f32 upstream gradient, read at the feature block's columns. */
  dOut: Binding;
  /** (B·T, F) i32, from {@linkcode charCnnForward}. */
  argmax: Binding;
  /** (U) i32 distinct character ids of the batch ({@linkcode groupCharIds}). */
  uniqueIds: Binding;
  /** (U + 1) i32 group boundaries. */
  offsets: Binding;
  /** (N) i32 character positions r·Lc + i. */
  positions: Binding;
}

/** The backward's four dispatches, resizable as one for a batch shape and group count U. */
export type CharCnnBackwardOp = Op<CharCnnShape & { uniqueCount: number }>;

/**
 * Builds the backward, four dispatches in order:
 * 1. `grad_project`: G[c, k, f] = Σ over the positions of distinct valid id
 *    c (the CSR grouping) of dOut[r, f] where the filter's winning window
 *    uses that position as tap k; and the bias sums per token block;
 * 2. `grad_weight`: dWeight partials Σ_c G[c, k, f] · table[c, d] per slice
 *    of ≤ 4,096 distinct ids, and the weight transposed for step 4;
 * 3. `grad_reduce`: dWeight += and dBias += the slices' and blocks' sums;
 * 4. `grad_table`: dTable[c, d] += Σ_k Σ_f G[c, k, f] · W[f, d, k].
 * All deterministic, no atomics. Scratch (G: C·3·F floats, partials) is
 * allocated here; `capacity` (default: the build shape) bounds B·T·Lc and,
 * with `uniqueCount`, the distinct ids a resize may bring.
 *
 * @param gpu the device
 * @param buffers the forward's inputs, its argmax, dOut and the character grouping; the
 *   gradients dTable, dWeight, dBias, accumulated with `+=`
 * @param options shape (as the forward) and U, the grouping's distinct ids; capacity
 *   (largest B·T and Lc to resize to); label, allocator
 * @returns the op; `resize({ batch, time, chars, uniqueCount })` for a new batch
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { charCnnBackward, charCnnForward, groupCharIds } from "./char_cnn.ts";
 * const gpu = await acquireGpu();
 * const ids = new Int32Array([1, 2, 1]);
 * const clen = new Int32Array([3]);
 * const len = new Int32Array([1]);
 * const g = groupCharIds(ids, clen, len, { time: 1, chars: 3 });
 * const b = (name: string, data: Int32Array | Float32Array | number) => createBuffer(gpu, name, data);
 * const inputs = {
 *   charIds: b("ids", ids), charLengths: b("clen", clen), lengths: b("len", len),
 *   table: b("table", new Float32Array([0, 1, 3])), weight: b("w", new Float32Array([0, 1, 0])),
 *   bias: b("b", new Float32Array([0])), dOut: b("dout", new Float32Array([2])),
 *   argmax: b("argmax", 4), uniqueIds: b("u", g.uniqueIds), offsets: b("o", g.offsets),
 *   positions: b("p", g.positions),
 * };
 * const dims = { batch: 1, time: 1, chars: 3, charDim: 1, filters: 1, charVocab: 3 };
 * const grads = { dTable: b("dt", 12), dWeight: b("dw", 12), dBias: b("db", 4) };
 * const forward = await charCnnForward(gpu, { ...inputs, out: b("x", 4) }, dims);
 * const backward = await charCnnBackward(gpu, { ...inputs, ...grads }, {
 *   ...dims,
 *   uniqueCount: g.uniqueIds.length,
 * });
 * submitDispatches(gpu, [...forward.dispatches, ...backward.dispatches]);
 * if ((await readFloat32(gpu, grads.dWeight)).join() !== "2,6,2") throw new Error("wrong dW");
 * ```
 */
export async function charCnnBackward(
  gpu: Gpu,
  buffers: CharCnnBackwardInputs & CharCnnGrads,
  options: CharCnnDims & OpOptions & {
    uniqueCount: number;
    capacity?: { rows: number; chars: number };
  },
): Promise<CharCnnBackwardOp> {
  const label = options.label ?? "char cnn backward";
  const dims = options;
  const inputs = buffers;
  const grads = buffers;
  const layout = validate(label, dims);
  const capacity = options.capacity ?? { rows: dims.batch * dims.time, chars: dims.chars };
  const maxPositions = capacity.rows * capacity.chars;
  // Distinct ids never exceed the positions; graphs pass a generous bound at build.
  const maxSlices = Math.max(1, Math.ceil(Math.min(dims.uniqueCount, maxPositions) / SLICE));
  const quads = Math.ceil(dims.filters / 4);
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} dims`, new Array(16).fill(0));
  const code = charCnnWgsl;
  const vec4s = (n: number) => Math.max(1, n) * 16;
  const gproj = mem.buffer(`${label} G`, vec4s(dims.charVocab * 3 * quads));
  const biasPart = mem.buffer(`${label} dbias partial`, vec4s(64 * quads));
  const wpart = mem.buffer(`${label} dW partial`, vec4s(maxSlices * dims.charDim * 3 * quads));
  const wt = mem.buffer(`${label} W transposed`, vec4s(dims.charDim * 3 * quads));
  const project = await makeDispatch(
    gpu,
    { label: `${label} project`, code, entryPoint: "grad_project" },
    [
      params.buffer,
      inputs.uniqueIds,
      inputs.offsets,
      inputs.positions,
      inputs.argmax,
      inputs.dOut,
      gproj,
      biasPart,
    ],
    [0],
  );
  const weight = await makeDispatch(
    gpu,
    { label: `${label} weight partial`, code, entryPoint: "grad_weight" },
    [params.buffer, inputs.uniqueIds, inputs.table, gproj, inputs.weight, wpart, wt],
    [0],
  );
  const reduce = await makeDispatch(
    gpu,
    { label: `${label} weight reduce`, code, entryPoint: "grad_reduce" },
    [params.buffer, wpart, biasPart, grads.dWeight, grads.dBias],
    [0],
  );
  const table = await makeDispatch(
    gpu,
    { label: `${label} table`, code, entryPoint: "grad_table" },
    [params.buffer, inputs.uniqueIds, gproj, wt, grads.dTable],
    [0],
  );
  const resize = (shape: CharCnnShape & { uniqueCount: number }) => {
    validateShape(label, dims, shape);
    const unique = shape.uniqueCount;
    const { rows, blocks, slices, words } = dimsWords(dims, shape, layout, { unique });
    if (rows * shape.chars > maxPositions) {
      throw new RangeError(
        `${label}: expected B·T·Lc ≤ ${maxPositions} (the capacity), found ${rows * shape.chars}`,
      );
    }
    if (!Number.isInteger(unique) || unique < 0 || slices > maxSlices) {
      throw new RangeError(
        `${label}: expected uniqueCount to be an integer in [0, ${
          maxSlices * SLICE
        }] (the capacity), found ${unique}`,
      );
    }
    params.set(words);
    const { charDim: dc, filters: nf } = dims;
    project.workgroups = linearGrid((unique + blocks) * quads);
    weight.workgroups = linearGrid((slices + 3) * dc * quads);
    reduce.workgroups = linearGrid(nf * (dc * 3 + 1));
    table.workgroups = linearGrid(unique * dc);
  };
  resize(dims);
  return {
    label,
    dispatches: [project, weight, reduce, table],
    resize,
    destroy: () => mem.destroy(),
  };
}

/**
 * The embedding family on the GPU: lookup into a column block of the LSTM
 * input matrix, and the table gradient as a segmented sum over a CSR
 * grouping of the batch's rows by id (built on the CPU by
 * {@linkcode groupIds}; no float atomics, deterministic). Kernel:
 * `shaders/embedding.wgsl`; reference: `embedding_ref.ts`.
 *
 * The gradient is a dense (V, D) buffer accumulated with `+=`: the caller
 * zeroes it every step (`fillBuffer` in `fill.ts`), and the optimizer
 * updates the whole table (dense Adam), so rows absent from the batch get
 * a zero gradient, not a skipped update.
 *
 * @module
 */

import { embedding as embeddingWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Binding, makeDispatch } from "../gpu/kernel.ts";
import { linearGrid, type Op, opAllocator, type OpOptions, type SequenceShape } from "./common.ts";

/** Shape of an embedding lookup writing a column block of a (B·T, rowStride) matrix. */
export interface EmbeddingDims {
  /** B, sentences. */
  batch: number;
  /** T, padded sentence length; row b·T + t is token t of sentence b. */
  time: number;
  /** D, columns of the table. */
  dim: number;
  /** V, rows of the table (ids outside [0, V) give zeros). */
  vocab: number;
  /** Columns of the output matrix (default D). */
  rowStride?: number;
  /** First output column of this block (default 0). */
  columnOffset?: number;
}

/** An embedding lookup whose batch shape can change between submits (one dispatch). */
export type EmbeddingForwardOp = Op<SequenceShape>;

/** Buffers of {@linkcode embeddingForward}. */
export interface EmbeddingBuffers {
  /** (V, D) f32 table. */
  table: Binding;
  /** (B·T) i32 ids. */
  ids: Binding;
  /** (B) i32 sentence lengths. */
  lengths: Binding;
  /** Output (B·T, rowStride) f32; its block of D columns is written with `=`. */
  out: Binding;
}

/**
 * CSR grouping of rows by id: group u holds the rows
 * `positions[offsets[u] .. offsets[u + 1])`, all with id `uniqueIds[u]`.
 * The same shape as the batcher's `WordGroups` (`src/data/batch.ts`).
 */
export interface IdGroups {
  /** (U) distinct ids, ascending. */
  uniqueIds: Int32Array;
  /** (U + 1) group boundaries into `positions`. */
  offsets: Int32Array;
  /** (N) rows, grouped by id, ascending within a group. */
  positions: Int32Array;
}

/** Largest group the backward kernel sums in one loop (llvmpipe stops loops at 65,535). */
export const MAX_GROUP_SIZE = 65000;

function checkDim(label: string, name: string, value: number, min = 0): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${label}: expected ${name} to be an integer ≥ ${min}, found ${value}`);
  }
}

/**
 * Groups the rows `r` with `keep(r)` by `ids[r]` (CSR, ascending ids, rows
 * ascending within a group): the grouping {@linkcode embeddingBackward}
 * needs. Runs on the CPU when the batch is built. Throws when a group would
 * exceed {@linkcode MAX_GROUP_SIZE} rows.
 *
 * @param ids (rows) ids
 * @param keep which rows count (default: all); e.g. skip padding
 * @returns the grouping
 *
 * @example
 * ```ts
 * import { groupIds } from "./embedding.ts";
 * const g = groupIds(new Int32Array([5, 2, 5, 0]), (r) => r < 3);
 * if (g.uniqueIds.join() !== "2,5" || g.offsets.join() !== "0,1,3" || g.positions.join() !== "1,0,2") {
 *   throw new Error("wrong grouping");
 * }
 * ```
 */
export function groupIds(ids: ArrayLike<number>, keep?: (row: number) => boolean): IdGroups {
  const rows: number[] = [];
  for (let r = 0; r < ids.length; r++) if (!keep || keep(r)) rows.push(r);
  const positions = Int32Array.from(rows).sort();
  positions.sort((a, b) => ids[a] - ids[b] || a - b);
  const unique: number[] = [];
  const offsets: number[] = [0];
  for (let i = 0; i < positions.length; i++) {
    const id = ids[positions[i]];
    if (i === 0 || id !== ids[positions[i - 1]]) {
      if (i > 0) offsets.push(i);
      unique.push(id);
    }
  }
  if (positions.length > 0) offsets.push(positions.length);
  for (let u = 0; u < unique.length; u++) {
    if (offsets[u + 1] - offsets[u] > MAX_GROUP_SIZE) {
      throw new RangeError(
        `Cannot group ids: id ${unique[u]} occurs ${offsets[u + 1] - offsets[u]} times, ` +
          `expected at most ${MAX_GROUP_SIZE} per batch (use smaller batches)`,
      );
    }
  }
  return {
    uniqueIds: Int32Array.from(unique),
    offsets: Int32Array.from(offsets),
    positions,
  };
}

/**
 * Groups the token rows `b·T + t` of a batch by id, leaving out padding
 * (t ≥ lengths[b]): {@linkcode groupIds} for (B, T) id arrays such as the
 * casing ids.
 *
 * @param ids (B·T) ids
 * @param lengths (B) sentence lengths
 * @param time T
 * @returns the grouping
 *
 * @example
 * ```ts
 * import { groupTokenIds } from "./embedding.ts";
 * const g = groupTokenIds(new Int32Array([3, 3, 3, 0]), new Int32Array([2, 1]), 2);
 * if (g.positions.join() !== "0,1,2") throw new Error("padding was grouped");
 * ```
 */
export function groupTokenIds(
  ids: ArrayLike<number>,
  lengths: ArrayLike<number>,
  time: number,
): IdGroups {
  return groupIds(ids, (r) => r % time < lengths[Math.floor(r / time)]);
}

/**
 * Builds the lookup `out[b·T + t, off .. off + D) = table[ids[b·T + t]]`,
 * zeros for padding rows (t ≥ lengths[b]) and ids outside [0, V). Other
 * columns of `out` are left alone, so the word, casing and character blocks
 * share one input matrix. One dispatch.
 *
 * @param gpu the device
 * @param buffers table, ids, lengths and the output matrix
 * @param options shape, row stride and column offset; label, allocator
 * @returns the op (one dispatch); `resize({ batch, time })` for a new batch shape
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { embeddingForward } from "./embedding.ts";
 * const gpu = await acquireGpu();
 * const table = createBuffer(gpu, "table", new Float32Array([0, 0, 1, 2, 3, 4])); // (3, 2)
 * const ids = createBuffer(gpu, "ids", new Int32Array([2, 1]));
 * const lengths = createBuffer(gpu, "lengths", new Int32Array([2]));
 * const out = createBuffer(gpu, "x", new Float32Array(6).fill(9)); // (2, 3), block at column 1
 * const lookup = await embeddingForward(gpu, { table, ids, lengths, out }, {
 *   batch: 1, time: 2, dim: 2, vocab: 3, rowStride: 3, columnOffset: 1,
 * });
 * submitDispatches(gpu, lookup.dispatches);
 * if ((await readFloat32(gpu, out)).join() !== "9,3,4,9,1,2") throw new Error("wrong lookup");
 * ```
 */
export async function embeddingForward(
  gpu: Gpu,
  buffers: EmbeddingBuffers,
  options: EmbeddingDims & OpOptions,
): Promise<EmbeddingForwardOp> {
  const dims = options;
  const label = options.label ?? "embedding";
  const rowStride = dims.rowStride ?? dims.dim;
  const offset = dims.columnOffset ?? 0;
  checkDim(label, "dim", dims.dim, 1);
  checkDim(label, "vocab", dims.vocab, 1);
  checkDim(label, "columnOffset", offset);
  if (offset + dims.dim > rowStride) {
    throw new RangeError(
      `${label}: expected columnOffset + dim ≤ rowStride, found ${offset} + ${dims.dim} > ${rowStride}`,
    );
  }
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} dims`, [0, 0, 0, 0, 0, 0, 0, 0]);
  const dispatch = await makeDispatch(
    gpu,
    { label, code: embeddingWgsl, entryPoint: "forward" },
    [params.buffer, buffers.ids, buffers.lengths, buffers.table, buffers.out],
    [0],
  );
  const resize = (next: SequenceShape) => {
    checkDim(label, "batch", next.batch);
    checkDim(label, "time", next.time);
    const rows = next.batch * next.time;
    params.set([rows, Math.max(1, next.time), dims.dim, rowStride, offset, dims.vocab, 0, 0]);
    dispatch.workgroups = linearGrid(rows * Math.ceil(dims.dim / 4));
  };
  resize(dims);
  return { label, dispatches: [dispatch], resize, destroy: () => mem.destroy() };
}

/** Shape of {@linkcode embeddingBackward}. */
export interface EmbeddingGradDims {
  /** U, distinct ids in this batch (groups). */
  uniqueCount: number;
  /** D, columns of the table. */
  dim: number;
  /** V, rows of the table (groups with ids outside [0, V) are ignored). */
  vocab: number;
  /** Columns of the upstream gradient matrix (default D). */
  rowStride?: number;
  /** First column of this block in the upstream gradient (default 0). */
  columnOffset?: number;
}

/** A table gradient whose group count U can change between submits (one dispatch). */
export type EmbeddingBackwardOp = Op<{ uniqueCount: number }>;

/** Buffers of {@linkcode embeddingBackward}: the grouping's three i32 buffers, dOut and dTable. */
export interface EmbeddingGradBuffers {
  /** (rows, rowStride) f32 upstream gradient. */
  dOut: Binding;
  /** (U) i32 distinct ids, from {@linkcode groupIds}. */
  uniqueIds: Binding;
  /** (U + 1) i32 group boundaries. */
  offsets: Binding;
  /** (N) i32 rows, grouped by id. */
  positions: Binding;
  /** (V, D) f32, accumulated with `+=` (or the batch's rows overwritten). */
  dTable: Binding;
}

/**
 * Builds the table gradient `dTable[uniqueIds[u]] += Σ_{p in group u}
 * dOut[p, off .. off + D)`: one invocation per (distinct id, 4 columns),
 * summing its group in the stored order (deterministic, no atomics). One
 * dispatch. dTable is dense and accumulated: zero it first each step; or,
 * with `overwrite`, the batch's rows are written with `=` and the other rows
 * keep stale values (for an optimizer that updates the batch's rows only).
 *
 * @param gpu the device
 * @param buffers dOut, the grouping (uniqueIds, offsets, positions) and dTable
 * @param options group count, shape, row stride and column offset; `overwrite` writes
 *   the batch's rows with `=`; label, allocator
 * @returns the op (one dispatch); `resize({ uniqueCount })` for the next batch
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { embeddingBackward, groupIds } from "./embedding.ts";
 * const gpu = await acquireGpu();
 * const g = groupIds(new Int32Array([1, 0, 1]));
 * const dOut = createBuffer(gpu, "dx", new Float32Array([1, 2, 3])); // (3 rows, D = 1)
 * const dTable = createBuffer(gpu, "dtable", 8); // (V = 2, D = 1), zeroed
 * const back = await embeddingBackward(gpu, {
 *   dOut,
 *   uniqueIds: createBuffer(gpu, "u", g.uniqueIds),
 *   offsets: createBuffer(gpu, "o", g.offsets),
 *   positions: createBuffer(gpu, "p", g.positions),
 *   dTable,
 * }, { uniqueCount: g.uniqueIds.length, dim: 1, vocab: 2 });
 * submitDispatches(gpu, back.dispatches);
 * if ((await readFloat32(gpu, dTable)).join() !== "2,4") throw new Error("wrong gradient");
 * ```
 */
export async function embeddingBackward(
  gpu: Gpu,
  buffers: EmbeddingGradBuffers,
  options: EmbeddingGradDims & OpOptions & { overwrite?: boolean },
): Promise<EmbeddingBackwardOp> {
  const dims = options;
  const label = options.label ?? "embedding backward";
  const overwrite = options.overwrite ? 1 : 0;
  const rowStride = dims.rowStride ?? dims.dim;
  const offset = dims.columnOffset ?? 0;
  checkDim(label, "dim", dims.dim, 1);
  checkDim(label, "vocab", dims.vocab, 1);
  if (offset + dims.dim > rowStride || offset < 0) {
    throw new RangeError(
      `${label}: expected 0 ≤ columnOffset and columnOffset + dim ≤ rowStride, found ${offset} + ${dims.dim} > ${rowStride}`,
    );
  }
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} dims`, [0, 0, 0, 0, 0, 0, 0, 0]);
  const { uniqueIds, offsets, positions, dOut, dTable } = buffers;
  const dispatch = await makeDispatch(
    gpu,
    { label, code: embeddingWgsl, entryPoint: "backward" },
    [params.buffer, uniqueIds, offsets, positions, dOut, dTable],
    [0],
  );
  const resize = (next: { uniqueCount: number }) => {
    checkDim(label, "uniqueCount", next.uniqueCount);
    params.set([next.uniqueCount, 0, dims.dim, rowStride, offset, dims.vocab, overwrite, 0]);
    dispatch.workgroups = linearGrid(next.uniqueCount * Math.ceil(dims.dim / 4));
  };
  resize(dims);
  return { label, dispatches: [dispatch], resize, destroy: () => mem.destroy() };
}

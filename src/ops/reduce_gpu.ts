/**
 * Deterministic split-K reductions over rows for the `gpu` kernel profile
 * (`shaders/reduce_gpu.wgsl`): a sum over M rows (B·T tokens) is cut into
 * C chunks of CH rows, each chunk summed by its own lanes, and the C
 * partial sums added in a fixed order. The chunking depends on M alone, so
 * the same batch gives the same bits on every run. Reference: plain loops
 * in float64 (`reduce_gpu_ref.ts`).
 *
 * @module
 */

import { reduceGpu as reduceWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Allocator } from "../gpu/allocator.ts";
import { type Binding, type Dispatch, makeDispatch, type ParamBlock } from "../gpu/kernel.ts";
import { checkBindings, type Op, opAllocator, type OpOptions } from "./common.ts";

/** How a sum over M rows is split. */
export interface SplitPlan {
  /** C: chunks (0 for M = 0). */
  chunks: number;
  /** CH: rows per chunk (the last may hold fewer). */
  rowsPerChunk: number;
}

/** Most chunks a reduction is split into (partial sums: C·N floats). */
export const MAX_CHUNKS = 16;
/** Rows a chunk aims at: fewer chunks for small M. */
export const CHUNK_ROWS = 128;

/**
 * Splits M rows into at most `maxChunks` chunks of about {@linkcode CHUNK_ROWS} rows.
 *
 * @param rows M
 * @param maxChunks the most chunks (default {@linkcode MAX_CHUNKS})
 * @returns C and CH, with C·CH ≥ M and (C − 1)·CH < M
 *
 * @example
 * ```ts
 * import { splitPlan } from "./reduce_gpu.ts";
 * const p = splitPlan(480);
 * if (p.chunks !== 4 || p.rowsPerChunk !== 120) throw new Error(JSON.stringify(p));
 * ```
 */
export function splitPlan(rows: number, maxChunks: number = MAX_CHUNKS): SplitPlan {
  if (!Number.isInteger(rows) || rows < 0) {
    throw new RangeError(`splitPlan: expected a non-negative integer row count, got ${rows}`);
  }
  if (rows === 0) return { chunks: 0, rowsPerChunk: 0 };
  const wanted = Math.max(1, Math.min(maxChunks, Math.ceil(rows / CHUNK_ROWS)));
  const rowsPerChunk = Math.ceil(rows / wanted);
  return { chunks: Math.ceil(rows / rowsPerChunk), rowsPerChunk };
}

/**
 * Most chunks any M up to `maxRows` is split into (at least 1): the partial-sum
 * buffer holds this many rows.
 *
 * @param maxRows the largest M
 * @param maxChunks the most chunks (default {@linkcode MAX_CHUNKS})
 * @returns C for M = maxRows (C never decreases as M grows)
 *
 * @example
 * ```ts
 * import { chunksFor } from "./reduce_gpu.ts";
 * if (chunksFor(100_000) !== 16 || chunksFor(0) !== 1) throw new Error("wrong chunk count");
 * ```
 */
export function chunksFor(maxRows: number, maxChunks: number = MAX_CHUNKS): number {
  return Math.max(1, splitPlan(maxRows, maxChunks).chunks);
}

/**
 * Workgroups of 256 covering n lanes on a grid whose x stays ≤ 65,535 (the kernel
 * computes its lane as `gid.y · nwg.x · 256 + gid.x`).
 *
 * @param n lanes needed
 * @returns workgroup counts (x = 0 for n = 0: a skipped dispatch)
 *
 * @example
 * ```ts
 * import { grid256 } from "./reduce_gpu.ts";
 * if (grid256(300).join() !== "2,1,1") throw new Error("wrong grid");
 * ```
 */
export function grid256(n: number): [number, number, number] {
  const groups = Math.ceil(n / 256);
  if (groups === 0) return [0, 1, 1];
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x), 1];
}

/**
 * The `combine` dispatch: out (and out2) (+)= Σ_c partials[c, ·] in order c = 0 … C−1,
 * for split-K kernels of other ops (their partials laid out (C, N)).
 *
 * @param gpu the device
 * @param label the op's label
 * @param params the uniform (M, N, CH, C) as `reduce_gpu.wgsl` reads it
 * @param partials (C, N) partial sums
 * @param outs one or two (N) destinations
 * @param n N
 * @param accumulate `+=` (else `=`)
 * @returns the dispatch
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, ParamBlock, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { combineDispatch } from "./reduce_gpu.ts";
 * const gpu = await acquireGpu();
 * const parts = createBuffer(gpu, "parts", new Float32Array([1, 2, 10, 20])); // (C = 2, N = 2)
 * const out = createBuffer(gpu, "out", 8);
 * const params = new ParamBlock(gpu, "split", [0, 2, 0, 2]);
 * submitDispatches(gpu, [await combineDispatch(gpu, "sum", params, parts, [out], 2, true)]);
 * if ((await readFloat32(gpu, out)).join() !== "11,22") throw new Error("wrong sums");
 * ```
 */
export async function combineDispatch(
  gpu: Gpu,
  label: string,
  params: ParamBlock,
  partials: Binding,
  outs: [Binding] | [Binding, Binding],
  n: number,
  accumulate: boolean,
): Promise<Dispatch> {
  return await makeDispatch(
    gpu,
    {
      label: `${label} combine`,
      code: reduceWgsl,
      entryPoint: outs.length === 2 ? "combine2" : "combine",
      constants: { ACCUMULATE: accumulate },
    },
    [params.buffer, partials, ...outs],
    grid256(n),
  );
}

/** Buffers of {@linkcode columnSumSplit}. */
export interface ColumnSumSplitBuffers {
  /** (M, N) input, read. */
  x: Binding;
  /** (N) sums, `+=` (or `=` without `accumulate`). */
  out: Binding;
  /** (N) a second destination of the same sums (dB_ih and dB_hh are equal). */
  out2?: Binding;
}

/** Shape and settings of {@linkcode columnSumSplit}. */
export interface ColumnSumSplitOptions extends OpOptions {
  /** Largest M the op is resized to. */
  maxRows: number;
  /** N columns. */
  columns: number;
  /** Add into the outputs (default true). */
  accumulate?: boolean;
  /** Most chunks (default {@linkcode MAX_CHUNKS}). */
  maxChunks?: number;
}

/** The op {@linkcode columnSumSplit} builds: resize to M rows. */
export interface ColumnSumSplitOp extends Op<{ rows: number }> {
  /** The split of the current M. */
  readonly plan: SplitPlan;
}

/**
 * Column sums of an (M, N) matrix by split-K: `column_partial` sums each
 * chunk of rows, `combine` adds the chunks in order. Two dispatches.
 *
 * @param gpu the device
 * @param buffers x, out and the optional out2
 * @param options largest M, N, accumulation, most chunks, label, allocator
 * @returns the op, sized for M = maxRows; `resize({ rows })`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { columnSumSplit } from "./reduce_gpu.ts";
 * const gpu = await acquireGpu();
 * const x = createBuffer(gpu, "x", new Float32Array([1, 2, 3, 4, 5, 6])); // (3, 2)
 * const out = createBuffer(gpu, "out", 8);
 * const op = await columnSumSplit(gpu, { x, out }, { maxRows: 3, columns: 2 });
 * submitDispatches(gpu, op.dispatches);
 * if ((await readFloat32(gpu, out)).join() !== "9,12") throw new Error("wrong sums");
 * op.destroy();
 * ```
 */
export async function columnSumSplit(
  gpu: Gpu,
  buffers: ColumnSumSplitBuffers,
  options: ColumnSumSplitOptions,
): Promise<ColumnSumSplitOp> {
  const label = options.label ?? "column sum (split-K)";
  const { maxRows, columns: n } = options;
  for (const [name, v] of [["maxRows", maxRows], ["columns", n]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${label}: expected ${name} to be a positive integer, got ${v}`);
    }
  }
  checkBindings(label, {
    x: [buffers.x, maxRows * n],
    out: [buffers.out, n],
    ...(buffers.out2 ? { out2: [buffers.out2, n] as [Binding, number] } : {}),
  });
  const maxChunks = options.maxChunks ?? MAX_CHUNKS;
  const mem: Allocator = opAllocator(gpu, label, options);
  const partials = mem.buffer(`${label} partials`, chunksFor(maxRows, maxChunks) * n * 4);
  const params = mem.uniform(`${label} split`, [0, n, 0, 0]);
  const partial = await makeDispatch(
    gpu,
    {
      label: `${label} partial`,
      code: reduceWgsl,
      entryPoint: "column_partial",
    },
    [params.buffer, buffers.x, partials],
    [0],
  );
  const outs: [Binding] | [Binding, Binding] = buffers.out2
    ? [buffers.out, buffers.out2]
    : [buffers.out];
  const combine = await combineDispatch(
    gpu,
    label,
    params,
    partials,
    outs,
    n,
    options.accumulate ?? true,
  );
  return splitSumOp({ label, mem, params, partial, combine, n, maxRows, maxChunks, tail: [] });
}

/** Buffers of {@linkcode outerSumSplit}. */
export interface OuterSumSplitBuffers {
  /** (M, P) left rows, read. */
  x: Binding;
  /** (M, Q) right rows, read. */
  y: Binding;
  /** (P, Q) xᵀ·y, `+=` (or `=` without `accumulate`). */
  out: Binding;
}

/** Shape and settings of {@linkcode outerSumSplit}. */
export interface OuterSumSplitOptions extends OpOptions {
  /** Largest M the op is resized to. */
  maxRows: number;
  /** P: columns of x, rows of out. */
  left: number;
  /** Q: columns of y and of out. */
  right: number;
  /** Add into out (default true). */
  accumulate?: boolean;
  /** Most chunks (default {@linkcode MAX_CHUNKS}). */
  maxChunks?: number;
}

/**
 * The matmul out (P, Q) (+)= xᵀ·y whose inner dimension is the M rows (a weight
 * gradient over B·T tokens, e.g. dW_out = dEmissionsᵀ·H), by split-K:
 * `outer_partial` computes each chunk's product, one lane per element of out,
 * and `combine` adds the chunks in order. Two dispatches.
 *
 * @param gpu the device
 * @param buffers x (M, P), y (M, Q) and out (P, Q)
 * @param options largest M, P, Q, accumulation, most chunks, label, allocator
 * @returns the op, sized for M = maxRows; `resize({ rows })`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { outerSumSplit } from "./reduce_gpu.ts";
 * const gpu = await acquireGpu();
 * const x = createBuffer(gpu, "x", new Float32Array([1, 2])); // (M = 2, P = 1)
 * const y = createBuffer(gpu, "y", new Float32Array([1, 10, 100, 1000])); // (2, Q = 2)
 * const out = createBuffer(gpu, "out", 8);
 * const op = await outerSumSplit(gpu, { x, y, out }, { maxRows: 2, left: 1, right: 2 });
 * submitDispatches(gpu, op.dispatches);
 * if ((await readFloat32(gpu, out)).join() !== "201,2010") throw new Error("wrong product");
 * op.destroy();
 * ```
 */
export async function outerSumSplit(
  gpu: Gpu,
  buffers: OuterSumSplitBuffers,
  options: OuterSumSplitOptions,
): Promise<ColumnSumSplitOp> {
  const label = options.label ?? "outer sum (split-K)";
  const { maxRows, left: p, right: q } = options;
  for (const [name, v] of [["maxRows", maxRows], ["left", p], ["right", q]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${label}: expected ${name} to be a positive integer, got ${v}`);
    }
  }
  const n = p * q;
  if (Math.ceil(n / 256) > 65535) {
    throw new RangeError(`${label}: expected at most ${65535 * 256} outputs (P·Q), got ${n}`);
  }
  checkBindings(label, {
    x: [buffers.x, maxRows * p],
    y: [buffers.y, maxRows * q],
    out: [buffers.out, n],
  });
  const maxChunks = options.maxChunks ?? MAX_CHUNKS;
  const mem: Allocator = opAllocator(gpu, label, options);
  const partials = mem.buffer(`${label} partials`, chunksFor(maxRows, maxChunks) * n * 4);
  // (M, N, CH, C, P, Q): `combine` reads the first four as its (M, N, CH, C).
  const params = mem.uniform(`${label} split`, [0, n, 0, 0, p, q, 0, 0]);
  const partial = await makeDispatch(
    gpu,
    { label: `${label} partial`, code: reduceWgsl, entryPoint: "outer_partial" },
    [params.buffer, buffers.x, partials, buffers.y],
    [0],
  );
  const combine = await combineDispatch(
    gpu,
    label,
    params,
    partials,
    [buffers.out],
    n,
    options.accumulate ?? true,
  );
  const tail = [p, q, 0, 0];
  return splitSumOp({ label, mem, params, partial, combine, n, maxRows, maxChunks, tail });
}

/** What {@linkcode splitSumOp} assembles: a split-K kernel pair over N outputs. */
interface SplitSumParts {
  label: string;
  /** The op's allocator, freed by `destroy()`. */
  mem: Allocator;
  /** The uniform (M, N, CH, C, ...tail). */
  params: ParamBlock;
  /** The chunks' kernel: workgroups (⌈N / 256⌉, C). */
  partial: Dispatch;
  /** {@linkcode combineDispatch}. */
  combine: Dispatch;
  /** N outputs. */
  n: number;
  maxRows: number;
  maxChunks: number;
  /** The uniform's words after (M, N, CH, C). */
  tail: number[];
}

/** The op of a partial kernel and its combine, resized to M rows; sized for M = maxRows. */
function splitSumOp(parts: SplitSumParts): ColumnSumSplitOp {
  const { label, mem, params, partial, combine, n, maxRows, maxChunks, tail } = parts;
  const op: ColumnSumSplitOp = {
    label,
    dispatches: [partial, combine],
    plan: splitPlan(0),
    resize({ rows }: { rows: number }) {
      if (!Number.isInteger(rows) || rows < 0 || rows > maxRows) {
        throw new RangeError(`${label}: expected 0…${maxRows} rows, got ${rows}`);
      }
      const plan = splitPlan(rows, maxChunks);
      (op as { plan: SplitPlan }).plan = plan;
      params.set([rows, n, plan.rowsPerChunk, plan.chunks, ...tail]);
      partial.workgroups = [plan.chunks ? Math.ceil(n / 256) : 0, Math.max(1, plan.chunks), 1];
    },
    destroy: () => mem.destroy(),
  };
  op.resize({ rows: maxRows });
  return op;
}

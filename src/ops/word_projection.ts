/**
 * The first BiLSTM layer's input projection with its word part folded into
 * a per-word table (inference only). The layer's input is
 * x = [word embedding (E_w) | the other features (E_r)], E = E_w + E_r, and
 * its input projection is pre = x·W_ihᵀ + b_ih, (B·T, 8H). The word part
 * W_ih[:, :E_w]·emb[w] depends only on the word id, so it is computed once
 * per parameter write for the whole vocabulary,
 *
 *   table (V, 8H) = emb (V, E_w) · W_ih[:, :E_w]ᵀ + b_ih,
 *
 * and per token the op gathers table[w] and adds the projection of the
 * other columns only:
 *
 *   pre[r] = table[w_r] + x_rest[r] · W_ih[:, E_w:]ᵀ.
 *
 * The same sums in another order: equal to the plain projection within
 * float32 rounding, not bit for bit. Per token that is E_r instead of E
 * multiply-adds per output column (56 instead of 156 for the default model).
 * Padding rows (t ≥ lengths[b]) get x_rest·W_restᵀ without the table row
 * (the recurrence never reads them).
 *
 * No kernel of its own: the column blocks of W_ih are taken out by a
 * matmul with a 0/1 selection matrix (exact: one product by 1, the rest
 * adds zeros), the table and the per-token part are `matmul.ts` products,
 * the gather is `embedding.ts`'s. Reference: `word_projection_ref.ts`.
 *
 * Layouts (f32, row-major; token (b, t) is row b·T + t):
 * - `wordTable` (V, E_w), `wIh` (8H, E), `bIh` (8H), as the graph stores them.
 * - `rest` (B·T, E_r): the non-word input columns.
 * - `pre` (B·T, 8H): written with `=`.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { Binding, Dispatch } from "../gpu/kernel.ts";
import { checkBindings, opAllocator, type OpOptions, type SequenceOp } from "./common.ts";
import { embeddingForward } from "./embedding.ts";
import { matmulForward } from "./matmul.ts";

/** The default size limit of the per-word table: 128 MiB. */
export const WORD_TABLE_DEFAULT_BYTES = 128 * 2 ** 20;

/** Sizes of {@linkcode wordProjection}. */
export interface WordProjectionSize {
  /** Largest B. */
  maxBatch: number;
  /** Largest T. */
  maxTime: number;
  /** V: rows of the word table. */
  vocab: number;
  /** E_w: word embedding width (the first E_w columns of x). */
  wordDim: number;
  /** E: the layer's whole input width (E_r = E − E_w ≥ 0). */
  inputSize: number;
  /** H: hidden units per direction. */
  hiddenSize: number;
}

/** The caller's buffers (see the module doc for layouts). */
export interface WordProjectionBuffers {
  /** (V, E_w) word embeddings. */
  wordTable: Binding;
  /** (8H, E) input weights of both directions. */
  wIh: Binding;
  /** (8H) input bias. */
  bIh: Binding;
  /** (B·T) i32 word ids. */
  wordIds: Binding;
  /** (B) i32 sentence lengths. */
  lengths: Binding;
  /** (B·T, E_r) the other input columns; unused (may be omitted) when E_r = 0. */
  rest?: Binding;
  /** (B·T, 8H) output, `=`. */
  pre: Binding;
}

/** The built projection. */
export interface WordProjectionOp extends SequenceOp {
  /** Dispatches that rebuild the table from the parameters: run them after every write. */
  readonly build: Dispatch[];
  /** Bytes of the table, (V, 8H) f32. */
  readonly tableBytes: number;
}

/**
 * Bytes of the per-word table of a vocabulary: V · 8H · 4.
 *
 * @param vocab V
 * @param hiddenSize H
 * @returns the table's bytes
 *
 * @example
 * ```ts
 * import { wordTableBytes } from "./word_projection.ts";
 * if (wordTableBytes(20_000, 100) !== 64_000_000) throw new Error("wrong size");
 * ```
 */
export function wordTableBytes(vocab: number, hiddenSize: number): number {
  return vocab * 8 * hiddenSize * 4;
}

/**
 * Why a per-word table of this size cannot be built on the device (past one storage
 * binding, or more rows than a matmul grid covers), or null when it can.
 *
 * @param gpu the device
 * @param vocab V
 * @param hiddenSize H
 * @returns the reason, or null
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../gpu/mod.ts";
 * import { wordTableProblem } from "./word_projection.ts";
 * const gpu = await acquireGpu();
 * if (wordTableProblem(gpu, 100, 10) !== null) throw new Error("a small table must fit");
 * ```
 */
export function wordTableProblem(gpu: Gpu, vocab: number, hiddenSize: number): string | null {
  const bytes = wordTableBytes(vocab, hiddenSize);
  const limit = gpu.device.limits.maxStorageBufferBindingSize;
  if (bytes > limit) {
    return `the word table (${vocab} × ${8 * hiddenSize} f32, ${bytes} bytes) is larger than ` +
      `this adapter's ${limit}-byte storage binding limit`;
  }
  // The matmul's scalar grid has one workgroup per 32 rows.
  const groups = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  if (Math.ceil(vocab / 32) > groups) {
    return `the word table's ${vocab} rows need more than ${groups} workgroups per dimension`;
  }
  return null;
}

function check(options: WordProjectionSize): number {
  const { maxBatch, maxTime, vocab, wordDim, inputSize, hiddenSize } = options;
  const size = { maxBatch, maxTime, vocab, wordDim, inputSize, hiddenSize };
  for (const [name, value] of Object.entries(size)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(
        `wordProjection: expected ${name} to be a positive integer, got ${value}`,
      );
    }
  }
  if (size.wordDim > size.inputSize) {
    throw new RangeError(
      `wordProjection: expected wordDim ≤ inputSize, got ${size.wordDim} > ${size.inputSize}`,
    );
  }
  return size.inputSize - size.wordDim;
}

/** (E, width) f32 with a 1 at (from + c, c): x · S takes columns from … from + width − 1. */
function selection(E: number, from: number, width: number): Float32Array {
  const s = new Float32Array(E * width);
  for (let c = 0; c < width; c++) s[(from + c) * width + c] = 1;
  return s;
}

/**
 * Builds the table-folded input projection of a first BiLSTM layer: `build` (2 or 3
 * matmuls: W_ih's word columns, the table, W_ih's other columns) to run after every
 * parameter write, and per batch 1 or 2 dispatches (the table gather, the other columns'
 * matmul added on top).
 *
 * @param gpu the device
 * @param buffers embeddings, W_ih, b_ih, ids, lengths, the other columns and the output
 * @param options largest B and T, V, E_w, E, H; label, allocator
 * @returns the op, sized for (maxBatch, maxTime)
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { wordProjection } from "./word_projection.ts";
 * const gpu = await acquireGpu();
 * const H = 1; // 8H = 8 output columns; E_w = 1, E_r = 1
 * // (bindings are padded to 16 bytes)
 * const f = (v: number[]) => createBuffer(gpu, "f", new Float32Array([...v, 0, 0, 0]));
 * const pre = createBuffer(gpu, "pre", 8 * 4);
 * const op = await wordProjection(gpu, {
 *   wordTable: f([0, 2]), // word 1 has embedding 2
 *   wIh: f([1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), // (8, 2)
 *   bIh: f([0, 0, 0, 0, 0, 0, 0, 0.5]),
 *   wordIds: createBuffer(gpu, "ids", new Int32Array([1])),
 *   lengths: createBuffer(gpu, "lengths", new Int32Array([1])),
 *   rest: f([3]),
 *   pre,
 * }, { maxBatch: 1, maxTime: 1, vocab: 2, wordDim: 1, inputSize: 2, hiddenSize: H });
 * submitDispatches(gpu, [...op.build, ...op.dispatches]);
 * // pre = [2·1 + 3·0, 2·0 + 3·1, 2 + 3, 0, 0, 0, 0, 0.5]
 * if ((await readFloat32(gpu, pre)).join() !== "2,3,5,0,0,0,0,0.5") throw new Error();
 * op.destroy();
 * ```
 */
export async function wordProjection(
  gpu: Gpu,
  buffers: WordProjectionBuffers,
  options: WordProjectionSize & OpOptions,
): Promise<WordProjectionOp> {
  const Er = check(options);
  const { maxBatch, maxTime, vocab: V, wordDim: Ew, inputSize: E, hiddenSize: H } = options;
  const label = options.label ?? "word projection";
  const problem = wordTableProblem(gpu, V, H);
  if (problem) throw new RangeError(`${label}: ${problem}`);
  const rows = maxBatch * maxTime;
  checkBindings(
    label,
    { wordIds: [buffers.wordIds, rows], lengths: [buffers.lengths, maxBatch] },
    4,
  );
  checkBindings(label, {
    wordTable: [buffers.wordTable, V * Ew],
    wIh: [buffers.wIh, 8 * H * E],
    bIh: [buffers.bIh, 8 * H],
    pre: [buffers.pre, rows * 8 * H],
    ...(Er > 0 ? { rest: [buffers.rest!, rows * Er] as [Binding, number] } : {}),
  }, 16);
  if (Er > 0 && !buffers.rest) {
    throw new Error(`${label}: expected a 'rest' buffer for E_r = ${Er}`);
  }
  const mem = opAllocator(gpu, label, options);
  const f32 = (name: string, n: number) => mem.buffer(`${label} ${name}`, Math.max(16, n * 4));
  const table = f32("table", V * 8 * H); // (V, 8H)
  const wWord = f32("W_ih word columns", 8 * H * Ew); // (8H, E_w)
  const build: Dispatch[] = [];
  const pick = async (name: string, from: number, width: number, out: GPUBuffer) => {
    const s = mem.buffer(`${label} ${name} selection`, selection(E, from, width));
    const mm = await matmulForward(gpu, { a: buffers.wIh, b: s, c: out }, {
      m: 8 * H,
      n: width,
      k: E,
      label: `${label} ${name}`,
      allocator: mem,
    });
    build.push(...mm.dispatches);
  };
  await pick("W_ih word columns", 0, Ew, wWord);
  const fold = await matmulForward(gpu, {
    a: buffers.wordTable,
    b: wWord,
    c: table,
    bias: buffers.bIh,
  }, {
    m: V,
    n: 8 * H,
    k: Ew,
    transB: true,
    label: `${label} table`,
    allocator: mem,
  });
  build.push(...fold.dispatches);
  const gather = await embeddingForward(gpu, {
    table,
    ids: buffers.wordIds,
    lengths: buffers.lengths,
    out: buffers.pre,
  }, {
    batch: maxBatch,
    time: maxTime,
    dim: 8 * H,
    vocab: V,
    label: `${label} gather`,
    allocator: mem,
  });
  const rest = Er > 0
    ? await restProjection(gpu, buffers, { pick, f32, label, mem, rows, H, Er, Ew })
    : null;
  return {
    label,
    build,
    tableBytes: wordTableBytes(V, H),
    dispatches: [...gather.dispatches, ...(rest?.dispatches ?? [])],
    resize(shape) {
      if (shape.batch > maxBatch || shape.time > maxTime) {
        throw new RangeError(
          `${label}: expected at most ${maxBatch} × ${maxTime} tokens, got ${shape.batch} × ${shape.time}`,
        );
      }
      gather.resize(shape);
      rest?.resize({ m: shape.batch * shape.time, n: 8 * H, k: Er });
    },
    destroy: () => mem.destroy(),
  };
}

/** pre += x_rest (B·T, E_r) · W_ih[:, E_w:]ᵀ, with W_ih's columns picked into `build`. */
async function restProjection(
  gpu: Gpu,
  buffers: WordProjectionBuffers,
  o: {
    pick: (name: string, from: number, width: number, out: GPUBuffer) => Promise<void>;
    f32: (name: string, n: number) => GPUBuffer;
    label: string;
    mem: ReturnType<typeof opAllocator>;
    rows: number;
    H: number;
    Er: number;
    Ew: number;
  },
) {
  const wRest = o.f32("W_ih other columns", 8 * o.H * o.Er); // (8H, E_r)
  await o.pick("W_ih other columns", o.Ew, o.Er, wRest);
  return await matmulForward(gpu, { a: buffers.rest!, b: wRest, c: buffers.pre }, {
    m: o.rows,
    n: 8 * o.H,
    k: o.Er,
    transB: true,
    accumulate: true,
    label: `${o.label} other columns`,
    allocator: o.mem,
  });
}

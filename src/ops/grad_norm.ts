/**
 * The gradient-norm family on the GPU: the global L2 norm of a flat
 * gradient buffer, reduced deterministically in two dispatches and left in
 * a GPU buffer (for clipping inside the Adam kernel, and for the host to
 * read now and then for logging). Kernel: `shaders/grad_norm.wgsl`;
 * reference: `grad_norm_ref.ts`.
 *
 * @module
 */

import { gradNorm as gradNormWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Binding, makeDispatch } from "../gpu/kernel.ts";
import {
  bindingBytes,
  flatPlan,
  type Op,
  opAllocator,
  type OpOptions,
  type ReductionPlan,
} from "./common.ts";

export type { ReductionPlan } from "./common.ts";

/** Invocations per workgroup in `grad_norm.wgsl`. */
const WG = 64;
/** Elements each invocation reads when the buffer is small enough (fastest on llvmpipe). */
const PER = 8;
/** Most workgroups of partial sums (each invocation of `finish` then loops ≤ MAX_GROUPS times). */
const MAX_GROUPS = 2048;

/** Invocations of `partial_rows` (fixed: each sums every N-th row). */
const ROW_GROUPS = 8;

/**
 * Splits a reduction over `n` floats into workgroups, keeping the loop of
 * every invocation short (≤ 256 iterations here and ≤ 2048 in `finish` on a
 * 128 MiB buffer).
 *
 * @param n number of floats
 * @returns the plan
 *
 * @example
 * ```ts
 * import { planReduction } from "./grad_norm.ts";
 * const plan = planReduction(1_000_000);
 * if (!plan.vec4 || plan.groups * 64 * plan.per < 250_000) throw new Error("bad plan");
 * ```
 */
export function planReduction(n: number): ReductionPlan {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`gradNorm: expected a positive integer element count, got ${n}`);
  }
  return flatPlan(n, { per: PER, maxGroups: MAX_GROUPS });
}

/** Buffers of {@linkcode gradNorm}. */
export interface GradNormBuffers {
  /** The dense gradients, at least n floats. */
  grads: Binding;
  /** Destination, at least 4 bytes; out[0] receives the norm (`=`), the rest is untouched. */
  out: Binding;
  /**
   * A table's gradient, (rows, rowDim) f32, of which only the rows in `ids`
   * count this step (the batch's distinct ids): their squares are added to
   * the sum and the rest of the table is not read (see adam.wgsl's `sparse_rows`).
   */
  table?: Binding;
  /** Distinct row ids of the step, i32 (the count is set per step with `resize`). */
  ids?: Binding;
}

/** Shape and settings of {@linkcode gradNorm}. */
export interface GradNormOptions extends OpOptions {
  /** Dense floats to reduce. */
  n: number;
  /** Row length D of `table`, a multiple of 4 (with `table` and `ids`). */
  rowDim?: number;
}

/** The gradient norm: two dispatches, three with table rows; `resize` sets the row count. */
export interface GradNormOp extends Op<{ rowCount: number }> {
  /**
   * Sets how many ids of `ids` the next submit reads (0 without a table).
   *
   * @param count ids, at most the ids buffer's length
   */
  setRowCount(count: number): void;
}

/**
 * Builds the dispatches that write out[0] = sqrt(Σ g[i]² + Σ_{id in
 * ids[0..count)} Σ_d table[id, d]²) over the first `n` floats of `grads`
 * (vec4 loads when n % 4 == 0) and, with a table, the rows a step touched.
 * Only out[0] is written (`=`), so it can be the first word of a larger
 * stats buffer. Deterministic: no atomics, a fixed order. Dispatches: dense
 * partial sums, (row partial sums,) the final sum.
 *
 * @param gpu the device
 * @param buffers grads and out; optionally a table and the step's row ids
 * @param options n, the table's row length, label, allocator
 * @returns the op; `resize({ rowCount })` (or `setRowCount`) before each step with a table
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { gradNorm } from "./grad_norm.ts";
 * const gpu = await acquireGpu();
 * const grads = createBuffer(gpu, "grads", new Float32Array([3, 4]));
 * const out = createBuffer(gpu, "norm", 4);
 * submitDispatches(gpu, (await gradNorm(gpu, { grads, out }, { n: 2 })).dispatches);
 * if ((await readFloat32(gpu, out))[0] !== 5) throw new Error("wrong norm");
 * const table = createBuffer(gpu, "t", new Float32Array([9, 9, 9, 9, 4, 0, 0, 0])); // 2 rows of 4
 * const ids = createBuffer(gpu, "ids", new Int32Array([1]));
 * const dense = createBuffer(gpu, "g", new Float32Array([3]));
 * const norm = await gradNorm(gpu, { grads: dense, out, table, ids }, { n: 1, rowDim: 4 });
 * norm.resize({ rowCount: 1 });
 * submitDispatches(gpu, norm.dispatches);
 * if ((await readFloat32(gpu, out))[0] !== 5) throw new Error("row 0 must not count");
 * ```
 */
export async function gradNorm(
  gpu: Gpu,
  buffers: GradNormBuffers,
  options: GradNormOptions,
): Promise<GradNormOp> {
  const label = options.label ?? "grad norm";
  const { n } = options;
  const plan = planReduction(n);
  checkGradNorm(label, buffers, options);
  const rows = buffers.table && buffers.ids;
  const rowGroups = rows ? ROW_GROUPS : 0;
  const groups = plan.groups + rowGroups;
  const mem = opAllocator(gpu, label, options);
  const dims = mem.uniform(`${label} dims`, [n, plan.len, plan.per, groups]);
  const partials = mem.buffer(`${label} partials`, groups * WG * 4);
  const code = gradNormWgsl;
  const dispatches = [
    await makeDispatch(
      gpu,
      { label: `${label} partial`, code, entryPoint: plan.vec4 ? "partial_vec4" : "partial" },
      [dims.buffer, buffers.grads, partials],
      [plan.groups],
    ),
  ];
  let setRowCount = (count: number) => {
    if (count !== 0) throw new RangeError(`${label}: no table rows were given`);
  };
  if (rows) {
    const dim4 = options.rowDim! / 4;
    const idCapacity = bindingBytes(buffers.ids!) / 4;
    const rowDims = mem.uniform(`${label} row dims`, [0, dim4, plan.groups * WG, 0]);
    dispatches.push(
      await makeDispatch(
        gpu,
        { label: `${label} partial rows`, code, entryPoint: "partial_rows" },
        [rowDims.buffer, buffers.table!, partials, buffers.ids!],
        [rowGroups],
      ),
    );
    setRowCount = (count: number) => {
      if (!Number.isInteger(count) || count < 0 || count > idCapacity) {
        throw new RangeError(
          `${label}: expected a row count in [0, ${idCapacity}], got ${count}`,
        );
      }
      rowDims.set([count, dim4, plan.groups * WG, 0]);
    };
  }
  dispatches.push(
    await makeDispatch(
      gpu,
      { label: `${label} finish`, code, entryPoint: "finish" },
      [dims.buffer, partials, buffers.out],
      [1],
    ),
  );
  return {
    label,
    dispatches,
    resize: (shape: { rowCount: number }) => setRowCount(shape.rowCount),
    setRowCount: (count: number) => setRowCount(count),
    destroy: () => mem.destroy(),
  };
}

/** Validates the buffers and table of {@linkcode gradNorm}. */
function checkGradNorm(label: string, buffers: GradNormBuffers, options: GradNormOptions): void {
  if (bindingBytes(buffers.grads) < options.n * 4) {
    throw new RangeError(
      `${label}: grads holds ${bindingBytes(buffers.grads) / 4} floats, expected ≥ ${options.n}`,
    );
  }
  if (Boolean(buffers.table) !== Boolean(buffers.ids)) {
    throw new RangeError(`${label}: expected both a table and its ids, or neither`);
  }
  const dim = options.rowDim ?? 0;
  if (buffers.table && (!Number.isInteger(dim) || dim < 4 || dim % 4 !== 0)) {
    throw new RangeError(`${label}: table rows must be a multiple of 4 floats, got ${dim}`);
  }
}

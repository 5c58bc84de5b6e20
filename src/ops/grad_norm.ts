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
import { createBuffer } from "../gpu/buffers.ts";
import { type Binding, type Dispatch, makeDispatch, ParamBlock } from "../gpu/kernel.ts";

/** Invocations per workgroup in `grad_norm.wgsl`. */
const WG = 64;
/** Elements each invocation reads when the buffer is small enough (fastest on llvmpipe). */
const PER = 8;
/** Most workgroups of partial sums (each invocation of `finish` then loops ≤ MAX_GROUPS times). */
const MAX_GROUPS = 2048;

/** How the reduction is split: each of the `groups`·64 invocations sums `per` elements. */
export interface ReductionPlan {
  /** Elements (floats, or vec4s when `vec4`). */
  len: number;
  /** Elements per invocation. */
  per: number;
  /** Workgroups of the partial-sum dispatch. */
  groups: number;
  /** Whether the vec4 entry point runs (n % 4 == 0). */
  vec4: boolean;
}

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
  const vec4 = n % 4 === 0;
  const len = vec4 ? n / 4 : n;
  let per = PER;
  if (Math.ceil(len / (WG * per)) > MAX_GROUPS) per = Math.ceil(len / (WG * MAX_GROUPS));
  return { len, per, groups: Math.ceil(len / (WG * per)), vec4 };
}

/**
 * The rows of an embedding table whose gradient is valid this step (the
 * batch's distinct ids): {@linkcode gradNorm} adds their squares to the sum,
 * and the rest of the table is not read (see adam.wgsl's `sparse_rows`).
 */
export interface TableRows {
  /** The table's gradient, (rows, dim) f32: a buffer or a byte range of one. */
  table: Binding;
  /** Distinct row ids of the step, i32 (the count is set per step). */
  ids: GPUBuffer;
  /** Row length D, a multiple of 4. */
  dim: number;
}

/** Options for {@linkcode gradNorm}. */
export interface GradNormOptions {
  /** Label for errors and profiles (default "grad norm"). */
  label?: string;
  /** A table of which only some rows count, besides the `n` dense floats. */
  rows?: TableRows;
}

/** The dispatches of {@linkcode gradNorm}, with the per-step row count of `rows`. */
export interface GradNormDispatches {
  /** In order: partial sums (dense, then the table's rows), then the final sum. */
  dispatches: Dispatch[];
  /**
   * Sets how many ids of `rows.ids` the next submit reads (0 without `rows`).
   *
   * @param count ids, at most the ids buffer's length
   */
  setRowCount(count: number): void;
}

/** Invocations of `partial_rows` (fixed: each sums every N-th row). */
const ROW_GROUPS = 8;

/** Bytes a binding covers. */
function bindingBytes(b: Binding): number {
  if (b instanceof GPUBuffer) return b.size;
  return b.size ?? b.buffer.size - (b.offset ?? 0);
}

/**
 * Builds the two dispatches that write out[0] = sqrt(Σ g[i]²) over the
 * first `n` floats of `grads` (vec4 loads when n % 4 == 0). Only out[0] is
 * written (`=`); the rest of `out` is untouched, so it can be the first
 * word of a larger stats buffer. Deterministic: no atomics, a fixed order.
 *
 * @param gpu the device
 * @param out destination, at least 4 bytes; out[0] receives the norm
 * @param grads the gradients, at least n floats
 * @param n number of floats to reduce
 * @param options label
 * @returns the dispatches, in order (partial sums, then the final sum)
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { gradNorm } from "./grad_norm.ts";
 * const gpu = await acquireGpu();
 * const grads = createBuffer(gpu, "grads", new Float32Array([3, 4]));
 * const out = createBuffer(gpu, "norm", 4);
 * submitDispatches(gpu, await gradNorm(gpu, out, grads, 2));
 * if ((await readFloat32(gpu, out))[0] !== 5) throw new Error("wrong norm");
 * ```
 */
export async function gradNorm(
  gpu: Gpu,
  out: GPUBuffer,
  grads: Binding,
  n: number,
  options: GradNormOptions = {},
): Promise<Dispatch[]> {
  return (await gradNormWithRows(gpu, out, grads, n, options)).dispatches;
}

/**
 * {@linkcode gradNorm}, also over the rows of a table that a step touched:
 * out[0] = sqrt(Σ_dense g² + Σ_{id in ids[0..count)} Σ_d table[id, d]²).
 * Three dispatches with `rows` (dense partials, row partials, final sum).
 *
 * @param gpu the device
 * @param out destination, at least 4 bytes; out[0] receives the norm
 * @param grads the dense gradients, at least n floats
 * @param n number of dense floats to reduce
 * @param options label, the table rows
 * @returns the dispatches and the row-count setter
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { gradNormWithRows } from "./grad_norm.ts";
 * const gpu = await acquireGpu();
 * const out = createBuffer(gpu, "norm", 4);
 * const dense = createBuffer(gpu, "g", new Float32Array([3]));
 * const table = createBuffer(gpu, "t", new Float32Array([9, 9, 9, 9, 4, 0, 0, 0])); // 2 rows of 4
 * const ids = createBuffer(gpu, "ids", new Int32Array([1]));
 * const norm = await gradNormWithRows(gpu, out, dense, 1, { rows: { table, ids, dim: 4 } });
 * norm.setRowCount(1);
 * submitDispatches(gpu, norm.dispatches);
 * if ((await readFloat32(gpu, out))[0] !== 5) throw new Error("row 0 must not count");
 * ```
 */
export async function gradNormWithRows(
  gpu: Gpu,
  out: GPUBuffer,
  grads: Binding,
  n: number,
  options: GradNormOptions = {},
): Promise<GradNormDispatches> {
  const label = options.label ?? "grad norm";
  const plan = planReduction(n);
  if (bindingBytes(grads) < n * 4) {
    throw new RangeError(
      `${label}: grads holds ${bindingBytes(grads) / 4} floats, expected ≥ ${n}`,
    );
  }
  const rows = options.rows;
  if (rows && (!Number.isInteger(rows.dim) || rows.dim < 4 || rows.dim % 4 !== 0)) {
    throw new RangeError(`${label}: table rows must be a multiple of 4 floats, got ${rows.dim}`);
  }
  const rowGroups = rows ? ROW_GROUPS : 0;
  const groups = plan.groups + rowGroups;
  const dims = new ParamBlock(gpu, `${label} dims`, [n, plan.len, plan.per, groups]);
  const partials = createBuffer(gpu, `${label} partials`, groups * WG * 4);
  const dispatches = [
    await makeDispatch(
      gpu,
      {
        label: `${label} partial`,
        code: gradNormWgsl,
        entryPoint: plan.vec4 ? "partial_vec4" : "partial",
      },
      [dims.buffer, grads, partials],
      [plan.groups],
    ),
  ];
  let setRowCount = (count: number) => {
    if (count !== 0) throw new RangeError(`${label}: no table rows were given`);
  };
  if (rows) {
    const idCapacity = rows.ids.size / 4;
    const rowDims = new ParamBlock(gpu, `${label} row dims`, [
      0,
      rows.dim / 4,
      plan.groups * WG,
      0,
    ]);
    dispatches.push(
      await makeDispatch(
        gpu,
        { label: `${label} partial rows`, code: gradNormWgsl, entryPoint: "partial_rows" },
        [rowDims.buffer, rows.table, partials, rows.ids],
        [rowGroups],
      ),
    );
    setRowCount = (count: number) => {
      if (!Number.isInteger(count) || count < 0 || count > idCapacity) {
        throw new RangeError(
          `${label}: expected a row count in [0, ${idCapacity}], got ${count}`,
        );
      }
      rowDims.set([count, rows.dim / 4, plan.groups * WG, 0]);
    };
  }
  dispatches.push(
    await makeDispatch(
      gpu,
      { label: `${label} finish`, code: gradNormWgsl, entryPoint: "finish" },
      [dims.buffer, partials, out],
      [1],
    ),
  );
  return { dispatches, setRowCount };
}

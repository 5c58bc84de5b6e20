/**
 * The matmul family on the GPU: C = op(A)·op(B) (+ bias), its two
 * gradients (which are matmuls with other transposes) and the bias
 * gradient (a column sum). Kernel: `shaders/matmul.wgsl`; reference:
 * `matmul_ref.ts`.
 *
 * @module
 */

import { matmul as matmulWgsl, matmulVec4 as matmulVec4Wgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Binding, type Dispatch, makeDispatch } from "../gpu/kernel.ts";
import { bindingBytes, type Op, opAllocator, type OpOptions } from "./common.ts";
import { columnSumSplit, outerSumSplit } from "./reduce_gpu.ts";

/** Shape of C = op(A)·op(B): C is (m, n), the shared dimension is k. */
export interface MatmulDims {
  /** Rows of C. */
  m: number;
  /** Columns of C. */
  n: number;
  /** The contracted dimension. */
  k: number;
  /** A is stored (k, m) and used transposed. */
  transA?: boolean;
  /** B is stored (n, k) and used transposed. */
  transB?: boolean;
}

/** What a matmul's `resize` takes: a new m, n and k (the transposes cannot change). */
export interface MatmulShape {
  /** Rows of C. */
  m: number;
  /** Columns of C. */
  n: number;
  /** The contracted dimension. */
  k: number;
}

/** Buffers of {@linkcode matmulForward}. */
export interface MatmulBuffers {
  /** A (m, k), or (k, m) with `transA`. */
  a: Binding;
  /** B (k, n), or (n, k) with `transB`. */
  b: Binding;
  /** Output C (m, n), written with `=` (or `+=` with `accumulate`). */
  c: Binding;
  /** Bias (n) added to every row. */
  bias?: Binding;
}

/** Which kernel runs a matmul: chosen per shape by {@linkcode matmulForward}. */
export type MatmulVariant = "scalar" | "vec4";

/** Shape and settings of {@linkcode matmulForward}. */
export interface MatmulOptions extends OpOptions, MatmulDims {
  /** Add into C instead of overwriting it (gradient accumulation). */
  accumulate?: boolean;
  /** Force a kernel variant (default: the fastest that applies to the shape). */
  variant?: MatmulVariant;
}

/** A built matmul: one dispatch, and the variant the current shape runs. */
export interface MatmulOp extends Op<MatmulShape> {
  /** The kernel variant chosen for the current shape. */
  variant: MatmulVariant;
}

/**
 * Whether the vec4 kernel (8×8 register blocks, vec4 loads; the fast one)
 * can run this shape: every contiguous dimension a multiple of 4.
 *
 * @param dims shape and transposes
 * @returns true when `shaders/matmul_vec4.wgsl` applies
 *
 * @example
 * ```ts
 * import { vec4Applies } from "./matmul.ts";
 * if (!vec4Applies({ m: 3, n: 8, k: 4 }) || vec4Applies({ m: 3, n: 9, k: 4 })) {
 *   throw new Error("wrong alignment rule");
 * }
 * ```
 */
export function vec4Applies(dims: MatmulDims): boolean {
  const aligned = (x: number) => x % 4 === 0 && x > 0;
  return aligned(dims.n) && aligned(dims.k) && (!dims.transA || aligned(dims.m));
}

function gridFor(variant: MatmulVariant, dims: { m: number; n: number }): [number, number, number] {
  const tile = variant === "vec4" ? 64 : 32;
  return [Math.ceil(dims.n / tile), Math.ceil(dims.m / tile), 1];
}

/**
 * Builds the dispatch for C = op(A)·op(B) (+ bias). Runs the vec4 kernel
 * when the shape allows it ({@linkcode vec4Applies}) and the scalar one
 * otherwise, re-choosing on every resize; `options.variant` forces one.
 *
 * @param gpu the device
 * @param buffers A, B, C and the optional bias
 * @param options shape and transposes, accumulation, label, variant, allocator
 * @returns the op (one dispatch); resizable for a new m, n or k
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { matmulForward } from "./matmul.ts";
 * const gpu = await acquireGpu();
 * const a = createBuffer(gpu, "a", new Float32Array([1, 2, 3, 4])); // (2, 2)
 * const b = createBuffer(gpu, "b", new Float32Array([1, 0, 0, 1])); // identity
 * const c = createBuffer(gpu, "c", 16);
 * const mm = await matmulForward(gpu, { a, b, c }, { m: 2, n: 2, k: 2 });
 * submitDispatches(gpu, mm.dispatches);
 * const out = await readFloat32(gpu, c);
 * if (out.join() !== "1,2,3,4") throw new Error(out.join());
 * mm.destroy();
 * ```
 */
export async function matmulForward(
  gpu: Gpu,
  buffers: MatmulBuffers,
  options: MatmulOptions,
): Promise<MatmulOp> {
  const label = options.label ?? "matmul";
  const dims: MatmulDims = options;
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} dims`, [dims.m, dims.n, dims.k, 0]);
  const constants = {
    TRANS_A: Boolean(dims.transA),
    TRANS_B: Boolean(dims.transB),
    HAS_BIAS: Boolean(buffers.bias),
    ACCUMULATE: Boolean(options.accumulate),
  };
  const { a, b, c } = buffers;
  const bindings = [params.buffer, a, b, c, buffers.bias ?? mem.placeholder()];
  // vec4 bindings need at least 16 bytes each; tiny buffers only ever run the scalar kernel.
  const bindable = bindings.every((x) => bindingBytes(x) >= 16);
  const variants: MatmulVariant[] = options.variant
    ? [options.variant]
    : bindable
    ? ["scalar", "vec4"]
    : ["scalar"];
  const built = new Map<MatmulVariant, Dispatch>();
  for (const variant of variants) {
    const code = variant === "vec4" ? matmulVec4Wgsl : matmulWgsl;
    built.set(variant, await makeDispatch(gpu, { label, code, constants }, bindings, [0]));
  }
  const dispatch = { ...built.get(variants[0])! };
  const choose = (next: MatmulDims): MatmulVariant => {
    const variant: MatmulVariant = options.variant ??
      (built.has("vec4") && vec4Applies(next) ? "vec4" : "scalar");
    if (variant === "vec4" && !vec4Applies(next)) {
      throw new Error(
        `${label}: the vec4 variant needs aligned shapes, got ${
          JSON.stringify({ m: next.m, n: next.n, k: next.k })
        }`,
      );
    }
    const chosen = built.get(variant)!;
    dispatch.pipeline = chosen.pipeline;
    dispatch.bindGroup = chosen.bindGroup;
    dispatch.workgroups = gridFor(variant, next);
    return variant;
  };
  const op: MatmulOp = {
    label,
    dispatches: [dispatch],
    variant: choose(dims),
    resize(next: MatmulShape) {
      params.set([next.m, next.n, next.k, 0]);
      op.variant = choose({ ...dims, ...next });
    },
    destroy: () => mem.destroy(),
  };
  return op;
}

/**
 * Builds the dispatch for out[j] (+)= Σ_i x[i, j] over an (m, n) matrix:
 * the bias gradient.
 *
 * @param gpu the device
 * @param buffers x (m, n) and out (n)
 * @param options rows m and columns n; accumulate into `out`; label, allocator
 * @returns the op (one dispatch); `resize({ m, n })`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { columnSum } from "./matmul.ts";
 * const gpu = await acquireGpu();
 * const x = createBuffer(gpu, "x", new Float32Array([1, 2, 3, 4, 5, 6])); // (3, 2)
 * const out = createBuffer(gpu, "out", 8);
 * submitDispatches(gpu, (await columnSum(gpu, { x, out }, { m: 3, n: 2 })).dispatches);
 * if ((await readFloat32(gpu, out)).join() !== "9,12") throw new Error("wrong sums");
 * ```
 */
export async function columnSum(
  gpu: Gpu,
  buffers: { x: Binding; out: Binding },
  options: OpOptions & { m: number; n: number; accumulate?: boolean },
): Promise<Op<{ m: number; n: number }>> {
  const label = options.label ?? "column sum";
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} dims`, [options.m, options.n, 0, 0]);
  const dispatch = await makeDispatch(
    gpu,
    {
      label,
      code: matmulWgsl,
      entryPoint: "colsum",
      constants: { ACCUMULATE: Boolean(options.accumulate) },
    },
    [params.buffer, buffers.x, buffers.out],
    [Math.ceil(options.n / 64)],
  );
  return {
    label,
    dispatches: [dispatch],
    resize(next: { m: number; n: number }) {
      params.set([next.m, next.n, 0, 0]);
      dispatch.workgroups = [Math.ceil(next.n / 64), 1, 1];
    },
    destroy: () => mem.destroy(),
  };
}

/** What {@linkcode matmulBackward} reads and writes; omit a gradient to skip it. */
export interface MatmulGradBuffers {
  /** The forward's A. */
  a: Binding;
  /** The forward's B. */
  b: Binding;
  /** The upstream gradient dC (m, n). */
  dC: Binding;
  /** dL/dA, stored as A is. */
  dA?: Binding;
  /** dL/dB, stored as B is. */
  dB?: Binding;
  /** dL/dbias (n). */
  dBias?: Binding;
}

/** One gradient: target, name, operands, its shape from the forward's, its transposes. */
type GradPlan = [
  Binding | undefined,
  string,
  Binding,
  Binding,
  (d: MatmulShape) => MatmulShape,
  MatmulDims,
];

/** Each gradient is a matmul over the forward's shape, permuted, with other transposes. */
function gradPlans(grads: MatmulGradBuffers, dims: MatmulDims): GradPlan[] {
  const transA = Boolean(dims.transA);
  const transB = Boolean(dims.transB);
  return [
    transA
      // dA (k, m) = op(B)·dCᵀ
      ? [grads.dA, "dA", grads.b, grads.dC, (d) => ({ m: d.k, n: d.m, k: d.n }), {
        ...dims,
        transA: transB,
        transB: true,
      }]
      // dA (m, k) = dC·op(B)ᵀ
      : [grads.dA, "dA", grads.dC, grads.b, (d) => ({ m: d.m, n: d.k, k: d.n }), {
        ...dims,
        transA: false,
        transB: !transB,
      }],
    transB
      // dB (n, k) = dCᵀ·op(A)
      ? [grads.dB, "dB", grads.dC, grads.a, (d) => ({ m: d.n, n: d.k, k: d.m }), {
        ...dims,
        transA: true,
        transB: transA,
      }]
      // dB (k, n) = op(A)ᵀ·dC
      : [grads.dB, "dB", grads.a, grads.dC, (d) => ({ m: d.k, n: d.n, k: d.m }), {
        ...dims,
        transA: !transA,
        transB: false,
      }],
  ];
}

/** Settings of {@linkcode matmulBackward}. */
export interface MatmulBackwardOptions extends MatmulDims, OpOptions {
  /** Add (`+=`) into the gradients, as when a weight is shared. */
  accumulate?: boolean;
  /** Force a kernel variant of the matmuls. */
  variant?: MatmulVariant;
  /**
   * Compute dB and dbias, the sums over the m rows, by split-K (`reduce_gpu.ts`: chunks
   * of rows, partial sums added in a fixed order; the `gpu` profile). Needs A untransposed;
   * `resize` may then change m only.
   */
  splitK?: boolean;
}

type Part = { op: Op<MatmulShape>; shape: (d: MatmulShape) => MatmulShape };

/** dB and dbias as split-K reductions over the m rows (A untransposed). */
async function splitKParts(
  gpu: Gpu,
  buffers: MatmulGradBuffers,
  options: MatmulBackwardOptions,
  mem: OpOptions["allocator"],
): Promise<Part[]> {
  const label = options.label ?? "matmul";
  const { m, n, k } = options;
  if (options.transA) {
    throw new RangeError(`${label}: split-K gradients need A untransposed, got transA`);
  }
  const parts: Part[] = [];
  const accumulate = Boolean(options.accumulate);
  const rowsOnly = (d: MatmulShape) => {
    if (d.n !== n || d.k !== k) {
      throw new RangeError(
        `${label}: split-K gradients resize m only; expected n = ${n}, k = ${k}, got n = ${d.n}, k = ${d.k}`,
      );
    }
    return { rows: d.m };
  };
  if (buffers.dB) {
    // dB (n, k) = dCᵀ·A with transB, else dB (k, n) = Aᵀ·dC: a sum over the m rows.
    const [x, y, left, right] = options.transB
      ? [buffers.dC, buffers.a, n, k]
      : [buffers.a, buffers.dC, k, n];
    const op = await outerSumSplit(gpu, { x, y, out: buffers.dB }, {
      maxRows: m,
      left,
      right,
      accumulate,
      label: `${label} dB`,
      allocator: mem,
    });
    parts.push({ op: { ...op, resize: (d) => op.resize(rowsOnly(d)) }, shape: (d) => d });
  }
  if (buffers.dBias) {
    const op = await columnSumSplit(gpu, { x: buffers.dC, out: buffers.dBias }, {
      maxRows: m,
      columns: n,
      accumulate,
      label: `${label} dbias`,
      allocator: mem,
    });
    parts.push({ op: { ...op, resize: (d) => op.resize(rowsOnly(d)) }, shape: (d) => d });
  }
  return parts;
}

/**
 * Builds the dispatches for the gradients of C = op(A)·op(B) + bias:
 * dop(A) = dC·op(B)ᵀ and dop(B) = op(A)ᵀ·dC, each written in its input's
 * storage layout by choosing the transposes, and dbias = Σ_rows dC.
 *
 * @param gpu the device
 * @param buffers the forward's A and B, the upstream dC, and the destinations (any subset)
 * @param options the forward's shape and transposes; accumulate (`+=`) into the
 *   gradients, as when a weight is shared; label, variant, allocator; `splitK` for dB and
 *   dbias by split-K
 * @returns the op; `resize` takes the forward's shape
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { matmulBackward } from "./matmul.ts";
 * const gpu = await acquireGpu();
 * const a = createBuffer(gpu, "a", new Float32Array([1, 2])); // (1, 2)
 * const b = createBuffer(gpu, "b", new Float32Array([3, 4])); // (2, 1)
 * const dC = createBuffer(gpu, "dC", new Float32Array([1]));
 * const dA = createBuffer(gpu, "dA", 8);
 * const back = await matmulBackward(gpu, { a, b, dC, dA }, { m: 1, n: 1, k: 2 });
 * submitDispatches(gpu, back.dispatches);
 * if ((await readFloat32(gpu, dA)).join() !== "3,4") throw new Error("wrong dA");
 * ```
 */
export async function matmulBackward(
  gpu: Gpu,
  buffers: MatmulGradBuffers,
  options: MatmulBackwardOptions,
): Promise<Op<MatmulShape>> {
  const label = options.label ?? "matmul";
  const mem = opAllocator(gpu, `${label} backward`, options);
  const { accumulate, variant } = options;
  const dims: MatmulDims = options;
  const parts: Part[] = [];
  for (const [target, name, x, y, shape, flags] of gradPlans(buffers, dims)) {
    if (!target || (options.splitK && name === "dB")) continue;
    const op = await matmulForward(gpu, { a: x, b: y, c: target }, {
      ...flags,
      ...shape(dims),
      accumulate,
      variant,
      label: `${label} ${name}`,
      allocator: mem,
    });
    parts.push({ op, shape });
  }
  if (options.splitK) {
    parts.push(...await splitKParts(gpu, buffers, { ...options, label }, mem));
  } else if (buffers.dBias) {
    const op = await columnSum(gpu, { x: buffers.dC, out: buffers.dBias }, {
      m: dims.m,
      n: dims.n,
      accumulate,
      label: `${label} dbias`,
      allocator: mem,
    });
    parts.push({ op, shape: (d) => d });
  }
  return {
    label,
    dispatches: parts.flatMap((p) => p.op.dispatches),
    resize(next: MatmulShape) {
      for (const p of parts) p.op.resize(p.shape(next));
    },
    destroy: () => mem.destroy(),
  };
}

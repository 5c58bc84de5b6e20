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
import { placeholderBuffer } from "../gpu/buffers.ts";
import { type Dispatch, makeDispatch, ParamBlock } from "../gpu/kernel.ts";
import type { MatmulDims } from "./matmul_ref.ts";

export type { MatmulDims } from "./matmul_ref.ts";

/** A dispatch whose shape can change between submits (e.g. a new batch's row count). */
export interface ResizableDispatch extends Dispatch {
  /**
   * Rewrites the shape uniform and workgroup counts.
   *
   * @param dims the new shape (transposes cannot change)
   */
  resize(dims: { m: number; n: number; k: number }): void;
}

/** Options for {@linkcode matmulForward}. */
export interface MatmulOptions {
  /** Bias (n) added to every row. */
  bias?: GPUBuffer;
  /** Add into C instead of overwriting it (gradient accumulation). */
  accumulate?: boolean;
  /** Label for errors and profiles (default "matmul"). */
  label?: string;
  /** Force a kernel variant (default: the fastest that applies to the shape). */
  variant?: MatmulVariant;
}

/** Which kernel runs a matmul: chosen per shape by {@linkcode matmulForward}. */
export type MatmulVariant = "scalar" | "vec4";

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
 * @param c output (m, n)
 * @param a A (m, k), or (k, m) with `dims.transA`
 * @param b B (k, n), or (n, k) with `dims.transB`
 * @param dims shape and transposes
 * @param options bias, accumulation, label, variant
 * @returns a dispatch to record; resizable for a new m, n or k
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { matmulForward } from "./matmul.ts";
 * const gpu = await acquireGpu();
 * const a = createBuffer(gpu, "a", new Float32Array([1, 2, 3, 4])); // (2, 2)
 * const b = createBuffer(gpu, "b", new Float32Array([1, 0, 0, 1])); // identity
 * const c = createBuffer(gpu, "c", 16);
 * submitDispatches(gpu, [await matmulForward(gpu, c, a, b, { m: 2, n: 2, k: 2 })]);
 * const out = await readFloat32(gpu, c);
 * if (out.join() !== "1,2,3,4") throw new Error(out.join());
 * ```
 */
export async function matmulForward(
  gpu: Gpu,
  c: GPUBuffer,
  a: GPUBuffer,
  b: GPUBuffer,
  dims: MatmulDims,
  options: MatmulOptions = {},
): Promise<ResizableDispatch & { variant: MatmulVariant }> {
  const label = options.label ?? "matmul";
  const params = new ParamBlock(gpu, `${label} dims`, [dims.m, dims.n, dims.k, 0]);
  const constants = {
    TRANS_A: Boolean(dims.transA),
    TRANS_B: Boolean(dims.transB),
    HAS_BIAS: Boolean(options.bias),
    ACCUMULATE: Boolean(options.accumulate),
  };
  const bindings = [params.buffer, a, b, c, options.bias ?? placeholderBuffer(gpu)];
  // vec4 bindings need at least 16 bytes each; tiny buffers only ever run the scalar kernel.
  const bindable = bindings.every((b) => (b as { size: number }).size >= 16);
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
  const dispatch = { ...built.get(variants[0])!, variant: variants[0] };
  const choose = (next: MatmulDims) => {
    const variant: MatmulVariant = options.variant ??
      (built.has("vec4") && vec4Applies({ ...dims, ...next }) ? "vec4" : "scalar");
    if (variant === "vec4" && !vec4Applies({ ...dims, ...next })) {
      throw new Error(
        `${label}: the vec4 variant needs aligned shapes, got ${JSON.stringify(next)}`,
      );
    }
    const chosen = built.get(variant)!;
    dispatch.pipeline = chosen.pipeline;
    dispatch.bindGroup = chosen.bindGroup;
    dispatch.variant = variant;
    dispatch.workgroups = gridFor(variant, next);
  };
  choose(dims);
  return Object.assign(dispatch, {
    resize(next: { m: number; n: number; k: number }) {
      params.set([next.m, next.n, next.k, 0]);
      choose({ ...dims, ...next });
    },
  });
}

/**
 * Builds the dispatch for out[j] (+)= Σ_i x[i, j] over an (m, n) matrix:
 * the bias gradient.
 *
 * @param gpu the device
 * @param out output (n)
 * @param x input (m, n)
 * @param dims rows m and columns n
 * @param options accumulate into `out`; label
 * @returns a resizable dispatch (k is ignored)
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { columnSum } from "./matmul.ts";
 * const gpu = await acquireGpu();
 * const x = createBuffer(gpu, "x", new Float32Array([1, 2, 3, 4, 5, 6])); // (3, 2)
 * const out = createBuffer(gpu, "out", 8);
 * submitDispatches(gpu, [await columnSum(gpu, out, x, { m: 3, n: 2 })]);
 * if ((await readFloat32(gpu, out)).join() !== "9,12") throw new Error("wrong sums");
 * ```
 */
export async function columnSum(
  gpu: Gpu,
  out: GPUBuffer,
  x: GPUBuffer,
  dims: { m: number; n: number },
  options: { accumulate?: boolean; label?: string } = {},
): Promise<ResizableDispatch> {
  const label = options.label ?? "column sum";
  const params = new ParamBlock(gpu, `${label} dims`, [dims.m, dims.n, 0, 0]);
  const dispatch = await makeDispatch(
    gpu,
    {
      label,
      code: matmulWgsl,
      entryPoint: "colsum",
      constants: { ACCUMULATE: Boolean(options.accumulate) },
    },
    [params.buffer, x, out],
    [Math.ceil(dims.n / 64)],
  );
  return Object.assign(dispatch, {
    resize(next: { m: number; n: number }) {
      params.set([next.m, next.n, 0, 0]);
      dispatch.workgroups = [Math.ceil(next.n / 64), 1, 1];
    },
  });
}

/** Where {@linkcode matmulBackward} writes; omit a gradient to skip it. */
export interface MatmulGradBuffers {
  /** dL/dA, stored as A is. */
  dA?: GPUBuffer;
  /** dL/dB, stored as B is. */
  dB?: GPUBuffer;
  /** dL/dbias (n). */
  dBias?: GPUBuffer;
}

/**
 * Builds the dispatches for the gradients of C = op(A)·op(B) + bias:
 * dop(A) = dC·op(B)ᵀ and dop(B) = op(A)ᵀ·dC, each written in its input's
 * storage layout by choosing the transposes, and dbias = Σ_rows dC.
 *
 * @param gpu the device
 * @param grads destinations (any subset)
 * @param inputs the forward's A and B, and the upstream gradient dC (m, n)
 * @param dims the forward's shape and transposes
 * @param options accumulate (`+=`) into the gradients, as when a weight is shared
 * @returns the dispatches, in order
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
 * submitDispatches(gpu, await matmulBackward(gpu, { dA }, { a, b, dC }, { m: 1, n: 1, k: 2 }));
 * if ((await readFloat32(gpu, dA)).join() !== "3,4") throw new Error("wrong dA");
 * ```
 */
export async function matmulBackward(
  gpu: Gpu,
  grads: MatmulGradBuffers,
  inputs: { a: GPUBuffer; b: GPUBuffer; dC: GPUBuffer },
  dims: MatmulDims,
  options: { accumulate?: boolean; label?: string; variant?: MatmulVariant } = {},
): Promise<ResizableDispatch[]> {
  const transA = Boolean(dims.transA);
  const transB = Boolean(dims.transB);
  const label = options.label ?? "matmul";
  type Shape = { m: number; n: number; k: number };
  // Each gradient is a matmul over the forward's shape, permuted; `shape`
  // maps the forward's (m, n, k) to it so resize() takes forward shapes.
  const plans: [
    GPUBuffer | undefined,
    string,
    GPUBuffer,
    GPUBuffer,
    (d: Shape) => Shape,
    MatmulDims,
  ][] = [
    transA
      // dA (k, m) = op(B)·dCᵀ
      ? [grads.dA, "dA", inputs.b, inputs.dC, (d) => ({ m: d.k, n: d.m, k: d.n }), {
        ...dims,
        transA: transB,
        transB: true,
      }]
      // dA (m, k) = dC·op(B)ᵀ
      : [grads.dA, "dA", inputs.dC, inputs.b, (d) => ({ m: d.m, n: d.k, k: d.n }), {
        ...dims,
        transA: false,
        transB: !transB,
      }],
    transB
      // dB (n, k) = dCᵀ·op(A)
      ? [grads.dB, "dB", inputs.dC, inputs.a, (d) => ({ m: d.n, n: d.k, k: d.m }), {
        ...dims,
        transA: true,
        transB: transA,
      }]
      // dB (k, n) = op(A)ᵀ·dC
      : [grads.dB, "dB", inputs.a, inputs.dC, (d) => ({ m: d.k, n: d.n, k: d.m }), {
        ...dims,
        transA: !transA,
        transB: false,
      }],
  ];
  const out: ResizableDispatch[] = [];
  for (const [target, name, x, y, shape, flags] of plans) {
    if (!target) continue;
    const inner = await matmulForward(gpu, target, x, y, { ...flags, ...shape(dims) }, {
      accumulate: options.accumulate,
      variant: options.variant,
      label: `${label} ${name}`,
    });
    const resize = inner.resize;
    out.push(Object.assign(inner, { resize: (d: Shape) => resize(shape(d)) }));
  }
  if (grads.dBias) {
    out.push(
      await columnSum(gpu, grads.dBias, inputs.dC, dims, {
        accumulate: options.accumulate,
        label: `${label} dbias`,
      }),
    );
  }
  return out;
}

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
import { type Dispatch, makeDispatch, ParamBlock } from "../gpu/kernel.ts";

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

/** Options for {@linkcode gradNorm}. */
export interface GradNormOptions {
  /** Label for errors and profiles (default "grad norm"). */
  label?: string;
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
  grads: GPUBuffer,
  n: number,
  options: GradNormOptions = {},
): Promise<Dispatch[]> {
  const label = options.label ?? "grad norm";
  const plan = planReduction(n);
  if (grads.size < n * 4) {
    throw new RangeError(`${label}: grads holds ${grads.size / 4} floats, expected ≥ ${n}`);
  }
  const dims = new ParamBlock(gpu, `${label} dims`, [n, plan.len, plan.per, plan.groups]);
  const partials = createBuffer(gpu, `${label} partials`, plan.groups * WG * 4);
  return [
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
    await makeDispatch(
      gpu,
      { label: `${label} finish`, code: gradNormWgsl, entryPoint: "finish" },
      [dims.buffer, partials, out],
      [1],
    ),
  ];
}

/**
 * The dropout family on the GPU: inverted dropout whose mask is a
 * counter-based hash of (seed, step, element index), so the backward
 * recomputes it instead of storing it. Kernel: `shaders/dropout.wgsl`;
 * reference: `dropout_ref.ts` (the same mask bits, exactly).
 *
 * @module
 */

import { dropout as dropoutWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Dispatch, makeDispatch, ParamBlock } from "../gpu/kernel.ts";
import { linearGrid } from "./fill.ts";
import { dropoutThreshold } from "./dropout_ref.ts";

/** Options for {@linkcode dropoutForward} and {@linkcode dropoutBackward}. */
export interface DropoutOptions {
  /** Drop probability in [0, 1); 0 is the identity (an in-place dispatch is then skipped). */
  p: number;
  /** Seed (u32); give every dropout site its own. */
  seed: number;
  /** Training step (u32), changed with {@linkcode DropoutDispatch.setStep}; default 0. */
  step?: number;
  /** Label for errors and profiles (default "dropout"). */
  label?: string;
}

/** A dropout launch whose length and step can change between submits. */
export interface DropoutDispatch extends Dispatch {
  /**
   * Sets the element count (≤ the count the dispatch was built with).
   *
   * @param dims the new element count n
   */
  resize(dims: { n: number }): void;
  /**
   * Sets the step: a new mask. Forward and backward of one step must use the same step.
   *
   * @param step the training step (u32)
   */
  setStep(step: number): void;
}

/**
 * Builds the dispatch for y = dropout(x): `y[i] = keep(i) ? x[i] / (1 − p) : 0`
 * with keep(i) from (seed, step, i) (see `shaders/dropout.wgsl`). Out of place
 * with `buffers.y`, in place on `buffers.x` without it. The vec4 kernel runs
 * when n % 4 == 0. One dispatch (none when in place with p = 0).
 *
 * @param gpu the device
 * @param buffers x (n) f32, and y (n) f32 written with `=` (omit y for in place)
 * @param n element count
 * @param options drop probability, seed, step, label
 * @returns the dispatch; `resize({ n })` and `setStep(step)` between submits
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { dropoutForward } from "./dropout.ts";
 * const gpu = await acquireGpu();
 * const x = createBuffer(gpu, "x", new Float32Array([1, 1, 1, 1, 1, 1]));
 * submitDispatches(gpu, [await dropoutForward(gpu, { x }, 6, { p: 0.5, seed: 7 })]);
 * const y = await readFloat32(gpu, x, 6);
 * if (y.some((v) => v !== 0 && v !== 2)) throw new Error(y.join());
 * ```
 */
export async function dropoutForward(
  gpu: Gpu,
  buffers: { x: GPUBuffer; y?: GPUBuffer },
  n: number,
  options: DropoutOptions,
): Promise<DropoutDispatch> {
  const label = options.label ?? "dropout";
  const { p } = options;
  if (!(p >= 0 && p < 1)) {
    throw new RangeError(`${label}: expected a drop probability in [0, 1), found ${p}`);
  }
  for (const [name, v] of [["seed", options.seed], ["step", options.step ?? 0]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new RangeError(`${label}: expected ${name} to be a u32, found ${v}`);
    }
  }
  const capacity = n;
  const scale = Math.fround(1 / (1 - p));
  let step = options.step ?? 0;
  const params = new ParamBlock(gpu, `${label} params`, [0, 0, 0, 0, 0, 0, 0, 0]);
  const upload = (count: number) => {
    const view = new DataView(params.values.buffer);
    view.setUint32(0, count, true);
    view.setUint32(4, options.seed >>> 0, true);
    view.setUint32(8, step >>> 0, true);
    view.setUint32(12, dropoutThreshold(p), true);
    view.setFloat32(16, scale, true);
    gpu.queue.writeBuffer(params.buffer, 0, params.values);
  };
  const inPlace = !buffers.y;
  const bindings = inPlace ? [params.buffer, buffers.x] : [params.buffer, buffers.x, buffers.y!];
  const entries = inPlace ? ["inplace", "inplace_vec4"] : ["main", "main_vec4"];
  const scalar = await makeDispatch(
    gpu,
    { label, code: dropoutWgsl, entryPoint: entries[0] },
    bindings,
    [0],
  );
  // A vec4 binding must hold at least one vec4.
  const vec4 = bindings.every((b) => b.size >= 16)
    ? await makeDispatch(gpu, { label, code: dropoutWgsl, entryPoint: entries[1] }, bindings, [0])
    : null;
  const dispatch = { ...scalar };
  let current = n;
  const resize = (dims: { n: number }) => {
    if (!Number.isInteger(dims.n) || dims.n < 0 || dims.n > capacity) {
      throw new RangeError(
        `${label}: expected an element count in [0, ${capacity}], found ${dims.n}`,
      );
    }
    current = dims.n;
    upload(current);
    const chosen = (current % 4 === 0 ? vec4 : null) ?? scalar;
    dispatch.pipeline = chosen.pipeline;
    dispatch.bindGroup = chosen.bindGroup;
    // p = 0 in place is the identity: skip the launch.
    dispatch.workgroups = inPlace && p === 0 ? [0, 1, 1] : linearGrid(Math.ceil(current / 4));
  };
  resize({ n });
  return Object.assign(dispatch, {
    resize,
    setStep(next: number) {
      if (!Number.isInteger(next) || next < 0 || next > 0xffffffff) {
        throw new RangeError(`${label}: expected step to be a u32, found ${next}`);
      }
      step = next;
      upload(current);
    },
  });
}

/**
 * Builds the backward of {@linkcode dropoutForward}: dx = dropout(dy) with the
 * same seed and step (the mask is recomputed, not stored). In place on dy
 * without `buffers.dx`. One dispatch (none when in place with p = 0).
 *
 * @param gpu the device
 * @param buffers dy (n) f32, and dx (n) f32 written with `=` (omit for in place)
 * @param n element count
 * @param options the forward's drop probability, seed and step
 * @returns the dispatch; `resize({ n })` and `setStep(step)` between submits
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { dropoutBackward } from "./dropout.ts";
 * const gpu = await acquireGpu();
 * const dy = createBuffer(gpu, "dy", new Float32Array([3, 3]));
 * const dx = createBuffer(gpu, "dx", 8);
 * submitDispatches(gpu, [await dropoutBackward(gpu, { dy, dx }, 2, { p: 0, seed: 1 })]);
 * if ((await readFloat32(gpu, dx)).join() !== "3,3") throw new Error("p = 0 is the identity");
 * ```
 */
export function dropoutBackward(
  gpu: Gpu,
  buffers: { dy: GPUBuffer; dx?: GPUBuffer },
  n: number,
  options: DropoutOptions,
): Promise<DropoutDispatch> {
  return dropoutForward(gpu, { x: buffers.dy, y: buffers.dx }, n, {
    ...options,
    label: options.label ?? "dropout backward",
  });
}

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
import { type Binding, makeDispatch } from "../gpu/kernel.ts";
import { bindingBytes, linearGrid, type Op, opAllocator, type OpOptions } from "./common.ts";

/**
 * The u32 compared with the hash: an element is kept when its hash is at
 * least `round(p · 2³²)` (clamped to 2³² − 1), so it is kept with
 * probability 1 − p up to 2⁻³².
 *
 * @param p the drop probability, in [0, 1)
 * @returns the threshold, a u32
 *
 * @example
 * ```ts
 * import { dropoutThreshold } from "./dropout.ts";
 * if (dropoutThreshold(0) !== 0 || dropoutThreshold(0.5) !== 2 ** 31) throw new Error("wrong");
 * ```
 */
export function dropoutThreshold(p: number): number {
  return Math.min(2 ** 32 - 1, Math.round(p * 2 ** 32));
}

/** Options for {@linkcode dropoutForward} and {@linkcode dropoutBackward}. */
export interface DropoutOptions extends OpOptions {
  /** Element count n (the most a `resize` may ask for). */
  n: number;
  /** Drop probability in [0, 1); 0 is the identity (an in-place dispatch is then skipped). */
  p: number;
  /** Seed (u32); give every dropout site its own. */
  seed: number;
  /** Training step (u32), changed with {@linkcode DropoutOp.setStep}; default 0. */
  step?: number;
}

/** A dropout launch whose length and step can change between submits (one dispatch). */
export interface DropoutOp extends Op<{ n: number }> {
  /**
   * Sets the step: a new mask. Forward and backward of one step must use the same step.
   *
   * @param step the training step (u32)
   */
  setStep(step: number): void;
}

function checkU32(label: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`${label}: expected ${name} to be a u32, found ${v}`);
  }
}

/**
 * Builds the dispatch for y = dropout(x): `y[i] = keep(i) ? x[i] / (1 − p) : 0`
 * with keep(i) from (seed, step, i) (see `shaders/dropout.wgsl`). Out of place
 * with `buffers.y`, in place on `buffers.x` without it. The vec4 kernel runs
 * when n % 4 == 0. One dispatch (none when in place with p = 0).
 *
 * @param gpu the device
 * @param buffers x (n) f32, and y (n) f32 written with `=` (omit y for in place)
 * @param options element count, drop probability, seed, step, label, allocator
 * @returns the op; `resize({ n })` and `setStep(step)` between submits
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { dropoutForward } from "./dropout.ts";
 * const gpu = await acquireGpu();
 * const x = createBuffer(gpu, "x", new Float32Array([1, 1, 1, 1, 1, 1]));
 * submitDispatches(gpu, (await dropoutForward(gpu, { x }, { n: 6, p: 0.5, seed: 7 })).dispatches);
 * const y = await readFloat32(gpu, x, 6);
 * if (y.some((v) => v !== 0 && v !== 2)) throw new Error(y.join());
 * ```
 */
export async function dropoutForward(
  gpu: Gpu,
  buffers: { x: Binding; y?: Binding },
  options: DropoutOptions,
): Promise<DropoutOp> {
  const label = options.label ?? "dropout";
  const { p, n } = options;
  if (!(p >= 0 && p < 1)) {
    throw new RangeError(`${label}: expected a drop probability in [0, 1), found ${p}`);
  }
  checkU32(label, "seed", options.seed);
  checkU32(label, "step", options.step ?? 0);
  const capacity = n;
  const scale = Math.fround(1 / (1 - p));
  let step = options.step ?? 0;
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} params`, [0, 0, 0, 0, 0, 0, 0, 0]);
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
  const code = dropoutWgsl;
  const scalar = await makeDispatch(gpu, { label, code, entryPoint: entries[0] }, bindings, [0]);
  // A vec4 binding must hold at least one vec4.
  const vec4 = bindings.every((b) => bindingBytes(b) >= 16)
    ? await makeDispatch(gpu, { label, code, entryPoint: entries[1] }, bindings, [0])
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
  return {
    label,
    dispatches: [dispatch],
    resize,
    setStep(next: number) {
      checkU32(label, "step", next);
      step = next;
      upload(current);
    },
    destroy: () => mem.destroy(),
  };
}

/**
 * Builds the backward of {@linkcode dropoutForward}: dx = dropout(dy) with the
 * same seed and step (the mask is recomputed, not stored). In place on dy
 * without `buffers.dx`. One dispatch (none when in place with p = 0).
 *
 * @param gpu the device
 * @param buffers dy (n) f32, and dx (n) f32 written with `=` (omit for in place)
 * @param options the forward's element count, drop probability, seed and step
 * @returns the op; `resize({ n })` and `setStep(step)` between submits
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { dropoutBackward } from "./dropout.ts";
 * const gpu = await acquireGpu();
 * const dy = createBuffer(gpu, "dy", new Float32Array([3, 3]));
 * const dx = createBuffer(gpu, "dx", 8);
 * const back = await dropoutBackward(gpu, { dy, dx }, { n: 2, p: 0, seed: 1 });
 * submitDispatches(gpu, back.dispatches);
 * if ((await readFloat32(gpu, dx)).join() !== "3,3") throw new Error("p = 0 is the identity");
 * ```
 */
export function dropoutBackward(
  gpu: Gpu,
  buffers: { dy: Binding; dx?: Binding },
  options: DropoutOptions,
): Promise<DropoutOp> {
  return dropoutForward(gpu, { x: buffers.dy, y: buffers.dx }, {
    ...options,
    label: options.label ?? "dropout backward",
  });
}

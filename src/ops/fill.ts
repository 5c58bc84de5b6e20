/**
 * The fill family: set a range of a buffer to one value, on the GPU, inside
 * the step's single submit (zeroing the `+=` gradient accumulators every
 * step needs no host copy). Kernel: `shaders/fill.wgsl`. The reference is a
 * typed-array `fill`, used directly by `tests/fill_test.ts`.
 *
 * Also exports {@linkcode linearGrid}, the 2-D workgroup grid the flat
 * kernels of this project use to exceed the 65,535 workgroups per dimension.
 *
 * @module
 */

import { fill as fillWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Dispatch, makeDispatch, ParamBlock } from "../gpu/kernel.ts";

/**
 * Workgroup counts covering `invocations` flat invocations with workgroups
 * of `workgroupSize`: `[x, y, 1]` with x ≤ 65,535, so a kernel computes its
 * flat id as `(wid.y · nwg.x + wid.x) · workgroupSize + lid` (the last row
 * may overshoot; kernels bound-check).
 *
 * @param invocations how many invocations are needed (0 gives a skipped dispatch)
 * @param workgroupSize invocations per workgroup (default 64)
 * @returns the workgroup counts
 *
 * @example
 * ```ts
 * import { linearGrid } from "./fill.ts";
 * if (linearGrid(100).join() !== "2,1,1") throw new Error("wrong grid");
 * if (linearGrid(64 * 70000)[1] !== 2) throw new Error("no second row");
 * ```
 */
export function linearGrid(invocations: number, workgroupSize = 64): [number, number, number] {
  const groups = Math.ceil(invocations / workgroupSize);
  if (groups === 0) return [0, 1, 1];
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x), 1];
}

/** How the fill value is stored. */
export type FillType = "f32" | "i32" | "u32";

/** The range and value type of {@linkcode fillBuffer}. */
export interface FillOptions {
  /** First 32-bit word to set (default 0). */
  offset?: number;
  /** Words to set (default: to the end of the buffer). */
  count?: number;
  /** How `value` is encoded (default "f32"). */
  type?: FillType;
  /** Label for errors and profiles (default "fill"). */
  label?: string;
}

/** A fill whose range can change between submits. */
export interface FillDispatch extends Dispatch {
  /**
   * Sets a new range (same buffer, same value); picks the vec4 kernel when aligned.
   *
   * @param range the first word and the word count
   */
  resize(range: { offset?: number; count: number }): void;
}

function valueBits(value: number, type: FillType): number {
  const view = new DataView(new ArrayBuffer(4));
  if (type === "f32") view.setFloat32(0, value, true);
  else if (type === "i32") view.setInt32(0, value, true);
  else view.setUint32(0, value, true);
  return view.getUint32(0, true);
}

/**
 * Builds the dispatch for `buffer[offset .. offset + count) = value` (32-bit
 * words). Runs the vec4 kernel (one 64-byte line per invocation) when offset
 * and count are multiples of 4, the scalar one otherwise. One dispatch.
 *
 * @param gpu the device
 * @param buffer the buffer to set (storage usage)
 * @param value the value (encoded as `options.type` says)
 * @param options range, value type, label
 * @returns a dispatch to record; resizable for a new range
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { fillBuffer } from "./fill.ts";
 * const gpu = await acquireGpu();
 * const x = createBuffer(gpu, "x", new Float32Array([1, 2, 3]));
 * submitDispatches(gpu, [await fillBuffer(gpu, x, 0, { offset: 1, count: 2 })]);
 * if ((await readFloat32(gpu, x)).join() !== "1,0,0") throw new Error("not filled");
 * ```
 */
export async function fillBuffer(
  gpu: Gpu,
  buffer: GPUBuffer,
  value: number,
  options: FillOptions = {},
): Promise<FillDispatch> {
  const label = options.label ?? "fill";
  const bits = valueBits(value, options.type ?? "f32");
  const words = Math.floor(buffer.size / 4);
  const params = new ParamBlock(gpu, `${label} dims`, [0, 0, 0, 0]);
  const code = fillWgsl;
  const scalar = await makeDispatch(gpu, { label, code }, [params.buffer, buffer], [0]);
  // A vec4 binding must hold at least one vec4.
  const vec4 = buffer.size >= 16
    ? await makeDispatch(gpu, { label, code, entryPoint: "main_vec4" }, [params.buffer, buffer], [
      0,
    ])
    : null;
  const dispatch = { ...scalar };
  const resize = (range: { offset?: number; count: number }) => {
    const offset = range.offset ?? 0;
    const count = range.count;
    if (
      !(Number.isInteger(offset) && offset >= 0 && Number.isInteger(count) && count >= 0) ||
      offset + count > words
    ) {
      throw new RangeError(
        `${label}: expected a range inside the buffer's ${words} words, ` +
          `found offset ${offset} and count ${count}`,
      );
    }
    const aligned = offset % 4 === 0 && count % 4 === 0 && vec4 !== null;
    const chosen = aligned ? vec4 : scalar;
    const unit = aligned ? 4 : 1;
    // Both entries write 4 units per invocation.
    params.set([offset / unit, count / unit, 0, 0]);
    params.values[2] = bits;
    gpu.queue.writeBuffer(params.buffer, 0, params.values);
    dispatch.pipeline = chosen.pipeline;
    dispatch.bindGroup = chosen.bindGroup;
    dispatch.workgroups = linearGrid(Math.ceil(count / unit / 4));
  };
  const offset = options.offset ?? 0;
  resize({ offset, count: options.count ?? words - offset });
  return Object.assign(dispatch, { resize });
}

/**
 * The fill family: set a range of a buffer to one value, on the GPU, inside
 * the step's single submit (zeroing the `+=` gradient accumulators every
 * step needs no host copy). Kernel: `shaders/fill.wgsl`. The reference is a
 * typed-array `fill`, used directly by `tests/fill_test.ts`.
 *
 * @module
 */

import { fill as fillWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Binding, makeDispatch } from "../gpu/kernel.ts";
import { bindingBytes, linearGrid, type Op, opAllocator, type OpOptions } from "./common.ts";

export { linearGrid } from "./common.ts";

/** How the fill value is stored. */
export type FillType = "f32" | "i32" | "u32";

/** A range of 32-bit words: what {@linkcode FillOp.resize} takes. */
export interface FillRange {
  /** First 32-bit word to set (default 0). */
  offset?: number;
  /** Words to set. */
  count: number;
}

/** The value, range and value type of {@linkcode fillBuffer}. */
export interface FillOptions extends OpOptions {
  /** The value (encoded as `type` says; default 0). */
  value?: number;
  /** First 32-bit word to set (default 0). */
  offset?: number;
  /** Words to set (default: to the end of the buffer). */
  count?: number;
  /** How `value` is encoded (default "f32"). */
  type?: FillType;
}

/** A fill whose range can change between submits (one dispatch). */
export type FillOp = Op<FillRange>;

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
 * @param buffers `buffer`: the words to set (storage usage)
 * @param options value, range, value type, label, allocator
 * @returns the op; `resize({ offset, count })` for a new range
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { fillBuffer } from "./fill.ts";
 * const gpu = await acquireGpu();
 * const x = createBuffer(gpu, "x", new Float32Array([1, 2, 3]));
 * const fill = await fillBuffer(gpu, { buffer: x }, { value: 0, offset: 1, count: 2 });
 * submitDispatches(gpu, fill.dispatches);
 * if ((await readFloat32(gpu, x)).join() !== "1,0,0") throw new Error("not filled");
 * fill.destroy();
 * ```
 */
export async function fillBuffer(
  gpu: Gpu,
  buffers: { buffer: Binding },
  options: FillOptions = {},
): Promise<FillOp> {
  const label = options.label ?? "fill";
  const bits = valueBits(options.value ?? 0, options.type ?? "f32");
  const bytes = bindingBytes(buffers.buffer);
  const words = Math.floor(bytes / 4);
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} dims`, [0, 0, 0, 0]);
  const code = fillWgsl;
  const bindings = [params.buffer, buffers.buffer];
  const scalar = await makeDispatch(gpu, { label, code }, bindings, [0]);
  // A vec4 binding must hold at least one vec4.
  const vec4 = bytes >= 16
    ? await makeDispatch(gpu, { label, code, entryPoint: "main_vec4" }, bindings, [0])
    : null;
  const dispatch = { ...scalar };
  const resize = (range: FillRange) => {
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
  return { label, dispatches: [dispatch], resize, destroy: () => mem.destroy() };
}

/**
 * GPU buffers: creation from typed arrays, the byte counters of
 * {@linkcode gpuMemory}, and asynchronous readback. Ownership (who frees
 * what) is the {@linkcode Allocator}'s, in `allocator.ts`.
 *
 * @module
 */

import type { Gpu } from "./device.ts";

/** Usage flags for a buffer that kernels read and write and the host uploads to and reads. */
export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/** Usage flags for a small uniform parameter block. */
export const UNIFORM_USAGE = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;

/** Bytes, rounded up to WebGPU's 4-byte copy granularity (and at least 4). */
function paddedSize(bytes: number): number {
  return Math.max(4, Math.ceil(bytes / 4) * 4);
}

/** Bytes of GPU buffers made through {@linkcode createBuffer} on one device. */
export interface GpuMemoryStats {
  /** Bytes created so far, freed or not. */
  allocatedBytes: number;
  /** Bytes created and not yet released through {@linkcode destroyBuffer}. */
  liveBytes: number;
  /** The largest `liveBytes` seen. */
  peakBytes: number;
}

const memory = new WeakMap<GPUDevice, GpuMemoryStats>();

/**
 * What the library has allocated on `gpu` (buffers made with
 * {@linkcode createBuffer}; the benchmark's memory figure).
 *
 * @param gpu the device
 * @returns a snapshot of the counters
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { createBuffer, destroyBuffer, gpuMemory } from "./buffers.ts";
 * const gpu = await acquireGpu();
 * const before = gpuMemory(gpu).liveBytes;
 * const b = createBuffer(gpu, "x", 1024);
 * if (gpuMemory(gpu).liveBytes !== before + 1024) throw new Error("not counted");
 * destroyBuffer(gpu, b);
 * if (gpuMemory(gpu).liveBytes !== before) throw new Error("not released");
 * ```
 */
export function gpuMemory(gpu: Gpu): GpuMemoryStats {
  return { ...(memory.get(gpu.device) ?? { allocatedBytes: 0, liveBytes: 0, peakBytes: 0 }) };
}

function countBytes(gpu: Gpu, bytes: number): void {
  const stats = memory.get(gpu.device) ?? { allocatedBytes: 0, liveBytes: 0, peakBytes: 0 };
  if (bytes > 0) stats.allocatedBytes += bytes;
  stats.liveBytes += bytes;
  stats.peakBytes = Math.max(stats.peakBytes, stats.liveBytes);
  memory.set(gpu.device, stats);
}

/**
 * Destroys a buffer made by {@linkcode createBuffer} and updates
 * {@linkcode gpuMemory}.
 *
 * @param gpu the device
 * @param buffer the buffer
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { createBuffer, destroyBuffer } from "./buffers.ts";
 * const gpu = await acquireGpu();
 * destroyBuffer(gpu, createBuffer(gpu, "x", 16));
 * ```
 */
export function destroyBuffer(gpu: Gpu, buffer: GPUBuffer): void {
  countBytes(gpu, -buffer.size);
  buffer.destroy();
}

/**
 * Creates a storage buffer, optionally filled with `data`.
 *
 * @param gpu the device
 * @param label name shown in WebGPU error messages
 * @param data contents, or a size in bytes for a zero-filled buffer
 * @param usage usage flags (default: storage + copy both ways)
 * @returns the buffer
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { createBuffer, readFloat32 } from "./buffers.ts";
 * const gpu = await acquireGpu();
 * const buffer = createBuffer(gpu, "x", new Float32Array([1, 2, 3]));
 * const back = await readFloat32(gpu, buffer);
 * if (back[2] !== 3) throw new Error("readback failed");
 * ```
 */
export function createBuffer(
  gpu: Gpu,
  label: string,
  data: ArrayBufferView | number,
  usage: number = STORAGE_USAGE,
): GPUBuffer {
  const bytes = typeof data === "number" ? data : data.byteLength;
  const buffer = gpu.device.createBuffer({ label, size: paddedSize(bytes), usage });
  countBytes(gpu, buffer.size);
  if (typeof data !== "number" && data.byteLength > 0) writeBuffer(gpu, buffer, data);
  return buffer;
}

/**
 * Uploads `data` into `buffer` at `offset` bytes; padded to 4 bytes.
 *
 * @param gpu the device
 * @param buffer destination (needs COPY_DST)
 * @param data the bytes to write
 * @param offset byte offset in the destination
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { createBuffer, readInt32, writeBuffer } from "./buffers.ts";
 * const gpu = await acquireGpu();
 * const buffer = createBuffer(gpu, "ids", 16);
 * writeBuffer(gpu, buffer, new Int32Array([7]), 8);
 * if ((await readInt32(gpu, buffer))[2] !== 7) throw new Error("write failed");
 * ```
 */
export function writeBuffer(gpu: Gpu, buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
  const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  // Nothing to write; an empty write panics Deno 2.9's WebGPU.
  if (bytes.byteLength === 0) return;
  if (bytes.byteLength % 4 === 0) {
    gpu.queue.writeBuffer(buffer, offset, bytes);
  } else {
    const padded = new Uint8Array(paddedSize(bytes.byteLength));
    padded.set(bytes);
    gpu.queue.writeBuffer(buffer, offset, padded);
  }
}

/**
 * Copies `byteLength` bytes of `buffer` back to the host. One submit and
 * one map: on a software adapter this costs ≈ 11 ms however small, so
 * never call it per batch.
 *
 * @param gpu the device
 * @param buffer the source (needs COPY_SRC)
 * @param byteLength bytes to read (default: the whole buffer)
 * @param byteOffset where to start
 * @returns the bytes
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { createBuffer, readBytes } from "./buffers.ts";
 * const gpu = await acquireGpu();
 * const bytes = await readBytes(gpu, createBuffer(gpu, "b", new Uint8Array([1, 2, 3, 4])));
 * if (bytes[3] !== 4) throw new Error("readback failed");
 * ```
 */
export async function readBytes(
  gpu: Gpu,
  buffer: GPUBuffer,
  byteLength = buffer.size,
  byteOffset = 0,
): Promise<Uint8Array> {
  gpu.check();
  const size = paddedSize(byteLength);
  const staging = gpu.device.createBuffer({
    label: `readback of ${buffer.label}`,
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = gpu.device.createCommandEncoder({ label: `readback of ${buffer.label}` });
  encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
  gpu.queue.submit([encoder.finish()]);
  try {
    await staging.mapAsync(GPUMapMode.READ);
  } catch (e) {
    gpu.check();
    throw e;
  }
  const out = new Uint8Array(staging.getMappedRange().slice(0, byteLength));
  staging.unmap();
  staging.destroy();
  gpu.check();
  return out;
}

/**
 * Reads a buffer as float32 values.
 *
 * @param gpu the device
 * @param buffer the source
 * @param count number of values (default: all that fit)
 * @returns the values
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { createBuffer, readFloat32 } from "./buffers.ts";
 * const gpu = await acquireGpu();
 * const x = await readFloat32(gpu, createBuffer(gpu, "x", new Float32Array([0.5])));
 * if (x[0] !== 0.5) throw new Error("readback failed");
 * ```
 */
export async function readFloat32(
  gpu: Gpu,
  buffer: GPUBuffer,
  count?: number,
): Promise<Float32Array> {
  const n = count ?? Math.floor(buffer.size / 4);
  const bytes = await readBytes(gpu, buffer, n * 4);
  return new Float32Array(bytes.buffer, bytes.byteOffset, n);
}

/**
 * Reads a buffer as int32 values.
 *
 * @param gpu the device
 * @param buffer the source
 * @param count number of values (default: all that fit)
 * @returns the values
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { createBuffer, readInt32 } from "./buffers.ts";
 * const gpu = await acquireGpu();
 * const x = await readInt32(gpu, createBuffer(gpu, "x", new Int32Array([-3])));
 * if (x[0] !== -3) throw new Error("readback failed");
 * ```
 */
export async function readInt32(gpu: Gpu, buffer: GPUBuffer, count?: number): Promise<Int32Array> {
  const n = count ?? Math.floor(buffer.size / 4);
  const bytes = await readBytes(gpu, buffer, n * 4);
  return new Int32Array(bytes.buffer, bytes.byteOffset, n);
}

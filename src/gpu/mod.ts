/**
 * The GPU runtime: device acquisition and errors, buffers and readback,
 * memory ownership (the allocator),
 * pipelines, dispatch recording and profiling.
 *
 * @module
 */

export * from "./device.ts";
export * from "./buffers.ts";
export * from "./kernel.ts";
export * from "./profile.ts";
export * from "./allocator.ts";

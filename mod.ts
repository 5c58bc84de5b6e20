/**
 * webgpu-ner: BiLSTM-CRF named-entity recognition trained and run on the
 * GPU through WebGPU, in Deno and in browsers. This module re-exports the
 * public API; it has no dependencies beyond the web platform.
 *
 * @example
 * ```ts
 * import { acquireGpu, describeAdapter } from "./mod.ts";
 * const gpu = await acquireGpu();
 * console.log(describeAdapter(gpu.adapter));
 * ```
 *
 * @module
 */

export * from "./src/gpu/mod.ts";
export * from "./src/ops/matmul.ts";

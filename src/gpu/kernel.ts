/**
 * Kernels and dispatches: a compute pipeline cache keyed by shader source,
 * entry point and override constants; bind-group construction; and
 * recording many dispatches into one compute pass and one submit.
 *
 * A training step is a fixed list of {@linkcode Dispatch}es built once, so
 * per step the host only sets pipelines and bind groups and submits.
 *
 * @module
 */

import { type Gpu, GpuOperationError } from "./device.ts";
import { createBuffer, destroyBuffer, UNIFORM_USAGE } from "./buffers.ts";

/** What identifies a compute pipeline. */
export interface KernelSpec {
  /** Name used in error messages and profiles, e.g. "matmul". */
  label: string;
  /** WGSL source. */
  code: string;
  /** Entry point (default "main"). */
  entryPoint?: string;
  /** Pipeline-overridable constants. */
  constants?: Record<string, number | boolean>;
}

/** One recorded kernel launch. */
export interface Dispatch {
  /** Name used in profiles and errors. */
  label: string;
  /** The pipeline to run. */
  pipeline: GPUComputePipeline;
  /** Group 0's resources. */
  bindGroup: GPUBindGroup;
  /** Workgroup counts; may be changed between submits (e.g. when the batch shape changes). */
  workgroups: [number, number, number];
}

const caches = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();
/** The spec each pipeline was compiled from (ops may swap a dispatch's pipeline on resize). */
const specs = new WeakMap<GPUComputePipeline, KernelSpec>();
let printShaders = false;

/**
 * Prints each shader's WGSL as its pipeline is first compiled (for debugging).
 *
 * @param on whether to print
 *
 * @example
 * ```ts
 * import { setShaderPrinting } from "./kernel.ts";
 * setShaderPrinting(false);
 * ```
 */
export function setShaderPrinting(on: boolean): void {
  printShaders = on;
}

/**
 * Returns the compute pipeline for `spec`, compiling it on first use.
 * Compilation errors are thrown at once, naming the kernel and the WGSL
 * line.
 *
 * @param gpu the device
 * @param spec source, entry point and constants
 * @returns the cached pipeline
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { getPipeline } from "./kernel.ts";
 * const gpu = await acquireGpu();
 * const spec = { label: "noop", code: "@compute @workgroup_size(1) fn main() {}" };
 * if (await getPipeline(gpu, spec) !== await getPipeline(gpu, spec)) throw new Error("not cached");
 * ```
 */
export async function getPipeline(gpu: Gpu, spec: KernelSpec): Promise<GPUComputePipeline> {
  let cache = caches.get(gpu.device);
  if (!cache) caches.set(gpu.device, cache = new Map());
  const entryPoint = spec.entryPoint ?? "main";
  const constants = spec.constants ?? {};
  const key = `${entryPoint}\u0000${
    JSON.stringify(Object.entries(constants).sort())
  }\u0000${spec.code}`;
  const cached = cache.get(key);
  if (cached) return cached;
  if (printShaders) console.error(`// ${spec.label} (${entryPoint})\n${spec.code}`);
  const label = `${spec.label}:${entryPoint}`;
  const pipeline = await gpu.scopedNow(label, () => {
    const module = gpu.device.createShaderModule({ label, code: spec.code });
    const numeric: Record<string, number> = {};
    for (const [name, value] of Object.entries(constants)) numeric[name] = Number(value);
    return gpu.device.createComputePipeline({
      label,
      layout: "auto",
      compute: { module, entryPoint, constants: numeric },
    });
  }).catch(async (e) => {
    // Attach the compiler's messages with line numbers when it has them.
    gpu.device.pushErrorScope("validation");
    const module = gpu.device.createShaderModule({ label, code: spec.code });
    const info = await module.getCompilationInfo?.();
    await gpu.device.popErrorScope(); // the same error again: already reported
    const lines = info?.messages.map((m) => `  line ${m.lineNum}:${m.linePos} ${m.message}`);
    if (lines?.length) e.message += "\n" + lines.join("\n");
    throw e;
  });
  cache.set(key, pipeline);
  specs.set(pipeline, { ...spec, entryPoint, constants });
  return pipeline;
}

/**
 * Every kernel compiled on a device so far (by {@linkcode getPipeline}):
 * source, entry point and constants, one per pipeline, in compile order.
 * For checks that each pipeline fits the device's limits.
 *
 * @param gpu the device
 * @returns the kernels' specs
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { compiledKernels, getPipeline } from "./kernel.ts";
 * const gpu = await acquireGpu();
 * await getPipeline(gpu, { label: "noop", code: "@compute @workgroup_size(1) fn main() {}" });
 * if (!compiledKernels(gpu).some((k) => k.label === "noop")) throw new Error("not listed");
 * ```
 */
export function compiledKernels(gpu: Gpu): KernelSpec[] {
  const cache = caches.get(gpu.device);
  if (!cache) return [];
  return [...cache.values()].map((pipeline) => specs.get(pipeline)!);
}

/**
 * The kernel a dispatch runs now: the source, entry point and constants
 * its current pipeline was compiled from (for occupancy tables and
 * debugging; an op that swaps variants on resize swaps the pipeline, so
 * this follows it).
 *
 * @param dispatch the dispatch
 * @returns its kernel's spec (the label is the first one compiled with it)
 * @throws {Error} when the pipeline did not come from {@linkcode getPipeline}
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { createBuffer } from "./buffers.ts";
 * import { dispatchSpec, makeDispatch } from "./kernel.ts";
 * const gpu = await acquireGpu();
 * const code = "@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n" +
 *   "@compute @workgroup_size(4) fn main() { x[0] = 1.0; }";
 * const d = await makeDispatch(gpu, { label: "one", code }, [createBuffer(gpu, "x", 16)], [1]);
 * if (dispatchSpec(d).entryPoint !== "main") throw new Error("no spec");
 * ```
 */
export function dispatchSpec(dispatch: Dispatch): KernelSpec {
  const spec = specs.get(dispatch.pipeline);
  if (!spec) throw new Error(`Dispatch '${dispatch.label}': its pipeline has no recorded spec`);
  return spec;
}

/** A binding: a whole buffer, or a byte range of one. */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/**
 * Makes a bind group for group 0 of `pipeline`, binding `bindings[i]` to
 * `@binding(i)`.
 *
 * @param gpu the device
 * @param label name for error messages
 * @param pipeline the pipeline whose layout to use
 * @param bindings resources in binding order
 * @returns the bind group
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { createBuffer } from "./buffers.ts";
 * import { makeBindGroup, getPipeline } from "./kernel.ts";
 * const gpu = await acquireGpu();
 * const pipeline = await getPipeline(gpu, {
 *   label: "fill",
 *   code: "@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n" +
 *     "@compute @workgroup_size(1) fn main() { x[0] = 1.0; }",
 * });
 * makeBindGroup(gpu, "fill", pipeline, [createBuffer(gpu, "x", 4)]);
 * ```
 */
export function makeBindGroup(
  gpu: Gpu,
  label: string,
  pipeline: GPUComputePipeline,
  bindings: Binding[],
): GPUBindGroup {
  const group = gpu.device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries: bindings.map((b, binding) => ({
      binding,
      resource: "buffer" in b && !(b instanceof GPUBuffer) ? b : { buffer: b as GPUBuffer },
    })),
  });
  bindGroupSources.set(group, {
    label,
    pipeline,
    bindings,
    byRanges: new Map([[rangeKey(bindings), group]]),
  });
  return group;
}

/** What a bind group was made from, and the groups made since for other ranges of the same bindings. */
interface BindGroupSource {
  label: string;
  pipeline: GPUComputePipeline;
  bindings: Binding[];
  byRanges: Map<string, GPUBindGroup>;
}
const bindGroupSources = new WeakMap<GPUBindGroup, BindGroupSource>();

/** The offsets and sizes of a binding list, as a map key. */
function rangeKey(bindings: Binding[]): string {
  return bindings.map((b) => b instanceof GPUBuffer ? "" : `${b.offset ?? 0}+${b.size ?? ""}`)
    .join();
}

/**
 * Rebinds each dispatch to the current ranges of the binding objects its bind group was made
 * from: for a caller that moves the `offset` (or `size`) of a `{ buffer, offset, size }`
 * binding it passed to an op (as a split BiLSTM does per batch shape). One bind group is made
 * per distinct set of ranges and reused after.
 *
 * @param gpu the device
 * @param dispatches dispatches whose bind groups came from {@linkcode makeBindGroup}
 * @throws {Error} naming a dispatch whose bind group was made elsewhere
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { createBuffer, readFloat32 } from "./buffers.ts";
 * import { makeDispatch, rebindDispatches, submitDispatches } from "./kernel.ts";
 * const gpu = await acquireGpu();
 * const x = createBuffer(gpu, "x", 512);
 * const range = { buffer: x, offset: 0, size: 16 };
 * const code = "@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n" +
 *   "@compute @workgroup_size(1) fn main() { x[0] = 7.0; }";
 * const d = await makeDispatch(gpu, { label: "seven", code }, [range], [1]);
 * range.offset = 256;
 * rebindDispatches(gpu, [d]);
 * submitDispatches(gpu, [d]);
 * if ((await readFloat32(gpu, x))[64] !== 7) throw new Error("not rebound");
 * ```
 */
export function rebindDispatches(gpu: Gpu, dispatches: readonly Dispatch[]): void {
  for (const dispatch of dispatches) {
    const source = bindGroupSources.get(dispatch.bindGroup);
    if (!source) {
      throw new Error(`Dispatch '${dispatch.label}': its bind group was not made by makeBindGroup`);
    }
    const key = rangeKey(source.bindings);
    let group = source.byRanges.get(key);
    if (!group) {
      const { label, pipeline, bindings } = source;
      group = gpu.scoped(label, () => makeBindGroup(gpu, label, pipeline, bindings));
      bindGroupSources.set(group, source);
      source.byRanges.set(key, group);
    }
    dispatch.bindGroup = group;
  }
}

/**
 * Builds a {@linkcode Dispatch}: compiles (or reuses) the pipeline and binds
 * the buffers.
 *
 * @param gpu the device
 * @param spec the kernel
 * @param bindings resources in binding order
 * @param workgroups workgroup counts (x, y, z)
 * @returns the dispatch, ready to record
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { createBuffer, readFloat32 } from "./buffers.ts";
 * import { makeDispatch, submitDispatches } from "./kernel.ts";
 * const gpu = await acquireGpu();
 * const x = createBuffer(gpu, "x", 16);
 * const fill = await makeDispatch(gpu, {
 *   label: "fill",
 *   code: "@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n" +
 *     "@compute @workgroup_size(4) fn main(@builtin(global_invocation_id) g: vec3u) {\n" +
 *     "  x[g.x] = f32(g.x);\n}",
 * }, [x], [1, 1, 1]);
 * submitDispatches(gpu, [fill]);
 * if ((await readFloat32(gpu, x))[3] !== 3) throw new Error("dispatch failed");
 * ```
 */
export async function makeDispatch(
  gpu: Gpu,
  spec: KernelSpec,
  bindings: Binding[],
  workgroups: [number, number?, number?],
): Promise<Dispatch> {
  const pipeline = await getPipeline(gpu, spec);
  const label = spec.label;
  return {
    label,
    pipeline,
    bindGroup: gpu.scoped(label, () => makeBindGroup(gpu, label, pipeline, bindings)),
    workgroups: [workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1],
  };
}

/**
 * Records `dispatches` in order into one compute pass of `encoder`.
 * Dispatches with a zero workgroup count are skipped.
 *
 * @param encoder the command encoder
 * @param dispatches the launches, in order
 * @param label the pass's label
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { encodeDispatches } from "./kernel.ts";
 * const gpu = await acquireGpu();
 * const encoder = gpu.device.createCommandEncoder();
 * encodeDispatches(encoder, []);
 * gpu.queue.submit([encoder.finish()]);
 * ```
 */
export function encodeDispatches(
  encoder: GPUCommandEncoder,
  dispatches: readonly Dispatch[],
  label = "step",
): void {
  const pass = encoder.beginComputePass({ label });
  for (const d of dispatches) {
    const [x, y, z] = d.workgroups;
    if (x === 0 || y === 0 || z === 0) continue;
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(x, y, z);
  }
  pass.end();
}

/**
 * Records `dispatches` into one compute pass and submits it: one submit
 * however many kernels. Validation errors surface at the next
 * {@linkcode Gpu.check} or readback, labelled with `label`.
 *
 * @param gpu the device
 * @param dispatches the launches, in order
 * @param label name for error messages
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { submitDispatches } from "./kernel.ts";
 * submitDispatches(await acquireGpu(), []);
 * ```
 */
export function submitDispatches(gpu: Gpu, dispatches: readonly Dispatch[], label = "step"): void {
  gpu.check();
  const device = gpu.device;
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  const encoder = device.createCommandEncoder({ label });
  encodeDispatches(encoder, dispatches, label);
  gpu.queue.submit([encoder.finish()]);
  const snapshot = dispatches.slice();
  for (let i = 0; i < 2; i++) {
    device.popErrorScope().then(async (error) => {
      if (error) {
        gpu.report(new GpuOperationError(await culprit(gpu, snapshot, label), error.message));
      }
    });
  }
}

/** Re-encodes each dispatch alone (never submitted) to find the one WebGPU rejects. */
async function culprit(
  gpu: Gpu,
  dispatches: readonly Dispatch[],
  fallback: string,
): Promise<string> {
  for (const d of dispatches) {
    gpu.device.pushErrorScope("validation");
    const encoder = gpu.device.createCommandEncoder();
    encodeDispatches(encoder, [d]);
    encoder.finish();
    if (await gpu.device.popErrorScope()) return d.label;
  }
  return fallback;
}

/** GPU time of one dispatch, from timestamp queries. */
export interface KernelTiming {
  /** The dispatch's label. */
  label: string;
  /** GPU nanoseconds between the start and end of its pass. */
  ns: number;
}

/**
 * Runs each dispatch in a pass of its own with timestamp queries and
 * returns the GPU time of each. Returns null when the adapter lacks
 * `timestamp-query`. For profiling only: separate passes cost more than
 * the shared pass of {@linkcode submitDispatches}.
 *
 * @param gpu the device
 * @param dispatches the launches, in order
 * @returns per-dispatch GPU times, or null
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { profileDispatches } from "./kernel.ts";
 * const timings = await profileDispatches(await acquireGpu(), []);
 * if (timings && timings.length !== 0) throw new Error("expected no timings");
 * ```
 */
export async function profileDispatches(
  gpu: Gpu,
  dispatches: readonly Dispatch[],
): Promise<KernelTiming[] | null> {
  if (!gpu.device.features.has("timestamp-query")) return null;
  if (dispatches.length === 0) return [];
  const count = dispatches.length * 2;
  const querySet = gpu.device.createQuerySet({ type: "timestamp", count });
  const resolve = gpu.device.createBuffer({
    size: count * 8,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const staging = gpu.device.createBuffer({
    size: count * 8,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = gpu.device.createCommandEncoder({ label: "profile" });
  dispatches.forEach((d, i) => {
    const pass = encoder.beginComputePass({
      label: d.label,
      timestampWrites: {
        querySet,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      },
    });
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(...d.workgroups);
    pass.end();
  });
  encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
  encoder.copyBufferToBuffer(resolve, 0, staging, 0, count * 8);
  gpu.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const stamps = new BigInt64Array(staging.getMappedRange().slice(0));
  staging.unmap();
  for (const b of [staging, resolve]) b.destroy();
  querySet.destroy();
  gpu.check();
  return dispatches.map((d, i) => ({
    label: d.label,
    ns: Number(stamps[2 * i + 1] - stamps[2 * i]),
  }));
}

/**
 * A small uniform block of 32-bit values (u32, i32 or f32 by position)
 * that a kernel reads as its shape parameters; rewritten with
 * `queue.writeBuffer` when the batch shape changes, which is ordered
 * before the next submit and needs no readback.
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { ParamBlock } from "./kernel.ts";
 * const params = new ParamBlock(await acquireGpu(), "dims", [4, 4, 4, 0]);
 * params.set([8, 4, 4, 0]);
 * if (params.values[0] !== 8) throw new Error("not updated");
 * ```
 */
export class ParamBlock {
  /** The uniform buffer (16-byte multiple). */
  readonly buffer: GPUBuffer;
  /** The current values, as uploaded. */
  readonly values: Uint32Array<ArrayBuffer>;
  readonly #view: DataView;

  /**
   * @param gpu the device
   * @param label name for error messages
   * @param values initial values: integers are written as u32/i32, non-integers as f32
   */
  constructor(readonly gpu: Gpu, label: string, values: number[]) {
    const words = Math.max(4, Math.ceil(values.length / 4) * 4);
    this.values = new Uint32Array(words);
    this.#view = new DataView(this.values.buffer);
    // Counted by gpuMemory(): an Allocator that owns the block frees it with destroy().
    this.buffer = createBuffer(gpu, label, words * 4, UNIFORM_USAGE);
    this.set(values);
  }

  /** Destroys the uniform buffer (through {@linkcode destroyBuffer}, so gpuMemory() stays exact). */
  destroy(): void {
    destroyBuffer(this.gpu, this.buffer);
  }

  /**
   * Replaces the values (upload skipped when nothing changed).
   *
   * @param values integers as u32/i32, non-integers as f32; `Math.fround`ed floats that
   *   happen to be integral must be given through {@linkcode ParamBlock.setFloat}
   */
  set(values: number[]): void {
    let changed = false;
    values.forEach((v, i) => {
      const before = this.values[i];
      if (Number.isInteger(v)) this.#view.setInt32(i * 4, v, true);
      else this.#view.setFloat32(i * 4, v, true);
      changed ||= before !== this.values[i];
    });
    if (changed) this.gpu.queue.writeBuffer(this.buffer, 0, this.values);
  }

  /**
   * Sets one value as f32.
   *
   * @param index the word index
   * @param value the float
   */
  setFloat(index: number, value: number): void {
    this.#view.setFloat32(index * 4, value, true);
    this.gpu.queue.writeBuffer(this.buffer, 0, this.values);
  }
}

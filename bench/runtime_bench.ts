/**
 * Runtime costs that shape the design: the cost of one more dispatch in a
 * shared compute pass, of a dispatch in a pass of its own, and of a
 * submit → readback round trip. Run alone with
 * `deno run -A bench/runtime_bench.ts`.
 *
 * @module
 */

import { createBuffer, type Dispatch, type Gpu, makeDispatch, readBytes } from "../src/gpu/mod.ts";
import { markdownTable } from "./report.ts";
import { benchGpu } from "./common.ts";

/** The runtime figures, in microseconds. */
export interface RuntimeBenchResult {
  /** Extra cost of one more (tiny) dispatch recorded in a shared pass. */
  usPerDispatchSharedPass: number;
  /** Cost of one (tiny) dispatch in a compute pass of its own. */
  usPerDispatchOwnPass: number;
  /** Median submit → mapAsync → read round trip of 4 bytes. */
  usReadbackRoundTrip: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeSubmit(gpu: Gpu, sync: GPUBuffer, record: (e: GPUCommandEncoder) => void) {
  const encoder = gpu.device.createCommandEncoder();
  record(encoder);
  const start = performance.now();
  gpu.queue.submit([encoder.finish()]);
  await readBytes(gpu, sync, 4);
  return performance.now() - start;
}

/**
 * Measures dispatch and readback costs on `gpu`.
 *
 * @param gpu the device
 * @returns the figures
 */
export async function benchRuntime(gpu: Gpu): Promise<RuntimeBenchResult> {
  const sync = createBuffer(gpu, "sync", 4);
  const tiny: Dispatch = await makeDispatch(
    gpu,
    {
      label: "tiny",
      code: "@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n" +
        "@compute @workgroup_size(1) fn main() { x[0] += 1.0; }",
    },
    [sync],
    [1],
  );
  const shared = (n: number) => (e: GPUCommandEncoder) => {
    const pass = e.beginComputePass();
    for (let i = 0; i < n; i++) {
      pass.setPipeline(tiny.pipeline);
      pass.setBindGroup(0, tiny.bindGroup);
      pass.dispatchWorkgroups(1);
    }
    pass.end();
  };
  const own = (n: number) => (e: GPUCommandEncoder) => {
    for (let i = 0; i < n; i++) shared(1)(e);
  };
  const n = 2000;
  const rounds = 5;
  const one: number[] = [];
  const many: number[] = [];
  const separate: number[] = [];
  await timeSubmit(gpu, sync, shared(n)); // warm-up
  for (let r = 0; r < rounds; r++) {
    one.push(await timeSubmit(gpu, sync, shared(1)));
    many.push(await timeSubmit(gpu, sync, shared(n)));
    separate.push(await timeSubmit(gpu, sync, own(n)));
  }
  const base = median(one);
  sync.destroy();
  return {
    usPerDispatchSharedPass: (median(many) - base) / (n - 1) * 1000,
    usPerDispatchOwnPass: (median(separate) - base) / (n - 1) * 1000,
    usReadbackRoundTrip: base * 1000,
  };
}

/**
 * The runtime figures as a markdown table.
 *
 * @param r the figures
 * @returns the table
 *
 * @example
 * ```ts
 * import { runtimeTable } from "./runtime_bench.ts";
 * const t = runtimeTable({
 *   usPerDispatchSharedPass: 7, usPerDispatchOwnPass: 10, usReadbackRoundTrip: 11000,
 * });
 * if (!t.includes("11000")) throw new Error(t);
 * ```
 */
export function runtimeTable(r: RuntimeBenchResult): string {
  return markdownTable(["measure", "µs"], [
    ["one more dispatch in a shared pass", r.usPerDispatchSharedPass.toFixed(1)],
    ["one dispatch in a pass of its own", r.usPerDispatchOwnPass.toFixed(1)],
    ["submit → readback round trip (4 bytes)", r.usReadbackRoundTrip.toFixed(0)],
  ]);
}

if (import.meta.main) {
  const gpu = await benchGpu();
  console.log(runtimeTable(await benchRuntime(gpu)));
}

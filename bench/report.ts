/**
 * The shape of every benchmark result, and its printing as JSON and as a
 * markdown table. Kernel benchmarks return {@linkcode KernelBenchResult}s;
 * `bench/main.ts` collects them with the adapter into one run.
 *
 * @module
 */

import type { Gpu } from "../src/gpu/mod.ts";
import { readBytes, submitDispatches } from "../src/gpu/mod.ts";
import type { Dispatch } from "../src/gpu/mod.ts";

/** One timed kernel configuration. */
export interface KernelBenchResult {
  /** Op family, e.g. "matmul". */
  op: string;
  /** What was run, e.g. "256×256×256 vec4". */
  config: string;
  /** Mean milliseconds per launch (host-measured over a batch of launches in one submit). */
  ms: number;
  /** Floating-point throughput, when meaningful. */
  gflops?: number;
  /** Memory throughput, when meaningful. */
  gbps?: number;
  /** True when the kernel was checked against its float64 reference before timing. */
  validated: boolean;
}

/**
 * Times `dispatches` by recording them `reps` times into one pass and one
 * submit, after one warm-up; waits on a 4-byte readback of `sync`, so the
 * fixed submit→readback cost is spread over the reps.
 *
 * @param gpu the device
 * @param dispatches one iteration's launches
 * @param sync a buffer written by the launches, read to wait for completion
 * @param reps iterations per timed submit
 * @returns mean milliseconds per iteration
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer } from "../src/gpu/mod.ts";
 * import { timeDispatches } from "./report.ts";
 * const gpu = await acquireGpu();
 * const ms = await timeDispatches(gpu, [], createBuffer(gpu, "sync", 4), 2);
 * if (!(ms >= 0)) throw new Error("no time");
 * ```
 */
export async function timeDispatches(
  gpu: Gpu,
  dispatches: readonly Dispatch[],
  sync: GPUBuffer,
  reps: number,
): Promise<number> {
  submitDispatches(gpu, dispatches);
  await readBytes(gpu, sync, 4);
  const all: Dispatch[] = [];
  for (let i = 0; i < reps; i++) all.push(...dispatches);
  const start = performance.now();
  submitDispatches(gpu, all);
  await readBytes(gpu, sync, 4);
  return (performance.now() - start) / reps;
}

/**
 * Times each named case with {@linkcode timeDispatches} and reports its GFLOP/s, for a
 * benchmark that validated the kernels before timing them.
 *
 * @param gpu the device
 * @param cases what each case runs: its name, one iteration's launches and its FLOP count
 * @param options the op family, a prefix of every config, the buffer to wait on, reps
 * @returns one validated result per case, `${prefix}: ${name}`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer } from "../src/gpu/mod.ts";
 * import { timeFlopCases } from "./report.ts";
 * const gpu = await acquireGpu();
 * const sync = createBuffer(gpu, "sync", 4);
 * const [r] = await timeFlopCases(gpu, [["nothing", [], 0]], { op: "none", prefix: "x", sync, reps: 2 });
 * if (r.config !== "x: nothing") throw new Error(r.config);
 * ```
 */
export async function timeFlopCases(
  gpu: Gpu,
  cases: readonly (readonly [string, readonly Dispatch[], number])[],
  options: { op: string; prefix: string; sync: GPUBuffer; reps: number },
): Promise<KernelBenchResult[]> {
  const results: KernelBenchResult[] = [];
  for (const [name, dispatches, flops] of cases) {
    const ms = await timeDispatches(gpu, dispatches, options.sync, options.reps);
    results.push({
      op: options.op,
      config: `${options.prefix}: ${name}`,
      ms,
      gflops: flops / ms / 1e6,
      validated: true,
    });
  }
  return results;
}

/**
 * Formats rows as a markdown table.
 *
 * @param header column names
 * @param rows cells
 * @returns the table
 *
 * @example
 * ```ts
 * import { markdownTable } from "./report.ts";
 * const t = markdownTable(["a", "b"], [["1", "2"]]);
 * if (!t.includes("| 1 | 2 |")) throw new Error(t);
 * ```
 */
export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/**
 * Formats kernel results as a markdown table.
 *
 * @param results the results
 * @returns the table
 *
 * @example
 * ```ts
 * import { kernelTable } from "./report.ts";
 * const t = kernelTable([{ op: "matmul", config: "1×1×1", ms: 0.5, gflops: 1, validated: true }]);
 * if (!t.includes("matmul")) throw new Error(t);
 * ```
 */
export function kernelTable(results: KernelBenchResult[]): string {
  return markdownTable(
    ["op", "config", "ms", "GFLOP/s", "GB/s", "validated"],
    results.map((r) => [
      r.op,
      r.config,
      r.ms.toFixed(3),
      r.gflops?.toFixed(2) ?? "",
      r.gbps?.toFixed(2) ?? "",
      r.validated ? "yes" : "NO",
    ]),
  );
}

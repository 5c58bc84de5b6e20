/**
 * `deno task bench`: prints the adapter, the runtime costs and every
 * kernel's throughput, as a markdown table and as JSON (written to
 * `--out`, default `out/bench-<adapter>-<date>.json`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { acquireGpu, describeAdapter } from "../src/gpu/mod.ts";
import { benchMatmul } from "./matmul_bench.ts";
import { type KernelBenchResult, kernelTable } from "./report.ts";
import { benchRuntime, runtimeTable } from "./runtime_bench.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string" },
    only: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(`Usage: deno task bench [--out FILE] [--only OPS]

Measures this adapter: dispatch and readback costs, then each kernel
(validated against its float64 reference before it is timed).

Options:
  --out FILE   where to write the JSON result (default out/bench-<adapter>-<date>.json)
  --only OPS   comma-separated op families to run (e.g. runtime,matmul)
  -h, --help   show this help`);
  Deno.exit(0);
}

const only = values.only?.split(",").map((s) => s.trim());
const wanted = (name: string) => !only || only.includes(name);

const gpu = await acquireGpu();
console.log(`adapter: ${describeAdapter(gpu.adapter)}\n`);
const run: Record<string, unknown> = {
  schema: "webgpu-ner-bench/1",
  date: new Date().toISOString(),
  adapter: gpu.adapter,
  deno: Deno.version.deno,
};
if (wanted("runtime")) {
  const runtime = await benchRuntime(gpu);
  run.runtime = runtime;
  console.log(runtimeTable(runtime) + "\n");
}
const kernels: KernelBenchResult[] = [];
const families: [string, () => Promise<KernelBenchResult[]>][] = [
  ["matmul", () => benchMatmul(gpu)],
];
for (const [name, bench] of families) {
  if (!wanted(name)) continue;
  const results = await bench();
  kernels.push(...results);
  console.log(kernelTable(results) + "\n");
}
run.kernels = kernels;

const slug = gpu.adapter.description.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
const out = values.out ?? `out/bench-${slug}-${(run.date as string).slice(0, 10)}.json`;
await Deno.mkdir(new URL(".", new URL(out, `file://${Deno.cwd()}/`)), { recursive: true });
await Deno.writeTextFile(out, JSON.stringify(run, null, 2) + "\n");
console.log(`wrote ${out}`);

/**
 * `deno task bench`: everything the library's speed claims rest on, on
 * this adapter — runtime costs, every kernel family (each validated against
 * its float64 reference before it is timed), whole-model training and
 * inference tokens/s, and the TensorFlow.js peer on the same shapes and
 * data, with the ratios. Prints markdown tables and writes one JSON file
 * (schema: `bench/SCHEMA.md`).
 *
 * @module
 */

import { acquireGpu, describeAdapter } from "../src/gpu/mod.ts";
import { benchAdam } from "./adam_bench.ts";
import { benchCrf } from "./crf_bench.ts";
import { benchEmbedding } from "./embedding_bench.ts";
import { benchLstm, LSTM_BENCH_CONFIGS } from "./lstm_bench.ts";
import { benchMatmul } from "./matmul_bench.ts";
import { benchModel, type ModelBenchResult, modelTable } from "./model_bench.ts";
import { occupancyMarkdown, occupancyTables } from "./occupancy.ts";
import { type KernelBenchResult, kernelTable, markdownTable } from "./report.ts";
import { benchRuntime, runtimeTable } from "./runtime_bench.ts";
import { benchTfjs, type TfjsBenchResult, tfjsTable } from "./tfjs_peer.ts";
import { benchTagging } from "./tag_bench.ts";
import { benchArgs } from "./common.ts";

export const USAGE = `Usage: deno task bench [--out FILE] [--only PARTS] [--seconds S] [--quick]

Measures this adapter and writes one JSON result (schema: bench/SCHEMA.md).

Parts (all by default): runtime, occupancy, kernels, model, tagging, tfjs.
  runtime  dispatch and readback costs
  occupancy  workgroups, lanes and longest serial loop per lane of every dispatch
           (default model, both kernel profiles, B=32 and 256, T=40; nothing timed)
  kernels  matmul, lstm, crf/viterbi/softmax, embedding/char cnn/dropout, adam/average
  model    whole-model training and inference tokens/s at batch 1, 32, 256
  tagging  the Tagger on ~46k tokens with a shipped-size model, loading and marginals included
  tfjs     TensorFlow.js 4.22 (wasm and webgpu backends) on the same shapes, with ratios

Options:
  --out FILE     JSON output (default out/bench-<adapter>-<date>.json)
  --only PARTS   comma-separated parts to run
  --seconds S    seconds per timed model/peer row (default 5)
  --quick        fewer shapes (batch 32 only; smaller kernel shapes)
  -h, --help     show this help

Merge runs from several GPUs with: deno task bench:compare a.json b.json …`;

const values = benchArgs(USAGE, {
  out: { type: "string" },
  only: { type: "string" },
  seconds: { type: "string", default: "5" },
  quick: { type: "boolean" },
});

const only = values.only?.split(",").map((s) => s.trim());
const wanted = (name: string) => !only || only.includes(name);
const seconds = Number(values.seconds);
if (!(seconds > 0)) {
  console.error(`--seconds: expected a positive number, got '${values.seconds}'`);
  Deno.exit(2);
}
const quick = Boolean(values.quick);

const gpu = await acquireGpu();
const adapter = describeAdapter(gpu.adapter);
console.log(`adapter: ${adapter}\n`);
const run: Record<string, unknown> = {
  schema: "webgpu-ner-bench/1",
  date: new Date().toISOString(),
  adapter: gpu.adapter,
  deno: Deno.version.deno,
  quick,
};

if (wanted("runtime")) {
  const runtime = await benchRuntime(gpu);
  run.runtime = runtime;
  console.log(runtimeTable(runtime) + "\n");
}

if (wanted("occupancy")) {
  const tables = await occupancyTables(gpu, { batchSizes: quick ? [32] : [32, 256] });
  run.occupancy = tables;
  for (const t of tables) console.log(occupancyMarkdown(t) + "\n");
}

if (wanted("kernels")) {
  const kernels: KernelBenchResult[] = [];
  const families: [string, () => Promise<KernelBenchResult[]>][] = [
    ["matmul", () => benchMatmul(gpu, quick ? [256] : [256, 512])],
    // B=256 at H=256 is left to the whole-model part (a single layer backward there takes seconds on a CPU adapter).
    [
      "lstm",
      () =>
        benchLstm(
          gpu,
          quick
            ? LSTM_BENCH_CONFIGS.slice(0, 1)
            : LSTM_BENCH_CONFIGS.filter((c) => c.batch * c.hiddenSize < 256 * 256),
        ),
    ],
    ["crf", () => benchCrf(gpu, quick ? { batches: [32], tags: [9] } : {})],
    // Embedding gather/scatter, char CNN, dropout and fill.
    ["embedding", () => benchEmbedding(gpu, quick ? [32] : [32, 256])],
    ["adam", () => benchAdam(gpu, quick ? [1 << 20] : undefined)],
  ];
  for (const [name, bench] of families) {
    console.error(`benchmarking ${name}…`);
    const results = await bench();
    kernels.push(...results);
    console.log(kernelTable(results) + "\n");
  }
  run.kernels = kernels;
}

let model: ModelBenchResult[] = [];
if (wanted("model")) {
  model = await benchModel(gpu, { seconds, batchSizes: quick ? [32] : [1, 32, 256] });
  run.model = model;
  console.log(modelTable(model) + "\n");
}

if (wanted("tagging")) {
  const tagging = await benchTagging(gpu);
  run.tagging = tagging;
  console.log(
    markdownTable(["tokens", "load s", "tag s", "total s", "tokens/s"], [[
      tagging.tokens,
      tagging.loadSeconds.toFixed(2),
      tagging.tagSeconds.toFixed(2),
      tagging.totalSeconds.toFixed(2),
      Math.round(tagging.tokensPerSecond).toLocaleString("en-US"),
    ]]) + "\n",
  );
}

const peer: TfjsBenchResult[] = [];
if (wanted("tfjs")) {
  const batchSizes = quick ? [32] : [32, 256];
  for (const backend of ["wasm", "webgpu"] as const) {
    try {
      peer.push(
        ...await benchTfjs({ backend, embedding: 100, hidden: 100, tags: 9, batchSizes, seconds }),
      );
    } catch (e) {
      console.error(`TF.js ${backend} failed: ${(e as Error).message}`);
    }
  }
  run.tfjs = peer;
  if (peer.length) console.log(tfjsTable(peer) + "\n");
}

if (model.length && peer.length) {
  // Like with like: our softmax head against TF.js's (same E, H, K, data), and our CRF beside it.
  const ours = (name: string, mode: string, batch: number) =>
    model.find((r) => r.model.startsWith(name) && r.mode === mode && r.batch === batch);
  const rows: (string | number)[][] = [];
  const ratios: Record<string, unknown>[] = [];
  for (const p of peer) {
    for (const name of ["E100 H100 softmax", "E100 H100 CRF"]) {
      const o = ours(name, p.mode, p.batch);
      if (!o) continue;
      const ratio = o.tokensPerSecond / p.tokensPerSecond;
      ratios.push({ ours: name, peer: `tfjs-${p.backend}`, mode: p.mode, batch: p.batch, ratio });
      rows.push([
        `${name} vs TF.js ${p.backend}`,
        p.mode,
        p.batch,
        Math.round(o.tokensPerSecond).toLocaleString("en-US"),
        Math.round(p.tokensPerSecond).toLocaleString("en-US"),
        `${ratio.toFixed(2)}×${p.valid ? "" : " (peer invalid)"}`,
      ]);
    }
  }
  run.ratios = ratios;
  console.log(
    markdownTable(
      ["comparison", "mode", "batch", "ours tokens/s", "peer tokens/s", "ratio"],
      rows,
    ) + "\n",
  );
}

const slug = gpu.adapter.description.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
const out = values.out ?? `out/bench-${slug}-${(run.date as string).slice(0, 10)}.json`;
const dir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
await Deno.mkdir(dir, { recursive: true });
await Deno.writeTextFile(out, JSON.stringify(run, null, 2) + "\n");
console.log(`adapter: ${adapter}\nwrote ${out}`);
Deno.exit(0);

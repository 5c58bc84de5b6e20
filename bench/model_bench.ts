/**
 * End-to-end throughput of the whole model: training (forward, backward,
 * clipping, Adam: one submit per batch) and inference (forward + Viterbi
 * or argmax, read back per batch), in tokens/s, on a seeded synthetic
 * corpus with CoNLL-2003's sentence-length distribution — so it runs
 * anywhere without data. Run alone with `deno run -A bench/model_bench.ts`.
 *
 * @module
 */

import { type Batch, encodeSentences, makeBatches } from "../src/data/batch.ts";
import { CASING_CLASSES } from "../src/data/casing.ts";
import { buildCharVocabulary, buildTagVocabulary, buildWordVocabulary } from "../src/data/vocab.ts";
import { type Gpu, profileDispatches } from "../src/gpu/mod.ts";
import { type ModelConfig, resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";
import { modelLossRef } from "../src/model/graph_ref.ts";
import { markdownTable } from "./report.ts";
import { assertClose } from "../tests/assert_close.ts";
import { syntheticCorpus } from "./synthetic.ts";
import { benchArgs, benchGpu } from "./common.ts";

/** A model shape to benchmark. */
export interface ModelBenchShape {
  /** Short name for the table. */
  name: string;
  /** The configuration (dropout as in training). */
  config: Partial<ModelConfig>;
  /** Tags K. */
  tags: number;
}

/** The shapes `deno task bench` measures. */
export const MODEL_BENCH_SHAPES: ModelBenchShape[] = [
  { name: "default (CRF)", config: {}, tags: 9 },
  {
    name: "E100 H100 softmax (= TF.js peer)",
    config: { wordDim: 100, hidden: 100, casingDim: 0, charFeatures: "none", head: "softmax" },
    tags: 9,
  },
  {
    name: "E100 H100 CRF",
    config: { wordDim: 100, hidden: 100, casingDim: 0, charFeatures: "none", head: "crf" },
    tags: 9,
  },
  {
    name: "E100 H256 CRF (= PyTorch peer)",
    config: { wordDim: 100, hidden: 256, casingDim: 0, charFeatures: "none", head: "crf" },
    tags: 9,
  },
];

/** One measured row. */
export interface ModelBenchResult {
  /** The shape's name. */
  model: string;
  /** "train" or "infer". */
  mode: "train" | "infer";
  /** Sentences per batch. */
  batch: number;
  /** Real (non-pad) tokens per second. */
  tokensPerSecond: number;
  /** Batches timed. */
  batches: number;
  /** Mean host milliseconds per training batch spent preparing the step (grouping ids, uploads, resizes), before recording and submitting. */
  hostMsPerBatch: number;
  /** Bytes of GPU buffers the library had created when the row finished. */
  gpuBytes: number;
  /** Dispatches per training step (train rows). */
  dispatches?: number;
  /** Why the row was not measured (e.g. the shape exceeds the adapter's limits). */
  skipped?: string;
}

/** Options of {@linkcode benchModel}. */
export interface ModelBenchOptions {
  /** Shapes (default {@linkcode MODEL_BENCH_SHAPES}). */
  shapes?: ModelBenchShape[];
  /** Batch sizes (default 1, 32, 256). */
  batchSizes?: number[];
  /** Seconds per row (default 5). */
  seconds?: number;
  /** Sentences in the synthetic corpus (default 14,041, CoNLL-2003 train's count). */
  sentences?: number;
  /** Also print per-kernel GPU times of one training step at batch 32 (timestamp queries). */
  profile?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/**
 * Validates the training step of `graph` against the float64 reference
 * (loss and gradients of one small batch, dropout off), so a benchmark
 * never times wrong kernels.
 */
async function validate(gpu: Gpu, config: ModelConfig, sizes: {
  words: number;
  chars: number;
  casings: number;
  tags: number;
}, batch: Batch): Promise<void> {
  const checked = { ...config, dropout: 0 };
  const graph = await NerGraph.create(gpu, checked, sizes, {
    maxBatch: batch.size,
    maxTime: batch.maxLength,
    maxChars: config.maxChars,
  }, { seed: 3 });
  const params = await graph.readParameters();
  const ref = modelLossRef(checked, sizes, params, batch);
  graph.trainOn(batch, { lr: 1e-3 });
  const loss = await graph.takeLoss();
  assertClose([loss], [ref.loss], { atol: 1e-4, rtol: 1e-3, name: "model benchmark: loss" });
}

/**
 * Measures training and inference tokens/s for each shape and batch size.
 *
 * @param gpu the device
 * @param options shapes, batch sizes, seconds per row
 * @returns one row per shape × batch size × mode
 */
export async function benchModel(
  gpu: Gpu,
  options: ModelBenchOptions = {},
): Promise<ModelBenchResult[]> {
  const shapes = options.shapes ?? MODEL_BENCH_SHAPES;
  const batchSizes = options.batchSizes ?? [1, 32, 256];
  const seconds = options.seconds ?? 5;
  const log = options.log ?? ((line: string) => console.error(line));
  const rows: ModelBenchResult[] = [];
  for (const shape of shapes) {
    const corpus = syntheticCorpus({
      sentences: options.sentences ?? 14_041,
      seed: 1,
      vocab: 20_000,
      tags: shape.tags,
    });
    const config = resolveConfig(shape.config);
    const words = buildWordVocabulary(corpus.sentences);
    const chars = buildCharVocabulary(corpus.sentences);
    const tags = buildTagVocabulary(corpus.tagNames);
    const encoded = encodeSentences(corpus.sentences, { words, chars, tags });
    const sizes = {
      words: words.size,
      chars: chars.size,
      casings: CASING_CLASSES.length,
      tags: tags.size,
    };
    const maxTime = corpus.sentences.reduce((m, s) => Math.max(m, s.tokens.length), 1);
    const small = makeBatches(encoded.slice(0, 6), {
      batchSize: 6,
      shuffle: false,
      maxChars: config.maxChars,
    })[0];
    await validate(gpu, config, sizes, small);
    for (const batchSize of batchSizes) {
      let graph: NerGraph;
      try {
        graph = await NerGraph.create(gpu, config, sizes, {
          maxBatch: batchSize,
          maxTime,
          maxChars: config.maxChars,
        }, { seed: 1 });
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        log(`${shape.name} B=${batchSize}: skipped: ${e.message}`);
        for (const mode of ["train", "infer"] as const) {
          rows.push({
            model: shape.name,
            mode,
            batch: batchSize,
            tokensPerSecond: NaN,
            batches: 0,
            hostMsPerBatch: NaN,
            gpuBytes: 0,
            skipped: e.message,
          });
        }
        continue;
      }
      const batches = makeBatches(encoded, { batchSize, seed: 7, maxChars: config.maxChars });
      for (const mode of ["train", "infer"] as const) {
        // Warm-up: the first dispatch of each pipeline compiles it on some adapters.
        if (mode === "train") {
          graph.trainOn(batches[0], { lr: 1e-3, maxNorm: 5 });
          await graph.takeLoss();
        } else {
          await graph.infer(batches[0]);
        }
        let tokens = 0;
        let count = 0;
        let hostMs = 0;
        const start = performance.now();
        for (const batch of batches) {
          if (mode === "train") {
            graph.trainOn(batch, { lr: 1e-3, maxNorm: 5 });
            hostMs += graph.lastHostMs;
            if (++count % 50 === 0) await graph.takeLoss();
          } else {
            await graph.infer(batch);
            count++;
          }
          tokens += batch.tokens;
          if ((performance.now() - start) / 1000 >= seconds) break;
        }
        if (mode === "train") await graph.takeLoss();
        const elapsed = (performance.now() - start) / 1000;
        const row: ModelBenchResult = {
          model: shape.name,
          mode,
          batch: batchSize,
          tokensPerSecond: tokens / elapsed,
          batches: count,
          hostMsPerBatch: mode === "train" ? hostMs / count : NaN,
          gpuBytes: graph.gpuBytes,
          dispatches: mode === "train" ? graph.dispatchesPerStep : undefined,
        };
        rows.push(row);
        log(
          `${shape.name} ${mode} B=${batchSize}: ${
            Math.round(row.tokensPerSecond).toLocaleString("en-US")
          } tokens/s (${count} batches)`,
        );
      }
      if (options.profile && batchSize === 32) {
        const timings = await profileDispatches(gpu, graph.trainStep);
        if (timings) {
          log(`per-kernel GPU time of one training step, ${shape.name}, B=32:`);
          for (const t of timings) log(`  ${t.label.padEnd(36)} ${(t.ns / 1e6).toFixed(2)} ms`);
        }
      }
      graph.destroy();
    }
  }
  return rows;
}

/**
 * The rows as a markdown table.
 *
 * @param rows the results
 * @returns the table
 *
 * @example
 * ```ts
 * import { modelTable } from "./model_bench.ts";
 * const t = modelTable([{ model: "m", mode: "train", batch: 32, tokensPerSecond: 1000,
 *   batches: 3, hostMsPerBatch: 0.5, gpuBytes: 1 << 20 }]);
 * if (!t.includes("1,000")) throw new Error(t);
 * ```
 */
export function modelTable(rows: readonly ModelBenchResult[]): string {
  return markdownTable(
    ["model", "mode", "batch", "tokens/s", "batches", "host ms/batch", "GPU MB"],
    rows.map((r) => [
      r.model,
      r.mode,
      r.batch,
      r.skipped
        ? "skipped (exceeds the adapter's binding limit)"
        : Math.round(r.tokensPerSecond).toLocaleString("en-US"),
      r.batches,
      Number.isNaN(r.hostMsPerBatch) ? "" : r.hostMsPerBatch.toFixed(2),
      (r.gpuBytes / 2 ** 20).toFixed(0),
    ]),
  );
}

if (import.meta.main) {
  const usage =
    `Usage: deno run -A bench/model_bench.ts [--seconds S] [--batch 1,32,256] [--model H256] [--profile]

Trains and runs the whole model on a synthetic corpus with CoNLL-2003's
sentence lengths and prints tokens/s per model shape, batch size and mode.
--model keeps the shapes whose name contains the text.`;
  const values = benchArgs(usage, {
    seconds: { type: "string", default: "5" },
    batch: { type: "string", default: "1,32,256" },
    model: { type: "string" },
    profile: { type: "boolean" },
  });
  const gpu = await benchGpu();
  const rows = await benchModel(gpu, {
    seconds: Number(values.seconds),
    batchSizes: values.batch!.split(",").map(Number),
    shapes: MODEL_BENCH_SHAPES.filter((s) => s.name.includes(values.model ?? "")),
    profile: values.profile,
  });
  console.log(modelTable(rows));
}

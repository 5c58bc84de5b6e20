/**
 * Tagging speed of the whole {@linkcode Tagger}: model loading included,
 * marginals and span probabilities included, over ~46k tokens (CoNLL-2003's
 * test-set size) of synthetic text with CoNLL-like sentence lengths, or over
 * the real CoNLL-2003 test tokens when `--conll` names that file (read at run
 * time, never committed).
 *
 * Without `modelPath` the benchmark writes a model of the shipped size (the
 * default config, 20k words, 17 GMB tags, random weights) to a temporary file
 * and loads it from there, so loading costs what the shipped model costs.
 *
 * ```sh
 * deno run -A bench/tag_bench.ts [--model m.safetensors] [--conll test.txt]
 * ```
 *
 * @module
 */

import { cpuUsage } from "node:process";
import { readConll } from "../src/data/conll.ts";
import { acquireGpu, describeAdapter, type Gpu } from "../src/gpu/mod.ts";
import { encodeModel } from "../src/model/checkpoint.ts";
import { resolveConfig } from "../src/model/config.ts";
import { randomModel } from "../src/api/random_model.ts";
import { Tagger } from "../src/api/tagger.ts";
import { syntheticCorpus } from "./synthetic.ts";
import { benchArgs } from "./common.ts";

/** GMB's 17 IOB2 tags (8 entity types). */
const GMB_TAGS = [
  "O",
  ...["ART", "EVE", "GEO", "GPE", "NAT", "ORG", "PER", "TIM"].flatMap((t) => [
    `B-${t}`,
    `I-${t}`,
  ]),
];

/** Options for {@linkcode benchTagging}. */
export interface TagBenchOptions {
  /** A model file to time (default: a random model of the shipped size, written to a temp file). */
  modelPath?: string;
  /** Tokens to tag, in sentences (default: ~46k synthetic tokens). */
  sentences?: string[][];
  /** Timed repetitions; the best is reported (default 1: the first run is what a user waits for). */
  reps?: number;
}

/** What {@linkcode benchTagging} measured. */
export interface TagBenchResult {
  /** The adapter, in words. */
  adapter: string;
  /** Sentences tagged. */
  sentences: number;
  /** Tokens tagged. */
  tokens: number;
  /** Seconds to read, validate and upload the model and build the graph. */
  loadSeconds: number;
  /** Seconds to tag every sentence with marginals and span probabilities. */
  tagSeconds: number;
  /** load + tag. */
  totalSeconds: number;
  /** tokens / totalSeconds. */
  tokensPerSecond: number;
  /** CPU seconds of this process (all threads, the software adapter's included) over load + tag. */
  cpuSeconds: number;
  /** Entities found (a sanity figure). */
  entities: number;
}

/**
 * Writes a random model of the shipped size (default config) as safetensors bytes.
 *
 * @param options the vocabulary size and seed
 * @returns the model file's bytes
 *
 * @example
 * ```ts
 * import { shippedSizeModel } from "./tag_bench.ts";
 * const bytes = shippedSizeModel({ words: 100 });
 * if (bytes.length < 100_000) throw new Error(String(bytes.length));
 * ```
 */
export function shippedSizeModel(options: { words?: number; seed?: number } = {}): Uint8Array {
  // randomModel with the default config; the file carries no training summary.
  const { summary: _, ...model } = randomModel({
    config: resolveConfig({}),
    words: Array.from({ length: options.words ?? 20_000 }, (_, i) => `w${i}`),
    chars: [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,-'"],
    tags: GMB_TAGS,
    seed: options.seed,
  });
  return encodeModel(model);
}

/**
 * Times loading a model and tagging ~46k tokens with marginals.
 *
 * @param gpu the device
 * @param options model file, sentences, repetitions
 * @returns the timings
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../src/gpu/mod.ts";
 * import { benchTagging } from "./tag_bench.ts";
 * // The default input is ~46k tokens; a short one here.
 * const result = await benchTagging(await acquireGpu(), { sentences: [["w1", "w2", "w3"]] });
 * if (result.tokens !== 3 || !(result.tokensPerSecond > 0)) throw new Error();
 * ```
 */
export async function benchTagging(
  gpu: Gpu,
  options: TagBenchOptions = {},
): Promise<TagBenchResult> {
  let path = options.modelPath;
  let temp: string | undefined;
  if (!path) {
    temp = path = await Deno.makeTempFile({ suffix: ".safetensors" });
    await Deno.writeFile(temp, shippedSizeModel());
  }
  const sentences = options.sentences ??
    syntheticCorpus({ sentences: 3200, seed: 7, vocab: 20_000 }).sentences.map((s) => s.tokens);
  const tokens = sentences.reduce((n, s) => n + s.length, 0);
  // Validate before timing: a short sentence tags, and its marginals are distributions.
  {
    using tagger = await Tagger.load(path, { gpu });
    const [check] = await tagger.tagTokens([sentences[0]]);
    const K = tagger.labels.length;
    for (let t = 0; t < sentences[0].length; t++) {
      const sum = check.marginals.subarray(t * K, (t + 1) * K).reduce((a, b) => a + b, 0);
      if (Math.abs(sum - 1) > 1e-3) throw new Error(`Marginals at token ${t} sum to ${sum}`);
    }
  }
  let best: TagBenchResult | undefined;
  for (let rep = 0; rep < (options.reps ?? 1); rep++) {
    const cpu0 = cpuUsage();
    const t0 = performance.now();
    using tagger = await Tagger.load(path, { gpu });
    const t1 = performance.now();
    const results = await tagger.tagTokens(sentences);
    const t2 = performance.now();
    const cpu = cpuUsage(cpu0);
    const result: TagBenchResult = {
      adapter: describeAdapter(gpu.adapter),
      sentences: sentences.length,
      tokens,
      loadSeconds: (t1 - t0) / 1000,
      tagSeconds: (t2 - t1) / 1000,
      totalSeconds: (t2 - t0) / 1000,
      tokensPerSecond: tokens / ((t2 - t0) / 1000),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      entities: results.reduce((n, r) => n + r.entities.length, 0),
    };
    if (!best || result.totalSeconds < best.totalSeconds) best = result;
  }
  if (temp) await Deno.remove(temp);
  return best!;
}

if (import.meta.main) {
  const usage = `Usage: deno run -A bench/tag_bench.ts [--model FILE] [--conll FILE] [--reps N]

Times Tagger.load + tagTokens (marginals and span probabilities included)
over ~46k tokens.

  --model FILE   the model to time (default: random weights, shipped size)
  --conll FILE   tag this CoNLL file's tokens (e.g. CoNLL-2003 test.txt)
  --reps N       repetitions, best reported (default 1)`;
  const values = benchArgs(usage, {
    model: { type: "string" },
    conll: { type: "string" },
    reps: { type: "string", default: "1" },
  });
  const gpu = await acquireGpu();
  const sentences = values.conll
    ? (await readConll(values.conll)).sentences.map((s) => s.tokens)
    : undefined;
  const r = await benchTagging(gpu, {
    modelPath: values.model,
    sentences,
    reps: Number(values.reps),
  });
  console.log(`adapter: ${r.adapter}`);
  console.log(
    `| sentences | tokens | load s | tag s | total s | tokens/s | CPU s |\n` +
      `| --- | --- | --- | --- | --- | --- | --- |\n` +
      `| ${r.sentences} | ${r.tokens} | ${r.loadSeconds.toFixed(2)} | ${
        r.tagSeconds.toFixed(2)
      } | ` +
      `${r.totalSeconds.toFixed(2)} | ${Math.round(r.tokensPerSecond)} | ${
        r.cpuSeconds.toFixed(2)
      } |`,
  );
  console.log(JSON.stringify(r));
}

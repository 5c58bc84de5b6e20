/**
 * Fixtures shared by the op and model tests: seeded random batches, the
 * brute-force path enumeration of the CRF and Viterbi checks, the shape
 * lists the sequence ops are tested on, GPU upload of a batch, the tiny
 * corpus and model the whole-graph tests train, and the CLI tests' JSON
 * Lines corpus. The GPU-vs-reference comparison and finite differences
 * live in `assert_close.ts`.
 *
 * @module
 */

import { type Batch, encodeSentences, makeBatches } from "../src/data/batch.ts";
import { CASING_CLASSES } from "../src/data/casing.ts";
import { collectTags, type Sentence } from "../src/data/sentence.ts";
import { buildCharVocabulary, buildTagVocabulary, buildWordVocabulary } from "../src/data/vocab.ts";
import { createBuffer, type Gpu } from "../src/gpu/mod.ts";
import { type ModelConfig, resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";
import type { VocabularySizes } from "../src/model/parameters.ts";
import type { CrfBatch, CrfGoldBatch, CrfShape } from "../src/ops/crf_ref.ts";
import type { SoftmaxBatch } from "../src/ops/softmax_xent_ref.ts";
import type { TransitionMask } from "../src/ops/viterbi_ref.ts";
import { randomArray } from "./assert_close.ts";

/**
 * Σ x[i]·y[i] in float64: the scalar whose gradient with respect to `out`
 * is `dout`, for finite differences of sum(out·dout).
 *
 * @param x one vector
 * @param y another of the same length
 * @returns the dot product
 */
export function sumProduct(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

/**
 * Every tag path of length n over K tags, in lexicographic order (none for n = 0).
 *
 * @param n path length
 * @param k tag count
 * @returns a generator of K^n fresh arrays
 */
export function* allPaths(n: number, k: number): Generator<number[]> {
  if (n === 0) return;
  const path = new Array(n).fill(0);
  while (true) {
    yield path.slice();
    let i = n - 1;
    while (i >= 0 && ++path[i] === k) path[i--] = 0;
    if (i < 0) return;
  }
}

/**
 * The score of one tag path of sentence b, straight from the definition:
 * start + end + Σ emissions + Σ transitions; −∞ if `mask` forbids a step.
 *
 * @param batch emissions (B, T, K) and CRF parameters
 * @param shape B, T, K
 * @param b the sentence
 * @param path its tags (length ≤ T)
 * @param mask allowed transitions, start and end tags (default: all allowed)
 * @returns the score
 */
export function pathScore(
  batch: CrfBatch,
  shape: CrfShape,
  b: number,
  path: number[],
  mask?: TransitionMask,
): number {
  const { time: T, tags: K } = shape;
  const n = path.length;
  if (mask && (!mask.start[path[0]] || !mask.end[path[n - 1]])) return -Infinity;
  let s = batch.start[path[0]] + batch.end[path[n - 1]];
  for (let t = 0; t < n; t++) {
    s += batch.emissions[(b * T + t) * K + path[t]];
    if (t === 0) continue;
    if (mask && !mask.transitions[path[t - 1] * K + path[t]]) return -Infinity;
    s += batch.transitions[path[t - 1] * K + path[t]];
  }
  return s;
}

/**
 * Seeded gold tags in [0, K) for (B, T); padding steps hold `padding`, a
 * junk value that must not matter.
 *
 * @param seed the seed
 * @param shape B, T, K
 * @param lengths (B) valid lengths
 * @param padding the value at padding steps
 * @returns (B, T) tag ids
 */
export function randomTags(
  seed: number,
  shape: CrfShape,
  lengths: number[],
  padding: number,
): Int32Array {
  const { batch: B, time: T, tags: K } = shape;
  const tags = Int32Array.from(randomArray(seed, B * T, 0, K), Math.floor);
  for (let b = 0; b < B; b++) for (let t = lengths[b]; t < T; t++) tags[b * T + t] = padding;
  return tags;
}

/**
 * A seeded CRF batch: emissions in [−spread, spread), transitions, start
 * and end in [−1, 1), gold tags (99 at padding).
 *
 * @param seed the seed (seed … seed + 3 and seed + 7 are used)
 * @param shape B, T, K
 * @param lengths (B) valid lengths
 * @param spread emission range (default 2)
 * @returns the batch
 */
export function randomCrfBatch(
  seed: number,
  shape: CrfShape,
  lengths: number[],
  spread = 2,
): CrfGoldBatch {
  const { batch: B, time: T, tags: K } = shape;
  return {
    emissions: randomArray(seed, B * T * K, -spread, spread),
    tags: randomTags(seed + 7, shape, lengths, 99),
    lengths: Int32Array.from(lengths),
    transitions: randomArray(seed + 1, K * K, -1, 1),
    start: randomArray(seed + 2, K, -1, 1),
    end: randomArray(seed + 3, K, -1, 1),
  };
}

/**
 * A seeded batch for the softmax head: emissions in [−3, 3), gold tags (−7 at padding).
 *
 * @param seed the seed (seed and seed + 1 are used)
 * @param shape B, T, K
 * @param lengths (B) valid lengths
 * @returns the batch
 */
export function randomSoftmaxBatch(
  seed: number,
  shape: CrfShape,
  lengths: number[],
): Required<SoftmaxBatch> {
  const { batch: B, time: T, tags: K } = shape;
  return {
    emissions: randomArray(seed, B * T * K, -3, 3),
    tags: randomTags(seed + 1, shape, lengths, -7),
    lengths: Int32Array.from(lengths),
  };
}

/**
 * Seeded ids in [0, vocab), with many repeats when the vocabulary is small.
 *
 * @param seed the seed
 * @param n how many
 * @param vocab the id bound
 * @returns the ids
 */
export function randomIds(seed: number, n: number, vocab: number): Int32Array {
  return Int32Array.from(randomArray(seed, n, 0, vocab), Math.floor);
}

/** (K, T) pairs small enough to enumerate every path (K ≤ 4, T ≤ 5). */
export const ENUMERATION_SHAPES: [number, number][] = [[2, 1], [3, 4], [4, 5], [3, 5]];

/**
 * (B, T, lengths) cases of the sequence ops on the GPU: one token, one full
 * sentence, a padded batch with an empty sentence, a batch of one-token
 * sentences with an empty one.
 */
export const SEQUENCE_CASES: [number, number, number[]][] = [
  [1, 1, [1]],
  [1, 7, [7]],
  [5, 7, [7, 1, 4, 0, 6]],
  [5, 1, [1, 0, 1, 1, 1]],
];

/** The GPU buffers of a CRF batch, one per field (tags only when the batch has them). */
export interface CrfBatchBuffers {
  emissions: GPUBuffer;
  lengths: GPUBuffer;
  transitions: GPUBuffer;
  start: GPUBuffer;
  end: GPUBuffer;
  tags?: GPUBuffer;
}

/**
 * Uploads a batch's fields as f32 (emissions and CRF parameters) and i32
 * (lengths, tags) buffers labelled by field name. Missing CRF parameters
 * (a softmax batch) are left out.
 *
 * @param gpu the device
 * @param batch emissions, lengths, and optional tags, transitions, start, end
 * @returns a buffer per field present
 */
export function uploadBatch<T extends { emissions: ArrayLike<number>; lengths: ArrayLike<number> }>(
  gpu: Gpu,
  batch: T,
): { [F in keyof T & keyof CrfBatchBuffers]: GPUBuffer } {
  const out: Record<string, GPUBuffer> = {};
  const fields = batch as unknown as Record<string, ArrayLike<number> | undefined>;
  for (const name of ["emissions", "transitions", "start", "end"]) {
    if (fields[name]) out[name] = createBuffer(gpu, name, Float32Array.from(fields[name]!));
  }
  for (const name of ["lengths", "tags"]) {
    if (fields[name]) out[name] = createBuffer(gpu, name, Int32Array.from(fields[name]!));
  }
  return out as { [F in keyof T & keyof CrfBatchBuffers]: GPUBuffer };
}

/**
 * Destroys every buffer of a record (undefined entries are skipped).
 *
 * @param buffers the record
 */
export function destroyAll(buffers: Record<string, GPUBuffer | undefined>): void {
  for (const b of Object.values(buffers)) b?.destroy();
}

/** Eight invented sentences with unequal lengths, one of length 1. */
export const TINY_CORPUS: Sentence[] = [
  {
    tokens: ["Ada", "Lovelace", "lived", "in", "London", "."],
    tags: ["B-PER", "I-PER", "O", "O", "B-LOC", "O"],
  },
  { tokens: ["Acme", "Corp", "hired", "Bob"], tags: ["B-ORG", "I-ORG", "O", "B-PER"] },
  { tokens: ["Paris"], tags: ["B-LOC"] },
  {
    tokens: ["Bob", "visited", "Rome", "and", "Oslo"],
    tags: ["B-PER", "O", "B-LOC", "O", "B-LOC"],
  },
  { tokens: ["Nothing", "here", "."], tags: ["O", "O", "O"] },
  {
    tokens: ["Zed", "Inc", "sued", "Acme", "Corp", "in", "1999"],
    tags: ["B-ORG", "I-ORG", "O", "B-ORG", "I-ORG", "O", "O"],
  },
  { tokens: ["Eve", "met", "Ada"], tags: ["B-PER", "O", "B-PER"] },
  { tokens: ["London", "calling"], tags: ["B-LOC", "O"] },
];

/** Invented sentences as JSON Lines ("Ada went to Paris ." with seeded names and places). */
function inventedJsonl(n: number, seed: number): string {
  const names = ["Ada", "Bob", "Eve"];
  const places = ["Paris", "Oslo", "Rome"];
  let s = seed;
  const next = (k: number) => (s = (s * 1103515245 + 12345) >>> 0) % k;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({
      tokens: [names[next(3)], "went", "to", places[next(3)], "."],
      tags: ["B-PER", "O", "O", "B-LOC", "O"],
    }));
  }
  return lines.join("\n") + "\n";
}

/**
 * Runs `fn` on a temporary folder holding train.jsonl, dev.jsonl (6 sentences) and
 * test.jsonl (6) of invented sentences, the corpus the CLI tests train on; removes it after.
 *
 * @param fn the test body, given the folder
 * @param train sentences in train.jsonl (default 24)
 * @returns what `fn` returns
 */
export async function withInventedCorpus<T>(
  fn: (dir: string) => Promise<T>,
  train = 24,
): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, n, seed] of [["train", train, 1], ["dev", 6, 2], ["test", 6, 3]] as const) {
      await Deno.writeTextFile(`${dir}/${name}.jsonl`, inventedJsonl(n, seed));
    }
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The `--train`, `--dev` and `--test` flags of cli/train.ts for {@linkcode withInventedCorpus}'s
 * folder.
 *
 * @param dir the folder
 * @returns six arguments
 */
export function corpusFlags(dir: string): string[] {
  return [
    "--train",
    `${dir}/train.jsonl`,
    "--dev",
    `${dir}/dev.jsonl`,
    "--test",
    `${dir}/test.jsonl`,
  ];
}

/** A model small enough to check against the float64 reference: every feature on, no dropout. */
export const TINY_CONFIG: ModelConfig = resolveConfig({
  wordDim: 6,
  casingDim: 3,
  charDim: 4,
  charFilters: 5,
  maxChars: 6,
  hidden: 5,
  dropout: 0,
});

/**
 * Encodes {@linkcode TINY_CORPUS} (or another small corpus) with its own vocabularies into
 * batches.
 *
 * @param config the model (its maxChars)
 * @param batchSize sentences per batch (default 8: one batch)
 * @param options the corpus (default {@linkcode TINY_CORPUS}) and the batching seed (default 3)
 * @returns the batches and the vocabulary sizes
 */
export function tinyBatches(
  config: ModelConfig,
  batchSize = 8,
  options: { corpus?: Sentence[]; seed?: number } = {},
): { batches: Batch[]; sizes: VocabularySizes } {
  const corpus = options.corpus ?? TINY_CORPUS;
  const words = buildWordVocabulary(corpus);
  const chars = buildCharVocabulary(corpus);
  const tags = buildTagVocabulary(collectTags(corpus));
  const encoded = encodeSentences(corpus, { words, chars, tags });
  const seed = options.seed ?? 3;
  const batches = makeBatches(encoded, { batchSize, seed, maxChars: config.maxChars });
  const sizes = {
    words: words.size,
    chars: chars.size,
    casings: CASING_CLASSES.length,
    tags: tags.size,
  };
  return { batches, sizes };
}

/**
 * A training graph for batches of {@linkcode tinyBatches}: sentences of at
 * most 8 tokens, the config's word length (1 without char features).
 *
 * @param gpu the device
 * @param config the model
 * @param sizes vocabulary sizes
 * @param options sentences per batch and the seed of the weights and dropout masks
 * @returns the graph
 */
export function tinyGraph(
  gpu: Gpu,
  config: ModelConfig,
  sizes: VocabularySizes,
  options: { maxBatch: number; seed: number },
): Promise<NerGraph> {
  const maxChars = config.charFeatures === "none" ? 1 : config.maxChars;
  return NerGraph.create(gpu, config, sizes, {
    maxBatch: options.maxBatch,
    maxTime: 8,
    maxChars,
  }, { seed: options.seed });
}

/**
 * Fixtures shared by the op and model tests: seeded random batches, the
 * brute-force path enumeration of the CRF and Viterbi checks, the shape
 * lists the sequence ops are tested on, GPU upload of a batch, the tiny
 * corpus and model the whole-graph tests train, one training step of a
 * graph checked against the float64 reference, BiLSTM weights and buffers,
 * a `cpu`-profile Gpu, the readers' `path:line` errors, and the CLI tests'
 * JSON Lines corpus. The GPU-vs-reference comparison and finite
 * differences live in `assert_close.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Batch, encodeSentences, makeBatches } from "../src/data/batch.ts";
import { CASING_CLASSES } from "../src/data/casing.ts";
import { collectTags, type Sentence } from "../src/data/sentence.ts";
import { buildCharVocabulary, buildTagVocabulary, buildWordVocabulary } from "../src/data/vocab.ts";
import { DataFormatError } from "../src/data/errors.ts";
import { createBuffer, Gpu, kernelProfile, PROFILE_ENV } from "../src/gpu/mod.ts";
import { type ModelConfig, resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";
import type { VocabularySizes } from "../src/model/parameters.ts";
import type { CrfBatch, CrfGoldBatch, CrfShape } from "../src/ops/crf_ref.ts";
import type { BiLstmParams, BiLstmShape } from "../src/ops/lstm_ref.ts";
import type { SoftmaxBatch } from "../src/ops/softmax_xent_ref.ts";
import type { TransitionMask } from "../src/ops/viterbi_ref.ts";
import type { TrainOptions } from "../src/train/trainer.ts";
import { assertClose, randomArray } from "./assert_close.ts";

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
 * Runs `fn` on a new temporary folder and removes the folder after, also when `fn` fails.
 *
 * @param fn the test body, given the folder
 * @returns what `fn` returns
 */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Runs `fn` on a temporary folder holding train.jsonl, dev.jsonl (6 sentences) and
 * test.jsonl (6) of invented sentences, the corpus the CLI tests train on; removes it after.
 *
 * @param fn the test body, given the folder
 * @param train sentences in train.jsonl (default 24)
 * @returns what `fn` returns
 */
export function withInventedCorpus<T>(
  fn: (dir: string) => Promise<T>,
  train = 24,
): Promise<T> {
  return withTempDir(async (dir) => {
    for (const [name, n, seed] of [["train", train, 1], ["dev", 6, 2], ["test", 6, 3]] as const) {
      await Deno.writeTextFile(`${dir}/${name}.jsonl`, inventedJsonl(n, seed));
    }
    return await fn(dir);
  });
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

/** Training options for a model of a few hundred weights: every feature on, hidden 6. */
export const TINY_TRAIN_OPTIONS: TrainOptions = {
  config: { wordDim: 8, casingDim: 2, charDim: 4, charFilters: 4, maxChars: 6, hidden: 6 },
  batchSize: 8,
  lr: 0.02,
  seed: 7,
  patience: 0,
};

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

/**
 * The vocabulary sizes of a model, as {@linkcode NerGraph.create} takes them.
 *
 * @param model its word, character and tag vocabularies
 * @returns the sizes, with every casing class
 */
export function modelSizes(
  model: { words: { size: number }; chars: { size: number }; tags: { size: number } },
): VocabularySizes {
  return {
    words: model.words.size,
    chars: model.chars.size,
    casings: CASING_CLASSES.length,
    tags: model.tags.size,
  };
}

/**
 * Runs one training step of `graph` on `batch` and checks its loss (rtol 1e-5) and the
 * gradient of every parameter (atol 2e-5, rtol 1e-3) against the float64 reference's.
 *
 * @param graph a training graph, its parameters those `ref` was computed from
 * @param batch the batch
 * @param ref the float64 reference's loss and gradients for it (`modelLossRef`)
 * @returns the GPU's loss
 */
export async function assertStepMatchesRef(
  graph: NerGraph,
  batch: Batch,
  ref: { loss: number; grads: Record<string, ArrayLike<number>> },
): Promise<number> {
  graph.trainOn(batch, { lr: 1e-3 });
  const loss = await graph.takeLoss();
  assertClose([loss], [ref.loss], { name: "loss", rtol: 1e-5 });
  const grads = await graph.readGradients();
  assert.deepEqual(Object.keys(grads).sort(), Object.keys(ref.grads).sort());
  for (const [name, expected] of Object.entries(ref.grads)) {
    assertClose(grads[name], expected, { name: `d ${name}`, atol: 2e-5, rtol: 1e-3 });
  }
  return loss;
}

/** A BiLSTM test case: the shape, each sentence's length and the seed of its inputs. */
export type LstmCase = [shape: BiLstmShape, lengths: number[], seed: number];

/**
 * The BiLSTM cases the training kernels of both profiles (and the inference kernel, where
 * it shares them) are checked on against the float64 reference. Few distinct H: each
 * compiles its own pipelines, seconds each on llvmpipe with a cold cache.
 */
export const LSTM_CASES: Record<"single" | "padded" | "many" | "rows" | "long", LstmCase> = {
  /** One sentence of one token; H = 10, an odd count of unit quads, not a multiple of 4. */
  single: [{ batch: 1, time: 1, inputSize: 3, hiddenSize: 10 }, [1], 100],
  /** Unequal lengths, an empty sentence, padding. */
  padded: [{ batch: 5, time: 7, inputSize: 3, hiddenSize: 10 }, [7, 3, 1, 0, 5], 200],
  /** More sentences than one workgroup holds (8), E a multiple of 4 (the vec4 matmul). */
  many: [
    { batch: 19, time: 6, inputSize: 4, hiddenSize: 10 },
    [6, 1, 2, 6, 5, 0, 3, 4, 6, 1, 2, 5, 5, 1, 6, 2, 3, 4, 1],
    300,
  ],
  /** 21 sentences at H = 18, for two or more rows of sentences per workgroup. */
  rows: [
    { batch: 21, time: 5, inputSize: 3, hiddenSize: 18 },
    [5, 1, 2, 5, 4, 0, 3, 4, 5, 1, 2, 5, 5, 1, 3, 2, 3, 4, 1, 5, 2],
    500,
  ],
  /** A long sentence (the software adapter's loop limit) at H = 256, a multiple of 4. */
  long: [{ batch: 2, time: 150, inputSize: 3, hiddenSize: 256 }, [150, 37], 400],
};

/**
 * Random BiLSTM weights (both directions stacked), uniform in [-scale, scale].
 *
 * @param seed W_ih's seed; W_hh, b_ih and b_hh take the next three
 * @param E input size
 * @param H hidden size per direction
 * @param scale the bound (default 0.6)
 * @returns W_ih (8H, E), W_hh (8H, H), b_ih (8H), b_hh (8H)
 */
export function randomLstmParams(seed: number, E: number, H: number, scale = 0.6): BiLstmParams {
  return {
    wIh: randomArray(seed, 8 * H * E, -scale, scale),
    wHh: randomArray(seed + 1, 8 * H * H, -scale, scale),
    bIh: randomArray(seed + 2, 8 * H, -scale, scale),
    bHh: randomArray(seed + 3, 8 * H, -scale, scale),
  };
}

/**
 * The weights of a BiLSTM layer as f32 GPU buffers labelled by name.
 *
 * @param gpu the device
 * @param p the weights
 * @returns wIh (8H, E), wHh (8H, H), bIh (8H), bHh (8H)
 */
export function lstmWeightBuffers(gpu: Gpu, p: BiLstmParams) {
  return {
    wIh: createBuffer(gpu, "wIh", new Float32Array(p.wIh)),
    wHh: createBuffer(gpu, "wHh", new Float32Array(p.wHh)),
    bIh: createBuffer(gpu, "bIh", new Float32Array(p.bIh)),
    bHh: createBuffer(gpu, "bHh", new Float32Array(p.bHh)),
  };
}

/**
 * Every buffer a training BiLSTM layer of this shape binds, zeroed but for the weights;
 * each at least 16 bytes (bindings read as vec4).
 *
 * @param gpu the device
 * @param shape B, T, E, H
 * @param p the weights
 * @returns x (B, T, E), lengths (B), the weights, hOut and dhOut (B, T, 2H), dX (B, T, E),
 * dWIh (8H, E), dWHh (8H, H), dBIh and dBHh (8H)
 */
export function lstmLayerBuffers(gpu: Gpu, shape: BiLstmShape, p: BiLstmParams) {
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = shape;
  const zeros = (label: string, n: number) => createBuffer(gpu, label, Math.max(16, n * 4));
  return {
    x: zeros("x", B * T * E),
    lengths: zeros("lengths", B),
    ...lstmWeightBuffers(gpu, p),
    hOut: zeros("hOut", B * T * 2 * H),
    dhOut: zeros("dhOut", B * T * 2 * H),
    dX: zeros("dX", B * T * E),
    dWIh: zeros("dWIh", 8 * H * E),
    dWHh: zeros("dWHh", 8 * H * H),
    dBIh: zeros("dBIh", 8 * H),
    dBHh: zeros("dBHh", 8 * H),
  };
}

/**
 * A Gpu on the same device whose kernel profile is `cpu` (where the inference recurrence
 * runs), whatever this machine's adapter would pick.
 *
 * @param base a Gpu of the device
 * @returns the same device under the `cpu` profile
 */
export function cpuProfile(base: Gpu): Gpu {
  const previous = Deno.env.get(PROFILE_ENV);
  Deno.env.set(PROFILE_ENV, "cpu");
  try {
    const gpu = new Gpu(base.device, base.adapter, base.limitsMode);
    assert.equal(kernelProfile(gpu).profile, "cpu");
    return gpu;
  } finally {
    if (previous === undefined) Deno.env.delete(PROFILE_ENV);
    else Deno.env.set(PROFILE_ENV, previous);
  }
}

/**
 * Asserts that `fn` throws a {@linkcode DataFormatError} for `path:line` whose message
 * starts with that place and matches `pattern`.
 *
 * @param fn the call that must fail
 * @param path the file name the error must give
 * @param line its 1-based line
 * @param pattern what the message must say
 */
export function assertThrowsAt(fn: () => unknown, path: string, line: number, pattern: RegExp) {
  const place = `${path}:${line}: `;
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataFormatError, `expected a DataFormatError, got ${e}`);
    assert.equal(e.line, line);
    assert.equal(e.path, path);
    assert.ok(e.message.startsWith(place), `"${e.message}" does not start with "${place}"`);
    assert.match(e.message, pattern);
    return true;
  });
}

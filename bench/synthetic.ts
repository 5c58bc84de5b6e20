/**
 * A seeded, generated corpus with CoNLL-2003's sentence lengths, so the
 * throughput benchmarks run anywhere without data.
 *
 * Sentence lengths are drawn from the histogram of CoNLL-2003 `train.txt`
 * (14,041 sentences, 203,621 tokens, mean 14.50, longest 113; `-DOCSTART-`
 * lines are not sentences), embedded below as a table of counts: a histogram
 * of lengths, not the corpus text. Word ids follow a Zipf law (rank r drawn
 * with probability ∝ 1/r), tags follow BIO spans over ~17 % of tokens (about
 * CoNLL's share of entity tokens). Words and tags are independent: the corpus
 * is for timing, not for learning.
 *
 * Id conventions match the library's vocabularies: word id 0 is `<pad>`, 1 is
 * `<unk>`, real words are `2 .. vocab - 1`; tag ids are `0 .. tags - 1` with 0
 * = `O`.
 *
 * @module
 */

import { mulberry32 } from "../src/data/random.ts";
import type { Sentence } from "../src/data/sentence.ts";

/**
 * CoNLL-2003 `train.txt` sentence lengths as `[length, sentences]` pairs,
 * counted once with `awk` over the file (blank-line separated sentences,
 * `-DOCSTART-` skipped). Sums: 14,041 sentences, 203,621 tokens.
 */
// deno-fmt-ignore
export const CONLL2003_TRAIN_LENGTHS: readonly (readonly [number, number])[] = [
  [1, 179], [2, 1129], [3, 586], [4, 771], [5, 751], [6, 625], [7, 904], [8, 1056],
  [9, 894], [10, 503], [11, 407], [12, 324], [13, 354], [14, 293], [15, 279], [16, 235],
  [17, 233], [18, 198], [19, 195], [20, 214], [21, 213], [22, 217], [23, 210], [24, 221],
  [25, 223], [26, 212], [27, 202], [28, 217], [29, 216], [30, 194], [31, 209], [32, 186],
  [33, 173], [34, 155], [35, 135], [36, 124], [37, 102], [38, 98], [39, 109], [40, 80],
  [41, 72], [42, 64], [43, 52], [44, 45], [45, 40], [46, 27], [47, 21], [48, 18],
  [49, 13], [50, 15], [51, 10], [52, 11], [53, 3], [54, 4], [55, 5], [56, 1],
  [57, 3], [58, 2], [59, 2], [60, 2], [62, 2], [67, 1], [78, 1], [113, 1],
];

/** The longest sentence {@linkcode syntheticCorpus} can produce. */
export const MAX_SYNTHETIC_LENGTH = 113;

/** Options for {@linkcode syntheticCorpus}. */
export interface SyntheticOptions {
  /** Number of sentences. */
  sentences: number;
  /** PRNG seed (any integer). Default 1. */
  seed?: number;
  /** V, word vocabulary size including `<pad>` (0) and `<unk>` (1); at least 3. Default 10,000. */
  vocab?: number;
  /** K, number of tags including `O` (0); at least 1. Default 9 (CoNLL-2003's BIO set). */
  tags?: number;
}

/** What {@linkcode syntheticCorpus} returns: the same sentences as ids and as strings. */
export interface SyntheticCorpus {
  /** Per sentence, (T) word ids in `[2, vocab)`. */
  wordIds: Int32Array[];
  /** Per sentence, (T) tag ids in `[0, tags)`. */
  tagIds: Int32Array[];
  /** The same sentences as strings (`w<id>` tokens, BIO tag names) for the data pipeline. */
  sentences: Sentence[];
  /** (K) tag names by id: `O`, then `B-X0`, `I-X0`, `B-X1`, … */
  tagNames: string[];
  /** Total number of tokens. */
  tokens: number;
}

/**
 * Names K tags in BIO style: `O`, `B-X0`, `I-X0`, … (with K even, the last
 * type has only a `B-` tag).
 */
function bioTagNames(k: number): string[] {
  const names = ["O"];
  for (let i = 0; names.length < k; i++) {
    names.push(`B-X${i}`);
    if (names.length < k) names.push(`I-X${i}`);
  }
  return names;
}

/** Index of the first cumulative weight above `u` (binary search). */
function pick(cumulative: Float64Array, u: number): number {
  let lo = 0, hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Generates a corpus whose sentence lengths follow CoNLL-2003 train's
 * distribution, with Zipf-distributed words and BIO tags. The same options
 * always give the same corpus.
 *
 * @param options Number of sentences, seed, vocabulary size and tag count.
 * @returns The sentences as ids and as strings.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const c = syntheticCorpus({ sentences: 100, seed: 3, vocab: 50, tags: 9 });
 * assert.equal(c.wordIds.length, 100);
 * assert.equal(c.sentences[0].tokens.length, c.wordIds[0].length);
 * ```
 */
export function syntheticCorpus(options: SyntheticOptions): SyntheticCorpus {
  const { sentences: n, seed = 1, vocab = 10_000, tags = 9 } = options;
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(
      `Cannot generate a corpus: expected a non-negative integer sentence count, found ${n}`,
    );
  }
  if (!Number.isInteger(vocab) || vocab < 3) {
    throw new RangeError(
      `Cannot generate a corpus: expected an integer vocab of at least 3 (pad, unk, a word), found ${vocab}`,
    );
  }
  if (!Number.isInteger(tags) || tags < 1) {
    throw new RangeError(
      `Cannot generate a corpus: expected a positive integer tag count, found ${tags}`,
    );
  }
  const random = mulberry32(seed);

  // Lengths: cumulative sentence counts of the histogram.
  const lengthCum = new Float64Array(CONLL2003_TRAIN_LENGTHS.length);
  let total = 0;
  CONLL2003_TRAIN_LENGTHS.forEach(([, count], i) => lengthCum[i] = total += count);

  // Words: rank r = 1 .. vocab - 2 with weight 1/r, id = r + 1.
  const ranks = vocab - 2;
  const wordCum = new Float64Array(ranks);
  let z = 0;
  for (let r = 0; r < ranks; r++) wordCum[r] = z += 1 / (r + 1);

  const tagNames = bioTagNames(tags);
  const types = Math.ceil((tags - 1) / 2); // entity types; type i uses ids 2i+1 (B) and 2i+2 (I)
  const wordIds: Int32Array[] = [];
  const tagIds: Int32Array[] = [];
  const sentences: Sentence[] = [];
  let tokens = 0;
  for (let s = 0; s < n; s++) {
    const length = CONLL2003_TRAIN_LENGTHS[pick(lengthCum, random() * total)][0];
    const words = new Int32Array(length);
    const tagRow = new Int32Array(length);
    for (let t = 0; t < length; t++) words[t] = pick(wordCum, random() * z) + 2;
    for (let t = 0; t < length && types > 0;) {
      // An entity starts here with probability 0.1 and lasts 1 + Geometric(0.45) tokens
      // (mean ≈ 1.7), so about 17 % of tokens are inside entities.
      if (random() >= 0.1) {
        t++;
        continue;
      }
      const type = Math.floor(random() * types);
      const begin = 2 * type + 1;
      const inside = begin + 1 < tags ? begin + 1 : -1;
      tagRow[t++] = begin;
      while (inside >= 0 && t < length && random() < 0.45) tagRow[t++] = inside;
    }
    wordIds.push(words);
    tagIds.push(tagRow);
    sentences.push({
      tokens: Array.from(words, (w) => `w${w}`),
      tags: Array.from(tagRow, (k) => tagNames[k]),
    });
    tokens += length;
  }
  return { wordIds, tagIds, sentences, tagNames, tokens };
}

/**
 * Batching: sentences → length-bucketed batches of flat typed arrays, ready
 * for GPU upload, with a seeded shuffle.
 *
 * Layout: every per-token array is **batch-major**, `(B, T)` row-major with
 * index `b * T + t`, where B is the batch's sentence count and T its longest
 * sentence; characters are `(B, T, C)` with index `(b * T + t) * C + c`.
 * Padding positions hold id 0 (`<pad>`) and mask 0.
 *
 * @module
 */

import { casingId } from "./casing.ts";
import { mulberry32, shuffle } from "./random.ts";
import type { Sentence } from "./sentence.ts";
import type { Vocabulary } from "./vocab.ts";

/** One sentence as ids. */
export interface EncodedSentence {
  /** (T) word ids. */
  words: Int32Array;
  /** (T) casing class ids (see `CASING_CLASSES`). */
  casing: Int32Array;
  /** T arrays of character ids (empty arrays when no character vocabulary). */
  chars: Int32Array[];
  /** (T) tag ids. */
  tags: Int32Array;
}

/** The vocabularies {@linkcode encodeSentences} uses. */
export interface Encoders {
  /** Word ids. */
  words: Vocabulary;
  /** Tag ids (no `<pad>`/`<unk>`; an unknown tag throws). */
  tags: Vocabulary;
  /** Character ids; omit for a model without character features. */
  chars?: Vocabulary;
}

/**
 * Turns sentences into ids.
 *
 * @param sentences The sentences.
 * @param encoders The vocabularies.
 * @returns One encoded sentence per sentence, in order.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { Vocabulary } from "./vocab.ts";
 * const words = new Vocabulary(["Ada"]);
 * const tags = new Vocabulary(["O", "B-PER"], { specials: false });
 * const [e] = encodeSentences([{ tokens: ["Ada", "sang"], tags: ["B-PER", "O"] }], { words, tags });
 * assert.deepEqual([...e.words], [2, 1]);
 * assert.deepEqual([...e.tags], [1, 0]);
 * ```
 */
export function encodeSentences(
  sentences: readonly Sentence[],
  encoders: Encoders,
): EncodedSentence[] {
  const { words, tags, chars } = encoders;
  return sentences.map((s) => ({
    words: Int32Array.from(s.tokens, (t) => words.id(t)),
    casing: Int32Array.from(s.tokens, casingId),
    chars: s.tokens.map((
      t,
    ) => (chars ? Int32Array.from(t, (ch) => chars.id(ch)) : new Int32Array(0))),
    tags: Int32Array.from(s.tags, (t) => tags.id(t)),
  }));
}

/**
 * The embedding-gradient grouping of a batch in CSR form: for each distinct
 * word id, the flat `b * T + t` positions where it occurs, so the embedding
 * backward sums rows segment by segment without atomics. Padding is left out.
 */
export interface WordGroups {
  /** (U) distinct word ids, ascending. */
  uniqueIds: Int32Array;
  /** (U + 1) `positions[offsets[u] .. offsets[u + 1])` belong to `uniqueIds[u]`. */
  offsets: Int32Array;
  /** (N) flat token positions `b * T + t`, grouped by word id, ascending within a group. */
  positions: Int32Array;
}

/**
 * A batch of B sentences padded to T tokens. All `(B, T)` arrays are
 * batch-major: element `[b][t]` is at `b * T + t`.
 */
export interface Batch {
  /** B, the number of sentences. */
  size: number;
  /** T, the longest sentence in this batch. */
  maxLength: number;
  /** C, characters kept per token (the longest token, capped by `maxChars`; at least 1). */
  maxChars: number;
  /** N, the number of real (non-padding) tokens. */
  tokens: number;
  /** (B) index of each row's sentence in the encoded list (to put predictions back). */
  sentenceIds: Int32Array;
  /** (B) sentence lengths. */
  lengths: Int32Array;
  /** (B, T) 1 for a token, 0 for padding. */
  mask: Float32Array;
  /** (B, T) word ids; 0 (`<pad>`) at padding. */
  wordIds: Int32Array;
  /** (B, T) casing class ids; 0 at padding. */
  casingIds: Int32Array;
  /** (B, T, C) character ids, index `(b * T + t) * C + c`; 0 at padding. */
  charIds: Int32Array;
  /** (B, T) characters per token (at most C); 0 at padding. */
  charLengths: Int32Array;
  /** (B, T) tag ids; 0 at padding (read the mask). */
  tagIds: Int32Array;
  /** The embedding-gradient grouping. */
  wordGroups: WordGroups;
}

/** Options for {@linkcode makeBatches}. */
export interface BatchOptions {
  /** Sentences per batch. Default 32. */
  batchSize?: number;
  /** Seed for the shuffle. Default 1. Pass e.g. `seed + epoch` for a new order each epoch. */
  seed?: number;
  /** Shuffle sentences and batches. Default true; false gives a fixed order for evaluation. */
  shuffle?: boolean;
  /** Put sentences of similar length together. Default true. */
  bucket?: boolean;
  /** Cap on characters per token. Default 24. */
  maxChars?: number;
}

/**
 * Cuts encoded sentences into batches.
 *
 * With `bucket` (the default) sentences are shuffled with the seed, sorted by
 * length (the shuffle breaks ties), cut into batches of `batchSize`, and the
 * batches are shuffled, so each batch holds similar lengths and long and short
 * batches alternate at random. Without `shuffle` the batch order alternates
 * longest, shortest, second longest, … Inside a batch rows alternate long and
 * short (longest, shortest, second longest, …) so that GPU workgroups owning
 * contiguous rows get balanced work. The same seed always gives the same batches.
 *
 * @param encoded The encoded sentences.
 * @param options Batch size, seed, shuffling and bucketing.
 * @returns The batches; every sentence appears in exactly one.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const s = (n: number) => ({
 *   words: new Int32Array(n).fill(2), casing: new Int32Array(n).fill(4),
 *   chars: Array.from({ length: n }, () => Int32Array.of(3, 4)), tags: new Int32Array(n),
 * });
 * const batches = makeBatches([s(3), s(1), s(2)], { batchSize: 2, seed: 7 });
 * assert.equal(batches.reduce((n, b) => n + b.size, 0), 3);
 * const b = batches.find((b) => b.size === 2)!;
 * assert.equal(b.wordIds.length, b.size * b.maxLength);
 * ```
 */
export function makeBatches(
  encoded: readonly EncodedSentence[],
  options: BatchOptions = {},
): Batch[] {
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(
      `Cannot batch: expected a positive integer batch size, found ${batchSize}`,
    );
  }
  const doShuffle = options.shuffle ?? true;
  const random = mulberry32(options.seed ?? 1);
  let order = encoded.map((_, i) => i);
  if (doShuffle) shuffle(order, random);
  if (options.bucket ?? true) {
    order = order.map((i, k) => ({ i, k, n: encoded[i].words.length }))
      .sort((a, b) => b.n - a.n || a.k - b.k)
      .map((e) => e.i);
  }
  let groups: number[][] = [];
  for (let k = 0; k < order.length; k += batchSize) groups.push(order.slice(k, k + batchSize));
  if (doShuffle) shuffle(groups, random);
  else if (options.bucket ?? true) groups = alternateEnds(groups);
  return groups.map((g) => buildBatch(encoded, g, options.maxChars ?? 24));
}

/** Reorders [a, b, c, d, e] as [a, e, b, d, c]. */
function alternateEnds<T>(items: T[]): T[] {
  const out: T[] = [];
  for (let lo = 0, hi = items.length - 1; lo <= hi; lo++, hi--) {
    out.push(items[lo]);
    if (hi !== lo) out.push(items[hi]);
  }
  return out;
}

function buildBatch(
  encoded: readonly EncodedSentence[],
  ids: number[],
  maxCharsCap: number,
): Batch {
  const rows = alternateEnds(
    [...ids].sort((a, b) => encoded[b].words.length - encoded[a].words.length || a - b),
  );
  const B = rows.length;
  let T = 0, C = 1, N = 0;
  for (const i of rows) {
    const e = encoded[i];
    T = Math.max(T, e.words.length);
    N += e.words.length;
    for (const c of e.chars) C = Math.max(C, Math.min(c.length, maxCharsCap));
  }
  const lengths = new Int32Array(B);
  const mask = new Float32Array(B * T);
  const wordIds = new Int32Array(B * T);
  const casingIds = new Int32Array(B * T);
  const tagIds = new Int32Array(B * T);
  const charIds = new Int32Array(B * T * C);
  const charLengths = new Int32Array(B * T);
  const groups = new Map<number, number[]>();
  for (let b = 0; b < B; b++) {
    const e = encoded[rows[b]];
    const n = e.words.length;
    lengths[b] = n;
    for (let t = 0; t < n; t++) {
      const p = b * T + t;
      mask[p] = 1;
      wordIds[p] = e.words[t];
      casingIds[p] = e.casing[t];
      tagIds[p] = e.tags[t];
      const ch = e.chars[t];
      const m = Math.min(ch.length, C);
      charLengths[p] = m;
      charIds.set(ch.subarray(0, m), p * C);
      const list = groups.get(e.words[t]);
      if (list) list.push(p);
      else groups.set(e.words[t], [p]);
    }
  }
  const uniqueIds = Int32Array.from(groups.keys()).sort();
  const offsets = new Int32Array(uniqueIds.length + 1);
  const positions = new Int32Array(N);
  let at = 0;
  uniqueIds.forEach((id, u) => {
    const list = groups.get(id)!;
    positions.set(list.sort((a, b) => a - b), at);
    at += list.length;
    offsets[u + 1] = at;
  });
  return {
    size: B,
    maxLength: T,
    maxChars: C,
    tokens: N,
    sentenceIds: Int32Array.from(rows),
    lengths,
    mask,
    wordIds,
    casingIds,
    charIds,
    charLengths,
    tagIds,
    wordGroups: { uniqueIds, offsets, positions },
  };
}

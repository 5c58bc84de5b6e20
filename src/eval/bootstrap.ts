/**
 * The paired bootstrap test over sentences for the entity-F1 difference of
 * two taggers on the same gold data (Koehn 2004; Berg-Kirkpatrick et al.
 * 2012): resample the test sentences with replacement, recompute both
 * corpus-level F1 scores on each resample from per-sentence chunk counts,
 * and read the spread of the difference.
 *
 * The p-value is two-sided and tests "no difference": the resampled
 * differences are centred on the observed one (the bootstrap's picture of
 * the null), and p is the share of them at least as far from it as the
 * observed difference is from 0, with one added to numerator and
 * denominator (`(1 + count) / (1 + R)`), so it is never 0. Two identical
 * taggers give difference 0 and p = 1; the 95 % interval is the 2.5 and
 * 97.5 percentiles (linear interpolation) of the resampled differences.
 *
 * @module
 */

import { mulberry32 } from "../data/random.ts";
import { type ChunkRules, conllevalCounts, type TypeCounts } from "./conlleval.ts";

/** Chunk counts of one sentence (gold, guessed, correct entities). */
export type SentenceCounts = TypeCounts;

/**
 * Entity counts per sentence, the unit the bootstrap resamples. Their sums
 * equal the corpus counts of {@linkcode conllevalCounts}.
 *
 * @param gold gold tags per sentence
 * @param predicted predicted tags per sentence (same shape)
 * @param options chunk rules (default `"conlleval"`)
 * @returns one count per sentence
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const counts = sentenceCounts([["B-PER", "O"], ["B-LOC"]], [["B-PER", "O"], ["O"]]);
 * assert.deepEqual(counts, [{ gold: 1, guessed: 1, correct: 1 }, { gold: 1, guessed: 0, correct: 0 }]);
 * ```
 */
export function sentenceCounts(
  gold: readonly (readonly string[])[],
  predicted: readonly (readonly string[])[],
  options: { rules?: ChunkRules } = {},
): SentenceCounts[] {
  if (gold.length !== predicted.length) {
    throw new RangeError(
      `sentenceCounts: expected as many predicted sentences as gold ones (${gold.length}), found ${predicted.length}`,
    );
  }
  return gold.map((g, s) => {
    const c = conllevalCounts([g], [predicted[s]], options);
    return { gold: c.gold, guessed: c.guessed, correct: c.correct };
  });
}

/**
 * Entity F1 (a fraction) from summed counts, as conlleval computes it.
 *
 * @param c chunk counts
 * @returns F1 in [0, 1] (0 when nothing was found or there is no gold chunk)
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(f1FromCounts({ gold: 4, guessed: 2, correct: 2 }), 2 / 3);
 * ```
 */
export function f1FromCounts(c: TypeCounts): number {
  const p = c.guessed > 0 ? c.correct / c.guessed : 0;
  const r = c.gold > 0 ? c.correct / c.gold : 0;
  return p + r > 0 ? (2 * p * r) / (p + r) : 0;
}

/** Options for {@linkcode pairedBootstrap}. */
export interface BootstrapOptions {
  /** Resamples R. Default 1000. */
  resamples?: number;
  /** Seed of the resampling (mulberry32). Default 1. */
  seed?: number;
  /** Coverage of the interval. Default 0.95. */
  confidence?: number;
}

/** The result of {@linkcode pairedBootstrap}; F1 values are fractions. */
export interface BootstrapResult {
  /** Entity F1 of the first tagger on all sentences. */
  f1A: number;
  /** Entity F1 of the second tagger on all sentences. */
  f1B: number;
  /** f1B − f1A. */
  difference: number;
  /** Two-sided p-value of "no difference", in (0, 1]. */
  pValue: number;
  /** Percentile interval of the difference at `confidence`. */
  interval: [number, number];
  /** Its coverage, e.g. 0.95. */
  confidence: number;
  /** Resamples drawn. */
  resamples: number;
  /** The seed used. */
  seed: number;
  /** Sentences resampled. */
  sentences: number;
}

/**
 * The paired bootstrap test of the F1 difference B − A over sentences.
 *
 * @param a per-sentence counts of the first tagger (from {@linkcode sentenceCounts})
 * @param b per-sentence counts of the second tagger, same sentences and gold
 * @param options resamples, seed, confidence
 * @returns the observed difference, its p-value and interval
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const same = [{ gold: 1, guessed: 1, correct: 1 }, { gold: 2, guessed: 1, correct: 0 }];
 * const r = pairedBootstrap(same, same, { resamples: 200 });
 * assert.equal(r.difference, 0);
 * assert.equal(r.pValue, 1);
 * assert.deepEqual(r.interval, [0, 0]);
 * ```
 */
export function pairedBootstrap(
  a: readonly SentenceCounts[],
  b: readonly SentenceCounts[],
  options: BootstrapOptions = {},
): BootstrapResult {
  const resamples = options.resamples ?? 1000;
  const seed = options.seed ?? 1;
  const confidence = options.confidence ?? 0.95;
  checkBootstrapInput(a, b, resamples, confidence);
  const f1A = f1FromCounts(sum(a)), f1B = f1FromCounts(sum(b));
  const difference = f1B - f1A;
  const diffs = resampledDifferences(a, b, resamples, seed);
  // Centred on the observed difference, as the null "no difference" would be on 0.
  const tolerance = 1e-12;
  let far = 0;
  for (const d of diffs) if (Math.abs(d - difference) >= Math.abs(difference) - tolerance) far++;
  const sorted = Float64Array.from(diffs).sort();
  const alpha = 1 - confidence;
  return {
    f1A,
    f1B,
    difference,
    pValue: (1 + far) / (1 + resamples),
    interval: [quantile(sorted, alpha / 2), quantile(sorted, 1 - alpha / 2)],
    confidence,
    resamples,
    seed,
    sentences: a.length,
  };
}

function checkBootstrapInput(
  a: readonly SentenceCounts[],
  b: readonly SentenceCounts[],
  resamples: number,
  confidence: number,
): void {
  if (a.length !== b.length) {
    throw new RangeError(
      `pairedBootstrap: expected the same sentences for both taggers, found ${a.length} and ${b.length}`,
    );
  }
  if (a.length === 0) throw new RangeError("pairedBootstrap: expected sentences, found none");
  a.forEach((x, i) => {
    if (x.gold !== b[i].gold) {
      throw new RangeError(
        `pairedBootstrap: sentence ${i} has ${x.gold} gold entities for A and ${
          b[i].gold
        } for B: expected the same gold data`,
      );
    }
  });
  if (!(Number.isInteger(resamples) && resamples >= 1)) {
    throw new RangeError(`pairedBootstrap: resamples: expected an integer ≥ 1, found ${resamples}`);
  }
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(
      `pairedBootstrap: confidence: expected a number in (0, 1), found ${confidence}`,
    );
  }
}

function sum(counts: readonly SentenceCounts[]): TypeCounts {
  const total = { gold: 0, guessed: 0, correct: 0 };
  for (const c of counts) {
    total.gold += c.gold;
    total.guessed += c.guessed;
    total.correct += c.correct;
  }
  return total;
}

/** R resamples of N sentence indices (drawn in order: resample r, position i), F1 of B − A on each. */
function resampledDifferences(
  a: readonly SentenceCounts[],
  b: readonly SentenceCounts[],
  resamples: number,
  seed: number,
): Float64Array {
  const random = mulberry32(seed);
  const N = a.length;
  const diffs = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let gold = 0, guessedA = 0, correctA = 0, guessedB = 0, correctB = 0;
    for (let i = 0; i < N; i++) {
      const s = Math.floor(random() * N);
      gold += a[s].gold;
      guessedA += a[s].guessed;
      correctA += a[s].correct;
      guessedB += b[s].guessed;
      correctB += b[s].correct;
    }
    diffs[r] = f1FromCounts({ gold, guessed: guessedB, correct: correctB }) -
      f1FromCounts({ gold, guessed: guessedA, correct: correctA });
  }
  return diffs;
}

/** Linear interpolation between order statistics (R's type 7, NumPy's default). */
function quantile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h), hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

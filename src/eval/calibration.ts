/**
 * Calibration of span scores: does a predicted entity with score 0.9 turn
 * out right nine times in ten? Predicted spans are binned by score; each
 * bin's observed precision (the share of its spans that match a gold
 * entity exactly, type and boundaries) is set against its mean score. The
 * expected calibration error (ECE) is the span-weighted mean gap,
 *
 *   ECE = Σ_b (n_b / N) · |precision_b − meanScore_b|,
 *
 * over equal-width bins of [0, 1] (the last one closed).
 *
 * Temperature scaling re-scores a span with probability p as
 * σ(logit(p) / τ): τ > 1 softens over-confident scores, τ < 1 sharpens
 * under-confident ones, and the order of spans never changes. τ is fitted
 * by minimising the negative log-likelihood of "this span is right" on a
 * development set (a one-parameter logistic regression on logit(p), convex
 * in 1/τ).
 *
 * @module
 */

import { tagsToSpans } from "../data/schemes.ts";

/** A predicted span with its score and whether the gold data has it. */
export interface SpanOutcome {
  /** The model's probability for the span, in [0, 1]. */
  score: number;
  /** Whether a gold entity has exactly this type and token range. */
  correct: boolean;
}

/** A predicted entity as a token range with a score. */
export interface ScoredSpan {
  /** Entity type, e.g. "PER". */
  label: string;
  /** First token. */
  start: number;
  /** One past the last token. */
  end: number;
  /** The span's probability. */
  score: number;
}

/**
 * Marks each predicted span right or wrong against the gold tags.
 *
 * @param gold gold tags per sentence (IOB2 or any scheme `tagsToSpans` reads)
 * @param predicted predicted spans per sentence, token offsets
 * @returns one outcome per predicted span, in sentence order
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const out = spanOutcomes([["B-PER", "I-PER", "O"]], [[
 *   { label: "PER", start: 0, end: 2, score: 0.9 },
 *   { label: "LOC", start: 2, end: 3, score: 0.2 },
 * ]]);
 * assert.deepEqual(out, [{ score: 0.9, correct: true }, { score: 0.2, correct: false }]);
 * ```
 */
export function spanOutcomes(
  gold: readonly (readonly string[])[],
  predicted: readonly (readonly ScoredSpan[])[],
): SpanOutcome[] {
  if (gold.length !== predicted.length) {
    throw new RangeError(
      `spanOutcomes: expected spans for each of the ${gold.length} gold sentences, found ${predicted.length}`,
    );
  }
  const out: SpanOutcome[] = [];
  gold.forEach((tags, s) => {
    const truth = new Set(tagsToSpans(tags).map((g) => `${g.type}\t${g.start}\t${g.end}`));
    for (const p of predicted[s]) {
      out.push({ score: p.score, correct: truth.has(`${p.label}\t${p.start}\t${p.end}`) });
    }
  });
  return out;
}

/** One bin of a reliability diagram. */
export interface ReliabilityBin {
  /** Lower edge of the score range. */
  lo: number;
  /** Upper edge (included only for the last bin). */
  hi: number;
  /** Spans whose score falls in the bin. */
  count: number;
  /** Of them, the right ones. */
  correct: number;
  /** Their mean score (0 when empty). */
  meanScore: number;
  /** correct / count (0 when empty). */
  precision: number;
}

/** A reliability diagram and its summary. */
export interface Reliability {
  /** The bins, low scores first. */
  bins: ReliabilityBin[];
  /** Expected calibration error (a fraction). */
  ece: number;
  /** The largest gap of a non-empty bin. */
  maxGap: number;
  /** Spans binned. */
  spans: number;
  /** Mean score of all spans. */
  meanScore: number;
  /** Share of all spans that are right (entity precision). */
  precision: number;
  /** The temperature applied to the scores first (1: raw scores). */
  temperature: number;
}

/**
 * Bins spans by score and computes the expected calibration error.
 *
 * @param outcomes spans with scores and outcomes (from {@linkcode spanOutcomes})
 * @param options bins (default 10), a temperature to apply first (default 1)
 * @returns the bins, ECE and totals
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const r = reliability([
 *   { score: 0.95, correct: true },
 *   { score: 0.95, correct: false },
 *   { score: 0.85, correct: true },
 *   { score: 0.3, correct: false },
 * ]);
 * // (2·|0.5 − 0.95| + |1 − 0.85| + |0 − 0.3|) / 4
 * assert.ok(Math.abs(r.ece - 0.3375) < 1e-12);
 * assert.equal(r.bins[9].count, 2);
 * ```
 */
export function reliability(
  outcomes: readonly SpanOutcome[],
  options: { bins?: number; temperature?: number } = {},
): Reliability {
  const n = options.bins ?? 10;
  const temperature = options.temperature ?? 1;
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new RangeError(`reliability: bins: expected an integer ≥ 1, found ${n}`);
  }
  checkTemperature(temperature);
  const sums = Array.from({ length: n }, () => ({ count: 0, correct: 0, score: 0 }));
  let scoreSum = 0, correctSum = 0;
  for (const o of outcomes) {
    checkScore(o.score);
    const p = temperature === 1 ? o.score : temperatureScale(o.score, temperature);
    const bin = sums[Math.min(n - 1, Math.floor(p * n))];
    bin.count++;
    bin.score += p;
    if (o.correct) bin.correct++;
    scoreSum += p;
    if (o.correct) correctSum++;
  }
  const N = outcomes.length;
  const bins = sums.map((s, i) => ({
    lo: i / n,
    hi: (i + 1) / n,
    count: s.count,
    correct: s.correct,
    meanScore: s.count ? s.score / s.count : 0,
    precision: s.count ? s.correct / s.count : 0,
  }));
  const gaps = bins.filter((b) => b.count > 0).map((b) => Math.abs(b.precision - b.meanScore));
  return {
    bins,
    ece: N ? bins.reduce((e, b) => e + (b.count / N) * Math.abs(b.precision - b.meanScore), 0) : 0,
    maxGap: gaps.length ? Math.max(...gaps) : 0,
    spans: N,
    meanScore: N ? scoreSum / N : 0,
    precision: N ? correctSum / N : 0,
    temperature,
  };
}

function checkScore(score: number): void {
  if (!(score >= 0 && score <= 1)) {
    throw new RangeError(`reliability: expected span scores in [0, 1], found ${score}`);
  }
}

function checkTemperature(t: number): void {
  if (!(t > 0 && Number.isFinite(t))) {
    throw new RangeError(`temperature: expected a finite number > 0, found ${t}`);
  }
}

/** Scores are clamped to [ε, 1 − ε] before the logit, so 0 and 1 stay finite. */
const EPS = 1e-7;

function logit(p: number): number {
  const q = Math.min(1 - EPS, Math.max(EPS, p));
  return Math.log(q / (1 - q));
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/**
 * Applies a temperature to a probability: σ(logit(p) / τ).
 *
 * @param score a probability in [0, 1]
 * @param temperature τ > 0 (1 leaves scores as they are, up to the clamp at 1e-7)
 * @returns the scaled probability
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(Math.abs(temperatureScale(0.5, 3) - 0.5) < 1e-12);
 * // logit(0.9) = ln 9; halved, σ(ln 3) = 0.75
 * assert.ok(Math.abs(temperatureScale(0.9, 2) - 0.75) < 1e-12);
 * ```
 */
export function temperatureScale(score: number, temperature: number): number {
  checkTemperature(temperature);
  return sigmoid(logit(score) / temperature);
}

/** The temperature's search range: τ in [0.01, 100]. */
const BETA_MIN = 0.01, BETA_MAX = 100;

/**
 * The negative log-likelihood (mean per span) of the outcomes under scores
 * scaled by `temperature`.
 *
 * @param outcomes spans with scores and outcomes
 * @param temperature τ > 0
 * @returns mean −log p(outcome)
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const nll = calibrationNll([{ score: 0.5, correct: true }], 1);
 * assert.ok(Math.abs(nll - Math.log(2)) < 1e-12);
 * ```
 */
export function calibrationNll(outcomes: readonly SpanOutcome[], temperature: number): number {
  const beta = 1 / temperature;
  let nll = 0;
  for (const o of outcomes) {
    const z = beta * logit(o.score);
    // −log σ(z) = softplus(−z); −log(1 − σ(z)) = softplus(z)
    nll += softplus(o.correct ? -z : z);
  }
  return outcomes.length ? nll / outcomes.length : 0;
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/**
 * Fits the temperature that minimises {@linkcode calibrationNll} on the
 * outcomes (golden-section search on 1/τ, where the loss is convex),
 * within τ ∈ [0.01, 100].
 *
 * @param outcomes development-set spans with scores and outcomes
 * @returns τ
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * // Scores of 0.9 that are right 3 times in 4: τ = ln 9 / ln 3 = 2 makes them 0.75.
 * const spans = [true, true, true, false].map((correct) => ({ score: 0.9, correct }));
 * assert.ok(Math.abs(fitTemperature(spans) - 2) < 1e-6);
 * ```
 */
export function fitTemperature(outcomes: readonly SpanOutcome[]): number {
  if (outcomes.length === 0) {
    throw new RangeError("fitTemperature: expected spans to fit on, found none");
  }
  for (const o of outcomes) checkScore(o.score);
  const loss = (beta: number) => calibrationNll(outcomes, 1 / beta);
  // Golden-section search on log β keeps relative precision across [0.01, 100].
  let lo = Math.log(BETA_MIN), hi = Math.log(BETA_MAX);
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
  let f1 = loss(Math.exp(x1)), f2 = loss(Math.exp(x2));
  for (let i = 0; i < 100 && hi - lo > 1e-10; i++) {
    if (f1 <= f2) {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - g * (hi - lo);
      f1 = loss(Math.exp(x1));
    } else {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + g * (hi - lo);
      f2 = loss(Math.exp(x2));
    }
  }
  return 1 / Math.exp((lo + hi) / 2);
}

/**
 * A reliability diagram as a text table, with the ECE below it.
 *
 * @param r from {@linkcode reliability}
 * @returns aligned lines (empty bins omitted)
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = formatReliability(reliability([{ score: 0.95, correct: true }]));
 * assert.match(text, /0\.90–1\.00 +1 +0\.9500 +1\.0000/);
 * assert.match(text, /ECE 0\.0500/);
 * ```
 */
export function formatReliability(r: Reliability): string {
  const lines = [
    `${"score".padEnd(9)} ${"spans".padStart(7)} ${"mean score".padStart(10)} ${
      "precision".padStart(10)
    } ${"gap".padStart(7)}`,
  ];
  for (const b of r.bins) {
    if (b.count === 0) continue;
    lines.push(
      `${b.lo.toFixed(2)}–${b.hi.toFixed(2)} ${String(b.count).padStart(7)} ${
        b.meanScore.toFixed(4).padStart(10)
      } ${b.precision.toFixed(4).padStart(10)} ${
        (b.precision - b.meanScore).toFixed(4).padStart(7)
      }`,
    );
  }
  const scaled = r.temperature === 1 ? "" : ` (temperature ${r.temperature.toFixed(3)})`;
  lines.push(
    `${r.spans} spans, mean score ${r.meanScore.toFixed(4)}, precision ${
      r.precision.toFixed(4)
    }; ECE ${r.ece.toFixed(4)}, largest gap ${r.maxGap.toFixed(4)}${scaled}`,
  );
  return lines.join("\n") + "\n";
}

/**
 * Float64 reference for the linear-chain CRF, written from the maths with
 * plain loops: log-partition by the forward algorithm, the backward
 * algorithm, node marginals, the gold-path score, the negative
 * log-likelihood and its gradient. For tests and benchmarks only.
 *
 * Parameters follow pytorch-crf: `transitions[from * K + to]`, `start[k]`,
 * `end[k]`. The score of a path y of length n is
 * start[y₀] + Σₜ emissions[t, yₜ] + Σₜ₌₁ transitions[yₜ₋₁, yₜ] + end[yₙ₋₁],
 * and p(y | x) = exp(score(y) − log Z) with log Z = log Σ_y exp(score(y)).
 *
 * @module
 */

import type { CrfShape } from "./common.ts";

export type { CrfShape } from "./common.ts";

/** CRF parameters (pytorch-crf layout). */
export interface CrfParams {
  /** (K, K) [from, to]. */
  transitions: ArrayLike<number>;
  /** (K) score of starting in each tag. */
  start: ArrayLike<number>;
  /** (K) score of ending in each tag. */
  end: ArrayLike<number>;
}

/** A padded batch without gold tags. */
export interface CrfBatch extends CrfParams {
  /** (B, T, K), row b·T + t. */
  emissions: ArrayLike<number>;
  /** (B) valid lengths; steps t ≥ lengths[b] are padding. */
  lengths: ArrayLike<number>;
}

/** A padded batch with gold tags. */
export interface CrfGoldBatch extends CrfBatch {
  /** (B, T) gold tag ids, ignored at padding. */
  tags: ArrayLike<number>;
}

/** What the forward-backward pass yields. */
export interface CrfLattice {
  /** (B) log Z per sentence (0 for an empty sentence). */
  logZ: Float64Array;
  /** (B, T, K) log α: log-sum of the scores of all prefixes ending in tag k at t (emission at t included); 0 at padding. */
  logAlpha: Float64Array;
  /** (B, T, K) log β: log-sum of the scores of all suffixes after tag k at t (end score included); 0 at padding. */
  logBeta: Float64Array;
  /** (B, T, K) p(yₜ = k | x); 0 at padding. */
  marginals: Float64Array;
}

/** Gradients of Σ_b dNll[b]·NLL_b. */
export interface CrfGrads {
  /** (B, T, K), 0 at padding. */
  dEmissions: Float64Array;
  /** (K, K). */
  dTransitions: Float64Array;
  /** (K). */
  dStart: Float64Array;
  /** (K). */
  dEnd: Float64Array;
}

/**
 * log Σ exp(xᵢ), computed stably; −∞ for an empty or all −∞ list.
 *
 * @param xs the values
 * @returns the log-sum-exp
 *
 * @example
 * ```ts
 * import { logSumExp } from "./crf_ref.ts";
 * if (Math.abs(logSumExp([0, 0]) - Math.log(2)) > 1e-15) throw new Error("wrong");
 * ```
 */
export function logSumExp(xs: readonly number[]): number {
  let m = -Infinity;
  for (const x of xs) m = Math.max(m, x);
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (const x of xs) s += Math.exp(x - m);
  return m + Math.log(s);
}

/**
 * The forward-backward algorithm in log space ("in score space a sum
 * becomes a log-sum-exp"): log α, log β, log Z and node marginals.
 *
 * @param batch emissions, lengths and parameters
 * @param shape B, T, K
 * @returns the lattice quantities
 *
 * @example
 * ```ts
 * import { crfForwardBackwardRef } from "./crf_ref.ts";
 * // One step, two tags with equal scores: Z = 2, each marginal 1/2.
 * const r = crfForwardBackwardRef({
 *   emissions: [0, 0], lengths: [1], transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0],
 * }, { batch: 1, time: 1, tags: 2 });
 * if (Math.abs(r.logZ[0] - Math.log(2)) > 1e-12 || r.marginals[1] !== 0.5) throw new Error("wrong");
 * ```
 */
export function crfForwardBackwardRef(batch: CrfBatch, shape: CrfShape): CrfLattice {
  const { batch: B, time: T, tags: K } = shape;
  const { emissions, transitions, start, end } = batch;
  const logZ = new Float64Array(B);
  const logAlpha = new Float64Array(B * T * K);
  const logBeta = new Float64Array(B * T * K);
  const marginals = new Float64Array(B * T * K);
  for (let b = 0; b < B; b++) {
    const n = Math.min(batch.lengths[b], T);
    if (n <= 0) continue;
    const at = (t: number, k: number) => (b * T + t) * K + k;
    for (let k = 0; k < K; k++) logAlpha[at(0, k)] = start[k] + emissions[at(0, k)];
    for (let t = 1; t < n; t++) {
      for (let k = 0; k < K; k++) {
        const terms = [];
        for (let i = 0; i < K; i++) terms.push(logAlpha[at(t - 1, i)] + transitions[i * K + k]);
        logAlpha[at(t, k)] = logSumExp(terms) + emissions[at(t, k)];
      }
    }
    for (let k = 0; k < K; k++) logBeta[at(n - 1, k)] = end[k];
    for (let t = n - 2; t >= 0; t--) {
      for (let k = 0; k < K; k++) {
        const terms = [];
        for (let j = 0; j < K; j++) {
          terms.push(transitions[k * K + j] + emissions[at(t + 1, j)] + logBeta[at(t + 1, j)]);
        }
        logBeta[at(t, k)] = logSumExp(terms);
      }
    }
    const last = [];
    for (let k = 0; k < K; k++) last.push(logAlpha[at(n - 1, k)] + end[k]);
    logZ[b] = logSumExp(last);
    for (let t = 0; t < n; t++) {
      for (let k = 0; k < K; k++) {
        marginals[at(t, k)] = Math.exp(logAlpha[at(t, k)] + logBeta[at(t, k)] - logZ[b]);
      }
    }
  }
  return { logZ, logAlpha, logBeta, marginals };
}

/**
 * Score of the gold path of each sentence (0 for an empty sentence).
 *
 * @param batch emissions, gold tags, lengths and parameters
 * @param shape B, T, K
 * @returns (B) scores
 *
 * @example
 * ```ts
 * import { crfGoldScoreRef } from "./crf_ref.ts";
 * const s = crfGoldScoreRef({
 *   emissions: [1, 2, 3, 4], tags: [1, 0], lengths: [2],
 *   transitions: [0, 0, 10, 0], start: [0, 100], end: [1000, 0],
 * }, { batch: 1, time: 2, tags: 2 });
 * if (s[0] !== 100 + 2 + 10 + 3 + 1000) throw new Error(String(s[0]));
 * ```
 */
export function crfGoldScoreRef(batch: CrfGoldBatch, shape: CrfShape): Float64Array {
  const { batch: B, time: T, tags: K } = shape;
  const score = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const n = Math.min(batch.lengths[b], T);
    if (n <= 0) continue;
    const y = (t: number) => batch.tags[b * T + t];
    let s = batch.start[y(0)] + batch.end[y(n - 1)];
    for (let t = 0; t < n; t++) s += batch.emissions[(b * T + t) * K + y(t)];
    for (let t = 1; t < n; t++) s += batch.transitions[y(t - 1) * K + y(t)];
    score[b] = s;
  }
  return score;
}

/**
 * Negative log-likelihood per sentence: NLL_b = log Z_b − score_b(gold).
 *
 * @param batch emissions, gold tags, lengths and parameters
 * @param shape B, T, K
 * @returns (B) NLL (0 for an empty sentence)
 *
 * @example
 * ```ts
 * import { crfNllRef } from "./crf_ref.ts";
 * const nll = crfNllRef({
 *   emissions: [0, 0], tags: [0], lengths: [1], transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0],
 * }, { batch: 1, time: 1, tags: 2 });
 * if (Math.abs(nll[0] - Math.log(2)) > 1e-12) throw new Error("wrong");
 * ```
 */
export function crfNllRef(batch: CrfGoldBatch, shape: CrfShape): Float64Array {
  const { logZ } = crfForwardBackwardRef(batch, shape);
  const gold = crfGoldScoreRef(batch, shape);
  return logZ.map((z, b) => z - gold[b]);
}

/**
 * Gradient of L = Σ_b dNll[b]·NLL_b: expected counts under the model
 * (node marginals for emissions, start and end; pair marginals
 * p(yₜ₋₁ = i, yₜ = j | x) for transitions) minus the gold path's counts.
 *
 * @param batch emissions, gold tags, lengths and parameters
 * @param shape B, T, K
 * @param dNll (B) weight of each sentence's NLL (e.g. all equal to a loss scale)
 * @returns the gradients
 *
 * @example
 * ```ts
 * import { crfBackwardRef } from "./crf_ref.ts";
 * const g = crfBackwardRef({
 *   emissions: [0, 0], tags: [0], lengths: [1], transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0],
 * }, { batch: 1, time: 1, tags: 2 }, [1]);
 * if (g.dEmissions.join() !== "-0.5,0.5") throw new Error(g.dEmissions.join());
 * ```
 */
export function crfBackwardRef(
  batch: CrfGoldBatch,
  shape: CrfShape,
  dNll: ArrayLike<number>,
): CrfGrads {
  const { batch: B, time: T, tags: K } = shape;
  const { emissions, transitions } = batch;
  const lattice = crfForwardBackwardRef(batch, shape);
  const { logAlpha, logBeta, logZ, marginals } = lattice;
  const dEmissions = new Float64Array(B * T * K);
  const dTransitions = new Float64Array(K * K);
  const dStart = new Float64Array(K);
  const dEnd = new Float64Array(K);
  for (let b = 0; b < B; b++) {
    const n = Math.min(batch.lengths[b], T);
    if (n <= 0) continue;
    const w = dNll[b];
    const at = (t: number, k: number) => (b * T + t) * K + k;
    const y = (t: number) => batch.tags[b * T + t];
    for (let t = 0; t < n; t++) {
      for (let k = 0; k < K; k++) {
        dEmissions[at(t, k)] = w * (marginals[at(t, k)] - (y(t) === k ? 1 : 0));
      }
    }
    for (let k = 0; k < K; k++) {
      dStart[k] += w * (marginals[at(0, k)] - (y(0) === k ? 1 : 0));
      dEnd[k] += w * (marginals[at(n - 1, k)] - (y(n - 1) === k ? 1 : 0));
    }
    for (let t = 1; t < n; t++) {
      for (let i = 0; i < K; i++) {
        for (let j = 0; j < K; j++) {
          const pair = Math.exp(
            logAlpha[at(t - 1, i)] + transitions[i * K + j] + emissions[at(t, j)] +
              logBeta[at(t, j)] - logZ[b],
          );
          dTransitions[i * K + j] += w * pair;
        }
      }
      dTransitions[y(t - 1) * K + y(t)] -= w;
    }
  }
  return { dEmissions, dTransitions, dStart, dEnd };
}

/**
 * Float64 reference for CRF decoding: Viterbi (the best tag path per
 * sentence) and an exact k-best list Viterbi, both honouring a mask of
 * allowed transitions (a forbidden transition scores −∞). Written from the
 * maths with plain loops. `nBestRef` is also what the Tagger runs on the
 * CPU over read-back emissions, since k-best lists are small.
 *
 * @module
 */

import type { CrfBatch, CrfParams, CrfShape } from "./crf_ref.ts";
import type { TransitionMask } from "./viterbi.ts";

export type { TransitionMask } from "./viterbi.ts";

/** Best paths of a batch. */
export interface ViterbiResult {
  /** (B, T) best tag per step; −1 at padding. */
  paths: Int32Array;
  /** (B) score of the best path (0 for an empty sentence; −∞ when every path is forbidden). */
  scores: Float64Array;
}

/** One entry of a k-best list. */
export interface ScoredPath {
  /** Tag ids, one per token. */
  path: number[];
  /** The path's score (start + emissions + transitions + end). */
  score: number;
}

/** Parameters with the mask folded in: forbidden entries become −∞. */
function masked(params: CrfParams, k: number, mask?: TransitionMask) {
  const allow = (m: ArrayLike<number> | undefined, i: number, v: number) =>
    !m || m[i] ? v : -Infinity;
  return {
    trans: (i: number, j: number) =>
      allow(mask?.transitions, i * k + j, params.transitions[i * k + j]),
    start: (j: number) => allow(mask?.start, j, params.start[j]),
    end: (j: number) => allow(mask?.end, j, params.end[j]),
  };
}

/**
 * Viterbi decoding: for each sentence the path maximising the CRF score,
 * by dynamic programming with backpointers (ties go to the lowest tag id).
 *
 * @param batch emissions (B, T, K), lengths, parameters, optional mask
 * @param shape B, T, K
 * @returns paths (−1 at padding) and their scores
 *
 * @example
 * ```ts
 * import { viterbiRef } from "./viterbi_ref.ts";
 * const r = viterbiRef({
 *   emissions: [0, 1, 5, 0], lengths: [2], transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0],
 * }, { batch: 1, time: 2, tags: 2 });
 * if (r.paths.join() !== "1,0" || r.scores[0] !== 6) throw new Error(r.paths.join());
 * ```
 */
export function viterbiRef(
  batch: CrfBatch & { allowed?: TransitionMask },
  shape: CrfShape,
): ViterbiResult {
  const { batch: B, time: T, tags: K } = shape;
  const p = masked(batch, K, batch.allowed);
  const paths = new Int32Array(B * T).fill(-1);
  const scores = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const n = Math.min(batch.lengths[b], T);
    if (n <= 0) continue;
    const em = (t: number, k: number) => batch.emissions[(b * T + t) * K + k];
    let delta = Array.from({ length: K }, (_, k) => p.start(k) + em(0, k));
    const back: number[][] = [];
    for (let t = 1; t < n; t++) {
      const next: number[] = [];
      const ptr: number[] = [];
      for (let j = 0; j < K; j++) {
        let best = -Infinity;
        let arg = 0;
        for (let i = 0; i < K; i++) {
          const v = delta[i] + p.trans(i, j);
          if (v > best) [best, arg] = [v, i];
        }
        next.push(best + em(t, j));
        ptr.push(arg);
      }
      back.push(ptr);
      delta = next;
    }
    let best = -Infinity;
    let tag = 0;
    for (let j = 0; j < K; j++) {
      const v = delta[j] + p.end(j);
      if (v > best) [best, tag] = [v, j];
    }
    scores[b] = best;
    for (let t = n - 1; t >= 0; t--) {
      paths[b * T + t] = tag;
      if (t > 0) tag = back[t - 1][tag];
    }
  }
  return { paths, scores };
}

/**
 * The k best paths of one sentence, best first, exactly (a k-best list
 * per step and tag: the k best prefixes ending there). Paths through a
 * forbidden transition are never returned, so fewer than k come back when
 * fewer are allowed.
 *
 * @param sentence emissions (n, K) of one sentence, parameters, optional mask
 * @param options K (`tags`) and how many paths (`k`)
 * @returns up to k paths with scores, in decreasing score
 *
 * @example
 * ```ts
 * import { nBestRef } from "./viterbi_ref.ts";
 * const best = nBestRef({ emissions: [0, 1], transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0] },
 *   { tags: 2, k: 3 });
 * if (best.length !== 2 || best[0].path[0] !== 1 || best[1].score !== 0) throw new Error("wrong");
 * ```
 */
export function nBestRef(
  sentence: CrfParams & { emissions: ArrayLike<number>; allowed?: TransitionMask },
  options: { tags: number; k: number },
): ScoredPath[] {
  const K = options.tags;
  const n = Math.floor(sentence.emissions.length / K);
  if (n === 0 || options.k <= 0) return [];
  const p = masked(sentence, K, sentence.allowed);
  const em = (t: number, j: number) => sentence.emissions[t * K + j];
  type Entry = { score: number; prevTag: number; prevRank: number };
  const byScore = (a: Entry, b: Entry) =>
    b.score - a.score || a.prevTag - b.prevTag || a.prevRank - b.prevRank;
  // lists[t][j]: the k best prefixes y₀..yₜ with yₜ = j, best first.
  const lists: Entry[][][] = [];
  lists.push(Array.from({ length: K }, (_, j) => {
    const score = p.start(j) + em(0, j);
    return score === -Infinity ? [] : [{ score, prevTag: -1, prevRank: -1 }];
  }));
  for (let t = 1; t < n; t++) {
    const row: Entry[][] = [];
    for (let j = 0; j < K; j++) {
      const candidates: Entry[] = [];
      for (let i = 0; i < K; i++) {
        lists[t - 1][i].forEach((e, r) => {
          const score = e.score + p.trans(i, j) + em(t, j);
          if (score > -Infinity) candidates.push({ score, prevTag: i, prevRank: r });
        });
      }
      row.push(candidates.sort(byScore).slice(0, options.k));
    }
    lists.push(row);
  }
  const finals: Entry[] = [];
  for (let j = 0; j < K; j++) {
    lists[n - 1][j].forEach((e, r) => {
      const score = e.score + p.end(j);
      if (score > -Infinity) finals.push({ score, prevTag: j, prevRank: r });
    });
  }
  return finals.sort(byScore).slice(0, options.k).map((f) => {
    const path = new Array<number>(n);
    let tag = f.prevTag;
    let rank = f.prevRank;
    for (let t = n - 1; t >= 0; t--) {
      path[t] = tag;
      const e = lists[t][tag][rank];
      [tag, rank] = [e.prevTag, e.prevRank];
    }
    return { path, score: f.score };
  });
}

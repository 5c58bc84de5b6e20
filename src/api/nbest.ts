/**
 * Exact k-best decoding of a linear-chain CRF (list Viterbi) for one
 * sentence, on the CPU over emissions read back from the GPU: the Tagger's
 * `nBest` option. Typed arrays, no per-step allocation; the float64
 * reference `nBestRef` (src/ops/viterbi_ref.ts) is what the tests check it
 * against, and brute-force enumeration of every path checks both.
 *
 * In score space a path's score is start(y₀) + Σₜ emission(t, yₜ) +
 * Σₜ transition(yₜ₋₁, yₜ) + end(yₙ₋₁). List Viterbi keeps, for every step t
 * and tag j, the k best prefixes ending in j; a prefix of a k-best path is
 * among the k best prefixes of its own end tag, so the lists are exact.
 *
 * @module
 */

/** The CRF of one sentence, as the Tagger holds it. */
export interface NBestLattice {
  /** (n, K) emission scores, row-major. */
  emissions: ArrayLike<number>;
  /** (K, K) transition scores [from, to]. */
  transitions: ArrayLike<number>;
  /** (K) start scores. */
  start: ArrayLike<number>;
  /** (K) end scores. */
  end: ArrayLike<number>;
  /** Allowed transitions (1 allowed, 0 forbidden: scored −∞); default all allowed. */
  allowed?: {
    /** (K, K) [from, to]. */
    transitions: ArrayLike<number>;
    /** (K) tags a sentence may start with. */
    start: ArrayLike<number>;
    /** (K) tags a sentence may end with. */
    end: ArrayLike<number>;
  };
}

/** One path of a k-best list. */
export interface NBestPath {
  /** (n) tag ids. */
  path: number[];
  /** Its score (start + emissions + transitions + end), float64. */
  score: number;
}

/**
 * The k best tag paths of a sentence, best first (ties: the lower previous
 * tag, then the lower rank, as in the reference). Fewer than k when fewer
 * paths are allowed; none for an empty sentence.
 *
 * @param lattice emissions (n, K), CRF parameters, optional mask
 * @param options K (tags) and k (how many paths)
 * @returns the paths with their scores
 *
 * @example
 * ```ts
 * import { nBest } from "./nbest.ts";
 * // Two tokens, two tags, no transitions: the best path takes each token's best tag.
 * const paths = nBest(
 *   { emissions: [0, 1, 2, 0], transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0] },
 *   { tags: 2, k: 4 },
 * );
 * if (paths.length !== 4 || paths[0].path.join() !== "1,0" || paths[0].score !== 3) {
 *   throw new Error(JSON.stringify(paths));
 * }
 * ```
 */
export function nBest(lattice: NBestLattice, options: { tags: number; k: number }): NBestPath[] {
  const K = options.tags;
  const k = options.k;
  if (!(Number.isInteger(K) && K >= 1)) {
    throw new RangeError(`nBest: expected tags to be a positive integer, found ${K}`);
  }
  if (!(Number.isInteger(k) && k >= 1)) {
    throw new RangeError(`nBest: expected k to be a positive integer, found ${k}`);
  }
  if (lattice.emissions.length % K !== 0) {
    throw new RangeError(
      `nBest: expected emissions of n × ${K} values, found ${lattice.emissions.length}`,
    );
  }
  const n = lattice.emissions.length / K;
  if (n === 0) return [];
  const w = weights(lattice, K);
  // lists at step t, tag j: count[t·K + j] entries at [(t·K + j)·k + r], best first.
  const size = n * K * k;
  const lists: KList = {
    score: new Float64Array(size),
    prevTag: new Int32Array(size),
    prevRank: new Int32Array(size),
    count: new Int32Array(n * K),
    k,
  };
  for (let j = 0; j < K; j++) {
    const s = w.start[j] + lattice.emissions[j];
    if (s > -Infinity) insert(lists, j, s, -1, -1);
  }
  for (let t = 1; t < n; t++) {
    for (let j = 0; j < K; j++) {
      const cell = t * K + j;
      const e = lattice.emissions[t * K + j];
      for (let i = 0; i < K; i++) {
        const from = (t - 1) * K + i;
        const tr = w.transitions[i * K + j];
        if (tr === -Infinity) continue;
        for (let r = 0; r < lists.count[from]; r++) {
          const s = lists.score[from * k + r] + tr + e;
          // Lists are sorted: once one candidate cannot enter, the rest of i's list cannot.
          if (!insert(lists, cell, s, i, r)) break;
        }
      }
    }
  }
  return finals(lists, w.end, n, K);
}

/** k-best lists per (step, tag) cell, in flat typed arrays. */
interface KList {
  score: Float64Array;
  prevTag: Int32Array;
  prevRank: Int32Array;
  count: Int32Array;
  k: number;
}

/** The CRF parameters with the mask folded in (forbidden: −∞), as float64. */
function weights(lattice: NBestLattice, K: number) {
  const fold = (values: ArrayLike<number>, allowed: ArrayLike<number> | undefined) =>
    Float64Array.from(values, (v, i) => !allowed || allowed[i] ? v : -Infinity);
  const mask = lattice.allowed;
  return {
    transitions: fold(lattice.transitions, mask?.transitions),
    start: fold(lattice.start, mask?.start),
    end: fold(lattice.end, mask?.end),
    K,
  };
}

/**
 * Inserts a candidate into a cell's list, after entries of equal score (they
 * came from a lower tag or rank). Returns false when the list is full and
 * the candidate scores no better than its last entry.
 */
function insert(lists: KList, cell: number, score: number, prevTag: number, prevRank: number) {
  if (!(score > -Infinity)) return false;
  const { k } = lists;
  const base = cell * k;
  const count = lists.count[cell];
  if (count === k && !(score > lists.score[base + k - 1])) return false;
  let at = Math.min(count, k - 1);
  while (at > 0 && lists.score[base + at - 1] < score) {
    lists.score[base + at] = lists.score[base + at - 1];
    lists.prevTag[base + at] = lists.prevTag[base + at - 1];
    lists.prevRank[base + at] = lists.prevRank[base + at - 1];
    at--;
  }
  lists.score[base + at] = score;
  lists.prevTag[base + at] = prevTag;
  lists.prevRank[base + at] = prevRank;
  if (count < k) lists.count[cell] = count + 1;
  return true;
}

/** The k best complete paths (end scores added), traced back through the lists. */
function finals(lists: KList, end: Float64Array, n: number, K: number): NBestPath[] {
  const { k } = lists;
  // One more list: the final candidates, in a cell of their own.
  const last: KList = {
    score: new Float64Array(k),
    prevTag: new Int32Array(k),
    prevRank: new Int32Array(k),
    count: new Int32Array(1),
    k,
  };
  for (let j = 0; j < K; j++) {
    const cell = (n - 1) * K + j;
    if (end[j] === -Infinity) continue;
    for (let r = 0; r < lists.count[cell]; r++) {
      if (!insert(last, 0, lists.score[cell * k + r] + end[j], j, r)) break;
    }
  }
  const out: NBestPath[] = [];
  for (let f = 0; f < last.count[0]; f++) {
    const path = new Array<number>(n);
    let tag = last.prevTag[f];
    let rank = last.prevRank[f];
    for (let t = n - 1; t >= 0; t--) {
      path[t] = tag;
      const at = (t * K + tag) * k + rank;
      tag = lists.prevTag[at];
      rank = lists.prevRank[at];
    }
    out.push({ path, score: last.score[f] });
  }
  return out;
}

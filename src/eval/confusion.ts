/**
 * The confusion matrix over tags and the most frequent misclassifications.
 *
 * @module
 */

import { sortTags } from "../data/sentence.ts";

/** Counts of (gold, predicted) tag pairs. */
export interface ConfusionMatrix {
  /** The K labels; row and column k belong to `labels[k]`. */
  labels: string[];
  /** (K, K) row-major: `counts[gold * K + predicted]`. */
  counts: Float64Array;
}

/** One kind of error and how often it happened. */
export interface Confusion {
  /** The gold tag. */
  gold: string;
  /** The predicted tag. */
  predicted: string;
  /** How many tokens. */
  count: number;
}

/**
 * Counts (gold, predicted) tag pairs over all tokens.
 *
 * @param gold Gold tags per sentence.
 * @param predicted Predicted tags per sentence (same shape).
 * @param options `labels` to fix the order (default: every tag in either, `O` first).
 * @returns The matrix (rows gold, columns predicted).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const m = confusionMatrix([["B-PER", "O"]], [["O", "O"]]);
 * assert.deepEqual(m.labels, ["O", "B-PER"]);
 * assert.deepEqual([...m.counts], [1, 0, 1, 0]);
 * ```
 */
export function confusionMatrix(
  gold: readonly (readonly string[])[],
  predicted: readonly (readonly string[])[],
  options: { labels?: readonly string[] } = {},
): ConfusionMatrix {
  let labels = options.labels ? [...options.labels] : undefined;
  if (!labels) {
    const seen = new Set<string>();
    gold.forEach((g, s) => {
      for (const t of g) seen.add(t);
      for (const t of predicted[s] ?? []) seen.add(t);
    });
    labels = sortTags([...seen]);
  }
  const K = labels.length;
  const index = new Map(labels.map((l, i) => [l, i]));
  const counts = new Float64Array(K * K);
  if (gold.length !== predicted.length) {
    throw new RangeError(
      `Cannot count confusions: expected ${gold.length} predicted sentences, found ${predicted.length}`,
    );
  }
  gold.forEach((g, s) => {
    const p = predicted[s];
    if (g.length !== p.length) {
      throw new RangeError(
        `Cannot count confusions in sentence ${s}: expected ${g.length} predicted tags, found ${p.length}`,
      );
    }
    for (let t = 0; t < g.length; t++) {
      const i = index.get(g[t]), j = index.get(p[t]);
      if (i === undefined || j === undefined) {
        throw new RangeError(
          `Cannot count confusions: expected tags among the labels, found "${
            i === undefined ? g[t] : p[t]
          }"`,
        );
      }
      counts[i * K + j]++;
    }
  });
  return { labels, counts };
}

/**
 * The most frequent errors (off-diagonal cells), largest first.
 *
 * @param matrix The confusion matrix.
 * @param options `limit` (default 10).
 * @returns The errors; ties by gold then predicted label order.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const m = confusionMatrix([["I-PER", "I-PER", "B-LOC"]], [["O", "O", "B-ORG"]]);
 * assert.deepEqual(topConfusions(m, { limit: 1 }), [{ gold: "I-PER", predicted: "O", count: 2 }]);
 * ```
 */
export function topConfusions(
  matrix: ConfusionMatrix,
  options: { limit?: number } = {},
): Confusion[] {
  const K = matrix.labels.length;
  const out: Confusion[] = [];
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      const count = matrix.counts[i * K + j];
      if (i !== j && count > 0) {
        out.push({ gold: matrix.labels[i], predicted: matrix.labels[j], count });
      }
    }
  }
  // Stable sort keeps row-major (label) order among ties.
  out.sort((a, b) => b.count - a.count);
  return out.slice(0, options.limit ?? 10);
}

/**
 * Prints errors one per line as `I-PER → O: 456`.
 *
 * @param confusions From {@linkcode topConfusions}.
 * @returns The lines joined with newlines (ending in one), or a line saying there were none.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(formatConfusions([{ gold: "I-PER", predicted: "O", count: 456 }]), "I-PER → O: 456\n");
 * ```
 */
export function formatConfusions(confusions: readonly Confusion[]): string {
  if (confusions.length === 0) return "no misclassifications\n";
  return confusions.map((c) => `${c.gold} → ${c.predicted}: ${c.count}\n`).join("");
}

/**
 * Prints the confusion matrix as a text table (rows gold, columns predicted).
 *
 * @param matrix The matrix.
 * @returns The table.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = formatConfusionMatrix(confusionMatrix([["B-PER", "O"]], [["O", "O"]]));
 * assert.equal(text.split("\n")[0].trim(), "gold \\ predicted  O  B-PER");
 * ```
 */
export function formatConfusionMatrix(matrix: ConfusionMatrix): string {
  const K = matrix.labels.length;
  const corner = "gold \\ predicted";
  const first = Math.max(corner.length, ...matrix.labels.map((l) => l.length));
  const widths = matrix.labels.map((l, j) => {
    let w = l.length;
    for (let i = 0; i < K; i++) w = Math.max(w, String(matrix.counts[i * K + j]).length);
    return w;
  });
  let out = corner.padEnd(first) +
    matrix.labels.map((l, j) => "  " + l.padStart(widths[j])).join("") +
    "\n";
  for (let i = 0; i < K; i++) {
    out += matrix.labels[i].padEnd(first) +
      widths.map((w, j) => "  " + String(matrix.counts[i * K + j]).padStart(w)).join("") + "\n";
  }
  return out;
}

/**
 * Per-tag precision, recall, F1 and support with macro and weighted
 * averages, like scikit-learn's `classification_report`.
 *
 * @module
 */

import { sortTags } from "../data/sentence.ts";

/** Scores of one tag. */
export interface TagScores {
  /** The tag. */
  label: string;
  /** tp / (tp + fp); 0 when the tag was never predicted. */
  precision: number;
  /** tp / (tp + fn); 0 when the tag never occurs in the gold standard. */
  recall: number;
  /** Harmonic mean; 0 when both are 0. */
  f1: number;
  /** Gold tokens with this tag. */
  support: number;
}

/** Averages over tags. */
export interface AverageScores {
  /** Mean precision. */
  precision: number;
  /** Mean recall. */
  recall: number;
  /** Mean F1. */
  f1: number;
  /** Total support. */
  support: number;
}

/** A per-tag report. */
export interface TagClassification {
  /** One row per tag, `O` first, then by type and prefix. */
  rows: TagScores[];
  /** Token accuracy in [0, 1]. */
  accuracy: number;
  /** Unweighted mean over the rows. */
  macro: AverageScores;
  /** Mean weighted by support. */
  weighted: AverageScores;
}

/**
 * Scores every tag as a token-level classification.
 *
 * @param gold Gold tags per sentence.
 * @param predicted Predicted tags per sentence (same shape).
 * @param options `labels` to fix the rows (default: every tag in either).
 * @returns The report.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const r = classifyTags([["B-PER", "O", "O"]], [["B-PER", "B-PER", "O"]]);
 * assert.deepEqual(r.rows.map((x) => [x.label, x.precision, x.recall]), [
 *   ["O", 1, 0.5],
 *   ["B-PER", 0.5, 1],
 * ]);
 * assert.equal(r.accuracy, 2 / 3);
 * ```
 */
export function classifyTags(
  gold: readonly (readonly string[])[],
  predicted: readonly (readonly string[])[],
  options: { labels?: readonly string[] } = {},
): TagClassification {
  const tp = new Map<string, number>(),
    fp = new Map<string, number>(),
    fn = new Map<string, number>();
  const seen = new Set<string>();
  const inc = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  let total = 0, right = 0;
  if (gold.length !== predicted.length) {
    throw new RangeError(
      `Cannot classify: expected ${gold.length} predicted sentences as in the gold standard, found ${predicted.length}`,
    );
  }
  gold.forEach((g, s) => {
    const p = predicted[s];
    if (g.length !== p.length) {
      throw new RangeError(
        `Cannot classify sentence ${s}: expected ${g.length} predicted tags, found ${p.length}`,
      );
    }
    for (let t = 0; t < g.length; t++) {
      seen.add(g[t]);
      seen.add(p[t]);
      total++;
      if (g[t] === p[t]) {
        right++;
        inc(tp, g[t]);
      } else {
        inc(fn, g[t]);
        inc(fp, p[t]);
      }
    }
  });
  const labels = options.labels ? [...options.labels] : sortTags([...seen]);
  const rows = labels.map((label) => {
    const a = tp.get(label) ?? 0, b = fp.get(label) ?? 0, c = fn.get(label) ?? 0;
    const precision = a + b > 0 ? a / (a + b) : 0;
    const recall = a + c > 0 ? a / (a + c) : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support: a + c };
  });
  const support = rows.reduce((n, r) => n + r.support, 0);
  const mean = (f: (r: TagScores) => number) =>
    rows.length > 0 ? rows.reduce((n, r) => n + f(r), 0) / rows.length : 0;
  const wmean = (f: (r: TagScores) => number) =>
    support > 0 ? rows.reduce((n, r) => n + f(r) * r.support, 0) / support : 0;
  return {
    rows,
    accuracy: total > 0 ? right / total : 0,
    macro: {
      precision: mean((r) => r.precision),
      recall: mean((r) => r.recall),
      f1: mean((r) => r.f1),
      support,
    },
    weighted: {
      precision: wmean((r) => r.precision),
      recall: wmean((r) => r.recall),
      f1: wmean((r) => r.f1),
      support,
    },
  };
}

/**
 * Prints a per-tag report in the layout of scikit-learn's `classification_report`.
 *
 * @param report From {@linkcode classifyTags}.
 * @param options `digits` after the point (default 4).
 * @returns The table.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = formatTagClassification(classifyTags([["B-PER", "O"]], [["B-PER", "O"]]), { digits: 2 });
 * assert.match(text, /^\s+precision\s+recall\s+f1-score\s+support\n/);
 * assert.match(text, /B-PER\s+1\.00\s+1\.00\s+1\.00\s+1\n/);
 * assert.match(text, /weighted avg\s+1\.00\s+1\.00\s+1\.00\s+2\n$/);
 * ```
 */
export function formatTagClassification(
  report: TagClassification,
  options: { digits?: number } = {},
): string {
  const d = options.digits ?? 4;
  const width = Math.max("weighted avg".length, d, ...report.rows.map((r) => r.label.length));
  const num = (x: number) => ` ${x.toFixed(d).padStart(9)}`;
  const row = (name: string, p: number, r: number, f: number, s: number) =>
    `${name.padStart(width)} ${num(p)}${num(r)}${num(f)} ${String(s).padStart(9)}\n`;
  let out = `${"".padStart(width)} ${
    ["precision", "recall", "f1-score", "support"].map((h) => ` ${h.padStart(9)}`).join("")
  }\n\n`;
  for (const r of report.rows) out += row(r.label, r.precision, r.recall, r.f1, r.support);
  out += "\n";
  out += `${"accuracy".padStart(width)} ${" ".repeat(10)}${" ".repeat(10)}${num(report.accuracy)} ${
    String(report.macro.support).padStart(9)
  }\n`;
  const m = report.macro, w = report.weighted;
  out += row("macro avg", m.precision, m.recall, m.f1, m.support);
  out += row("weighted avg", w.precision, w.recall, w.f1, w.support);
  return out;
}

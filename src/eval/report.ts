/**
 * One evaluation report: conlleval entity scores, the per-tag table, the
 * confusion matrix and the top error patterns, printable as text or JSON.
 *
 * @module
 */

import { classifyTags, formatTagClassification, type TagClassification } from "./classification.ts";
import {
  type Confusion,
  type ConfusionMatrix,
  confusionMatrix,
  formatConfusionMatrix,
  formatConfusions,
  topConfusions,
} from "./confusion.ts";
import {
  type ChunkRules,
  type ConllevalCounts,
  conllevalCounts,
  type EntityEvaluation,
  entityEvaluation,
  formatConlleval,
} from "./conlleval.ts";

/** Everything the evaluation computes. */
export interface EvaluationReport {
  /** The chunk rules used. */
  rules: ChunkRules;
  /** Raw conlleval counts. */
  counts: ConllevalCounts;
  /** Entity precision, recall and F1 (fractions), overall and per type. */
  entities: EntityEvaluation;
  /** Per-tag token-level scores. */
  tags: TagClassification;
  /** Gold × predicted tag counts. */
  confusion: ConfusionMatrix;
  /** The most frequent errors. */
  errors: Confusion[];
}

/** Options for {@linkcode evaluateTags}. */
export interface EvaluateOptions {
  /** Chunk rules for entity scores. Default `"conlleval"`. */
  rules?: ChunkRules;
  /** How many error patterns to keep. Default 10. */
  topErrors?: number;
  /** Fix the tag order of the per-tag table and the matrix. */
  labels?: readonly string[];
}

/**
 * Evaluates predicted tags against gold tags.
 *
 * @param gold Gold tags per sentence.
 * @param predicted Predicted tags per sentence (same shape).
 * @param options Chunk rules, number of error patterns, label order.
 * @returns The report.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const report = evaluateTags([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]]);
 * assert.equal(report.entities.overall.f1, 0);
 * assert.deepEqual(report.errors, [{ gold: "I-PER", predicted: "O", count: 1 }]);
 * ```
 */
export function evaluateTags(
  gold: readonly (readonly string[])[],
  predicted: readonly (readonly string[])[],
  options: EvaluateOptions = {},
): EvaluationReport {
  const rules = options.rules ?? "conlleval";
  const counts = conllevalCounts(gold, predicted, { rules });
  const confusion = confusionMatrix(gold, predicted, { labels: options.labels });
  return {
    rules,
    counts,
    entities: entityEvaluation(counts),
    tags: classifyTags(gold, predicted, { labels: options.labels }),
    confusion,
    errors: topConfusions(confusion, { limit: options.topErrors ?? 10 }),
  };
}

/**
 * Prints a report for the terminal: the conlleval block first (byte-identical
 * to `conlleval.pl`), then the per-tag table, the top errors and the
 * confusion matrix.
 *
 * @param report From {@linkcode evaluateTags}.
 * @param options `details: false` prints the conlleval block only.
 * @returns The text.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = formatReport(evaluateTags([["B-PER", "O"]], [["B-PER", "O"]]));
 * assert.match(text, /^processed 2 tokens with 1 phrases; found: 1 phrases; correct: 1\.\n/);
 * assert.match(text, /top errors\nno misclassifications/);
 * ```
 */
export function formatReport(
  report: EvaluationReport,
  options: { details?: boolean } = {},
): string {
  let out = formatConlleval(report.counts);
  if (options.details === false) return out;
  out += "\nper-tag (token level)\n" + formatTagClassification(report.tags);
  out += "\ntop errors\n" + formatConfusions(report.errors);
  out += "\nconfusion matrix (rows gold, columns predicted)\n" +
    formatConfusionMatrix(report.confusion);
  return out;
}

/** The JSON form of a report (plain objects and arrays). */
export interface EvaluationReportJSON {
  /** The chunk rules used. */
  rules: ChunkRules;
  /** Entity scores in fractions. */
  entities: EntityEvaluation;
  /** Raw conlleval counts. */
  counts: ConllevalCounts;
  /** Per-tag scores. */
  tags: TagClassification;
  /** The matrix as nested arrays, rows gold. */
  confusion: { labels: string[]; counts: number[][] };
  /** The top errors. */
  errors: Confusion[];
}

/**
 * Converts a report to plain JSON-ready data.
 *
 * @param report From {@linkcode evaluateTags}.
 * @returns Plain objects (the matrix as nested arrays).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const json = reportToJSON(evaluateTags([["B-PER", "O"]], [["O", "O"]]));
 * assert.deepEqual(json.confusion.counts, [[1, 0], [1, 0]]);
 * assert.equal(JSON.parse(JSON.stringify(json)).entities.overall.recall, 0);
 * ```
 */
export function reportToJSON(report: EvaluationReport): EvaluationReportJSON {
  const { labels, counts } = report.confusion;
  const K = labels.length;
  return {
    rules: report.rules,
    entities: report.entities,
    counts: report.counts,
    tags: report.tags,
    confusion: {
      labels,
      counts: Array.from({ length: K }, (_, i) => Array.from(counts.subarray(i * K, i * K + K))),
    },
    errors: report.errors,
  };
}

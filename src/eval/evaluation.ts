/**
 * A model's evaluation on gold data: the conlleval report, per-sentence
 * entity counts (for the paired bootstrap), every predicted span with its
 * score and outcome, the reliability diagram of those scores, and the
 * warnings a reader must see (label sets that do not overlap). Built from
 * tags and scored spans, so it needs no GPU; `evaluateModel` in
 * `src/api/evaluate.ts` fills it from a tagger.
 *
 * @module
 */

import { splitTag, tagsToSpans } from "../data/schemes.ts";
import { type SentenceCounts, sentenceCounts } from "./bootstrap.ts";
import {
  formatReliability,
  type Reliability,
  reliability,
  type ScoredSpan,
  type SpanOutcome,
  spanOutcomes,
} from "./calibration.ts";
import { escapeHtml, renderHtmlReport, renderReliabilitySvg } from "./html.ts";
import { evaluateTags, type EvaluationReport, formatReport, reportToJSON } from "./report.ts";
import type { EvaluationReportJSON } from "./report.ts";

/** Everything known about one model on one data set. */
export interface ModelEvaluation {
  /** The model's name (its path, for example). */
  model: string;
  /** The data's name. */
  data: string;
  /** Entity, per-tag and confusion results. */
  report: EvaluationReport;
  /** Entity counts per sentence, in data order. */
  sentences: SentenceCounts[];
  /** Every predicted span's score and whether it is right, in data order. */
  spans: SpanOutcome[];
  /** The reliability diagram of the span scores (after `temperature`). */
  calibration: Reliability;
  /** With a temperature other than 1: the diagram of the raw scores. */
  uncalibrated?: Reliability;
  /** What the reader must know: label sets that do not overlap, no gold entities. */
  warnings: string[];
}

/** Options for {@linkcode scoreTagging}. */
export interface ScoreTaggingOptions {
  /** The model's name. Default `"model"`. */
  model?: string;
  /** The data's name. Default `"data"`. */
  data?: string;
  /** Error patterns to keep. Default 10. */
  top?: number;
  /** Reliability bins. Default 10. */
  bins?: number;
  /** A temperature applied to span scores in the reliability diagram. Default 1. */
  temperature?: number;
  /** The labels the model can predict, to warn about gold types it lacks. */
  modelLabels?: readonly string[];
}

/**
 * Scores predictions against gold tags: the report, per-sentence counts,
 * span outcomes and their reliability, and the label warnings.
 *
 * @param gold gold tags per sentence (IOB2)
 * @param predicted per sentence: predicted tags (IOB2) and scored spans (token offsets)
 * @param options names, error patterns, bins, temperature, the model's labels
 * @returns the evaluation
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const ev = scoreTagging([["B-PER", "O"]], [{
 *   tags: ["B-PER", "O"],
 *   entities: [{ label: "PER", start: 0, end: 1, score: 0.9 }],
 * }]);
 * assert.equal(ev.report.entities.overall.f1, 1);
 * assert.ok(Math.abs(ev.calibration.ece - 0.1) < 1e-12);
 * ```
 */
export function scoreTagging(
  gold: readonly (readonly string[])[],
  predicted: readonly { tags: readonly string[]; entities: readonly ScoredSpan[] }[],
  options: ScoreTaggingOptions = {},
): ModelEvaluation {
  const tags = predicted.map((p) => p.tags);
  const spans = spanOutcomes(gold, predicted.map((p) => p.entities));
  const temperature = options.temperature ?? 1;
  const raw = temperature === 1 ? undefined : reliability(spans, { bins: options.bins });
  return {
    model: options.model ?? "model",
    data: options.data ?? "data",
    report: evaluateTags(gold, tags, { topErrors: options.top }),
    sentences: sentenceCounts(gold, tags),
    spans,
    calibration: reliability(spans, { bins: options.bins, temperature }),
    ...(raw ? { uncalibrated: raw } : {}),
    warnings: options.modelLabels ? labelWarnings(options.modelLabels, gold) : [],
  };
}

/**
 * Warnings about the gold data's entity types against the model's: none of
 * them known to the model (F1 is then 0 whatever the model does), some of
 * them unknown (they all count as missed), or no gold entity at all.
 *
 * @param modelLabels the model's tags (any scheme)
 * @param gold gold tags per sentence
 * @returns warning lines, empty when the types agree
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const [w] = labelWarnings(["O", "B-per", "I-per"], [["B-PER", "O"]]);
 * assert.match(w, /none of the data's entity types \(PER: 1 gold entity\) is among the model's \(per\)/);
 * ```
 */
export function labelWarnings(
  modelLabels: readonly string[],
  gold: readonly (readonly string[])[],
): string[] {
  const known = new Set(modelLabels.map((t) => splitTag(t).type).filter((t) => t !== ""));
  const counts = new Map<string, number>();
  for (const tags of gold) {
    for (const { type } of tagsToSpans(tags)) counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  const list = (types: string[]) =>
    types.map((t) => `${t}: ${counts.get(t)} gold entit${counts.get(t) === 1 ? "y" : "ies"}`)
      .join(", ");
  const goldTypes = [...counts.keys()].sort();
  if (goldTypes.length === 0) {
    return ["the data has no gold entities: recall and F1 are 0 whatever the model predicts"];
  }
  const missing = goldTypes.filter((t) => !known.has(t));
  const modelTypes = [...known].sort().join(", ");
  if (missing.length === goldTypes.length) {
    return [
      `none of the data's entity types (${list(missing)}) is among the model's (${modelTypes}): ` +
      `every gold entity counts as missed and F1 is 0; is this the model for this data?`,
    ];
  }
  if (missing.length > 0) {
    return [
      `the model cannot predict the data's types ${list(missing)} (its types: ${modelTypes}): ` +
      `they count as missed`,
    ];
  }
  return [];
}

/** The JSON form of a {@linkcode ModelEvaluation} (spans and per-sentence counts left out). */
export type ModelEvaluationJSON =
  & { model: string; data: string; warnings: string[] }
  & EvaluationReportJSON
  & {
    calibration: Reliability;
  };

/**
 * Converts an evaluation to JSON-ready data.
 *
 * @param ev the evaluation
 * @returns names, warnings, the report and the reliability diagram
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const ev = scoreTagging([["B-PER"]], [{ tags: ["B-PER"], entities: [{ label: "PER", start: 0, end: 1, score: 1 }] }]);
 * assert.equal(evaluationToJSON(ev).calibration.spans, 1);
 * ```
 */
export function evaluationToJSON(ev: ModelEvaluation): ModelEvaluationJSON {
  return {
    model: ev.model,
    data: ev.data,
    warnings: ev.warnings,
    ...reportToJSON(ev.report),
    calibration: ev.calibration,
    ...(ev.uncalibrated ? { uncalibrated: ev.uncalibrated } : {}),
  };
}

/**
 * The text report: conlleval's block (byte for byte), the per-tag table,
 * top errors, the confusion matrix, then the reliability table and ECE.
 *
 * @param ev the evaluation
 * @returns the text
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const ev = scoreTagging([["B-PER"]], [{ tags: ["B-PER"], entities: [{ label: "PER", start: 0, end: 1, score: 1 }] }]);
 * assert.match(formatEvaluation(ev), /span scores \(reliability by score bin\)\n/);
 * ```
 */
export function formatEvaluation(ev: ModelEvaluation): string {
  const raw = ev.uncalibrated
    ? "\nraw span scores (reliability by score bin)\n" + formatReliability(ev.uncalibrated)
    : "";
  const scaled = ev.uncalibrated
    ? `span scores after temperature ${ev.calibration.temperature.toFixed(3)}`
    : "span scores";
  return formatReport(ev.report, { details: true }) + raw +
    `\n${scaled} (reliability by score bin)\n` + formatReliability(ev.calibration);
}

/**
 * The HTML section of a reliability diagram: chart and table.
 *
 * @param r the diagram
 * @param heading a prefix for the heading (e.g. the model's name)
 * @returns an HTML fragment
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { reliability } from "./calibration.ts";
 * assert.match(reliabilitySection(reliability([{ score: 0.5, correct: true }])), /<svg/);
 * ```
 */
export function reliabilitySection(r: Reliability, heading = ""): string {
  const rows = r.bins.filter((b) => b.count > 0).map((b) =>
    `<tr><td>${b.lo.toFixed(2)}–${b.hi.toFixed(2)}</td><td>${b.count}</td><td>${
      b.meanScore.toFixed(4)
    }</td><td>${b.precision.toFixed(4)}</td></tr>`
  );
  const scaled = r.temperature === 1 ? "" : `, after temperature ${r.temperature.toFixed(3)}`;
  return [
    `<h2>${heading ? `${escapeHtml(heading)}: ` : ""}Span-score calibration</h2>`,
    `<p>${r.spans} predicted spans, mean score ${r.meanScore.toFixed(4)}, precision ${
      r.precision.toFixed(4)
    }; expected calibration error ${r.ece.toFixed(4)}${scaled}.</p>`,
    renderReliabilitySvg(r),
    "<table><tr><th>score</th><th>spans</th><th>mean score</th><th>precision</th></tr>",
    ...rows,
    "</table>",
  ].join("\n");
}

/**
 * Renders an evaluation in one of the output formats.
 *
 * @param ev the evaluation
 * @param format `text` (default), `json` or `html`
 * @returns the document
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const ev = scoreTagging([["O"]], [{ tags: ["O"], entities: [] }]);
 * assert.match(renderEvaluation(ev, "html"), /^<!doctype html>/);
 * assert.equal(JSON.parse(renderEvaluation(ev, "json")).model, "model");
 * ```
 */
export function renderEvaluation(
  ev: ModelEvaluation,
  format: "text" | "json" | "html" = "text",
): string {
  if (format === "json") return JSON.stringify(evaluationToJSON(ev), null, 2) + "\n";
  if (format === "text") return formatEvaluation(ev);
  const tokens = ev.report.entities.tokens;
  return renderHtmlReport({
    title: `Evaluation of ${ev.model} on ${ev.data}`,
    report: ev.report,
    notes: [
      `model: ${ev.model}`,
      `data: ${ev.data}`,
      `tokens: ${tokens}`,
      ...ev.warnings.map((w) => `warning: ${w}`),
    ],
    sections: [
      ...(ev.uncalibrated ? [reliabilitySection(ev.uncalibrated, "Raw scores")] : []),
      reliabilitySection(ev.calibration),
    ],
  });
}

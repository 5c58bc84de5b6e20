/**
 * Two models on the same gold data, side by side: entity P/R/F1 per type,
 * the token-level per-tag F1, each model's top misclassification patterns,
 * both reliability diagrams, and the paired bootstrap test of the F1
 * difference over sentences. Text, JSON and HTML.
 *
 * @module
 */

import { type BootstrapOptions, type BootstrapResult, pairedBootstrap } from "./bootstrap.ts";
import { comparePerl, type EntityScores } from "./conlleval.ts";
import { sortTags } from "../data/sentence.ts";
import { escapeHtml, renderHtmlReport, renderReportSections } from "./html.ts";
import {
  evaluationToJSON,
  type ModelEvaluation,
  type ModelEvaluationJSON,
  reliabilitySection,
} from "./evaluation.ts";

/** Two evaluations and the bootstrap test of B − A. */
export interface Comparison {
  /** The first model (the baseline). */
  a: ModelEvaluation;
  /** The second model. */
  b: ModelEvaluation;
  /** The paired bootstrap test of F1(B) − F1(A). */
  bootstrap: BootstrapResult;
}

/**
 * Compares two evaluations of the same data with the paired bootstrap.
 *
 * @param a the baseline's evaluation
 * @param b the other model's, on the same sentences
 * @param options resamples, seed, confidence of the bootstrap
 * @returns the comparison
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { scoreTagging } from "./evaluation.ts";
 * const gold = [["B-PER", "O"], ["B-LOC", "O"]];
 * const a = scoreTagging(gold, [{ tags: ["O", "O"], entities: [] }, { tags: ["B-LOC", "O"], entities: [] }]);
 * const c = compareEvaluations(a, a, { resamples: 50 });
 * assert.equal(c.bootstrap.pValue, 1);
 * ```
 */
export function compareEvaluations(
  a: ModelEvaluation,
  b: ModelEvaluation,
  options: BootstrapOptions = {},
): Comparison {
  if (a.report.entities.tokens !== b.report.entities.tokens) {
    throw new RangeError(
      `compareEvaluations: expected both models evaluated on the same data, found ${a.report.entities.tokens} and ${b.report.entities.tokens} tokens`,
    );
  }
  return { a, b, bootstrap: pairedBootstrap(a.sentences, b.sentences, options) };
}

const pct = (x: number) => (100 * x).toFixed(2);
const signed = (x: number) => `${x >= 0 ? "+" : "−"}${pct(Math.abs(x))}`;

/**
 * The bootstrap result as one sentence.
 *
 * @param r the result
 * @returns e.g. "F1 B − A = +0.53 points (95 % interval −0.12 to +1.20), p = 0.104 (…)"
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { pairedBootstrap } from "./bootstrap.ts";
 * const c = [{ gold: 1, guessed: 1, correct: 1 }];
 * assert.match(formatBootstrap(pairedBootstrap(c, c, { resamples: 9 })), /F1 B − A = \+0\.00 points .* p = 1\.000/);
 * ```
 */
export function formatBootstrap(r: BootstrapResult): string {
  return `F1 B − A = ${signed(r.difference)} points (${Math.round(100 * r.confidence)} % interval ${
    signed(r.interval[0])
  } to ${signed(r.interval[1])}), p = ${r.pValue.toFixed(3)} ` +
    `(paired bootstrap over ${r.sentences} sentences, ${r.resamples} resamples, seed ${r.seed})`;
}

function entityRows(c: Comparison): string[] {
  const byType = (ev: ModelEvaluation) =>
    new Map(ev.report.entities.types.map((t) => [t.type, t as EntityScores]));
  const ta = byType(c.a), tb = byType(c.b);
  const types = [...new Set([...ta.keys(), ...tb.keys()])].sort(comparePerl);
  const none: EntityScores = { gold: 0, guessed: 0, correct: 0, precision: 0, recall: 0, f1: 0 };
  const width = Math.max(7, ...types.map((t) => t.length));
  const cells = (s: EntityScores) =>
    [s.precision, s.recall, s.f1].map((x) => pct(x).padStart(7)).join("");
  const line = (name: string, x: EntityScores, y: EntityScores) =>
    `${name.padEnd(width)} ${cells(x)}  |${cells(y)}  ${signed(y.f1 - x.f1).padStart(7)} ${
      String(x.gold).padStart(6)
    }`;
  return [
    `${"".padEnd(width)} ${"A: P".padStart(7)}${"R".padStart(7)}${"F1".padStart(7)}  |${
      "B: P".padStart(7)
    }${"R".padStart(7)}${"F1".padStart(7)}  ${"ΔF1".padStart(7)} ${"gold".padStart(6)}`,
    ...types.map((t) => line(t, ta.get(t) ?? none, tb.get(t) ?? none)),
    line("overall", c.a.report.entities.overall, c.b.report.entities.overall),
  ];
}

function tagRows(c: Comparison): string[] {
  const rows = (ev: ModelEvaluation) => new Map(ev.report.tags.rows.map((r) => [r.label, r]));
  const ra = rows(c.a), rb = rows(c.b);
  const labels = sortTags([...new Set([...ra.keys(), ...rb.keys()])]);
  const width = Math.max(12, ...labels.map((l) => l.length));
  const f = (x?: number) => (x === undefined ? "-" : pct(x)).padStart(8);
  return [
    `${"tag".padEnd(width)} ${"A: F1".padStart(8)} ${"B: F1".padStart(8)} ${"support".padStart(8)}`,
    ...labels.map((l) =>
      `${l.padEnd(width)} ${f(ra.get(l)?.f1)} ${f(rb.get(l)?.f1)} ${
        String(ra.get(l)?.support ?? rb.get(l)?.support ?? 0).padStart(8)
      }`
    ),
    `${"accuracy".padEnd(width)} ${f(c.a.report.tags.accuracy)} ${f(c.b.report.tags.accuracy)}`,
    `${"macro avg".padEnd(width)} ${f(c.a.report.tags.macro.f1)} ${f(c.b.report.tags.macro.f1)}`,
  ];
}

function errorRows(c: Comparison): string[] {
  const fmt = (ev: ModelEvaluation) =>
    ev.report.errors.map((e) => `${e.gold} → ${e.predicted}: ${e.count}`);
  const ea = fmt(c.a), eb = fmt(c.b);
  const width = Math.max(24, ...ea.map((e) => e.length));
  const n = Math.max(ea.length, eb.length, 1);
  const out = [`${"A".padEnd(width)}  | B`];
  for (let i = 0; i < n; i++) {
    const x = ea[i] ?? (i === 0 ? "no misclassifications" : "");
    const y = eb[i] ?? (i === 0 ? "no misclassifications" : "");
    out.push(`${x.padEnd(width)}  | ${y}`.trimEnd());
  }
  return out;
}

/**
 * The comparison as text: the models' names, the side-by-side tables, the
 * top errors of each, their calibration errors and the bootstrap line.
 *
 * @param c the comparison
 * @returns the text
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { scoreTagging } from "./evaluation.ts";
 * const gold = [["B-PER", "O"]];
 * const a = scoreTagging(gold, [{ tags: ["O", "O"], entities: [] }], { model: "a" });
 * const b = scoreTagging(gold, [{ tags: ["B-PER", "O"], entities: [] }], { model: "b" });
 * const text = formatComparison(compareEvaluations(a, b, { resamples: 20 }));
 * assert.match(text, /^overall +0\.00 +0\.00 +0\.00 +\| +100\.00 +100\.00 +100\.00 +\+100\.00 +1$/m);
 * ```
 */
export function formatComparison(c: Comparison): string {
  const ece = (ev: ModelEvaluation) =>
    `ECE ${ev.calibration.ece.toFixed(4)} over ${ev.calibration.spans} spans`;
  return [
    `A: ${c.a.model}`,
    `B: ${c.b.model}`,
    `data: ${c.a.data} (${c.a.report.entities.tokens} tokens, ${c.bootstrap.sentences} sentences)`,
    ...[
      ...c.a.warnings.map((w) => `warning (A): ${w}`),
      ...c.b.warnings.map((w) => `warning (B): ${w}`),
    ],
    "",
    "entities (conlleval, %)",
    ...entityRows(c),
    "",
    "per-tag F1 (token level, %)",
    ...tagRows(c),
    "",
    "top errors (gold → predicted: tokens)",
    ...errorRows(c),
    "",
    `span scores: A ${ece(c.a)}; B ${ece(c.b)}`,
    "",
    formatBootstrap(c.bootstrap),
    "",
  ].join("\n");
}

/** The JSON form of a {@linkcode Comparison}. */
export interface ComparisonJSON {
  /** The first model's evaluation. */
  a: ModelEvaluationJSON;
  /** The second model's evaluation. */
  b: ModelEvaluationJSON;
  /** The bootstrap test of F1(B) − F1(A) (fractions). */
  bootstrap: BootstrapResult;
}

/**
 * Converts a comparison to JSON-ready data.
 *
 * @param c the comparison
 * @returns both evaluations and the bootstrap result
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { scoreTagging } from "./evaluation.ts";
 * const a = scoreTagging([["B-PER"]], [{ tags: ["B-PER"], entities: [] }]);
 * assert.equal(comparisonToJSON(compareEvaluations(a, a, { resamples: 5 })).bootstrap.difference, 0);
 * ```
 */
export function comparisonToJSON(c: Comparison): ComparisonJSON {
  return { a: evaluationToJSON(c.a), b: evaluationToJSON(c.b), bootstrap: c.bootstrap };
}

/**
 * Renders a comparison in one of the output formats; HTML puts both
 * models' sections one after the other, under the bootstrap's verdict.
 *
 * @param c the comparison
 * @param format `text` (default), `json` or `html`
 * @returns the document
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { scoreTagging } from "./evaluation.ts";
 * const a = scoreTagging([["B-PER"]], [{ tags: ["B-PER"], entities: [] }], { model: "a.safetensors" });
 * const html = renderComparison(compareEvaluations(a, a, { resamples: 5 }), "html");
 * assert.match(html, /<h2>A \(a\.safetensors\): Entities/);
 * ```
 */
export function renderComparison(c: Comparison, format: "text" | "json" | "html" = "text"): string {
  if (format === "json") return JSON.stringify(comparisonToJSON(c), null, 2) + "\n";
  if (format === "text") return formatComparison(c);
  const name = (k: "A" | "B", ev: ModelEvaluation) => `${k} (${ev.model})`;
  const verdict = `<h2>Paired bootstrap</h2>\n<p>${escapeHtml(formatBootstrap(c.bootstrap))}</p>`;
  const side = `<pre>${escapeHtml(entityRows(c).join("\n"))}</pre>`;
  return renderHtmlReport({
    title: `Comparison of ${c.a.model} and ${c.b.model} on ${c.a.data}`,
    notes: [
      `A: ${c.a.model}`,
      `B: ${c.b.model}`,
      `data: ${c.a.data}`,
      ...c.a.warnings.map((w) => `warning (A): ${w}`),
      ...c.b.warnings.map((w) => `warning (B): ${w}`),
    ],
    sections: [
      verdict,
      "<h2>Entities side by side (%)</h2>",
      side,
      ...renderReportSections(c.a.report, { heading: name("A", c.a) }),
      reliabilitySection(c.a.calibration, name("A", c.a)),
      ...renderReportSections(c.b.report, { heading: name("B", c.b) }),
      reliabilitySection(c.b.calibration, name("B", c.b)),
    ],
  });
}

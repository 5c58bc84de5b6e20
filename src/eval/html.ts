/**
 * A self-contained HTML report: entity scores, per-tag table, top errors,
 * the confusion matrix as an SVG heatmap (log colour scale), and SVG line
 * charts for training curves (loss, F1). No scripts, no external files.
 *
 * @module
 */

import type { EvaluationReport } from "./report.ts";
import type { ConfusionMatrix } from "./confusion.ts";
import type { Reliability } from "./calibration.ts";

/** One line of a chart: `points` are `[x, y]` pairs. */
export interface Curve {
  /** The legend entry. */
  name: string;
  /** The points, in x order. */
  points: readonly (readonly [number, number])[];
}

/** A chart of one or more curves sharing axes. */
export interface Chart {
  /** The heading. */
  title: string;
  /** The curves. */
  curves: readonly Curve[];
  /** The x-axis label. Default `"epoch"`. */
  xLabel?: string;
  /** The y-axis label. */
  yLabel?: string;
}

const COLORS = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
];

/**
 * Escapes text for HTML and SVG.
 *
 * @param text Any text.
 * @returns The escaped text.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(escapeHtml('<a href="x">&'), "&lt;a href=&quot;x&quot;&gt;&amp;");
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

function fmtTick(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : String(v);
}

/**
 * Draws curves as an SVG line chart with axes, ticks and a legend.
 *
 * @param chart The title, curves and axis labels.
 * @param options `width` and `height` in pixels (default 480 × 300).
 * @returns An `<svg>` element as text.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const svg = renderLineChart({
 *   title: "loss",
 *   curves: [{ name: "train", points: [[1, 2.5], [2, 1.2], [3, 0.8]] }],
 * });
 * assert.match(svg, /^<svg/);
 * assert.match(svg, /<polyline/);
 * ```
 */
export function renderLineChart(
  chart: Chart,
  options: { width?: number; height?: number } = {},
): string {
  const W = options.width ?? 480, H = options.height ?? 300;
  const m = { left: 56, right: 16, top: 28, bottom: 44 };
  const pts = chart.curves.flatMap((c) => c.points).filter(([x, y]) =>
    Number.isFinite(x) && Number.isFinite(y)
  );
  let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
  let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
  if (pts.length === 0) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * (W - m.left - m.right);
  const sy = (y: number) => H - m.bottom - ((y - y0) / (y1 - y0)) * (H - m.top - m.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeHtml(chart.title)}</title>`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${
      escapeHtml(chart.title)
    }</text>`,
    `<rect x="${m.left}" y="${m.top}" width="${W - m.left - m.right}" height="${
      H - m.top - m.bottom
    }" fill="none" stroke="#999"/>`,
  ];
  for (const t of niceTicks(x0, x1)) {
    const x = sx(t).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${H - m.bottom}" x2="${x}" y2="${H - m.bottom + 4}" stroke="#999"/>`,
      `<text x="${x}" y="${H - m.bottom + 15}" text-anchor="middle">${fmtTick(t)}</text>`,
    );
  }
  for (const t of niceTicks(y0, y1)) {
    const y = sy(t).toFixed(1);
    parts.push(
      `<line x1="${m.left}" y1="${y}" x2="${W - m.right}" y2="${y}" stroke="#eee"/>`,
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${
        fmtTick(t)
      }</text>`,
    );
  }
  parts.push(
    `<text x="${(m.left + W - m.right) / 2}" y="${H - 8}" text-anchor="middle">${
      escapeHtml(chart.xLabel ?? "epoch")
    }</text>`,
  );
  if (chart.yLabel) {
    parts.push(
      `<text transform="translate(14 ${
        (m.top + H - m.bottom) / 2
      }) rotate(-90)" text-anchor="middle">${escapeHtml(chart.yLabel)}</text>`,
    );
  }
  chart.curves.forEach((c, k) => {
    const color = COLORS[k % COLORS.length];
    const ok = c.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const d = ok.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${d}"/>`);
    if (ok.length === 1) {
      parts.push(
        `<circle cx="${sx(ok[0][0]).toFixed(1)}" cy="${
          sy(ok[0][1]).toFixed(1)
        }" r="3" fill="${color}"/>`,
      );
    }
    const ly = m.top + 12 + k * 14;
    parts.push(
      `<line x1="${W - m.right - 110}" y1="${ly}" x2="${
        W - m.right - 92
      }" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${W - m.right - 88}" y="${ly}" dominant-baseline="middle">${
        escapeHtml(c.name)
      }</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/**
 * Draws a confusion matrix as an SVG heatmap. Colour follows log(1 + count)
 * so that the large `O → O` cell does not wash out the rest; every cell has a
 * tooltip and, when non-zero, its count.
 *
 * @param matrix The matrix (rows gold, columns predicted).
 * @param options `cell` size in pixels (default 34).
 * @returns An `<svg>` element as text.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { confusionMatrix } from "./confusion.ts";
 * const svg = renderConfusionSvg(confusionMatrix([["B-PER", "O"]], [["O", "O"]]));
 * assert.match(svg, /<title>gold B-PER → predicted O: 1<\/title>/);
 * ```
 */
export function renderConfusionSvg(
  matrix: ConfusionMatrix,
  options: { cell?: number } = {},
): string {
  const K = matrix.labels.length;
  const cell = options.cell ?? 34;
  const labelW = 8 + 7 * Math.max(4, ...matrix.labels.map((l) => l.length));
  const left = labelW + 16, top = labelW + 16;
  const W = left + K * cell + 8, H = top + K * cell + 8;
  let max = 0;
  for (const c of matrix.counts) max = Math.max(max, c);
  const scale = Math.log1p(max) || 1;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="10">`,
    `<text x="${
      left + (K * cell) / 2
    }" y="12" text-anchor="middle" font-size="12">predicted</text>`,
    `<text transform="translate(12 ${
      top + (K * cell) / 2
    }) rotate(-90)" text-anchor="middle" font-size="12">gold</text>`,
  ];
  matrix.labels.forEach((l, k) => {
    const c = top + k * cell + cell / 2;
    parts.push(
      `<text x="${left - 4}" y="${c}" text-anchor="end" dominant-baseline="middle">${
        escapeHtml(l)
      }</text>`,
      `<text transform="translate(${left + k * cell + cell / 2} ${top - 4}) rotate(-60)">${
        escapeHtml(l)
      }</text>`,
    );
  });
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      const n = matrix.counts[i * K + j];
      const v = Math.log1p(n) / scale;
      const fill = n === 0
        ? "#ffffff"
        : i === j
        ? `rgb(${Math.round(235 - 200 * v)},${Math.round(245 - 120 * v)},${
          Math.round(235 - 200 * v)
        })`
        : `rgb(${Math.round(250 - 30 * v)},${Math.round(235 - 200 * v)},${
          Math.round(230 - 200 * v)
        })`;
      const x = left + j * cell, y = top + i * cell;
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd"><title>gold ${
          escapeHtml(matrix.labels[i])
        } → predicted ${escapeHtml(matrix.labels[j])}: ${n}</title></rect>`,
      );
      if (n > 0) {
        const text = n >= 1e5 ? `${Math.round(n / 1e3)}k` : String(n);
        parts.push(
          `<text x="${x + cell / 2}" y="${
            y + cell / 2
          }" text-anchor="middle" dominant-baseline="middle" fill="${
            v > 0.6 ? "#fff" : "#000"
          }">${text}</text>`,
        );
      }
    }
  }
  parts.push("</svg>");
  return parts.join("\n");
}

/**
 * Draws a reliability diagram as SVG: one bar per non-empty score bin, as
 * high as the bin's observed precision, a dot at its mean score, and the
 * diagonal where a calibrated model's bars would end. Each bar has a
 * tooltip with its counts.
 *
 * @param r From `reliability`.
 * @param options `width` and `height` in pixels (default 360 × 320), `title`.
 * @returns An `<svg>` element as text.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { reliability } from "./calibration.ts";
 * const svg = renderReliabilitySvg(reliability([{ score: 0.95, correct: true }]));
 * assert.match(svg, /<title>scores 0\.90–1\.00: 1 spans, mean score 0\.950, precision 1\.000<\/title>/);
 * ```
 */
export function renderReliabilitySvg(
  r: Reliability,
  options: { width?: number; height?: number; title?: string } = {},
): string {
  const W = options.width ?? 360, H = options.height ?? 320;
  const m = { left: 48, right: 12, top: 28, bottom: 44 };
  const sx = (x: number) => m.left + x * (W - m.left - m.right);
  const sy = (y: number) => H - m.bottom - y * (H - m.top - m.bottom);
  const title = options.title ?? `Reliability of span scores (ECE ${r.ece.toFixed(4)})`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${
      escapeHtml(title)
    }</text>`,
    `<rect x="${m.left}" y="${m.top}" width="${W - m.left - m.right}" height="${
      H - m.top - m.bottom
    }" fill="none" stroke="#999"/>`,
  ];
  for (const t of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
    parts.push(
      `<text x="${sx(t).toFixed(1)}" y="${H - m.bottom + 15}" text-anchor="middle">${t}</text>`,
      `<text x="${m.left - 6}" y="${
        sy(t).toFixed(1)
      }" text-anchor="end" dominant-baseline="middle">${t}</text>`,
      `<line x1="${m.left}" y1="${sy(t).toFixed(1)}" x2="${W - m.right}" y2="${
        sy(t).toFixed(1)
      }" stroke="#eee"/>`,
    );
  }
  for (const b of r.bins) {
    if (b.count === 0) continue;
    const x = sx(b.lo) + 1, w = sx(b.hi) - sx(b.lo) - 2, y = sy(b.precision);
    parts.push(
      `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${
        (sy(0) - y).toFixed(1)
      }" fill="#1f77b4" fill-opacity="0.75"><title>scores ${b.lo.toFixed(2)}–${
        b.hi.toFixed(2)
      }: ${b.count} spans, mean score ${b.meanScore.toFixed(3)}, precision ${
        b.precision.toFixed(3)
      }</title></rect>`,
      `<circle cx="${sx(b.meanScore).toFixed(1)}" cy="${
        sy(b.precision).toFixed(1)
      }" r="2.5" fill="#d62728"/>`,
    );
  }
  parts.push(
    `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(1)}" y2="${
      sy(1)
    }" stroke="#555" stroke-dasharray="4 3"/>`,
    `<text x="${(m.left + W - m.right) / 2}" y="${H - 8}" text-anchor="middle">span score</text>`,
    `<text transform="translate(14 ${
      (m.top + H - m.bottom) / 2
    }) rotate(-90)" text-anchor="middle">observed precision</text>`,
    "</svg>",
  );
  return parts.join("\n");
}

/**
 * The HTML sections of one report: entity scores per type, the per-tag
 * table, the top errors and the confusion heatmap.
 *
 * @param r From `evaluateTags`.
 * @param options `heading`: a prefix for the section headings (e.g. the model's name).
 * @returns HTML fragments, in order.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { evaluateTags } from "./report.ts";
 * const parts = renderReportSections(evaluateTags([["B-PER"]], [["B-PER"]]), { heading: "A" });
 * assert.match(parts.join(""), /<h2>A: Entities/);
 * ```
 */
export function renderReportSections(
  r: EvaluationReport,
  options: { heading?: string } = {},
): string[] {
  const h = options.heading ? `${escapeHtml(options.heading)}: ` : "";
  const e = r.entities;
  return [
    `<h2>${h}Entities (conlleval${r.rules === "iobes" ? ", IOBES rules" : ""})</h2>`,
    `<p>${e.tokens} tokens, ${e.overall.gold} gold entities, ${e.overall.guessed} found, ${e.overall.correct} correct; token accuracy ${
      pct(e.accuracy)
    }%.</p>`,
    "<table><tr><th>type</th><th>precision</th><th>recall</th><th>F1</th><th>gold</th><th>found</th><th>correct</th></tr>",
    ...[...e.types, { type: "overall", ...e.overall }].map((t) =>
      `<tr${t.type === "overall" ? ' class="total"' : ""}><td>${escapeHtml(t.type)}</td><td>${
        pct(t.precision)
      }</td><td>${pct(t.recall)}</td><td>${
        pct(t.f1)
      }</td><td>${t.gold}</td><td>${t.guessed}</td><td>${t.correct}</td></tr>`
    ),
    "</table>",
    `<h2>${h}Per tag (token level)</h2>`,
    "<table><tr><th>tag</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>",
    ...r.tags.rows.map((t) =>
      `<tr><td>${escapeHtml(t.label)}</td><td>${pct(t.precision)}</td><td>${
        pct(t.recall)
      }</td><td>${pct(t.f1)}</td><td>${t.support}</td></tr>`
    ),
    ...([["macro avg", r.tags.macro], ["weighted avg", r.tags.weighted]] as const).map(([n, a]) =>
      `<tr class="total"><td>${n}</td><td>${pct(a.precision)}</td><td>${pct(a.recall)}</td><td>${
        pct(a.f1)
      }</td><td>${a.support}</td></tr>`
    ),
    "</table>",
    `<h2>${h}Top errors</h2>`,
    r.errors.length === 0
      ? "<p>No misclassifications.</p>"
      : `<ol>${
        r.errors.map((c) =>
          `<li><code>${escapeHtml(c.gold)} → ${escapeHtml(c.predicted)}</code>: ${c.count}</li>`
        ).join("")
      }</ol>`,
    `<h2>${h}Confusion matrix</h2>`,
    "<p>Rows gold, columns predicted; colour on a log scale (green diagonal, red errors).</p>",
    renderConfusionSvg(r.confusion),
  ];
}

/** Options for {@linkcode renderHtmlReport}. */
export interface HtmlReportOptions {
  /** The page title. Default `"webgpu-ner evaluation"`. */
  title?: string;
  /** The evaluation to show (omit for a page of curves only). */
  report?: EvaluationReport;
  /** Curves drawn together in one chart titled "training curves". */
  curves?: readonly Curve[];
  /** More charts, each with its own title (for example loss and F1 separately). */
  charts?: readonly Chart[];
  /** Free-form lines shown under the title (data set, model, date). */
  notes?: readonly string[];
  /** More HTML sections after the report (e.g. a comparison or a reliability diagram). */
  sections?: readonly string[];
}

const pct = (x: number) => (100 * x).toFixed(2);

/**
 * Renders one self-contained HTML page: notes, entity scores per type, the
 * per-tag table, the top errors, the confusion heatmap, and line charts.
 *
 * @param options The report, curves, charts and notes (all optional).
 * @returns The HTML document.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { evaluateTags } from "./report.ts";
 * const html = renderHtmlReport({
 *   report: evaluateTags([["B-PER", "O"]], [["B-PER", "O"]]),
 *   curves: [{ name: "dev F1", points: [[1, 0.5], [2, 0.7]] }],
 * });
 * assert.match(html, /^<!doctype html>/);
 * assert.equal((html.match(/<svg/g) ?? []).length, 2);
 * ```
 */
export function renderHtmlReport(options: HtmlReportOptions = {}): string {
  const title = options.title ?? "webgpu-ner evaluation";
  const body: string[] = [`<h1>${escapeHtml(title)}</h1>`];
  if (options.notes?.length) {
    body.push(
      `<ul class="notes">${options.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>`,
    );
  }
  if (options.report) body.push(...renderReportSections(options.report));
  body.push(...(options.sections ?? []));
  const charts: Chart[] = [];
  if (options.curves?.length) charts.push({ title: "training curves", curves: options.curves });
  charts.push(...(options.charts ?? []));
  if (charts.length > 0) {
    body.push(
      "<h2>Curves</h2>",
      `<div class="charts">${charts.map((c) => renderLineChart(c)).join("\n")}</div>`,
    );
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.total td { font-weight: bold; background: #f4f4f4; }
.charts svg { margin: 0 1em 1em 0; }
</style>
</head>
<body>
${body.join("\n")}
</body>
</html>
`;
}

import assert from "node:assert/strict";
import { classifyTags, formatTagClassification } from "../src/eval/classification.ts";
import {
  confusionMatrix,
  formatConfusionMatrix,
  formatConfusions,
  topConfusions,
} from "../src/eval/confusion.ts";
import { renderConfusionSvg, renderHtmlReport, renderLineChart } from "../src/eval/html.ts";
import { evaluateTags, formatReport, reportToJSON } from "../src/eval/report.ts";

// Six tokens; every number below is counted by hand.
const gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"]];
const pred = [["B-PER", "O", "O", "B-ORG"], ["O", "B-PER"]];

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

Deno.test("per-tag precision, recall, F1, support and averages", () => {
  const r = classifyTags(gold, pred);
  assert.deepEqual(r.rows.map((x) => x.label), ["O", "B-LOC", "B-ORG", "B-PER", "I-PER"]);
  // O: tp 2, fp 1 (gold I-PER), fn 1 (predicted B-PER). B-PER: tp 1, fp 1. Others 0.
  const expected: Record<string, [number, number, number, number]> = {
    "O": [2 / 3, 2 / 3, 2 / 3, 3],
    "B-LOC": [0, 0, 0, 1],
    "B-ORG": [0, 0, 0, 0],
    "B-PER": [0.5, 1, 2 / 3, 1],
    "I-PER": [0, 0, 0, 1],
  };
  for (const row of r.rows) {
    const [p, rc, f, s] = expected[row.label];
    close(row.precision, p, `${row.label} precision`);
    close(row.recall, rc, `${row.label} recall`);
    close(row.f1, f, `${row.label} f1`);
    assert.equal(row.support, s);
  }
  assert.equal(r.accuracy, 0.5);
  close(r.macro.precision, 7 / 30, "macro precision");
  close(r.macro.recall, 1 / 3, "macro recall");
  close(r.macro.f1, 4 / 15, "macro f1");
  close(r.weighted.precision, 5 / 12, "weighted precision");
  close(r.weighted.recall, 0.5, "weighted recall");
  close(r.weighted.f1, 4 / 9, "weighted f1");
  assert.equal(r.weighted.support, 6);
  const text = formatTagClassification(r, { digits: 2 });
  assert.equal(
    text.split("\n")[0],
    "              precision    recall  f1-score   support",
  );
  assert.ok(text.includes("       B-PER       0.50      1.00      0.67         1\n"));
  assert.ok(text.includes("    accuracy                           0.50         6\n"));
  assert.ok(text.includes("   macro avg       0.23      0.33      0.27         6\n"));
  assert.ok(text.endsWith("weighted avg       0.42      0.50      0.44         6\n"));
});

Deno.test("confusion matrix and the top misclassification patterns", () => {
  const m = confusionMatrix(gold, pred);
  const K = m.labels.length;
  const at = (g: string, p: string) => m.counts[m.labels.indexOf(g) * K + m.labels.indexOf(p)];
  assert.equal(at("O", "O"), 2);
  assert.equal(at("O", "B-PER"), 1);
  assert.equal(at("B-LOC", "B-ORG"), 1);
  assert.equal(at("I-PER", "O"), 1);
  assert.equal(at("B-PER", "B-PER"), 1);
  assert.equal(m.counts.reduce((a, b) => a + b, 0), 6);
  // Ties keep label order (rows, then columns).
  assert.equal(
    formatConfusions(topConfusions(m)),
    "O → B-PER: 1\nB-LOC → B-ORG: 1\nI-PER → O: 1\n",
  );
  assert.deepEqual(topConfusions(m, { limit: 1 }), [{ gold: "O", predicted: "B-PER", count: 1 }]);
  const lines = formatConfusionMatrix(m).split("\n");
  assert.equal(lines[0], "gold \\ predicted  O  B-LOC  B-ORG  B-PER  I-PER");
  assert.equal(lines[1], "O                 2      0      0      1      0");
  assert.throws(
    () => confusionMatrix(gold, pred, { labels: ["O"] }),
    /expected tags among the labels, found "B-PER"/,
  );
});

Deno.test("evaluateTags combines everything; text and JSON forms", () => {
  const report = evaluateTags(gold, pred);
  // Gold PER 0-1 and LOC 3; predicted PER 0, ORG 3, PER in sentence 2: none correct.
  assert.deepEqual([report.counts.gold, report.counts.guessed, report.counts.correct], [2, 3, 0]);
  const text = formatReport(report);
  assert.ok(text.startsWith("processed 6 tokens with 2 phrases; found: 3 phrases; correct: 0.\n"));
  assert.match(text, /per-tag \(token level\)\n\s+precision/);
  assert.match(text, /top errors\nO → B-PER: 1\n/);
  assert.match(text, /confusion matrix \(rows gold, columns predicted\)\ngold \\ predicted/);
  assert.equal(formatReport(report, { details: false }).split("\n").length, 6);
  const json = JSON.parse(JSON.stringify(reportToJSON(report)));
  assert.deepEqual(json.confusion.counts[0], [2, 0, 0, 1, 0]);
  assert.equal(json.tags.accuracy, 0.5);
  assert.equal(json.entities.overall.guessed, 3);
  assert.equal(json.errors.length, 3);
});

Deno.test("the heatmap colours on a log scale and labels every cell", () => {
  const m = confusionMatrix([["O", "O", "O", "O", "O", "O", "O", "O", "O", "B-PER"]], [[
    "O",
    "O",
    "O",
    "O",
    "O",
    "O",
    "O",
    "O",
    "O",
    "O",
  ]]);
  const svg = renderConfusionSvg(m);
  assert.equal((svg.match(/<rect /g) ?? []).length, 4);
  assert.match(svg, /<title>gold O → predicted O: 9<\/title>/);
  assert.match(svg, /<title>gold B-PER → predicted O: 1<\/title>/);
  // log1p(1) / log1p(9) = 0.30: the single error is visibly coloured (not near white).
  const fill = svg.match(
    /fill="rgb\((\d+),(\d+),(\d+)\)" stroke="#ddd"><title>gold B-PER → predicted O/,
  )!;
  assert.ok(Number(fill[2]) < 200, `error cell too pale: ${fill[0]}`);
});

Deno.test("line charts and the self-contained HTML page", () => {
  const svg = renderLineChart({
    title: "loss",
    curves: [
      { name: "train", points: [[1, 2], [2, 1], [3, 0.5]] },
      { name: "dev", points: [[1, 2.2], [2, 1.4]] },
    ],
    yLabel: "loss",
  });
  assert.equal((svg.match(/<polyline/g) ?? []).length, 2);
  const first = svg.match(/points="([^"]*)"/)![1].split(" ");
  assert.equal(first.length, 3);
  // y decreases, so the SVG y coordinate increases.
  const ys = first.map((p) => Number(p.split(",")[1]));
  assert.ok(ys[0] < ys[1] && ys[1] < ys[2]);
  const html = renderHtmlReport({
    title: "run <1>",
    report: evaluateTags(gold, pred),
    curves: [{ name: "dev F1", points: [[1, 0.4], [2, 0.6]] }],
    charts: [{ title: "loss", curves: [{ name: "train", points: [[1, 3], [2, 2]] }] }],
    notes: ["data: example"],
  });
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<title>run &lt;1&gt;<\/title>/);
  assert.equal((html.match(/<svg /g) ?? []).length, 3);
  assert.ok(!/<script|src=|href=/.test(html), "self-contained");
  assert.match(html, /<li><code>O → B-PER<\/code>: 1<\/li>/);
  const curvesOnly = renderHtmlReport({ curves: [{ name: "loss", points: [[0, 1]] }] });
  assert.equal((curvesOnly.match(/<svg /g) ?? []).length, 1);
  assert.ok(!curvesOnly.includes("Confusion"));
});

import assert from "node:assert/strict";
import { mulberry32 } from "../src/data/random.ts";
import {
  calibrationNll,
  fitTemperature,
  formatReliability,
  reliability,
  spanOutcomes,
  temperatureScale,
} from "../src/eval/calibration.ts";

const close = (a: number, b: number, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol, `expected ${b}, found ${a}`);

Deno.test("spanOutcomes: exact type and boundaries count, anything else does not", () => {
  const gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "B-ORG"]];
  const out = spanOutcomes(gold, [
    [
      { label: "PER", start: 0, end: 2, score: 0.9 }, // right
      { label: "PER", start: 0, end: 1, score: 0.8 }, // boundary wrong
      { label: "ORG", start: 3, end: 4, score: 0.7 }, // type wrong
    ],
    [{ label: "ORG", start: 1, end: 2, score: 0.6 }], // second of two adjacent ORGs: right
  ]);
  assert.deepEqual(out.map((o) => o.correct), [true, false, false, true]);
  assert.deepEqual(out.map((o) => o.score), [0.9, 0.8, 0.7, 0.6]);
  assert.throws(
    () => spanOutcomes(gold, []),
    /expected spans for each of the 2 gold sentences, found 0/,
  );
});

Deno.test("reliability: bins, precision and ECE of a hand-computed case", () => {
  const outcomes = [
    { score: 1, correct: true }, // last bin is closed at 1
    { score: 0.92, correct: false },
    { score: 0.9, correct: true }, // 0.9 opens bin 9
    { score: 0.55, correct: true },
    { score: 0.45, correct: false },
    { score: 0, correct: false },
  ];
  const r = reliability(outcomes, { bins: 10 });
  assert.deepEqual(r.bins.map((b) => b.count), [1, 0, 0, 0, 1, 1, 0, 0, 0, 3]);
  close(r.bins[9].meanScore, (1 + 0.92 + 0.9) / 3);
  close(r.bins[9].precision, 2 / 3);
  // (|0 − 0| + |0 − 0.45| + |1 − 0.55| + 3·|2/3 − 0.94|) / 6
  close(r.ece, (0 + 0.45 + 0.45 + 3 * Math.abs(2 / 3 - 2.82 / 3)) / 6);
  close(r.maxGap, 0.45);
  close(r.precision, 3 / 6);
  close(r.meanScore, (1 + 0.92 + 0.9 + 0.55 + 0.45) / 6);
  const two = reliability(outcomes, { bins: 2 });
  // bin [0, .5): 0.45 ✗, 0 ✗ → mean .225, precision 0; bin [.5, 1]: 4 spans, 3 right, mean .8425
  close(two.ece, (2 * 0.225 + 4 * Math.abs(0.75 - 0.8425)) / 6);
  assert.equal(reliability([]).ece, 0);
});

Deno.test("reliability refuses scores outside [0, 1] and bad bins", () => {
  assert.throws(
    () => reliability([{ score: 1.5, correct: true }]),
    /scores in \[0, 1\], found 1\.5/,
  );
  assert.throws(() => reliability([{ score: NaN, correct: true }]), /found NaN/);
  assert.throws(() => reliability([], { bins: 0 }), /bins: expected an integer ≥ 1, found 0/);
  assert.throws(() => reliability([], { temperature: 0 }), /temperature: expected .* > 0, found 0/);
});

Deno.test("temperatureScale: σ(logit(p)/τ) by hand; order kept", () => {
  close(temperatureScale(0.9, 2), 0.75);
  close(temperatureScale(0.75, 0.5), 0.9);
  close(temperatureScale(0.2, 1), 0.2, 1e-9);
  const ps = [0.01, 0.2, 0.5, 0.7, 0.99];
  const scaled = ps.map((p) => temperatureScale(p, 3));
  assert.deepEqual([...scaled].sort((a, b) => a - b), scaled);
  assert.ok(temperatureScale(1, 2) < 1 && temperatureScale(0, 2) > 0);
  assert.throws(() => temperatureScale(0.5, -1), /found -1/);
});

Deno.test("calibrationNll is the mean binary cross-entropy, checked by hand", () => {
  const outcomes = [{ score: 0.8, correct: true }, { score: 0.6, correct: false }];
  close(calibrationNll(outcomes, 1), -(Math.log(0.8) + Math.log(0.4)) / 2, 1e-9);
  const t = 2.5, q = (p: number) => 1 / (1 + Math.exp(-Math.log(p / (1 - p)) / t));
  close(calibrationNll(outcomes, t), -(Math.log(q(0.8)) + Math.log(1 - q(0.6))) / 2, 1e-9);
});

/** Spans scored σ(z) that are in truth right with probability σ(z / τ). */
function overconfident(n: number, tau: number, seed: number) {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const z = -6 + 12 * random();
    const truth = 1 / (1 + Math.exp(-z / tau));
    return { score: 1 / (1 + Math.exp(-z)), correct: random() < truth };
  });
}

Deno.test("fitTemperature recovers the temperature of over- and under-confident scores", () => {
  for (const tau of [0.5, 2]) {
    const spans = overconfident(20000, tau, 3);
    const fitted = fitTemperature(spans);
    assert.ok(Math.abs(fitted - tau) < 0.08 * tau, `τ ${tau}: fitted ${fitted}`);
    // The minimum: the loss's derivative in 1/τ vanishes (central differences).
    const beta = 1 / fitted, h = 1e-4;
    const slope = (calibrationNll(spans, 1 / (beta + h)) - calibrationNll(spans, 1 / (beta - h))) /
      (2 * h);
    assert.ok(Math.abs(slope) < 1e-5, `slope ${slope}`);
    // And it calibrates: the ECE falls.
    const before = reliability(spans).ece, after = reliability(spans, { temperature: fitted }).ece;
    assert.ok(after < before / 3, `ECE ${before} → ${after}`);
  }
  assert.throws(() => fitTemperature([]), /expected spans to fit on, found none/);
});

Deno.test("formatReliability lists the non-empty bins and the ECE", () => {
  const text = formatReliability(
    reliability([{ score: 0.95, correct: true }, { score: 0.15, correct: true }], {
      temperature: 1,
    }),
  );
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, 4);
  assert.match(lines[1], /^0\.10–0\.20 +1 +0\.1500 +1\.0000 +0\.8500$/);
  assert.match(lines[3], /ECE 0\.4500, largest gap 0\.8500$/);
});

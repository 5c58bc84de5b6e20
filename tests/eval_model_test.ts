import assert from "node:assert/strict";
import {
  compareModels,
  evaluateModel,
  fitDevTemperature,
  type TokenTagger,
} from "../src/api/evaluate.ts";
import { labelWarnings, renderEvaluation } from "../src/eval/evaluation.ts";
import { renderComparison } from "../src/eval/compare.ts";
import { tagsToSpans } from "../src/data/schemes.ts";

/**
 * A tagger without a GPU: it answers with fixed tags per sentence (keyed by
 * the sentence's text) and a fixed score per span.
 */
function fakeTagger(
  labels: string[],
  answers: Record<string, string[]>,
  score = 0.8,
): TokenTagger & { calls: { constrained?: boolean; calibrated?: boolean }[] } {
  const calls: { constrained?: boolean; calibrated?: boolean }[] = [];
  return {
    labels,
    calls,
    tagTokens: (sentences, options) => {
      calls.push(options);
      return Promise.resolve(sentences.map((tokens) => {
        const tags = answers[tokens.join(" ")] ?? tokens.map(() => "O");
        const entities = tagsToSpans(tags).map((s) => ({ label: s.type, ...s, score }));
        return { tags, entities };
      }));
    },
  };
}

const GOLD = [
  { tokens: ["Ada", "Smith", "sang"], tags: ["B-PER", "E-PER", "O"] }, // IOBES gold
  { tokens: ["Bo", "left", "Rome"], tags: ["S-PER", "O", "S-LOC"] },
];
const LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"];

Deno.test("evaluateModel: gold in IOBES and predictions compared as IOB2, spans scored", async () => {
  const tagger = fakeTagger(LABELS, {
    "Ada Smith sang": ["B-PER", "I-PER", "O"],
    "Bo left Rome": ["B-PER", "O", "B-PER"], // Rome: wrong type
  });
  const ev = await evaluateModel(tagger, GOLD, { names: { model: "m", data: "d" } });
  // Raw scores from the tagger: the diagram applies the temperature itself.
  assert.deepEqual(tagger.calls, [{ constrained: true, calibrated: false }]);
  const o = ev.report.entities.overall;
  assert.deepEqual([o.gold, o.guessed, o.correct], [3, 3, 2]);
  assert.deepEqual(ev.sentences, [
    { gold: 1, guessed: 1, correct: 1 },
    { gold: 2, guessed: 2, correct: 1 },
  ]);
  assert.deepEqual(ev.spans.map((s) => s.correct), [true, true, false]);
  // Three spans scored 0.8, two right: one bin, |2/3 − 0.8|.
  assert.ok(Math.abs(ev.calibration.ece - (0.8 - 2 / 3)) < 1e-12);
  assert.deepEqual(ev.warnings, []);
  const text = renderEvaluation(ev);
  assert.match(text, /^processed 6 tokens with 3 phrases; found: 3 phrases; correct: 2\.\n/);
  assert.match(text, /0\.80–0\.90 +3 +0\.8000 +0\.6667 +-0\.1333/);
  const json = JSON.parse(renderEvaluation(ev, "json"));
  assert.equal(json.model, "m");
  assert.equal(json.calibration.spans, 3);
  assert.match(renderEvaluation(ev, "html"), /Span-score calibration/);
  await evaluateModel(tagger, GOLD, { constrained: false });
  assert.deepEqual(tagger.calls[1], { constrained: false, calibrated: false });
});

Deno.test("evaluateModel: a tagger's own temperature applies by default; an explicit one wins", async () => {
  // A tagger with τ = 2 that, like Tagger, scales its scores unless asked for raw ones.
  const inner = fakeTagger(LABELS, {
    "Ada Smith sang": ["B-PER", "I-PER", "O"],
    "Bo left Rome": ["B-PER", "O", "B-PER"], // Rome is a LOC: 2 of 3 spans right
  }, 0.9);
  const tagger: TokenTagger = {
    labels: LABELS,
    temperature: 2,
    tagTokens: async (sentences, options) =>
      (await inner.tagTokens(sentences, options)).map((r) => ({
        tags: r.tags,
        entities: r.entities.map((e) => ({
          ...e,
          score: options.calibrated === false ? 0.9 : 0.75,
        })),
      })),
  };
  const own = await evaluateModel(tagger, GOLD);
  assert.equal(own.calibration.temperature, 2);
  assert.ok(Math.abs(own.calibration.meanScore - 0.75) < 1e-9, "0.9 at τ = 2 is 0.75, once");
  assert.equal(own.calibration.spans, 3);
  assert.equal(own.uncalibrated?.meanScore, 0.9);
  const raw = await evaluateModel(tagger, GOLD, { temperature: 1 });
  assert.equal(raw.calibration.temperature, 1);
  assert.equal(raw.calibration.meanScore, 0.9);
  // Fitted on the raw 0.9s, right 2 times in 3: σ(ln 9 / τ) = 2/3 at τ = ln 9 / ln 2.
  assert.ok(Math.abs((await fitDevTemperature(tagger, GOLD)) - Math.log(9) / Math.log(2)) < 1e-6);
});

Deno.test("evaluateModel: a temperature re-scores spans in the reliability diagram", async () => {
  const tagger = fakeTagger(LABELS, { "Ada Smith sang": ["B-PER", "I-PER", "O"] }, 0.9);
  const ev = await evaluateModel(tagger, GOLD, { temperature: 2 });
  // 0.9 at τ = 2 is 0.75; one span, right: ECE 0.25.
  assert.ok(Math.abs(ev.calibration.ece - 0.25) < 1e-9);
  assert.equal(ev.calibration.temperature, 2);
  assert.ok(Math.abs(ev.spans[0].score - 0.9) < 1e-12, "spans keep the raw score");
});

Deno.test("label sets that do not overlap are named, as are gold types the model lacks", async () => {
  const gmb = fakeTagger(["O", "B-geo", "I-geo", "B-per", "I-per"], {});
  const ev = await evaluateModel(gmb, GOLD);
  assert.equal(ev.report.entities.overall.f1, 0);
  assert.equal(ev.warnings.length, 1);
  assert.equal(
    ev.warnings[0],
    "none of the data's entity types (LOC: 1 gold entity, PER: 2 gold entities) is among the " +
      "model's (geo, per): every gold entity counts as missed and F1 is 0; is this the model for this data?",
  );
  assert.deepEqual(labelWarnings(LABELS, [["B-MISC", "I-MISC", "B-PER"]]), [
    "the model cannot predict the data's types MISC: 1 gold entity (its types: LOC, PER): they count as missed",
  ]);
  assert.deepEqual(labelWarnings(LABELS, [["O", "O"]]), [
    "the data has no gold entities: recall and F1 are 0 whatever the model predicts",
  ]);
  assert.deepEqual(labelWarnings(LABELS, [["I-PER", "O"]]), [], "IOB1 gold is read as spans");
});

Deno.test("evaluateModel refuses a sentence whose tags do not match its tokens", async () => {
  await assert.rejects(
    () => evaluateModel(fakeTagger(LABELS, {}), [{ tokens: ["a", "b"], tags: ["O"] }]),
    /sentence 0: expected one tag per token \(2\), found 1/,
  );
});

Deno.test("compareModels: side by side, bootstrap of B − A, all three formats", async () => {
  const a = fakeTagger(LABELS, { "Ada Smith sang": ["B-PER", "I-PER", "O"] });
  const b = fakeTagger(LABELS, {
    "Ada Smith sang": ["B-PER", "I-PER", "O"],
    "Bo left Rome": ["B-PER", "O", "B-LOC"],
  });
  const c = await compareModels(a, b, GOLD, {
    resamples: 200,
    seed: 3,
    names: { a: "a.st", b: "b.st", data: "gold" },
  });
  // A: 1 of 1 found right, 3 gold: F1 0.5; B: all right.
  assert.equal(c.bootstrap.f1A, 0.5);
  assert.equal(c.bootstrap.f1B, 1);
  assert.equal(c.bootstrap.difference, 0.5);
  assert.ok(c.bootstrap.interval[0] >= 0 && c.bootstrap.interval[1] <= 1);
  const text = renderComparison(c);
  assert.match(text, /^A: a\.st\nB: b\.st\ndata: gold \(6 tokens, 2 sentences\)\n/);
  assert.match(text, /^PER +100\.00 +50\.00 +66\.67 +\| +100\.00 +100\.00 +100\.00 +\+33\.33 +2$/m);
  assert.match(text, /^LOC +0\.00 +0\.00 +0\.00 +\| +100\.00/m);
  assert.match(text, /^B-LOC +0\.00 +100\.00 +1$/m);
  assert.match(text, /^B-LOC → O: 1 +\| no misclassifications$/m);
  assert.match(
    text,
    /F1 B − A = \+50\.00 points \(95 % interval .*\), p = 0\.\d{3} \(paired bootstrap over 2 sentences, 200 resamples, seed 3\)/,
  );
  const json = JSON.parse(renderComparison(c, "json"));
  assert.equal(json.a.model, "a.st");
  assert.equal(json.bootstrap.resamples, 200);
  const html = renderComparison(c, "html");
  assert.match(html, /<h2>Paired bootstrap<\/h2>/);
  assert.match(html, /<h2>B \(b\.st\): Top errors<\/h2>/);
  assert.equal((html.match(/Span-score calibration/g) ?? []).length, 2);
});

Deno.test("fitDevTemperature: fitted on a tagger's spans; no spans is an error", async () => {
  const over = fakeTagger(LABELS, {
    "Ada Smith sang": ["B-PER", "I-PER", "O"],
    "Bo left Rome": ["B-PER", "O", "B-PER"],
  }, 0.9);
  // Two of three right at score 0.9: σ(ln 9 / τ) = 2/3 → τ = ln 9 / ln 2.
  const tau = await fitDevTemperature(over, GOLD);
  assert.ok(Math.abs(tau - Math.log(9) / Math.log(2)) < 1e-6, `τ ${tau}`);
  await assert.rejects(() => fitDevTemperature(fakeTagger(LABELS, {}), GOLD), /found none/);
});

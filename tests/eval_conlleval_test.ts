/**
 * conlleval semantics on hand-made edge cases. Every expected number below
 * was worked out by hand from conlleval.pl's rules (see the comments).
 */
import assert from "node:assert/strict";
import { DataFormatError } from "../src/data/errors.ts";
import {
  type ChunkRules,
  conllevalCounts,
  entityEvaluation,
  formatConlleval,
  parseConllevalInput,
  printf2,
} from "../src/eval/conlleval.ts";

const report = (gold: string[][], pred: string[][], rules?: ChunkRules) =>
  formatConlleval(conllevalCounts(gold, pred, { rules }));

Deno.test("an I- after O starts a chunk", () => {
  // Gold PER spans tokens 0-1; the prediction's I-PER after O starts a PER chunk at token 1:
  // 1 gold, 1 found, 0 correct; tags right on tokens 1 and 2 (2/3).
  assert.equal(
    report([["B-PER", "I-PER", "O"]], [["O", "I-PER", "O"]]),
    "processed 3 tokens with 1 phrases; found: 1 phrases; correct: 0.\n" +
      "accuracy:  66.67%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n" +
      "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n",
  );
  // The same I- after O on both sides is one matching chunk.
  const c = conllevalCounts([["O", "I-LOC", "I-LOC", "O"]], [["O", "I-LOC", "I-LOC", "O"]]);
  assert.deepEqual([c.gold, c.guessed, c.correct], [1, 1, 1]);
});

Deno.test("a type change inside a chunk splits it", () => {
  // Predicted B-ORG I-ORG I-LOC: the LOC ends the ORG chunk and starts a LOC chunk.
  // Gold ORG covers tokens 0-2: 1 gold, 2 found, 0 correct; 3 of 4 tags right.
  assert.equal(
    report([["B-ORG", "I-ORG", "I-ORG", "O"]], [["B-ORG", "I-ORG", "I-LOC", "O"]]),
    "processed 4 tokens with 1 phrases; found: 2 phrases; correct: 0.\n" +
      "accuracy:  75.00%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n" +
      "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n" +
      "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n",
  );
});

Deno.test("IOBES singletons: conlleval.pl has no S- rule; the iobes rules split them", () => {
  const gold = [["S-PER", "S-PER", "O", "B-LOC", "E-LOC"]];
  const pred = [["S-PER", "O", "O", "B-LOC", "E-LOC"]];
  // conlleval.pl: S-PER S-PER is one PER chunk (no rule ends it), so the predicted
  // single S-PER ends early: 2 gold, 2 found, 1 correct (LOC); 4 of 5 tags right.
  assert.equal(
    report(gold, pred),
    "processed 5 tokens with 2 phrases; found: 2 phrases; correct: 1.\n" +
      "accuracy:  80.00%; precision:  50.00%; recall:  50.00%; FB1:  50.00\n" +
      "              LOC: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n" +
      "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n",
  );
  // IOBES rules: two gold PER singletons, the first one found: 3 gold, 2 found, 2 correct;
  // P 100, R 66.67, F 2·100·66.67/166.67 = 80; PER R 1/2, F 66.67.
  assert.equal(
    report(gold, pred, "iobes"),
    "processed 5 tokens with 3 phrases; found: 2 phrases; correct: 2.\n" +
      "accuracy:  80.00%; precision: 100.00%; recall:  66.67%; FB1:  80.00\n" +
      "              LOC: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n" +
      "              PER: precision: 100.00%; recall:  50.00%; FB1:  66.67  1\n",
  );
  // E- then B- of one type: conlleval.pl continues the chunk, the iobes rules split it.
  const eb = [["B-PER", "E-PER", "B-PER", "I-PER", "E-PER"]];
  const none = [["O", "O", "O", "O", "O"]];
  assert.equal(conllevalCounts(eb, none).gold, 1);
  assert.equal(conllevalCounts(eb, none, { rules: "iobes" }).gold, 2);
});

Deno.test("sentence boundaries end chunks", () => {
  // One sentence: B-PER I-PER is one chunk; two sentences: the I-PER starts a new one.
  assert.equal(conllevalCounts([["B-PER", "I-PER"]], [["B-PER", "I-PER"]]).gold, 1);
  assert.equal(conllevalCounts([["B-PER"], ["I-PER"]], [["B-PER"], ["I-PER"]]).gold, 2);
  // Gold LOC in sentence 1 only; the prediction's I-LOC in sentence 2 is a new chunk, and the
  // sentence-1 chunk is correct because both end at the boundary: 1 gold, 2 found, 1 correct;
  // P 50, R 100, F 66.67; 1 of 2 tags right.
  assert.equal(
    report([["B-LOC"], ["O"]], [["B-LOC"], ["I-LOC"]]),
    "processed 2 tokens with 1 phrases; found: 2 phrases; correct: 1.\n" +
      "accuracy:  50.00%; precision:  50.00%; recall: 100.00%; FB1:  66.67\n" +
      "              LOC: precision:  50.00%; recall: 100.00%; FB1:  66.67  2\n",
  );
  // The same through a predictions file with a blank line and with a -X- line.
  for (const sep of ["", "-X- -X- O O"]) {
    const text = `Oslo x B-LOC B-LOC\n${sep}\nis x O I-LOC\n`;
    assert.equal(
      formatConlleval(parseConllevalInput(text).counts),
      report([["B-LOC"], ["O"]], [["B-LOC"], ["I-LOC"]]),
    );
  }
});

Deno.test("IOB1 input: I- starts chunks, B- separates adjacent chunks of one type", () => {
  // Gold: PER 0-1, PER 2, LOC 4 (3 chunks). Predicted: PER 0-2, LOC 4 (2 chunks).
  // Only LOC is correct: P 1/2, R 1/3, F 2·50·33.33/83.33 = 40; 4 of 5 tags right.
  assert.equal(
    report([["I-PER", "I-PER", "B-PER", "O", "I-LOC"]], [[
      "I-PER",
      "I-PER",
      "I-PER",
      "O",
      "I-LOC",
    ]]),
    "processed 5 tokens with 3 phrases; found: 2 phrases; correct: 1.\n" +
      "accuracy:  80.00%; precision:  50.00%; recall:  33.33%; FB1:  40.00\n" +
      "              LOC: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n" +
      "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n",
  );
});

Deno.test("the [ ] and . chunk tags, and the empty type printed twice as Perl does", () => {
  // "[" is always a one-token chunk of empty type. The empty type is a key of both
  // %foundCorrect and %foundGuessed, and Perl's duplicate check treats "" as false,
  // so its line appears twice.
  assert.equal(
    report([["[", "O"]], [["[", "O"]]),
    "processed 2 tokens with 1 phrases; found: 1 phrases; correct: 1.\n" +
      "accuracy: 100.00%; precision: 100.00%; recall: 100.00%; FB1: 100.00\n" +
      "                 : precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n" +
      "                 : precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n",
  );
  assert.equal(conllevalCounts([["]", "]"]], [["O", "O"]]).gold, 2);
  // ".-LOC" after B-PER ends the PER chunk (type change) but starts nothing ("." is
  // exempt), and nothing ends after it: 1 gold (PER), 1 found, 1 correct; 2 of 3 tags.
  assert.equal(
    report([["B-PER", ".-LOC", "O"]], [["B-PER", "O", "O"]]),
    "processed 3 tokens with 1 phrases; found: 1 phrases; correct: 1.\n" +
      "accuracy:  66.67%; precision: 100.00%; recall: 100.00%; FB1: 100.00\n" +
      "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n",
  );
});

Deno.test("percentages round like C's printf (ties to even), not like toFixed", () => {
  // 800 one-token gold PER chunks, one found: recall = accuracy = 100·1/800 = 0.125
  // exactly, which %.2f prints as 0.12 (toFixed would print 0.13); F = 25/100.125 = 0.2497.
  const gold = Array.from({ length: 800 }, () => ["B-PER"]);
  const pred = gold.map((_, i) => [i === 0 ? "B-PER" : "O"]);
  assert.equal(
    report(gold, pred).split("\n")[1],
    "accuracy:   0.12%; precision: 100.00%; recall:   0.12%; FB1:   0.25",
  );
  assert.equal((0.125).toFixed(2), "0.13");
  assert.deepEqual([0.625, 2.375, 99.875, 0.135, 50].map(printf2), [
    "0.62",
    "2.38",
    "99.88",
    "0.14",
    "50.00",
  ]);
});

Deno.test("reading a predictions file as conlleval.pl does", () => {
  // -DOCSTART- is an ordinary token to conlleval.pl; trailing spaces are dropped; CRLF is accepted.
  const input = parseConllevalInput("-DOCSTART- -X- O O\r\n\r\nAda NNP B-PER B-PER \r\n");
  assert.equal(input.counts.tokens, 2);
  assert.deepEqual(input.gold, [["O"], ["B-PER"]]);
  const fail = (text: string, line: number, pattern: RegExp) =>
    assert.throws(() => parseConllevalInput(text, { path: "p.txt" }), (e: unknown) => {
      assert.ok(e instanceof DataFormatError);
      assert.equal(e.line, line);
      assert.match(e.message, pattern);
      return true;
    });
  fail("a NN O O\nb O O\n", 2, /^p\.txt:2: expected 4 fields as on the first line, found 3$/);
  fail("\na  NN O O\nb NN O O\n", 3, /expected 5 fields as on the first line, found 4/);
  fail("a\nb\n", 1, /expected at least 2 fields/);
  // A custom delimiter.
  assert.equal(
    parseConllevalInput("New York\tB-LOC\tB-LOC\n", { delimiter: "\t" }).counts.correct,
    1,
  );
});

Deno.test("entityEvaluation gives fractions; shapes are checked", () => {
  const e = entityEvaluation(
    conllevalCounts([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]]),
  );
  assert.equal(e.overall.precision, 0.5);
  assert.equal(e.overall.recall, 0.5);
  assert.equal(e.overall.f1, 0.5);
  assert.equal(e.accuracy, 0.75);
  assert.deepEqual(e.types.map((t) => [t.type, t.gold, t.guessed, t.correct]), [
    ["LOC", 1, 0, 0],
    ["ORG", 0, 1, 0],
    ["PER", 1, 1, 1],
  ]);
  assert.throws(
    () => conllevalCounts([["O"]], []),
    /expected as many predicted sentences as gold ones \(1\), found 0/,
  );
  assert.throws(
    () => conllevalCounts([["O"]], [["O", "O"]]),
    /sentence 0: expected 1 predicted tags/,
  );
});

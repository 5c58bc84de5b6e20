import assert from "node:assert/strict";
import {
  CONLL2003_TRAIN_LENGTHS,
  MAX_SYNTHETIC_LENGTH,
  syntheticCorpus,
} from "../bench/synthetic.ts";

Deno.test("the embedded length histogram matches CoNLL-2003 train's totals", () => {
  let sentences = 0, tokens = 0, max = 0;
  for (const [length, count] of CONLL2003_TRAIN_LENGTHS) {
    sentences += count;
    tokens += length * count;
    max = Math.max(max, length);
  }
  assert.equal(sentences, 14_041);
  assert.equal(tokens, 203_621);
  assert.equal(max, MAX_SYNTHETIC_LENGTH);
});

Deno.test("syntheticCorpus is deterministic per seed and differs across seeds", () => {
  const a = syntheticCorpus({ sentences: 500, seed: 42, vocab: 1000, tags: 9 });
  const b = syntheticCorpus({ sentences: 500, seed: 42, vocab: 1000, tags: 9 });
  const c = syntheticCorpus({ sentences: 500, seed: 43, vocab: 1000, tags: 9 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.wordIds, c.wordIds);
});

Deno.test("syntheticCorpus lengths follow CoNLL-2003 train (mean 14.50, max ≤ 113)", () => {
  const n = 20_000;
  const corpus = syntheticCorpus({ sentences: n, seed: 7 });
  const lengths = corpus.wordIds.map((w) => w.length);
  const mean = corpus.tokens / n;
  // Length std ≈ 11.2, so the standard error of the mean is ≈ 0.08 at n = 20,000.
  assert.ok(Math.abs(mean - 203_621 / 14_041) < 0.3, `mean length ${mean}, expected ≈ 14.50`);
  assert.ok(Math.max(...lengths) <= MAX_SYNTHETIC_LENGTH);
  assert.ok(Math.min(...lengths) >= 1);
  // Shape, not only the mean: 2-token sentences are 8.0 % of CoNLL train, 1-token ones 1.3 %.
  const share = (k: number) => lengths.filter((l) => l === k).length / n;
  assert.ok(Math.abs(share(2) - 1129 / 14_041) < 0.01, `share of length 2: ${share(2)}`);
  assert.ok(Math.abs(share(1) - 179 / 14_041) < 0.004, `share of length 1: ${share(1)}`);
  assert.equal(lengths.reduce((s, l) => s + l, 0), corpus.tokens);
});

Deno.test("syntheticCorpus words are Zipf-like ids in [2, vocab) and tags valid BIO", () => {
  const vocab = 500, tags = 9;
  const corpus = syntheticCorpus({ sentences: 4000, seed: 1, vocab, tags });
  const counts = new Float64Array(vocab);
  for (const w of corpus.wordIds) for (const id of w) counts[id]++;
  assert.equal(counts[0], 0);
  assert.equal(counts[1], 0);
  // Zipf with exponent 1: rank 1 about twice rank 2 and ten times rank 10.
  assert.ok(Math.abs(counts[2] / counts[3] - 2) < 0.2, `rank1/rank2 = ${counts[2] / counts[3]}`);
  assert.ok(
    Math.abs(counts[2] / counts[11] - 10) < 1.5,
    `rank1/rank10 = ${counts[2] / counts[11]}`,
  );
  let entity = 0;
  corpus.sentences.forEach((s, i) => {
    assert.equal(s.tokens.length, corpus.wordIds[i].length);
    assert.equal(s.tags.length, s.tokens.length);
    s.tags.forEach((tag, t) => {
      assert.equal(tag, corpus.tagNames[corpus.tagIds[i][t]]);
      if (tag.startsWith("I-")) assert.ok(t > 0 && s.tags[t - 1].slice(2) === tag.slice(2));
      if (tag !== "O") entity++;
    });
  });
  const share = entity / corpus.tokens;
  assert.ok(share > 0.12 && share < 0.22, `entity share ${share}`);
  assert.equal(corpus.tagNames.join(" "), "O B-X0 I-X0 B-X1 I-X1 B-X2 I-X2 B-X3 I-X3");
});

Deno.test("syntheticCorpus handles small tag sets and rejects bad options", () => {
  for (const tags of [1, 2, 4]) {
    const c = syntheticCorpus({ sentences: 200, seed: 5, vocab: 3, tags });
    for (const row of c.tagIds) for (const k of row) assert.ok(k >= 0 && k < tags);
    for (const row of c.wordIds) for (const w of row) assert.equal(w, 2);
  }
  assert.throws(() => syntheticCorpus({ sentences: 1, vocab: 2 }), /vocab of at least 3/);
  assert.throws(() => syntheticCorpus({ sentences: -1 }), /sentence count/);
  assert.throws(() => syntheticCorpus({ sentences: 1, tags: 0 }), /tag count/);
});

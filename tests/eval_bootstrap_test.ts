import assert from "node:assert/strict";
import { mulberry32 } from "../src/data/random.ts";
import { f1FromCounts, pairedBootstrap, sentenceCounts } from "../src/eval/bootstrap.ts";
import { conllevalCounts } from "../src/eval/conlleval.ts";

/** A small corpus with gold tags and two taggers' predictions, seeded. */
function corpus(sentences: number, seed: number) {
  const random = mulberry32(seed);
  const types = ["PER", "LOC", "ORG"];
  const gold: string[][] = [], a: string[][] = [], b: string[][] = [];
  const noisy = (tags: string[], rate: number) =>
    tags.map((t) =>
      random() < rate ? (t === "O" ? `B-${types[Math.floor(random() * 3)]}` : "O") : t
    );
  for (let s = 0; s < sentences; s++) {
    const n = 1 + Math.floor(random() * 8);
    const tags: string[] = [];
    for (let t = 0; t < n; t++) {
      const prev = tags[t - 1];
      if (prev !== undefined && prev !== "O" && random() < 0.4) tags.push(`I-${prev.slice(2)}`);
      else tags.push(random() < 0.4 ? `B-${types[Math.floor(random() * 3)]}` : "O");
    }
    gold.push(tags);
    a.push(noisy(tags, 0.25));
    b.push(noisy(tags, 0.15));
  }
  return { gold, a, b };
}

/**
 * The naive reference: each resample concatenates the drawn sentences'
 * tags and scores them with conlleval from scratch; the interval sorts the
 * differences and interpolates by hand. Same generator, same draw order.
 */
function naiveBootstrap(
  gold: string[][],
  a: string[][],
  b: string[][],
  resamples: number,
  seed: number,
) {
  const random = mulberry32(seed);
  const f1 = (g: string[][], p: string[][]) => {
    const c = conllevalCounts(g, p);
    const precision = c.guessed ? c.correct / c.guessed : 0;
    const recall = c.gold ? c.correct / c.gold : 0;
    return precision + recall ? 2 * precision * recall / (precision + recall) : 0;
  };
  const observed = f1(gold, b) - f1(gold, a);
  const diffs: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const g: string[][] = [], pa: string[][] = [], pb: string[][] = [];
    for (let i = 0; i < gold.length; i++) {
      const s = Math.floor(random() * gold.length);
      g.push(gold[s]);
      pa.push(a[s]);
      pb.push(b[s]);
    }
    diffs.push(f1(g, pb) - f1(g, pa));
  }
  let far = 0;
  for (const d of diffs) if (Math.abs(d - observed) >= Math.abs(observed) - 1e-12) far++;
  diffs.sort((x, y) => x - y);
  const at = (q: number) => {
    const h = (diffs.length - 1) * q;
    const lo = Math.floor(h);
    return diffs[lo] + (h - lo) * ((diffs[lo + 1] ?? diffs[lo]) - diffs[lo]);
  };
  return { observed, p: (1 + far) / (1 + resamples), interval: [at(0.025), at(0.975)] };
}

Deno.test("per-sentence counts add up to conlleval's corpus counts", () => {
  const { gold, a } = corpus(60, 3);
  const per = sentenceCounts(gold, a);
  const total = conllevalCounts(gold, a);
  const sum = (k: "gold" | "guessed" | "correct") => per.reduce((s, c) => s + c[k], 0);
  assert.deepEqual([sum("gold"), sum("guessed"), sum("correct")], [
    total.gold,
    total.guessed,
    total.correct,
  ]);
  assert.ok(total.correct > 0 && total.correct < total.gold, "the fixture has errors");
});

Deno.test("identical taggers: difference 0, p = 1, interval [0, 0]", () => {
  const { gold, a } = corpus(50, 5);
  const counts = sentenceCounts(gold, a);
  const r = pairedBootstrap(counts, counts, { resamples: 300, seed: 9 });
  assert.equal(r.difference, 0);
  assert.equal(r.pValue, 1);
  assert.deepEqual(r.interval, [0, 0]);
  assert.equal(r.f1A, r.f1B);
});

Deno.test("a tagger better on every sentence gives p near 0 and an interval above 0", () => {
  const { gold, a } = corpus(200, 7);
  const A = sentenceCounts(gold, a.map((s) => s.map(() => "O")));
  const B = sentenceCounts(gold, gold);
  const r = pairedBootstrap(A, B, { resamples: 500, seed: 2 });
  assert.equal(r.f1A, 0);
  assert.equal(r.f1B, 1);
  assert.equal(r.pValue, 1 / 501);
  assert.ok(r.interval[0] > 0.9, `interval ${r.interval}`);
  // Swapping the taggers flips the sign of the difference and of the interval.
  const swapped = pairedBootstrap(B, A, { resamples: 500, seed: 2 });
  assert.equal(swapped.difference, -1);
  assert.equal(swapped.pValue, r.pValue);
});

Deno.test("the p-value and interval match the naive concatenate-and-rescore reference", () => {
  for (const [sentences, seed] of [[40, 11], [120, 12]]) {
    const { gold, a, b } = corpus(sentences, seed);
    const fast = pairedBootstrap(sentenceCounts(gold, a), sentenceCounts(gold, b), {
      resamples: 400,
      seed,
    });
    const naive = naiveBootstrap(gold, a, b, 400, seed);
    assert.ok(Math.abs(fast.difference - naive.observed) < 1e-12);
    assert.ok(fast.difference !== 0, "the fixture's taggers differ");
    assert.equal(fast.pValue, naive.p);
    assert.ok(Math.abs(fast.interval[0] - naive.interval[0]) < 1e-12, `${fast.interval}`);
    assert.ok(Math.abs(fast.interval[1] - naive.interval[1]) < 1e-12, `${naive.interval}`);
    assert.ok(fast.interval[0] <= fast.difference && fast.difference <= fast.interval[1]);
  }
});

Deno.test("the same seed gives the same result, another seed another interval", () => {
  const { gold, a, b } = corpus(80, 21);
  const A = sentenceCounts(gold, a), B = sentenceCounts(gold, b);
  assert.deepEqual(
    pairedBootstrap(A, B, { resamples: 100, seed: 4 }),
    pairedBootstrap(A, B, { resamples: 100, seed: 4 }),
  );
  assert.notDeepEqual(
    pairedBootstrap(A, B, { resamples: 100, seed: 4 }).interval,
    pairedBootstrap(A, B, { resamples: 100, seed: 5 }).interval,
  );
});

Deno.test("bad input is refused with what was expected and found", () => {
  const one = [{ gold: 1, guessed: 1, correct: 1 }];
  assert.throws(
    () => pairedBootstrap(one, [...one, ...one]),
    /expected the same sentences .* 1 and 2/,
  );
  assert.throws(() => pairedBootstrap([], []), /expected sentences, found none/);
  assert.throws(
    () => pairedBootstrap(one, [{ gold: 2, guessed: 1, correct: 1 }]),
    /sentence 0 has 1 gold entities for A and 2 for B/,
  );
  assert.throws(
    () => pairedBootstrap(one, one, { resamples: 0 }),
    /resamples: expected an integer ≥ 1, found 0/,
  );
  assert.throws(() => sentenceCounts([["O"]], []), /expected as many predicted sentences/);
  assert.equal(f1FromCounts({ gold: 0, guessed: 0, correct: 0 }), 0);
});

import assert from "node:assert/strict";
import {
  checkTag,
  convertTags,
  detectScheme,
  parseScheme,
  type Span,
  spansToTags,
  type TagScheme,
  tagsToSpans,
  transitionMask,
} from "../src/data/schemes.ts";
import { mulberry32 } from "../src/data/random.ts";

const SCHEMES: TagScheme[] = ["IOB1", "IOB2", "IOBES", "BILOU"];

/** Random non-overlapping spans, including adjacent spans of the same type. */
function randomSpans(random: () => number, length: number): Span[] {
  const spans: Span[] = [];
  let i = 0;
  while (i < length) {
    if (random() < 0.4) {
      i++;
      continue;
    }
    const n = 1 + Math.floor(random() * Math.min(3, length - i));
    spans.push({ type: random() < 0.5 ? "PER" : "LOC", start: i, end: i + n });
    i += n;
  }
  return spans;
}

Deno.test("the same sentence in every scheme, written out by hand", () => {
  // [Ada Lovelace]PER [Paris]LOC [Rome]LOC met .
  const spans = [
    { type: "PER", start: 0, end: 2 },
    { type: "LOC", start: 2, end: 3 },
    { type: "LOC", start: 3, end: 4 },
  ];
  assert.deepEqual(spansToTags(spans, 5, "IOB1"), ["I-PER", "I-PER", "I-LOC", "B-LOC", "O"]);
  assert.deepEqual(spansToTags(spans, 5, "IOB2"), ["B-PER", "I-PER", "B-LOC", "B-LOC", "O"]);
  assert.deepEqual(spansToTags(spans, 5, "IOBES"), ["B-PER", "E-PER", "S-LOC", "S-LOC", "O"]);
  assert.deepEqual(spansToTags(spans, 5, "BILOU"), ["B-PER", "L-PER", "U-LOC", "U-LOC", "O"]);
  for (const s of SCHEMES) assert.deepEqual(tagsToSpans(spansToTags(spans, 5, s)), spans);
});

Deno.test("conversions round-trip between every pair of schemes", () => {
  const random = mulberry32(3);
  for (let k = 0; k < 300; k++) {
    const length = 1 + Math.floor(random() * 8);
    const spans = randomSpans(random, length);
    for (const from of SCHEMES) {
      const tags = spansToTags(spans, length, from);
      for (const to of SCHEMES) {
        const there = convertTags(tags, to);
        assert.deepEqual(convertTags(there, from), tags, `${from} → ${to} → ${from}: ${tags}`);
        assert.deepEqual(tagsToSpans(there), spans);
      }
    }
  }
});

Deno.test("detectScheme tells the four schemes apart", () => {
  assert.equal(detectScheme([["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]]), "IOB1");
  assert.equal(detectScheme([["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]]), "IOB2");
  assert.equal(detectScheme([["B-PER", "E-PER", "O", "S-LOC"]]), "IOBES");
  assert.equal(detectScheme([["B-PER", "L-PER", "O", "U-LOC"]]), "BILOU");
  assert.equal(detectScheme([["O", "O"]]), "IOB2");
  // I- after O but also B- after O: an invalid IOB2 prediction, not IOB1.
  assert.equal(detectScheme([["O", "I-PER"], ["O", "B-PER"]]), "IOB2");
});

Deno.test("checkTag and parseScheme", () => {
  for (const ok of ["O", "B-PER", "I-geo", "E-A_B", "S-x.y", "L-ORG-SUB", "U-9"]) {
    assert.equal(checkTag(ok), undefined, ok);
  }
  for (const bad of ["o", "PER", "B", "B-", "I--X", "I-X-", "Q-PER", "B-P R", ""]) {
    assert.notEqual(checkTag(bad), undefined, bad);
  }
  assert.equal(parseScheme("BIOES"), "IOBES");
  assert.equal(parseScheme("iob1"), "IOB1");
  assert.throws(
    () => parseScheme("IOE2"),
    /expected IOB1, IOB2 \(BIO\), IOBES \(BIOES\) or BILOU, found "IOE2"/,
  );
});

function tagsOf(scheme: TagScheme): string[] {
  const prefixes = { IOB1: "BI", IOB2: "BI", IOBES: "BIES", BILOU: "BILU" }[scheme];
  return ["O", ...["PER", "LOC"].flatMap((t) => [...prefixes].map((p) => `${p}-${t}`))];
}

Deno.test("transitionMask allows exactly the canonical sequences of each scheme (all sequences up to length 4)", () => {
  for (const scheme of SCHEMES) {
    const tags = tagsOf(scheme);
    const K = tags.length;
    const mask = transitionMask(tags, scheme);
    assert.equal(mask.transitions.length, K * K);
    let allowedCount = 0;
    for (let n = 1; n <= 4; n++) {
      const seq = new Array<number>(n).fill(0);
      for (;;) {
        let allowed = mask.start[seq[0]] === 1 && mask.end[seq[n - 1]] === 1;
        for (let t = 1; t < n && allowed; t++) {
          allowed = mask.transitions[seq[t - 1] * K + seq[t]] === 1;
        }
        const words = seq.map((k) => tags[k]);
        const canonical = JSON.stringify(convertTags(words, scheme)) === JSON.stringify(words);
        assert.equal(allowed, canonical, `${scheme}: ${words.join(" ")}`);
        if (allowed) allowedCount++;
        let i = n - 1;
        while (i >= 0 && seq[i] === K - 1) seq[i--] = 0;
        if (i < 0) break;
        seq[i]++;
      }
    }
    assert.ok(allowedCount > 0);
  }
});

Deno.test("transitionMask refuses tags outside the scheme", () => {
  assert.throws(
    () => transitionMask(["O", "S-PER"], "IOB2"),
    /expected IOB2 tags \(O, B, I\), found "S-PER"/,
  );
  assert.throws(() => transitionMask(["O", "PER"], "IOB2"), /fits no tag scheme/);
});

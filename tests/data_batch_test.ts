import assert from "node:assert/strict";
import { type Batch, encodeSentences, makeBatches } from "../src/data/batch.ts";
import { mulberry32 } from "../src/data/random.ts";
import type { Sentence } from "../src/data/sentence.ts";
import { buildCharVocabulary, buildTagVocabulary, buildWordVocabulary } from "../src/data/vocab.ts";

function corpus(n: number, seed: number): Sentence[] {
  const random = mulberry32(seed);
  const words = [
    "the",
    "Cat",
    "sat",
    "on",
    "a",
    "Mat",
    "in",
    "Oslo",
    "1999",
    "supercalifragilistic",
  ];
  return Array.from({ length: n }, () => {
    const len = 1 + Math.floor(random() * random() * 40);
    const tokens = Array.from({ length: len }, () => words[Math.floor(random() * words.length)]);
    return { tokens, tags: tokens.map((t) => (t === "Oslo" ? "B-LOC" : "O")) };
  });
}

const sentences = corpus(200, 11);
const words = buildWordVocabulary(sentences.slice(0, 150));
const chars = buildCharVocabulary(sentences);
const tags = buildTagVocabulary(["O", "B-LOC"]);
const encoded = encodeSentences(sentences, { words, chars, tags });

Deno.test("every sentence lands in exactly one batch, laid out batch-major", () => {
  const batches = makeBatches(encoded, { batchSize: 16, seed: 3, maxChars: 8 });
  const seen = new Set<number>();
  for (const b of batches) {
    const T = b.maxLength, C = b.maxChars;
    assert.equal(b.wordIds.length, b.size * T);
    assert.equal(b.charIds.length, b.size * T * C);
    assert.ok(C <= 8);
    assert.equal(b.tokens, b.lengths.reduce((a, n) => a + n, 0));
    assert.equal(T, Math.max(...b.lengths));
    for (let r = 0; r < b.size; r++) {
      const id = b.sentenceIds[r];
      assert.ok(!seen.has(id));
      seen.add(id);
      const s = sentences[id];
      assert.equal(b.lengths[r], s.tokens.length);
      for (let t = 0; t < T; t++) {
        const p = r * T + t;
        if (t < s.tokens.length) {
          assert.equal(b.mask[p], 1);
          assert.equal(b.wordIds[p], words.id(s.tokens[t]));
          assert.equal(b.tagIds[p], tags.id(s.tags[t]));
          const cs = [...s.tokens[t]].slice(0, C).map((ch) => chars.id(ch));
          assert.equal(b.charLengths[p], cs.length);
          assert.deepEqual([...b.charIds.subarray(p * C, p * C + cs.length)], cs);
          assert.ok(b.charIds.subarray(p * C + cs.length, p * C + C).every((x) => x === 0));
          assert.ok(b.casingIds[p] > 0);
        } else {
          assert.equal(b.mask[p], 0);
          assert.equal(b.wordIds[p], 0);
          assert.equal(b.casingIds[p], 0);
          assert.equal(b.charLengths[p], 0);
        }
      }
    }
  }
  assert.equal(seen.size, sentences.length);
});

Deno.test("the word groups are a CSR partition of the real token positions by word id", () => {
  for (const b of makeBatches(encoded, { batchSize: 32, seed: 9 })) {
    const { uniqueIds, offsets, positions } = b.wordGroups;
    assert.equal(offsets[0], 0);
    assert.equal(offsets[uniqueIds.length], b.tokens);
    assert.equal(positions.length, b.tokens);
    for (let u = 1; u < uniqueIds.length; u++) assert.ok(uniqueIds[u - 1] < uniqueIds[u]);
    const covered = new Set<number>();
    for (let u = 0; u < uniqueIds.length; u++) {
      assert.ok(uniqueIds[u] > 0, "padding is not a group");
      for (let k = offsets[u]; k < offsets[u + 1]; k++) {
        assert.equal(b.wordIds[positions[k]], uniqueIds[u]);
        assert.equal(b.mask[positions[k]], 1);
        covered.add(positions[k]);
      }
    }
    assert.equal(covered.size, b.tokens);
  }
});

const key = (bs: Batch[]) => JSON.stringify(bs.map((b) => [...b.sentenceIds]));

Deno.test("batches are deterministic for a seed and change with it", () => {
  assert.equal(key(makeBatches(encoded, { seed: 4 })), key(makeBatches(encoded, { seed: 4 })));
  assert.notEqual(key(makeBatches(encoded, { seed: 4 })), key(makeBatches(encoded, { seed: 5 })));
  assert.equal(
    key(makeBatches(encoded, { shuffle: false })),
    key(makeBatches(encoded, { shuffle: false, seed: 9 })),
  );
});

Deno.test("bucketing cuts padding, and long and short batches alternate without shuffling", () => {
  const padding = (bs: Batch[]) => bs.reduce((n, b) => n + b.size * b.maxLength - b.tokens, 0);
  const bucketed = makeBatches(encoded, { batchSize: 16, seed: 2 });
  const plain = makeBatches(encoded, { batchSize: 16, seed: 2, bucket: false });
  assert.ok(padding(bucketed) * 3 < padding(plain), `${padding(bucketed)} vs ${padding(plain)}`);
  const fixed = makeBatches(encoded, { batchSize: 16, shuffle: false }).map((b) => b.maxLength);
  const sorted = [...fixed].sort((a, b) => b - a);
  assert.equal(fixed[0], sorted[0]);
  assert.equal(fixed[1], sorted[sorted.length - 1]);
  assert.ok(fixed[2] >= fixed[1] && fixed[2] >= fixed[3]);
});

Deno.test("rows inside a batch alternate longest, shortest, second longest, ...", () => {
  const [b] = makeBatches(encoded.slice(0, 6), { batchSize: 6, bucket: false, shuffle: false });
  const lens = [...b.lengths];
  const desc = [...lens].sort((x, y) => y - x);
  assert.deepEqual(lens, [desc[0], desc[5], desc[1], desc[4], desc[2], desc[3]]);
  assert.throws(() => makeBatches(encoded, { batchSize: 0 }), /positive integer batch size/);
});

Deno.test("without a character vocabulary, C is 1 and characters are padding", () => {
  const plain = encodeSentences(sentences.slice(0, 4), { words, tags });
  const [b] = makeBatches(plain, { batchSize: 4 });
  assert.equal(b.maxChars, 1);
  assert.ok(b.charIds.every((x) => x === 0));
});

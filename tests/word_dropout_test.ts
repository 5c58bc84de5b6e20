import assert from "node:assert/strict";
import { type Batch, encodeSentences, makeBatches } from "../src/data/batch.ts";
import { mulberry32 } from "../src/data/random.ts";
import type { Sentence } from "../src/data/sentence.ts";
import { buildCharVocabulary, buildTagVocabulary, buildWordVocabulary } from "../src/data/vocab.ts";
import { groupTokenIds } from "../src/ops/embedding.ts";
import { dropWords, singletonWords } from "../src/train/word_dropout.ts";

/** 200 sentences of unequal length over 50 frequent words, plus one rare word each. */
function batchOf(): { batch: Batch; singletons: Uint8Array } {
  const sentences: Sentence[] = [];
  const random = mulberry32(4);
  for (let i = 0; i < 200; i++) {
    const n = 3 + Math.floor(random() * 9);
    const tokens = Array.from({ length: n }, () => `w${Math.floor(random() * 50)}`);
    tokens.push(`rare${i}`);
    sentences.push({ tokens, tags: tokens.map(() => "O") });
  }
  const encoders = {
    words: buildWordVocabulary(sentences),
    chars: buildCharVocabulary(sentences),
    tags: buildTagVocabulary(["O"]),
  };
  const encoded = encodeSentences(sentences, encoders);
  const [batch] = makeBatches(encoded, { batchSize: 200, shuffle: false });
  return { batch, singletons: singletonWords(encoded.map((s) => s.words), encoders.words.size) };
}

Deno.test("word dropout replaces words at its rate, never padding, and regroups the ids", () => {
  const { batch, singletons } = batchOf();
  const real = [...batch.wordIds.keys()].filter((r) => batch.wordIds[r] > 1);
  const rare = real.filter((r) => singletons[batch.wordIds[r]] === 1);
  assert.equal(rare.length, 200, "one word seen once per sentence");
  for (const p of [0.1, 0.3]) {
    const fed = dropWords(batch, { wordDropout: p }, mulberry32(7));
    const replaced = real.filter((r) => fed.wordIds[r] === 1).length / real.length;
    // ≈ 1,500 words: the rate is within 4 standard deviations of p.
    const sd = Math.sqrt((p * (1 - p)) / real.length);
    assert.ok(Math.abs(replaced - p) < 4 * sd, `rate ${replaced} for p = ${p}`);
    for (let r = 0; r < batch.wordIds.length; r++) {
      if (batch.wordIds[r] === 0) assert.equal(fed.wordIds[r], 0, "padding changed");
      else assert.ok(fed.wordIds[r] === 1 || fed.wordIds[r] === batch.wordIds[r]);
    }
    assert.deepEqual(fed.wordGroups, groupTokenIds(fed.wordIds, batch.lengths, batch.maxLength));
    assert.deepEqual(batch.wordIds, batchOf().batch.wordIds, "the input batch was modified");
  }
  // Deterministic for a seed; nothing to do gives the same object back.
  const a = dropWords(batch, { wordDropout: 0.2 }, mulberry32(3));
  assert.deepEqual(a.wordIds, dropWords(batch, { wordDropout: 0.2 }, mulberry32(3)).wordIds);
  assert.equal(dropWords(batch, {}, mulberry32(3)), batch);
});

Deno.test("unkReplace replaces only words seen once, at its rate", () => {
  const { batch, singletons } = batchOf();
  const all = dropWords(batch, { unkReplace: 1, singletons }, mulberry32(1));
  for (let r = 0; r < batch.wordIds.length; r++) {
    const id = batch.wordIds[r];
    assert.equal(all.wordIds[r], singletons[id] ? 1 : id, `row ${r}`);
  }
  const half = dropWords(batch, { unkReplace: 0.5, singletons }, mulberry32(2));
  const replaced = [...half.wordIds].filter((id, r) => id === 1 && batch.wordIds[r] !== 1).length;
  assert.ok(replaced > 70 && replaced < 130, `${replaced} of 200 rare words replaced`);
});

Deno.test("singletonWords marks ids seen exactly once, never <pad> or <unk>", () => {
  const marks = singletonWords([Int32Array.of(0, 1, 1, 2, 3, 3), Int32Array.of(4, 0)], 6);
  assert.deepEqual([...marks], [0, 0, 1, 0, 1, 0]);
});

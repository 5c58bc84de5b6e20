import assert from "node:assert/strict";
import { CASING_CLASSES, casingId } from "../src/data/casing.ts";
import {
  buildCharVocabulary,
  buildTagVocabulary,
  buildWordVocabulary,
  countWords,
  Vocabulary,
} from "../src/data/vocab.ts";

const S = (s: string) => ({ tokens: s.split(" "), tags: s.split(" ").map(() => "O") });

Deno.test("buildWordVocabulary: <pad> 0, <unk> 1, most frequent first, min frequency", () => {
  const v = buildWordVocabulary([S("the cat saw the dog"), S("The cat")], { minFrequency: 2 });
  assert.deepEqual(v.items, ["<pad>", "<unk>", "the", "cat"]);
  assert.equal(v.id("dog"), 1);
  assert.equal(v.id("The"), 1);
  assert.equal(v.item(0), "<pad>");
  assert.throws(() => v.item(9), /Cannot look up id 9/);
});

Deno.test("lowercasing and digit normalisation change counts and lookups", () => {
  const sentences = [S("The the 1999 2001 THE")];
  const counts = countWords(sentences, { lowercase: true, normalizeDigits: true });
  assert.deepEqual([...counts], [["the", 3], ["0000", 2]]);
  const v = buildWordVocabulary(sentences, {
    lowercase: true,
    normalizeDigits: true,
    minFrequency: 2,
  });
  assert.deepEqual(v.items.slice(2), ["the", "0000"]);
  assert.equal(v.id("THE"), 2);
  assert.equal(v.id("1066"), 3);
});

Deno.test("maxSize caps the vocabulary and extra words are added", () => {
  const v = buildWordVocabulary([S("a a a b b c")], { maxSize: 2, extra: ["zebra", "a"] });
  assert.deepEqual(v.items.slice(2), ["a", "b", "zebra"]);
});

Deno.test("toJSON / fromJSON round-trip keeps ids and normalisation", () => {
  const v = buildWordVocabulary([S("Paris 2024 Paris")], {
    lowercase: true,
    normalizeDigits: true,
  });
  const w = Vocabulary.fromJSON(JSON.parse(JSON.stringify(v)));
  assert.deepEqual(w.items, v.items);
  assert.equal(w.id("PARIS"), v.id("paris"));
  assert.equal(w.id("1999"), v.id("2024"));
  assert.throws(() => Vocabulary.fromJSON({} as never), /expected an object with an items array/);
});

Deno.test("character and tag vocabularies", () => {
  const chars = buildCharVocabulary([S("aab ça")]);
  assert.deepEqual(chars.items, ["<pad>", "<unk>", "a", "b", "ç"]);
  assert.equal(chars.id("z"), 1);
  const tags = buildTagVocabulary(["O", "B-PER", "I-PER"]);
  assert.equal(tags.size, 3);
  assert.equal(tags.id("O"), 0);
  assert.throws(() => tags.id("B-LOC"), /expected one of the 3 known items/);
  assert.deepEqual(Vocabulary.fromJSON(tags.toJSON()).items, ["O", "B-PER", "I-PER"]);
  assert.throws(() => new Vocabulary(["a", "a"]), /found "a" twice/);
});

Deno.test("casing classes", () => {
  const cases: [string, string][] = [
    ["1999", "numeric"],
    ["3.14", "mostly_numeric"],
    ["hello", "all_lower"],
    ["état", "all_lower"],
    ["UN", "all_upper"],
    ["U.S.", "all_upper"],
    ["Paris", "initial_upper"],
    ["McDonald", "initial_upper"],
    ["F16-jet", "initial_upper"],
    ["mp3", "contains_digit"],
    [",", "other"],
    ["iPhone", "other"],
  ];
  for (const [token, name] of cases) assert.equal(CASING_CLASSES[casingId(token)], name, token);
  assert.equal(CASING_CLASSES[0], "pad");
  assert.equal(CASING_CLASSES.length, 8);
});

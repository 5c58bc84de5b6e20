/**
 * Checks the readers on the shared reference corpora. Their location comes
 * from WEBGPU_NER_DATA (default ../shared/data relative to the repository
 * root); a missing folder fails the test with a message, it is never skipped.
 */
import assert from "node:assert/strict";
import { readCorpus } from "../src/data/read_corpus.ts";
import { detectScheme } from "../src/data/schemes.ts";
import { collectTags, countTokens } from "../src/data/sentence.ts";

const root = new URL("..", import.meta.url);
const dataDir = Deno.env.get("WEBGPU_NER_DATA") ?? new URL("../shared/data", root).pathname;

async function dataFile(name: string): Promise<string> {
  const path = `${dataDir}/${name}`;
  try {
    await Deno.stat(path);
  } catch {
    throw new Error(
      `Cannot find the shared data file ${path}: set WEBGPU_NER_DATA to the folder holding conll2003/ and gmb/ (default ../shared/data from the repository root)`,
    );
  }
  return path;
}

Deno.test("CoNLL-2003 loads with 14,041 / 3,250 / 3,453 sentences", async () => {
  const expected = [
    ["train.txt", 14041, 203621],
    ["valid.txt", 3250, 51362],
    ["test.txt", 3453, 46435],
  ] as const;
  for (const [name, sentences, tokens] of expected) {
    const c = await readCorpus(await dataFile(`conll2003/${name}`));
    assert.equal(c.sentences.length, sentences, name);
    assert.equal(countTokens(c.sentences), tokens, name);
    assert.equal(collectTags(c.sentences).length, 9, name);
    assert.equal(detectScheme(c.sentences.map((s) => s.tags)), "IOB2");
  }
});

Deno.test("the GMB CSV loads as 47,959 sentences, 1,048,575 tokens, 17 tags", async () => {
  const c = await readCorpus(await dataFile("gmb/ner_dataset.csv"));
  assert.equal(c.sentences.length, 47959);
  assert.equal(countTokens(c.sentences), 1048575);
  assert.equal(collectTags(c.sentences).length, 17);
  assert.equal(c.warnings.length, 1);
  assert.match(c.warnings[0], /ner_dataset\.csv:1048569: the last sentence \(8 tokens\)/);
  // Windows-1252 decoding: no replacement characters, and the C1 bytes became real punctuation.
  const text = c.sentences.map((s) => s.tokens.join(" ")).join("\n");
  assert.ok(!text.includes("\ufffd"));
  assert.ok(!/[\u0080-\u009f]/.test(text));
});

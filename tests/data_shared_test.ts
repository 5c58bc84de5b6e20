/**
 * Checks the readers on the shared reference corpora, which the repository
 * cannot ship (CoNLL-2003 is Reuters-licensed). Their folder comes from
 * WEBGPU_NER_DATA, or else ../shared/data beside the repository (what
 * `.ci/run` uses when it is there). Without either, the tests are reported as
 * ignored with the reason in their name; a WEBGPU_NER_DATA that names a
 * missing folder fails them. The GMB counts are checked on the embedded copy
 * in every run (tests/data_embedded_test.ts).
 */
import assert from "node:assert/strict";
import { readCorpus } from "../src/data/read_corpus.ts";
import { detectScheme } from "../src/data/schemes.ts";
import { collectTags, countTokens } from "../src/data/sentence.ts";

const root = new URL("..", import.meta.url);
const configured = Deno.env.get("WEBGPU_NER_DATA");
const dataDir = configured ?? new URL("../shared/data", root).pathname;
const present = (() => {
  try {
    return Deno.statSync(dataDir).isDirectory;
  } catch {
    return false;
  }
})();
/** Run when the data is configured or present; ignored, saying why, when neither. */
const ignore = configured === undefined && !present;
const why = ignore
  ? ` (ignored: no shared data at ${dataDir}; set WEBGPU_NER_DATA to the folder holding conll2003/ and gmb/)`
  : "";

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

Deno.test(
  { name: `CoNLL-2003 loads with 14,041 / 3,250 / 3,453 sentences${why}`, ignore },
  async () => {
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
  },
);

Deno.test({
  name: `the GMB CSV loads as 47,959 sentences, 1,048,575 tokens, 17 tags${why}`,
  ignore,
}, async () => {
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

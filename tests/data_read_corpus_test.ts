import assert from "node:assert/strict";
import { formatFromPath, parseCorpus, readCorpus } from "../src/data/read_corpus.ts";
import { withTempDir } from "./fixtures.ts";

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return await new Response(stream).bytes();
}

Deno.test("formatFromPath maps extensions and refuses unknown ones", () => {
  assert.equal(formatFromPath("a/b.txt"), "conll");
  assert.equal(formatFromPath("B.CONLL"), "conll");
  assert.equal(formatFromPath("x.csv"), "csv");
  assert.equal(formatFromPath("x.jsonl.gz"), "jsonl");
  assert.throws(() => formatFromPath("x.tsv"), /Cannot tell the format of x\.tsv/);
});

Deno.test("readCorpus picks the reader by extension, or by an explicit format", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.conll`, "Mira B-PER\n");
    await Deno.writeTextFile(
      `${dir}/a.csv`,
      "Sentence #,Word,POS,Tag\nSentence: 1,Mira,NNP,B-per\n,.,.,O\n",
    );
    await Deno.writeTextFile(`${dir}/a.jsonl`, '{"tokens": ["Mira"], "tags": ["B-PER"]}\n');
    await Deno.writeTextFile(`${dir}/a.data`, "Mira B-PER\n");
    await Deno.writeFile(`${dir}/b.txt.gz`, await gzip("Mira B-PER\nran O\n"));
    assert.equal((await readCorpus(`${dir}/a.conll`)).format, "conll");
    assert.equal((await readCorpus(`${dir}/a.csv`)).format, "csv");
    assert.equal((await readCorpus(`${dir}/a.jsonl`)).format, "jsonl");
    assert.deepEqual((await readCorpus(`${dir}/b.txt.gz`)).sentences[0].tokens, ["Mira", "ran"]);
    await assert.rejects(() => readCorpus(`${dir}/a.data`), /expected an extension/);
    const c = await readCorpus(`${dir}/a.data`, { format: "conll" });
    assert.deepEqual(c.sentences[0], { tokens: ["Mira"], tags: ["B-PER"] });
    // An explicit format wins over the extension.
    await assert.rejects(
      () => readCorpus(`${dir}/a.conll`, { format: "jsonl" }),
      /a\.conll:1: expected a JSON object/,
    );
  });
});

Deno.test("parseCorpus passes per-format options through", async () => {
  const c = await parseCorpus("1 Mira B-PER\n", { format: "conll", conll: { tokenColumn: 1 } });
  assert.deepEqual(c.sentences[0].tokens, ["Mira"]);
});

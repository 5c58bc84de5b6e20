import assert from "node:assert/strict";
import { parseGmbCsv, readGmbCsv } from "../src/data/csv.ts";
import { assertThrowsAt, withTempDir } from "./fixtures.ts";

/** Encodes text as Windows-1252 for the few characters the tests use. */
function cp1252(text: string): Uint8Array {
  const special: Record<string, number> = { "é": 0xe9, "“": 0x93, "”": 0x94, "€": 0x80, "ü": 0xfc };
  return Uint8Array.from(text, (ch) => special[ch] ?? ch.charCodeAt(0));
}

const HEADER = "Sentence #,Word,POS,Tag\r\n";

/** Asserts that `fn` throws a DataFormatError for g.csv:`line` matching `pattern`. */
function throwsAt(fn: () => unknown, line: number, pattern: RegExp) {
  assertThrowsAt(fn, "g.csv", line, pattern);
}

Deno.test("parseGmbCsv decodes Windows-1252, CRLF, quotes and sentence ids on first rows", () => {
  const text = HEADER +
    'Sentence: 1,Zoë,NNP,B-per\r\n,paid,VBD,O\r\n,"10,000",CD,O\r\n,€,NN,O\r\n,"""",``,O\r\n,.,.,O\r\n' +
    "Sentence: 2,José,NNP,B-per\r\n,“,``,O\r\n,Müller,NNP,B-org\r\n,”,'',O\r\n,!,.,O\r\n";
  const c = parseGmbCsv(cp1252(text.replace("ë", "e")), { path: "g.csv" });
  assert.deepEqual(c.ids, ["Sentence: 1", "Sentence: 2"]);
  assert.deepEqual(c.sentences[0].tokens, ["Zoe", "paid", "10,000", "€", '"', "."]);
  assert.deepEqual(c.sentences[1].tokens, ["José", "“", "Müller", "”", "!"]);
  assert.deepEqual(c.sentences[1].tags, ["B-per", "O", "B-org", "O", "O"]);
  assert.deepEqual(c.warnings, []);
});

Deno.test("parseGmbCsv keeps or drops a truncated last sentence and says so", () => {
  const text = HEADER +
    "Sentence: 1,Hi,UH,O\r\n,.,.,O\r\nSentence: 2,Kenyan,JJ,B-gpe\r\n,forces,NNS,O\r\n";
  const kept = parseGmbCsv(text, { path: "g.csv" });
  assert.equal(kept.sentences.length, 2);
  assert.match(
    kept.warnings[0],
    /^g\.csv:4: the last sentence \(2 tokens\).*looks truncated; kept it/,
  );
  const dropped = parseGmbCsv(text, { path: "g.csv", truncated: "drop" });
  assert.equal(dropped.sentences.length, 1);
  assert.deepEqual(dropped.ids, ["Sentence: 1"]);
  assert.match(dropped.warnings[0], /looks truncated; dropped it/);
});

Deno.test("parseGmbCsv reads UTF-8 when asked or when a BOM says so", () => {
  const bytes = new TextEncoder().encode(
    "\ufeffSentence #,Word,POS,Tag\nSentence: 1,Zoë,NNP,B-per\n,.,.,O\n",
  );
  assert.equal(parseGmbCsv(bytes).sentences[0].tokens[0], "Zoë");
  const plain = new TextEncoder().encode(
    "Sentence #,Word,POS,Tag\nSentence: 1,Zoë,NNP,B-per\n,.,.,O\n",
  );
  assert.equal(parseGmbCsv(plain, { encoding: "utf-8" }).sentences[0].tokens[0], "Zoë");
  throwsAt(
    () =>
      parseGmbCsv(cp1252(HEADER + "Sentence: 1,José,NNP,O\r\n"), {
        path: "g.csv",
        encoding: "utf-8",
      }),
    2,
    /expected UTF-8 text/,
  );
});

Deno.test("parseGmbCsv reports a wrong field count", () => {
  throwsAt(
    () => parseGmbCsv(HEADER + "Sentence: 1,a,DT,O\r\n,b,NN\r\n", { path: "g.csv" }),
    3,
    /expected 4 fields as in the header, found 3/,
  );
  throwsAt(
    () => parseGmbCsv(HEADER + "Sentence: 1,a,DT,O\r\n,10,000,CD,O\r\n", { path: "g.csv" }),
    3,
    /found 5/,
  );
});

Deno.test("parseGmbCsv reports rows before the first sentence id, empty words and bad tags", () => {
  throwsAt(
    () => parseGmbCsv(HEADER + ",a,DT,O\r\n", { path: "g.csv" }),
    2,
    /expected a sentence id/,
  );
  throwsAt(
    () => parseGmbCsv(HEADER + "Sentence: 1,a,DT,O\r\n,,NN,O\r\n", { path: "g.csv" }),
    3,
    /expected a word/,
  );
  throwsAt(
    () => parseGmbCsv(HEADER + "Sentence: 1,a,DT,O\r\n,b,NN,geo\r\n", { path: "g.csv" }),
    3,
    /"geo" that fits no tag scheme/,
  );
  throwsAt(
    () => parseGmbCsv(HEADER + "Sentence: 1,a,DT,I-\r\n", { path: "g.csv" }),
    2,
    /malformed type/,
  );
});

Deno.test("parseGmbCsv reports a bad header, an empty line and an unterminated quote", () => {
  throwsAt(() => parseGmbCsv("id,token,tag\r\n", { path: "g.csv" }), 1, /expected a header/);
  throwsAt(
    () => parseGmbCsv(HEADER + "Sentence: 1,a,DT,O\r\n\r\n,b,NN,O\r\n", { path: "g.csv" }),
    3,
    /empty line/,
  );
  throwsAt(
    () => parseGmbCsv(HEADER + 'Sentence: 1,"a,DT,O\r\n', { path: "g.csv" }),
    2,
    /closing quote/,
  );
});

Deno.test("readGmbCsv reads bytes from a file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/g.csv`;
    await Deno.writeFile(path, cp1252(HEADER + "Sentence: 1,Café,NN,O\r\n,.,.,O\r\n"));
    const c = await readGmbCsv(path);
    assert.equal(c.sentences[0].tokens[0], "Café");
    assert.equal(c.path, path);
  });
});

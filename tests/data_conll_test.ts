import assert from "node:assert/strict";
import { parseConll, readConll } from "../src/data/conll.ts";
import { DataFormatError } from "../src/data/errors.ts";
import { assertThrowsAt, withTempDir } from "./fixtures.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Asserts that `fn` throws a DataFormatError for t.txt:`line` matching `pattern`. */
function throwsAt(fn: () => unknown, line: number, pattern: RegExp) {
  assertThrowsAt(fn, "t.txt", line, pattern);
}

Deno.test("parseConll reads space-separated columns, -DOCSTART- and blank lines", () => {
  const text =
    "-DOCSTART- -X- -X- O\n\nMira NNP B-NP B-PER\nKoss NNP I-NP I-PER\nwaved VBD B-VP O\n\n" +
    "Oslo NNP B-NP B-LOC\n\n\n-DOCSTART- -X- -X- O\n\nHi UH B-INTJ O\n";
  const c = parseConll(text, { path: "t.txt" });
  assert.deepEqual(c.sentences, [
    { tokens: ["Mira", "Koss", "waved"], tags: ["B-PER", "I-PER", "O"] },
    { tokens: ["Oslo"], tags: ["B-LOC"] },
    { tokens: ["Hi"], tags: ["O"] },
  ]);
  assert.equal(c.format, "conll");
  assert.match(c.warnings[0], /skipped 2 -DOCSTART- lines/);
});

Deno.test("parseConll accepts tabs, CRLF, a BOM and a file without a final newline", () => {
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...enc("Zé\tB-PER\r\nran\tO\r\n\r\nok\tO")]);
  const c = parseConll(bytes);
  assert.deepEqual(c.sentences, [
    { tokens: ["Zé", "ran"], tags: ["B-PER", "O"] },
    { tokens: ["ok"], tags: ["O"] },
  ]);
});

Deno.test("parseConll picks token and tag columns, counting negative columns from the end", () => {
  const text = "1 Mira B-PER x\n2 ran O x\n";
  const c = parseConll(text, { tokenColumn: 1, tagColumn: -2 });
  assert.deepEqual(c.sentences[0], { tokens: ["Mira", "ran"], tags: ["B-PER", "O"] });
  throwsAt(() => parseConll(text, { path: "t.txt", tagColumn: 7 }), 1, /tag column 7/);
});

Deno.test("parseConll with delimiter tab keeps spaces inside tokens", () => {
  const c = parseConll("New York\tB-LOC\n", { delimiter: "tab" });
  assert.deepEqual(c.sentences[0].tokens, ["New York"]);
});

Deno.test("parseConll reports a wrong column count with file:line", () => {
  throwsAt(
    () => parseConll("a NN O\nb NN O\n\nc O\n", { path: "t.txt" }),
    4,
    /expected 3 columns as on the first token line, found 2/,
  );
});

Deno.test("parseConll reports an empty token", () => {
  throwsAt(
    () => parseConll("a\tO\n\tO\n", { path: "t.txt", delimiter: "tab" }),
    2,
    /expected a token/,
  );
  throwsAt(() => parseConll("a O\n O\n", { path: "t.txt" }), 2, /expected a token/);
});

Deno.test("parseConll reports a tag that fits no scheme and an I- tag with a malformed type", () => {
  throwsAt(() => parseConll("a O\nb PER\n", { path: "t.txt" }), 2, /"PER" that fits no tag scheme/);
  throwsAt(() => parseConll("a O\nb X-PER\n", { path: "t.txt" }), 2, /fits no tag scheme/);
  throwsAt(() => parseConll("a O\n\nb I-\n", { path: "t.txt" }), 3, /"I-" with a malformed type/);
  throwsAt(() => parseConll("a I--PER\n", { path: "t.txt" }), 1, /malformed type/);
  // checkTags: false lets any tag through.
  assert.equal(parseConll("b PER\n", { checkTags: false }).sentences[0].tags[0], "PER");
});

Deno.test("parseConll reports non-UTF-8 bytes with their line", () => {
  const bytes = new Uint8Array([...enc("a O\nb O\n"), 0x63, 0xe9, 0x20, ...enc("O\n")]);
  throwsAt(
    () => parseConll(bytes, { path: "t.txt" }),
    3,
    /expected UTF-8 text, found invalid bytes e9/,
  );
});

Deno.test("readConll reads a file and names it in errors", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/train.txt`;
    await Deno.writeTextFile(path, "a O\nb B-PER\n\nc O\nd\n");
    await assert.rejects(() => readConll(path), (e: unknown) => {
      assert.ok(e instanceof DataFormatError);
      assert.equal(e.message, `${path}:5: expected 2 columns as on the first token line, found 1`);
      return true;
    });
    await Deno.writeTextFile(path, "a O\nb B-PER\n");
    assert.equal((await readConll(path)).path, path);
  });
});

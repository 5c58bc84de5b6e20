import assert from "node:assert/strict";
import {
  embeddingCoverage,
  embeddingMatrix,
  formatCoverage,
  parseEmbeddings,
  readEmbeddings,
} from "../src/data/embeddings.ts";
import { assertThrowsAt, withTempDir } from "./fixtures.ts";
import { Vocabulary } from "../src/data/vocab.ts";

/** Asserts that `fn` throws a DataFormatError for v.txt:`line` matching `pattern`. */
function throwsAt(fn: () => unknown, line: number, pattern: RegExp) {
  assertThrowsAt(fn, "v.txt", line, pattern);
}

Deno.test("parseEmbeddings reads GloVe rows and word2vec headers", () => {
  const glove = parseEmbeddings("the 0.5 -1\r\ncat 2 3e-1\n");
  assert.equal(glove.dim, 2);
  assert.deepEqual(glove.words, ["the", "cat"]);
  assert.deepEqual([...glove.vectors], [0.5, -1, 2, Math.fround(0.3)]);
  const w2v = parseEmbeddings("2 3\nthe 1 2 3\ncat 4 5 6\n");
  assert.equal(w2v.dim, 3);
  assert.deepEqual([...w2v.vectors], [1, 2, 3, 4, 5, 6]);
});

Deno.test("parseEmbeddings keeps the first of repeated words, words with spaces, and filters", () => {
  const e = parseEmbeddings("a 1 1\na 2 2\n. . . 3 3\nb 4 4\n", { keep: (w) => w !== "b" });
  assert.deepEqual(e.words, ["a", ". . ."]);
  assert.deepEqual([...e.vectors], [1, 1, 3, 3]);
  assert.equal(e.warnings.length, 2);
});

Deno.test("parseEmbeddings rejects size mismatches, short rows, NaN and non-numbers with file:line", () => {
  throwsAt(
    () => parseEmbeddings("a 1 2\nb 1 2\n", { path: "v.txt", dim: 3 }),
    1,
    /a short row of 2 numbers/,
  );
  throwsAt(
    () => parseEmbeddings("2 3\na 1 2 3\n", { path: "v.txt", dim: 2 }),
    1,
    /header declaring size 3/,
  );
  throwsAt(
    () => parseEmbeddings("a 1 2 3\nb 1 2\n", { path: "v.txt" }),
    2,
    /expected a word and 3 numbers, found a short row of 2/,
  );
  throwsAt(
    () => parseEmbeddings("a 1 2\nb 1 NaN\n", { path: "v.txt" }),
    2,
    /position 2 of the vector of "b", found "NaN"/,
  );
  throwsAt(
    () => parseEmbeddings("a 1 2\n\nb Infinity 1\n", { path: "v.txt" }),
    3,
    /found "Infinity"/,
  );
  throwsAt(() => parseEmbeddings("a 1 2\nb 1 x\n", { path: "v.txt" }), 2, /found "x"/);
  throwsAt(() => parseEmbeddings("", { path: "v.txt" }), 1, /empty file/);
});

Deno.test("readEmbeddings streams plain and gzip files and reports bad bytes", async () => {
  await withTempDir(async (dir) => {
    const text = "the 1 2\ncat 3 4\nParis 5 6\n";
    await Deno.writeTextFile(`${dir}/v.txt`, text);
    const gz = await new Response(
      new Blob([text]).stream().pipeThrough(new CompressionStream("gzip")),
    ).bytes();
    await Deno.writeFile(`${dir}/v.txt.gz`, gz);
    const a = await readEmbeddings(`${dir}/v.txt`);
    const b = await readEmbeddings(`${dir}/v.txt.gz`);
    assert.deepEqual(a.words, ["the", "cat", "Paris"]);
    assert.deepEqual(b.words, a.words);
    assert.deepEqual([...b.vectors], [1, 2, 3, 4, 5, 6]);
    await Deno.writeTextFile(`${dir}/short.txt`, "the 1 2\ncat 3\n");
    await assert.rejects(
      () => readEmbeddings(`${dir}/short.txt`),
      new RegExp(`short\\.txt:2: .*short row`),
    );
    await Deno.writeFile(
      `${dir}/bad.txt`,
      new Uint8Array([0x61, 0x20, 0x31, 0x0a, 0xff, 0x20, 0x32, 0x0a]),
    );
    await assert.rejects(() => readEmbeddings(`${dir}/bad.txt`), /bad\.txt:2: expected UTF-8 text/);
  });
});

Deno.test("coverage counts exact, lowercase and missing matches and prints them", () => {
  const e = parseEmbeddings("the 1\nparis 2\nNATO 3\n");
  const vocab = new Vocabulary(["the", "Paris", "NATO", "nato", "Zorg", "Quux"]);
  const c = embeddingCoverage(vocab, e);
  assert.deepEqual(
    { total: c.total, exact: c.exact, lowercase: c.lowercase, missing: c.missing },
    { total: 6, exact: 2, lowercase: 1, missing: 3 },
  );
  assert.deepEqual(c.missingExamples, ["nato", "Zorg", "Quux"]);
  const text = formatCoverage(c);
  assert.match(text, /cover 3 of 6 words/);
  assert.match(text, /lowercase\s+1\s+16\.67%/);
  assert.match(text, /missing\s+3\s+50\.00%/);
});

Deno.test("embeddingMatrix copies vectors, zeroes <pad>, and seeds the rest", () => {
  const e = parseEmbeddings("the 1 2\nparis 3 4\n");
  const vocab = new Vocabulary(["the", "Paris", "zorg"]);
  const m = embeddingMatrix(vocab, e, { seed: 5 });
  assert.equal(m.length, 5 * 2);
  assert.deepEqual([...m.subarray(0, 2)], [0, 0]);
  assert.deepEqual([...m.subarray(4, 6)], [1, 2]);
  assert.deepEqual([...m.subarray(6, 8)], [3, 4]);
  const scale = Math.sqrt(3 / 2);
  for (const v of [...m.subarray(2, 4), ...m.subarray(8, 10)]) {
    assert.ok(Math.abs(v) <= scale && v !== 0);
  }
  assert.deepEqual(embeddingMatrix(vocab, e, { seed: 5 }), m);
  assert.notDeepEqual(embeddingMatrix(vocab, e, { seed: 6 }), m);
});

Deno.test("a word2vec header that disagrees with the rows is named: its size an error, its count a warning", async () => {
  throwsAt(
    () => parseEmbeddings("2 3\nthe 1 2 3 4\n", { path: "v.txt" }),
    2,
    /expected a word and 3 numbers as the header on line 1 declares, found 4 fields/,
  );
  const short = parseEmbeddings("5 2\nthe 1 2\ncat 3 4\n", { path: "v.txt" });
  assert.deepEqual(short.words, ["the", "cat"]);
  assert.deepEqual(short.warnings, [
    "v.txt: the header on line 1 declares 5 vectors, found 2 rows (is the file truncated?)",
  ]);
  assert.deepEqual(parseEmbeddings("2 2\nthe 1 2\ncat 3 4\n").warnings, []);
  // Without a header a row may hold a word with spaces (GloVe 840B).
  assert.deepEqual(parseEmbeddings("a 1 1\n. . 3 3\n").words, ["a", ". ."]);

  const file = await Deno.makeTempFile({ suffix: ".txt.gz" });
  try {
    await Deno.writeFile(file, new Uint8Array([0x1f, 0x8b, 8, 0, 9, 9, 9, 9, 9, 9, 9, 9]));
    await assert.rejects(
      readEmbeddings(file),
      (e: Error) => e.message.startsWith(`Cannot read ${file}: not a valid gzip file`),
    );
  } finally {
    await Deno.remove(file);
  }
});

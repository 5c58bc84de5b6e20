import assert from "node:assert/strict";
import { assertThrowsAt, withTempDir } from "./fixtures.ts";
import { parseJsonl, readJsonl } from "../src/data/jsonl.ts";

/** Asserts that `fn` throws a DataFormatError for d.jsonl:`line` matching `pattern`. */
function throwsAt(fn: () => unknown, line: number, pattern: RegExp) {
  assertThrowsAt(fn, "d.jsonl", line, pattern);
}

Deno.test("parseJsonl reads one sentence per line, CRLF, blank lines and extra fields", () => {
  const text = '{"tokens": ["Mira", "ran"], "tags": ["B-PER", "O"], "id": 7}\r\n\r\n' +
    '{"tokens": ["Oslo"], "tags": ["S-LOC"]}';
  const c = parseJsonl(text, { path: "d.jsonl" });
  assert.deepEqual(c.sentences, [
    { tokens: ["Mira", "ran"], tags: ["B-PER", "O"] },
    { tokens: ["Oslo"], tags: ["S-LOC"] },
  ]);
  assert.deepEqual(c.warnings, ["d.jsonl: skipped 1 blank lines"]);
});

Deno.test("parseJsonl reports every kind of bad line with file:line", () => {
  const ok = '{"tokens": ["a"], "tags": ["O"]}\n';
  throwsAt(() => parseJsonl(ok + "{tokens: 1}\n", { path: "d.jsonl" }), 2, /invalid JSON/);
  throwsAt(() => parseJsonl(ok + "[1, 2]\n", { path: "d.jsonl" }), 2, /found an array/);
  throwsAt(
    () => parseJsonl(ok + '{"tokens": ["a"]}\n', { path: "d.jsonl" }),
    2,
    /"tags" to be an array of strings, found nothing/,
  );
  throwsAt(
    () => parseJsonl('{"tokens": ["a", 3], "tags": ["O", "O"]}', { path: "d.jsonl" }),
    1,
    /"tokens" to be an array of strings/,
  );
  throwsAt(
    () => parseJsonl(ok + ok + '{"tokens": ["a", "b"], "tags": ["O"]}\n', { path: "d.jsonl" }),
    3,
    /found 2 tokens and 1 tags/,
  );
  throwsAt(
    () => parseJsonl('{"tokens": ["a", " "], "tags": ["O", "O"]}', { path: "d.jsonl" }),
    1,
    /empty string/,
  );
  throwsAt(
    () => parseJsonl('{"tokens": [], "tags": []}', { path: "d.jsonl" }),
    1,
    /empty sentence/,
  );
  throwsAt(
    () => parseJsonl('{"tokens": ["a"], "tags": ["PER"]}', { path: "d.jsonl" }),
    1,
    /fits no tag scheme/,
  );
  throwsAt(
    () => parseJsonl('{"tokens": ["a"], "tags": ["I-P R"]}', { path: "d.jsonl" }),
    1,
    /malformed type/,
  );
  const bad = new Uint8Array([...new TextEncoder().encode(ok), 0x7b, 0xc0, 0xaf, 0x7d, 0x0a]);
  throwsAt(
    () => parseJsonl(bad, { path: "d.jsonl" }),
    2,
    /expected UTF-8 text, found invalid bytes c0/,
  );
});

Deno.test("readJsonl reads a file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/d.jsonl`;
    await Deno.writeTextFile(path, '{"tokens": ["a"], "tags": ["O"]}\n');
    assert.equal((await readJsonl(path)).sentences.length, 1);
  });
});

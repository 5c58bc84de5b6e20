/**
 * JSON Lines corpora: one `{"tokens": [...], "tags": [...]}` object per line.
 *
 * @module
 */

import { DataFormatError } from "./errors.ts";
import { checkTag } from "./schemes.ts";
import type { Corpus, Sentence } from "./sentence.ts";
import { decodeUtf8, splitLines } from "./text.ts";

/** Options for {@linkcode parseJsonl} and {@linkcode readJsonl}. */
export interface JsonlOptions {
  /** The name used in error messages. Default `"<input>"`. */
  path?: string;
  /** Check every tag against the schemes. Default true. */
  checkTags?: boolean;
}

/**
 * Parses JSON Lines text: one object with `tokens` and `tags` string arrays of
 * equal length per line; blank lines are skipped; other fields are ignored.
 *
 * @param input The text, or its UTF-8 bytes (decoded strictly).
 * @param options The name for error messages.
 * @returns The corpus.
 * @throws {DataFormatError} On invalid UTF-8 or JSON, missing or mistyped fields,
 *   unequal lengths, an empty token or a bad tag.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const corpus = parseJsonl('{"tokens": ["Ada", "sang"], "tags": ["B-PER", "O"]}\n');
 * assert.deepEqual(corpus.sentences[0].tags, ["B-PER", "O"]);
 * ```
 */
export function parseJsonl(input: string | Uint8Array, options: JsonlOptions = {}): Corpus {
  const path = options.path ?? "<input>";
  const checkTags = options.checkTags ?? true;
  const lines = splitLines(decodeUtf8(input, { path }));
  const sentences: Sentence[] = [];
  let blank = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") {
      blank++;
      continue;
    }
    const fail = (what: string): never => {
      throw new DataFormatError(path, i + 1, what);
    };
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      fail(`expected a JSON object, found invalid JSON (${(e as Error).message})`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      fail(`expected a JSON object with "tokens" and "tags", found ${describe(value)}`);
    }
    const { tokens, tags } = value as { tokens?: unknown; tags?: unknown };
    for (const [name, v] of [["tokens", tokens], ["tags", tags]] as const) {
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
        fail(`expected "${name}" to be an array of strings, found ${describe(v)}`);
      }
    }
    const tk = tokens as string[];
    const tg = tags as string[];
    if (tk.length !== tg.length) {
      fail(`expected as many tags as tokens, found ${tk.length} tokens and ${tg.length} tags`);
    }
    if (tk.length === 0) fail("expected at least one token, found an empty sentence");
    tk.forEach((t, k) => {
      if (t.trim() === "") fail(`expected a token at position ${k}, found an empty string`);
    });
    if (checkTags) {
      for (const t of tg) {
        const bad = checkTag(t);
        if (bad) fail(bad);
      }
    }
    sentences.push({ tokens: tk, tags: tg });
  }
  const warnings = blank > 0 ? [`${path}: skipped ${blank} blank lines`] : [];
  return { path, format: "jsonl", sentences, warnings };
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `${typeof v} ${JSON.stringify(v).slice(0, 40)}`;
}

/**
 * Reads a JSON Lines corpus file (Deno only; use {@linkcode parseJsonl} in a browser).
 *
 * @param path The file.
 * @param options As for {@linkcode parseJsonl}; `path` defaults to the file.
 * @returns The corpus.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const file = await Deno.makeTempFile({ suffix: ".jsonl" });
 * await Deno.writeTextFile(file, '{"tokens": ["Hi"], "tags": ["O"]}\n');
 * assert.equal((await readJsonl(file)).sentences.length, 1);
 * await Deno.remove(file);
 * ```
 */
export async function readJsonl(path: string, options: JsonlOptions = {}): Promise<Corpus> {
  return parseJsonl(await Deno.readFile(path), { path, ...options });
}

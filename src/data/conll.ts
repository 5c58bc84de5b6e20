/**
 * The CoNLL column format: one token per line, columns separated by spaces or
 * tabs, a blank line between sentences, `-DOCSTART-` lines between documents.
 *
 * @module
 */

import { DataFormatError } from "./errors.ts";
import { checkTag } from "./schemes.ts";
import type { Corpus, Sentence } from "./sentence.ts";
import { decodeUtf8, splitLines } from "./text.ts";

/** Options for {@linkcode parseConll} and {@linkcode readConll}. */
export interface ConllOptions {
  /** The name used in error messages. Default `"<input>"` (the path for {@linkcode readConll}). */
  path?: string;
  /** Column of the token, 0-based; negative counts from the end. Default 0 (the first). */
  tokenColumn?: number;
  /** Column of the tag, 0-based; negative counts from the end. Default -1 (the last). */
  tagColumn?: number;
  /**
   * What separates columns: `"whitespace"` (runs of spaces or tabs, the
   * default), `"space"` (one space) or `"tab"` (one tab; tokens may hold spaces).
   */
  delimiter?: "whitespace" | "space" | "tab";
  /** Check every tag against the schemes (see `checkTag`). Default true. */
  checkTags?: boolean;
}

/**
 * Parses CoNLL column text. Accepts CRLF line ends and a UTF-8 byte-order
 * mark; `-DOCSTART-` lines end the current sentence and are not tokens. Every
 * token line must have as many columns as the first one.
 *
 * @param input The text, or its UTF-8 bytes (decoded strictly).
 * @param options Columns, delimiter and the name for error messages.
 * @returns The corpus; its warnings count the documents.
 * @throws {DataFormatError} On invalid UTF-8, a wrong column count, an empty token or a bad tag.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "-DOCSTART- -X- O\n\nAda NNP B-PER\nsang VBD O\n\nHi UH O\n";
 * const corpus = parseConll(text);
 * assert.equal(corpus.sentences.length, 2);
 * assert.deepEqual(corpus.sentences[0], { tokens: ["Ada", "sang"], tags: ["B-PER", "O"] });
 * ```
 */
export function parseConll(input: string | Uint8Array, options: ConllOptions = {}): Corpus {
  const path = options.path ?? "<input>";
  const text = decodeUtf8(input, { path });
  const delimiter = options.delimiter ?? "whitespace";
  const splitter = delimiter === "tab" ? "\t" : delimiter === "space" ? " " : /[ \t]+/;
  const checkTags = options.checkTags ?? true;
  const goodTags = new Set<string>();
  const lines = splitLines(text);
  const sentences: Sentence[] = [];
  let tokens: string[] = [];
  let tags: string[] = [];
  let columns = -1;
  let tokenCol = 0;
  let tagCol = 0;
  let documents = 0;
  const flush = () => {
    if (tokens.length > 0) sentences.push({ tokens, tags });
    tokens = [];
    tags = [];
  };
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (delimiter === "whitespace") line = line.trimEnd();
    if (line.trim() === "") {
      flush();
      continue;
    }
    const fields = line.split(splitter);
    if (fields[0] === "-DOCSTART-") {
      flush();
      documents++;
      continue;
    }
    if (columns < 0) {
      columns = fields.length;
      tokenCol = resolveColumn(options.tokenColumn ?? 0, columns, "token", path, i + 1);
      tagCol = resolveColumn(options.tagColumn ?? -1, columns, "tag", path, i + 1);
      if (tokenCol === tagCol) {
        throw new DataFormatError(
          path,
          i + 1,
          `expected different token and tag columns, found both at column ${tokenCol + 1}`,
        );
      }
    } else if (fields.length !== columns) {
      throw new DataFormatError(
        path,
        i + 1,
        `expected ${columns} columns as on the first token line, found ${fields.length}`,
      );
    }
    const token = fields[tokenCol];
    const tag = fields[tagCol];
    if (token === "" || token.trim() === "") {
      throw new DataFormatError(
        path,
        i + 1,
        `expected a token in column ${tokenCol + 1}, found an empty field`,
      );
    }
    if (checkTags && !goodTags.has(tag)) {
      const bad = checkTag(tag);
      if (bad) throw new DataFormatError(path, i + 1, bad);
      goodTags.add(tag);
    }
    tokens.push(token);
    tags.push(tag);
  }
  flush();
  const warnings: string[] = [];
  if (documents > 0) warnings.push(`${path}: skipped ${documents} -DOCSTART- lines`);
  return { path, format: "conll", sentences, warnings };
}

function resolveColumn(
  column: number,
  columns: number,
  what: string,
  path: string,
  line: number,
): number {
  const c = column < 0 ? columns + column : column;
  if (!Number.isInteger(c) || c < 0 || c >= columns) {
    throw new DataFormatError(
      path,
      line,
      `expected a ${what} column ${column} within the ${columns} columns, found none`,
    );
  }
  return c;
}

/**
 * Reads a CoNLL column file (Deno only; use {@linkcode parseConll} in a browser).
 *
 * @param path The file.
 * @param options As for {@linkcode parseConll}; `path` defaults to the file.
 * @returns The corpus.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const file = await Deno.makeTempFile({ suffix: ".txt" });
 * await Deno.writeTextFile(file, "Ada B-PER\nsang O\n");
 * assert.equal((await readConll(file)).sentences.length, 1);
 * await Deno.remove(file);
 * ```
 */
export async function readConll(path: string, options: ConllOptions = {}): Promise<Corpus> {
  return parseConll(await Deno.readFile(path), { path, ...options });
}

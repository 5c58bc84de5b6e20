/**
 * The GMB/Kaggle NER CSV format (`Sentence #,Word,POS,Tag`): one token per
 * row, the sentence id only on a sentence's first row, Windows-1252 text,
 * CRLF line ends, RFC 4180 quoting (`""""` is one `"`).
 *
 * @module
 */

import { DataFormatError } from "./errors.ts";
import { checkTag } from "./schemes.ts";
import type { Corpus, Sentence } from "./sentence.ts";
import { decodeUtf8 } from "./text.ts";

/** Options for {@linkcode parseGmbCsv} and {@linkcode readGmbCsv}. */
export interface GmbCsvOptions {
  /** The name used in error messages. Default `"<input>"`. */
  path?: string;
  /** How bytes are decoded. Default `"windows-1252"` (what the Kaggle file uses). */
  encoding?: "windows-1252" | "utf-8";
  /**
   * What to do with a last sentence that looks cut short (its last token is
   * not `.`, `!`, `?` or a closing quote or bracket): `"keep"` (default) or
   * `"drop"`. Either way a warning says so.
   */
  truncated?: "keep" | "drop";
  /** Check every tag against the schemes. Default true. */
  checkTags?: boolean;
}

/** What {@linkcode parseGmbCsv} returns: a corpus plus the sentence ids. */
export interface GmbCorpus extends Corpus {
  /** The sentence id of each sentence (`"Sentence: 1"`), parallel to `sentences`. */
  ids: string[];
}

const FINAL = new Set([".", "!", "?", '"', "'", ")", "]", "''", "”", "’"]);

/**
 * Parses GMB/Kaggle NER CSV text or bytes.
 *
 * @param input The bytes (decoded as `options.encoding`; a UTF-8 BOM forces
 *   UTF-8) or already-decoded text.
 * @param options Encoding, truncated-sentence policy and the name for errors.
 * @returns The sentences, their ids, and warnings.
 * @throws {DataFormatError} On a bad header, a wrong field count, a row before the
 *   first sentence id, an empty token, a bad tag or an unterminated quote.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = 'Sentence #,Word,POS,Tag\r\nSentence: 1,Paris,NNP,B-geo\r\n,",",",",O\r\n,.,.,O\r\n';
 * const corpus = parseGmbCsv(text);
 * assert.deepEqual(corpus.sentences[0].tokens, ["Paris", ",", "."]);
 * assert.deepEqual(corpus.ids, ["Sentence: 1"]);
 * ```
 */
export function parseGmbCsv(input: string | Uint8Array, options: GmbCsvOptions = {}): GmbCorpus {
  const path = options.path ?? "<input>";
  const checkTags = options.checkTags ?? true;
  const goodTags = new Set<string>();
  const lines = csvText(input, options.encoding ?? "windows-1252", path).split(/\r\n|\n|\r/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) {
    throw new DataFormatError(
      path,
      1,
      "expected a header line Sentence #,Word,POS,Tag, found an empty file",
    );
  }
  const head = readRecord(lines, 0, path);
  const { sentenceCol, wordCol, tagCol, columns } = headerColumns(head.fields, lines[0], path);
  let i = head.next;
  const sentences: Sentence[] = [];
  const ids: string[] = [];
  const firstLines: number[] = [];
  let current: Sentence | undefined;
  while (i < lines.length) {
    const lineNo = i + 1;
    if (lines[i] === "") {
      throw new DataFormatError(
        path,
        lineNo,
        `expected a row of ${columns} fields, found an empty line`,
      );
    }
    const row = readRecord(lines, i, path);
    const fields = row.fields;
    i = row.next;
    if (fields.length !== columns) {
      throw new DataFormatError(
        path,
        lineNo,
        `expected ${columns} fields as in the header, found ${fields.length}`,
      );
    }
    const id = fields[sentenceCol].trim();
    if (id !== "") {
      current = { tokens: [], tags: [] };
      sentences.push(current);
      ids.push(id);
      firstLines.push(lineNo);
    } else if (current === undefined) {
      throw new DataFormatError(
        path,
        lineNo,
        "expected a sentence id on the first row after the header, found an empty field",
      );
    }
    const word = fields[wordCol];
    if (word === "" || word.trim() === "") {
      throw new DataFormatError(
        path,
        lineNo,
        `expected a word in column ${wordCol + 1}, found an empty field`,
      );
    }
    const tag = fields[tagCol];
    if (checkTags && !goodTags.has(tag)) {
      const bad = checkTag(tag);
      if (bad) throw new DataFormatError(path, lineNo, bad);
      goodTags.add(tag);
    }
    current.tokens.push(word);
    current.tags.push(tag);
  }
  const warnings: string[] = [];
  const where = `${path}:${firstLines[firstLines.length - 1]}`;
  const warning = checkTruncated(sentences, ids, where, options.truncated ?? "keep");
  if (warning) warnings.push(warning);
  return { path, format: "csv", sentences, warnings, ids };
}

/** The text of the input: bytes decoded as `encoding` (a UTF-8 BOM forces UTF-8), BOM removed. */
function csvText(
  input: string | Uint8Array,
  encoding: "windows-1252" | "utf-8",
  path: string,
): string {
  if (typeof input === "string") return input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  if (encoding === "utf-8" || (input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf)) {
    return decodeUtf8(input, { path });
  }
  return new TextDecoder("windows-1252").decode(input);
}

/**
 * The RFC 4180 record starting at line `start` (a quoted field may span lines) and the line
 * after it.
 */
function readRecord(
  lines: string[],
  start: number,
  path: string,
): { fields: string[]; next: number } {
  let i = start;
  const line = lines[i];
  if (!line.includes('"')) return { fields: line.split(","), next: i + 1 };
  const fields: string[] = [];
  let field = "";
  let s = line;
  let k = 0;
  let quoted = false;
  for (;;) {
    if (k >= s.length) {
      if (!quoted) break;
      i++;
      if (i >= lines.length) {
        throw new DataFormatError(
          path,
          start + 1,
          "expected a closing quote, found the end of the file",
        );
      }
      field += "\n";
      s = lines[i];
      k = 0;
      continue;
    }
    const c = s[k];
    if (quoted) {
      if (c === '"') {
        if (s[k + 1] === '"') {
          field += '"';
          k += 2;
        } else {
          quoted = false;
          k++;
        }
      } else {
        field += c;
        k++;
      }
    } else if (c === ",") {
      fields.push(field);
      field = "";
      k++;
    } else if (c === '"' && field === "") {
      quoted = true;
      k++;
    } else {
      field += c;
      k++;
    }
  }
  fields.push(field);
  return { fields, next: i + 1 };
}

/** Where the sentence id, word and tag columns are in the header's fields. */
function headerColumns(
  fields: string[],
  line: string,
  path: string,
): { sentenceCol: number; wordCol: number; tagCol: number; columns: number } {
  const header = fields.map((h) => h.trim().toLowerCase());
  const sentenceCol = header.findIndex((h) => h.startsWith("sentence"));
  const wordCol = header.indexOf("word");
  const tagCol = header.indexOf("tag");
  if (sentenceCol < 0 || wordCol < 0 || tagCol < 0) {
    throw new DataFormatError(
      path,
      1,
      `expected a header with columns "Sentence #", "Word" and "Tag", found "${line}"`,
    );
  }
  return { sentenceCol, wordCol, tagCol, columns: header.length };
}

/**
 * The warning for a last sentence that does not end with sentence-final punctuation (it is
 * dropped from `sentences` and `ids` when `policy` is "drop"), or null.
 */
function checkTruncated(
  sentences: Sentence[],
  ids: string[],
  where: string,
  policy: "keep" | "drop",
): string | null {
  const last = sentences[sentences.length - 1];
  if (last === undefined || FINAL.has(last.tokens[last.tokens.length - 1])) return null;
  const n = last.tokens.length;
  const what =
    `${where}: the last sentence (${n} tokens) does not end with sentence-final punctuation and looks truncated`;
  if (policy === "drop") {
    sentences.pop();
    ids.pop();
    return `${what}; dropped it`;
  }
  return `${what}; kept it (truncated: "drop" drops it)`;
}

/**
 * Reads a GMB/Kaggle NER CSV file (Deno only; use {@linkcode parseGmbCsv} in a browser).
 *
 * @param path The file.
 * @param options As for {@linkcode parseGmbCsv}; `path` defaults to the file.
 * @returns The corpus.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const file = await Deno.makeTempFile({ suffix: ".csv" });
 * await Deno.writeTextFile(file, "Sentence #,Word,POS,Tag\nSentence: 1,Hi,UH,O\n,.,.,O\n");
 * assert.equal((await readGmbCsv(file)).sentences.length, 1);
 * await Deno.remove(file);
 * ```
 */
export async function readGmbCsv(path: string, options: GmbCsvOptions = {}): Promise<GmbCorpus> {
  return parseGmbCsv(await Deno.readFile(path), { path, ...options });
}

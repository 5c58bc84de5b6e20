/**
 * One entry point for every corpus format, chosen by file extension.
 *
 * @module
 */

import { type ConllOptions, parseConll } from "./conll.ts";
import { type GmbCsvOptions, parseGmbCsv } from "./csv.ts";
import { parseJsonl } from "./jsonl.ts";
import type { Corpus, CorpusFormat } from "./sentence.ts";
import { gunzip } from "./text.ts";

/** Options for {@linkcode readCorpus} and {@linkcode parseCorpus}. */
export interface CorpusOptions {
  /** The format; default from the extension: `.txt`, `.conll` → CoNLL, `.csv` → CSV, `.jsonl` → JSONL. */
  format?: CorpusFormat;
  /** CoNLL column options. */
  conll?: Omit<ConllOptions, "path">;
  /** CSV options. */
  csv?: Omit<GmbCsvOptions, "path">;
  /** Check every tag against the schemes. Default true. */
  checkTags?: boolean;
}

/**
 * The format a path's extension implies (a trailing `.gz` is looked through).
 *
 * @param path A file name.
 * @returns The format.
 * @throws {TypeError} When the extension is not one of `.txt`, `.conll`, `.csv`, `.jsonl`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(formatFromPath("data/train.conll"), "conll");
 * assert.equal(formatFromPath("gmb.csv.gz"), "csv");
 * ```
 */
export function formatFromPath(path: string): CorpusFormat {
  const name = path.toLowerCase().replace(/\.gz$/, "");
  if (name.endsWith(".txt") || name.endsWith(".conll")) return "conll";
  if (name.endsWith(".csv")) return "csv";
  if (name.endsWith(".jsonl")) return "jsonl";
  throw new TypeError(
    `Cannot tell the format of ${path}: expected an extension .txt, .conll, .csv or .jsonl (optionally .gz), or an explicit format`,
  );
}

/**
 * Parses corpus bytes or text in a given format (browser-safe). Gzip bytes
 * (magic `1f 8b`) are decompressed first.
 *
 * @param input Bytes or text.
 * @param options `format` (required here unless `path` has a known extension) and per-format options.
 * @returns The corpus.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const corpus = await parseCorpus("Ada B-PER\n", { format: "conll" });
 * assert.equal(corpus.sentences.length, 1);
 * ```
 */
export async function parseCorpus(
  input: string | Uint8Array,
  options: CorpusOptions & { path?: string } = {},
): Promise<Corpus> {
  const path = options.path ?? "<input>";
  const format = options.format ?? formatFromPath(path);
  let data = input;
  if (typeof data !== "string" && data[0] === 0x1f && data[1] === 0x8b) {
    try {
      data = await gunzip(data);
    } catch (e) {
      throw new Error(
        `Cannot read ${path}: not a valid gzip file (${(e as Error).message}); ` +
          "is it truncated or corrupt?",
        { cause: e },
      );
    }
  }
  const checkTags = options.checkTags;
  switch (format) {
    case "conll":
      return parseConll(data, { checkTags, ...options.conll, path });
    case "csv":
      return parseGmbCsv(data, { checkTags, ...options.csv, path });
    case "jsonl":
      return parseJsonl(data, { checkTags, path });
  }
}

/**
 * Reads a corpus file, picking the reader by extension (`.txt`/`.conll` →
 * CoNLL, `.csv` → GMB CSV, `.jsonl` → JSON Lines; `.gz` is decompressed) or
 * by `options.format`. Deno only; use {@linkcode parseCorpus} in a browser.
 *
 * @param path The file.
 * @param options The format and per-format options.
 * @returns The corpus.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const file = await Deno.makeTempFile({ suffix: ".jsonl" });
 * await Deno.writeTextFile(file, '{"tokens": ["Hi"], "tags": ["O"]}\n');
 * assert.equal((await readCorpus(file)).format, "jsonl");
 * await Deno.remove(file);
 * ```
 */
export async function readCorpus(path: string, options: CorpusOptions = {}): Promise<Corpus> {
  const format = options.format ?? formatFromPath(path);
  return await parseCorpus(await Deno.readFile(path), { ...options, format, path });
}

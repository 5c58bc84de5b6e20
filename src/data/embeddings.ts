/**
 * Pretrained word vectors in the GloVe / word2vec text format: one word and
 * its numbers per line, separated by spaces; word2vec files start with a
 * `count dim` header. Gzip files (`.gz`) are decompressed on the fly.
 *
 * @module
 */

import { DataFormatError } from "./errors.ts";
import { mulberry32 } from "./random.ts";
import { firstInvalidUtf8 } from "./text.ts";
import { normalizeToken, type Vocabulary } from "./vocab.ts";

/** Word vectors: `vectors` is (N, E) row-major, row i belongs to `words[i]`. */
export interface Embeddings {
  /** The words, in file order (first occurrence kept). */
  words: string[];
  /** E, the vector size. */
  dim: number;
  /** (N, E) row-major. */
  vectors: Float32Array;
  /** Rows the reader skipped on purpose (duplicates, words outside `keep`), and why. */
  warnings: string[];
}

/** Options for {@linkcode parseEmbeddings} and {@linkcode readEmbeddings}. */
export interface EmbeddingOptions {
  /** The name used in error messages. Default `"<input>"`. */
  path?: string;
  /** The expected vector size; a file with another size is an error. Default: from the file. */
  dim?: number;
  /**
   * Keep only rows whose word (or its lowercase) passes this test (saves
   * memory with large files). Default: keep every row.
   */
  keep?: (word: string) => boolean;
}

/** An incremental parser: feed it lines, then take the result. */
class EmbeddingParser {
  #path: string;
  #dim: number | undefined;
  #keep: ((w: string) => boolean) | undefined;
  #words: string[] = [];
  #seen = new Set<string>();
  #chunks: Float32Array[] = [];
  #current = new Float32Array(0);
  #used = 0;
  #duplicates = 0;
  #skipped = 0;
  #lineNo = 0;
  #rows = 0;
  #header: { count: number; dim: number } | undefined;

  constructor(options: EmbeddingOptions) {
    this.#path = options.path ?? "<input>";
    this.#dim = options.dim;
    this.#keep = options.keep;
  }

  line(raw: string): void {
    const lineNo = ++this.#lineNo;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const trimmed = line.trimEnd();
    if (trimmed === "") return;
    const fields = trimmed.split(" ");
    if (lineNo === 1 && fields.length === 2 && /^\d+$/.test(fields[0]) && /^\d+$/.test(fields[1])) {
      const dim = Number(fields[1]);
      if (this.#dim !== undefined && this.#dim !== dim) {
        throw new DataFormatError(
          this.#path,
          1,
          `expected vectors of size ${this.#dim}, found a header declaring size ${dim}`,
        );
      }
      this.#dim = dim;
      this.#header = { count: Number(fields[0]), dim };
      return;
    }
    if (this.#dim === undefined) {
      if (fields.length < 2) {
        throw new DataFormatError(
          this.#path,
          lineNo,
          "expected a word and its vector, found one field",
        );
      }
      this.#dim = fields.length - 1;
    }
    const dim = this.#dim;
    this.#rows++;
    if (this.#header && fields.length !== dim + 1) {
      throw new DataFormatError(
        this.#path,
        lineNo,
        `expected a word and ${dim} numbers as the header on line 1 declares, found ` +
          `${fields.length - 1} fields after the word`,
      );
    }
    if (fields.length < dim + 1) {
      throw new DataFormatError(
        this.#path,
        lineNo,
        `expected a word and ${dim} numbers, found a short row of ${fields.length - 1} numbers`,
      );
    }
    // A word may hold spaces (GloVe 840B): the last `dim` fields are the vector.
    const word = fields.length === dim + 1
      ? fields[0]
      : fields.slice(0, fields.length - dim).join(" ");
    if (word === "") {
      throw new DataFormatError(
        this.#path,
        lineNo,
        "expected a word before the numbers, found an empty field",
      );
    }
    if (this.#keep && !this.#keep(word)) {
      this.#skipped++;
      return;
    }
    if (this.#seen.has(word)) {
      this.#duplicates++;
      return;
    }
    if (this.#used + dim > this.#current.length) {
      if (this.#current.length > 0) this.#chunks.push(this.#current.subarray(0, this.#used));
      this.#current = new Float32Array(Math.max(dim, 1) * 4096);
      this.#used = 0;
    }
    const offset = fields.length - dim;
    for (let k = 0; k < dim; k++) {
      const s = fields[offset + k];
      const v = Number(s);
      if (s === "" || !Number.isFinite(v)) {
        throw new DataFormatError(
          this.#path,
          lineNo,
          `expected a finite number at position ${k + 1} of the vector of "${word}", found "${s}"`,
        );
      }
      this.#current[this.#used + k] = v;
    }
    this.#used += dim;
    this.#seen.add(word);
    this.#words.push(word);
  }

  result(): Embeddings {
    if (this.#dim === undefined) {
      throw new DataFormatError(this.#path, 1, "expected word vectors, found an empty file");
    }
    const vectors = new Float32Array(this.#words.length * this.#dim);
    let at = 0;
    for (const c of [...this.#chunks, this.#current.subarray(0, this.#used)]) {
      vectors.set(c, at);
      at += c.length;
    }
    const warnings: string[] = [];
    if (this.#duplicates > 0) {
      warnings.push(
        `${this.#path}: kept the first of repeated words, skipped ${this.#duplicates} rows`,
      );
    }
    if (this.#skipped > 0) {
      warnings.push(`${this.#path}: skipped ${this.#skipped} rows whose words are not needed`);
    }
    if (this.#header && this.#header.count !== this.#rows) {
      warnings.push(
        `${this.#path}: the header on line 1 declares ${this.#header.count} vectors, ` +
          `found ${this.#rows} rows (is the file truncated?)`,
      );
    }
    return { words: this.#words, dim: this.#dim, vectors, warnings };
  }
}

/**
 * Parses word vectors from text (browser-safe).
 *
 * @param text The file's text.
 * @param options The expected size, a row filter, the name for errors.
 * @returns The vectors.
 * @throws {DataFormatError} On a size mismatch, a short row, a non-number, NaN or infinity.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const e = parseEmbeddings("the 0.1 0.2\ncat 0.3 0.4\n");
 * assert.equal(e.dim, 2);
 * assert.deepEqual(e.words, ["the", "cat"]);
 * assert.throws(() => parseEmbeddings("a 1 2\nb NaN 1\n", { path: "v.txt" }), /v.txt:2:/);
 * ```
 */
export function parseEmbeddings(text: string, options: EmbeddingOptions = {}): Embeddings {
  const parser = new EmbeddingParser(options);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let start = 0;
  while (start < body.length) {
    let end = body.indexOf("\n", start);
    if (end < 0) end = body.length;
    parser.line(body.slice(start, end));
    start = end + 1;
  }
  return parser.result();
}

/**
 * Reads word vectors from a file (Deno only), streaming, so that large files
 * need not fit in one string. A `.gz` file is decompressed with
 * `DecompressionStream`.
 *
 * @param path The file.
 * @param options As for {@linkcode parseEmbeddings}; `path` defaults to the file.
 * @returns The vectors.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const file = await Deno.makeTempFile({ suffix: ".txt" });
 * await Deno.writeTextFile(file, "2 3\nthe 1 2 3\ncat 4 5 6\n");
 * assert.deepEqual([...(await readEmbeddings(file)).vectors], [1, 2, 3, 4, 5, 6]);
 * await Deno.remove(file);
 * ```
 */
export async function readEmbeddings(
  path: string,
  options: EmbeddingOptions = {},
): Promise<Embeddings> {
  const parser = new EmbeddingParser({ path, ...options });
  const file = await Deno.open(path);
  let stream: ReadableStream<Uint8Array> = file.readable;
  if (path.endsWith(".gz")) {
    stream = stream.pipeThrough(
      new DecompressionStream("gzip") as ReadableWritablePair<Uint8Array, Uint8Array>,
    );
  }
  try {
    return await parseStream(parser, stream, path);
  } catch (e) {
    if (e instanceof DataFormatError || !path.endsWith(".gz")) throw e;
    throw new Error(
      `Cannot read ${path}: not a valid gzip file (${(e as Error).message}); ` +
        "is it truncated or corrupt?",
      { cause: e },
    );
  }
}

async function parseStream(
  parser: EmbeddingParser,
  stream: ReadableStream<Uint8Array>,
  path: string,
): Promise<Embeddings> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let rest = "";
  let first = true;
  let lines = 0;
  for await (const chunk of stream) {
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      const bad = Math.max(0, firstInvalidUtf8(chunk));
      let line = lines + rest.split("\n").length;
      for (let i = 0; i < bad; i++) if (chunk[i] === 0x0a) line++;
      throw new DataFormatError(path, line, "expected UTF-8 text, found invalid bytes");
    }
    if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    first = false;
    rest += text;
    let start = 0;
    let end: number;
    while ((end = rest.indexOf("\n", start)) >= 0) {
      parser.line(rest.slice(start, end));
      lines++;
      start = end + 1;
    }
    rest = rest.slice(start);
  }
  rest += decoder.decode();
  if (rest !== "") parser.line(rest);
  return parser.result();
}

/** How many vocabulary words have a pretrained vector. */
export interface Coverage {
  /** Vocabulary words looked up (not counting `<pad>` and `<unk>`). */
  total: number;
  /** Found as written. */
  exact: number;
  /** Not found as written, found lowercased. */
  lowercase: number;
  /** Not found. */
  missing: number;
  /** A few missing words, for the printout. */
  missingExamples: string[];
}

/**
 * Measures how well pretrained vectors cover a vocabulary.
 *
 * @param vocabulary The vocabulary (or a word list).
 * @param embeddings The vectors.
 * @returns Counts of exact, lowercase and missing matches.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const e = parseEmbeddings("the 1\nparis 2\n");
 * const c = embeddingCoverage(["the", "Paris", "Zorg"], e);
 * assert.deepEqual([c.exact, c.lowercase, c.missing], [1, 1, 1]);
 * ```
 */
export function embeddingCoverage(
  vocabulary: Vocabulary | readonly string[],
  embeddings: Embeddings,
): Coverage {
  const words = Array.isArray(vocabulary)
    ? vocabulary as readonly string[]
    : (vocabulary as Vocabulary).items.slice((vocabulary as Vocabulary).specials ? 2 : 0);
  const known = new Set(embeddings.words);
  let exact = 0, lowercase = 0;
  const missing: string[] = [];
  for (const w of words) {
    if (known.has(w)) exact++;
    else if (known.has(w.toLowerCase())) lowercase++;
    else missing.push(w);
  }
  return {
    total: words.length,
    exact,
    lowercase,
    missing: missing.length,
    missingExamples: missing.slice(0, 10),
  };
}

/**
 * Prints coverage statistics as a short text block.
 *
 * @param coverage From {@linkcode embeddingCoverage}.
 * @returns Lines of text.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = formatCoverage({ total: 4, exact: 2, lowercase: 1, missing: 1, missingExamples: ["Zorg"] });
 * assert.match(text, /exact\s+2\s+50\.00%/);
 * ```
 */
export function formatCoverage(coverage: Coverage): string {
  const pct = (n: number) =>
    `${(coverage.total > 0 ? (100 * n) / coverage.total : 0).toFixed(2).padStart(6)}%`;
  const row = (name: string, n: number) =>
    `  ${name.padEnd(10)}${String(n).padStart(8)}  ${pct(n)}`;
  return [
    `pretrained vectors cover ${coverage.exact + coverage.lowercase} of ${coverage.total} words`,
    row("exact", coverage.exact),
    row("lowercase", coverage.lowercase),
    row("missing", coverage.missing),
    ...(coverage.missingExamples.length > 0
      ? [`  missing e.g.: ${coverage.missingExamples.join(" ")}`]
      : []),
  ].join("\n");
}

/**
 * Builds the initial word-embedding matrix for a vocabulary: the pretrained
 * vector when the (normalised) word or its lowercase has one, otherwise
 * uniform in [-scale, scale] from a seed; `<pad>` is all zeros.
 *
 * @param vocabulary The vocabulary (V words).
 * @param embeddings The pretrained vectors (size E).
 * @param options `seed` (default 1) and `scale` (default sqrt(3 / E)).
 * @returns (V, E) row-major.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { Vocabulary } from "./vocab.ts";
 * const m = embeddingMatrix(new Vocabulary(["the"]), parseEmbeddings("the 1 2\n"));
 * assert.deepEqual([...m.subarray(0, 2)], [0, 0]);
 * assert.deepEqual([...m.subarray(4, 6)], [1, 2]);
 * ```
 */
export function embeddingMatrix(
  vocabulary: Vocabulary,
  embeddings: Embeddings,
  options: { seed?: number; scale?: number } = {},
): Float32Array {
  const E = embeddings.dim;
  const V = vocabulary.size;
  const index = new Map(embeddings.words.map((w, i) => [w, i]));
  const random = mulberry32(options.seed ?? 1);
  const scale = options.scale ?? Math.sqrt(3 / E);
  const out = new Float32Array(V * E);
  for (let v = vocabulary.specials ? 1 : 0; v < V; v++) {
    const w = vocabulary.items[v];
    const row = index.get(w) ?? index.get(normalizeToken(w, { lowercase: true }));
    if (row !== undefined) out.set(embeddings.vectors.subarray(row * E, row * E + E), v * E);
    else for (let k = 0; k < E; k++) out[v * E + k] = (2 * random() - 1) * scale;
  }
  return out;
}

/**
 * The corpus that ships with the project: the GMB-derived Kaggle NER CSV,
 * gzip-compressed at `data/gmb.csv.gz` (attribution in `data/README.md`),
 * split 80/10/10 by sentence with a seed.
 *
 * @module
 */

import { parseGmbCsv } from "./csv.ts";
import type { Sentence } from "./sentence.ts";
import { type Split, splitCorpus } from "./split.ts";
import { gunzip } from "./text.ts";

/**
 * The default location of the embedded corpus, `data/gmb.csv.gz` from the repository root.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(EMBEDDED_CORPUS_URL.href.endsWith("/data/gmb.csv.gz"));
 * ```
 */
export const EMBEDDED_CORPUS_URL: URL = new URL("../../data/gmb.csv.gz", import.meta.url);

/** Options for {@linkcode loadEmbeddedCorpus}. */
export interface EmbeddedCorpusOptions {
  /** The split seed. Default 42. */
  seed?: number;
  /**
   * Where the gzip bytes come from: the bytes themselves (a browser can
   * `fetch` them), a file path, or a URL (`file:` is read with Deno, others
   * fetched). Default {@linkcode EMBEDDED_CORPUS_URL}.
   */
  source?: Uint8Array | string | URL;
  /** Split ratios. Default `[0.8, 0.1, 0.1]`. */
  ratios?: readonly [number, number, number];
  /** What to do with the cut-short last sentence. Default `"keep"`. */
  truncated?: "keep" | "drop";
}

/** The embedded corpus, split. */
export interface EmbeddedCorpus extends Split<Sentence> {
  /** The seed used for the split. */
  seed: number;
  /** The reader's warnings (the truncated last sentence). */
  warnings: string[];
}

/**
 * Loads the embedded GMB corpus (47,959 sentences, 17 IOB2 tags) and splits it
 * 80/10/10 by sentence with a seed.
 *
 * @param options The seed and the source of the gzip bytes.
 * @returns `{train, dev, test, seed, warnings}`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const corpus = await loadEmbeddedCorpus({ seed: 1 });
 * assert.equal(corpus.train.length + corpus.dev.length + corpus.test.length, 47959);
 * ```
 */
export async function loadEmbeddedCorpus(
  options: EmbeddedCorpusOptions = {},
): Promise<EmbeddedCorpus> {
  const source = options.source ?? EMBEDDED_CORPUS_URL;
  let bytes: Uint8Array;
  let path: string;
  if (source instanceof Uint8Array) {
    bytes = source;
    path = "gmb.csv.gz";
  } else {
    const url = source instanceof URL ? source : undefined;
    path = url
      ? (url.protocol === "file:" ? decodeURIComponent(url.pathname) : url.href)
      : source as string;
    if (url && url.protocol !== "file:") {
      const response = await fetch(url);
      if (!response.ok) {
        throw new Error(
          `Cannot load the embedded corpus from ${url.href}: HTTP ${response.status}`,
        );
      }
      bytes = await response.bytes();
    } else {
      bytes = await Deno.readFile(url ?? (source as string));
    }
  }
  const seed = options.seed ?? 42;
  const text = await gunzip(bytes);
  const corpus = parseGmbCsv(text, { path, truncated: options.truncated });
  const parts = splitCorpus(corpus.sentences, { seed, ratios: options.ratios });
  return { ...parts, seed, warnings: corpus.warnings };
}

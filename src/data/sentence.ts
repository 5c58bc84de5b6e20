/**
 * The shapes every reader returns.
 *
 * @module
 */

/**
 * One sentence: its tokens and one tag per token.
 *
 * @example Usage
 * ```ts
 * const sentence: Sentence = { tokens: ["Ada", "wrote"], tags: ["B-PER", "O"] };
 * console.assert(sentence.tokens.length === sentence.tags.length);
 * ```
 */
export interface Sentence {
  /** The tokens, in order. */
  tokens: string[];
  /** One tag per token (for example `B-PER`, `I-PER`, `O`). */
  tags: string[];
}

/** The file formats the readers understand. */
export type CorpusFormat = "conll" | "csv" | "jsonl";

/**
 * What a reader returns: the sentences and anything it wants the user to know.
 *
 * @example Usage
 * ```ts
 * const corpus: Corpus = { path: "x.txt", format: "conll", sentences: [], warnings: [] };
 * console.assert(corpus.sentences.length === 0);
 * ```
 */
export interface Corpus {
  /** The file the sentences came from (or the name given for in-memory text). */
  path: string;
  /** The format it was read as. */
  format: CorpusFormat;
  /** The sentences, in file order. */
  sentences: Sentence[];
  /** Things the reader did that the user should know (never silent). */
  warnings: string[];
}

/**
 * Counts the tokens of a list of sentences.
 *
 * @param sentences The sentences.
 * @returns The total number of tokens.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(countTokens([{ tokens: ["a", "b"], tags: ["O", "O"] }]), 2);
 * ```
 */
export function countTokens(sentences: readonly Sentence[]): number {
  let n = 0;
  for (const s of sentences) n += s.tokens.length;
  return n;
}

/**
 * The distinct tags of a list of sentences, sorted: `O` first, then by entity
 * type, then by prefix in the order B, I, E, S, L, U.
 *
 * @param sentences The sentences.
 * @returns The sorted distinct tags.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const tags = collectTags([{ tokens: ["a", "b", "c"], tags: ["I-PER", "O", "B-PER"] }]);
 * assert.deepEqual(tags, ["O", "B-PER", "I-PER"]);
 * ```
 */
export function collectTags(sentences: readonly Sentence[]): string[] {
  const set = new Set<string>();
  for (const s of sentences) for (const t of s.tags) set.add(t);
  return sortTags([...set]);
}

const PREFIX_ORDER = "BIESLU";

/**
 * Sorts tags: `O` first, then by entity type, then by prefix (B, I, E, S, L, U).
 *
 * @param tags The tags (not changed).
 * @returns A new sorted array.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(sortTags(["I-LOC", "B-PER", "O", "B-LOC"]), ["O", "B-LOC", "I-LOC", "B-PER"]);
 * ```
 */
export function sortTags(tags: readonly string[]): string[] {
  const key = (t: string): [string, number] => {
    if (t === "O") return ["", -1];
    const dash = t.indexOf("-");
    if (dash < 0) return [t, 99];
    const p = PREFIX_ORDER.indexOf(t.slice(0, dash));
    return [t.slice(dash + 1), p < 0 ? 98 : p];
  };
  return [...tags].sort((a, b) => {
    const [ta, pa] = key(a);
    const [tb, pb] = key(b);
    if (ta !== tb) return ta < tb ? -1 : 1;
    if (pa !== pb) return pa - pb;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

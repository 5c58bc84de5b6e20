/**
 * Vocabularies: word, character and tag ids, with `<pad>` = 0 and `<unk>` = 1
 * for words and characters, and JSON for saving them with a model.
 *
 * @module
 */

import type { Sentence } from "./sentence.ts";

/**
 * The padding symbol, id 0.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(new Vocabulary([]).id(PAD), 0);
 * ```
 */
export const PAD = "<pad>";
/**
 * The unknown symbol, id 1.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(new Vocabulary([]).item(1), UNK);
 * ```
 */
export const UNK = "<unk>";

/** How tokens are normalised before lookup. */
export interface NormalizeOptions {
  /** Lowercase tokens. Default false. */
  lowercase?: boolean;
  /** Replace every digit 0–9 with `0`. Default false. */
  normalizeDigits?: boolean;
}

/** Options for {@linkcode buildWordVocabulary}. */
export interface WordVocabularyOptions extends NormalizeOptions {
  /** Keep words seen at least this often (after normalising). Default 1. */
  minFrequency?: number;
  /** Keep at most this many words (the most frequent; ties by first appearance). */
  maxSize?: number;
  /** Words to add whatever their count (for example those with pretrained vectors). */
  extra?: Iterable<string>;
}

/** The saved form of a {@linkcode Vocabulary}. */
export interface VocabularyJSON {
  /** The items in id order. */
  items: string[];
  /** Whether ids 0 and 1 are `<pad>` and `<unk>`. */
  specials: boolean;
  /** Lowercase before lookup. */
  lowercase: boolean;
  /** Map digits to 0 before lookup. */
  normalizeDigits: boolean;
}

/**
 * Maps strings to dense ids. With `specials` (words, characters) id 0 is
 * `<pad>`, id 1 is `<unk>` and unknown strings get 1; without (tags) an
 * unknown string is an error.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const vocab = new Vocabulary(["the", "cat"], { lowercase: true });
 * assert.equal(vocab.id("The"), 2);
 * assert.equal(vocab.id("dog"), 1);
 * assert.equal(Vocabulary.fromJSON(vocab.toJSON()).id("cat"), 3);
 * ```
 */
export class Vocabulary {
  /** The items in id order (including `<pad>` and `<unk>` when `specials`). */
  readonly items: readonly string[];
  /** Whether ids 0 and 1 are `<pad>` and `<unk>`. */
  readonly specials: boolean;
  /** Lowercase before lookup. */
  readonly lowercase: boolean;
  /** Map digits to 0 before lookup. */
  readonly normalizeDigits: boolean;
  #ids: Map<string, number>;

  /**
   * Creates a vocabulary.
   *
   * @param items The items, in id order, without `<pad>`/`<unk>` (they are prepended when `specials`).
   * @param options Normalisation and `specials` (default true).
   */
  constructor(items: Iterable<string>, options: NormalizeOptions & { specials?: boolean } = {}) {
    this.specials = options.specials ?? true;
    this.lowercase = options.lowercase ?? false;
    this.normalizeDigits = options.normalizeDigits ?? false;
    const list = this.specials ? [PAD, UNK] : [];
    this.#ids = new Map(list.map((w, i) => [w, i]));
    for (const item of items) {
      if (this.#ids.has(item)) {
        throw new TypeError(
          `Cannot build a vocabulary: expected distinct items, found "${item}" twice`,
        );
      }
      this.#ids.set(item, list.length);
      list.push(item);
    }
    this.items = list;
  }

  /** The number of ids. */
  get size(): number {
    return this.items.length;
  }

  /**
   * Normalises a token the way lookups do.
   *
   * @param token The token.
   * @returns The normalised token.
   */
  normalize(token: string): string {
    return normalizeToken(token, this);
  }

  /**
   * The id of a token (normalised first); `<unk>` (1) when unknown and `specials`.
   *
   * @param token The token.
   * @returns The id.
   * @throws {RangeError} When the token is unknown and there is no `<unk>`.
   */
  id(token: string): number {
    const id = this.#ids.get(this.normalize(token));
    if (id !== undefined) return id;
    if (this.specials) return 1;
    throw new RangeError(
      `Cannot look up "${token}": expected one of the ${this.size} known items (${
        this.items.slice(0, 8).join(", ")
      }${this.size > 8 ? ", …" : ""}), found none`,
    );
  }

  /**
   * Whether the (normalised) token has its own id.
   *
   * @param token The token.
   * @returns True when known.
   */
  has(token: string): boolean {
    return this.#ids.has(this.normalize(token));
  }

  /**
   * The item with an id.
   *
   * @param id The id.
   * @returns The item.
   */
  item(id: number): string {
    const s = this.items[id];
    if (s === undefined) {
      throw new RangeError(`Cannot look up id ${id}: expected 0 to ${this.size - 1}`);
    }
    return s;
  }

  /**
   * The saved form (for safetensors metadata).
   *
   * @returns Plain JSON.
   */
  toJSON(): VocabularyJSON {
    return {
      items: this.specials ? this.items.slice(2) : [...this.items],
      specials: this.specials,
      lowercase: this.lowercase,
      normalizeDigits: this.normalizeDigits,
    };
  }

  /**
   * Restores a vocabulary saved with {@linkcode Vocabulary.toJSON}.
   *
   * @param json The saved form.
   * @returns The vocabulary.
   */
  static fromJSON(json: VocabularyJSON): Vocabulary {
    if (!json || !Array.isArray(json.items)) {
      throw new TypeError("Cannot restore a vocabulary: expected an object with an items array");
    }
    return new Vocabulary(json.items, json);
  }
}

/**
 * Normalises a token: optional lowercasing and digit-to-0 mapping.
 *
 * @param token The token.
 * @param options What to normalise.
 * @returns The normalised token.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(normalizeToken("May-2017", { lowercase: true, normalizeDigits: true }), "may-0000");
 * ```
 */
export function normalizeToken(token: string, options: NormalizeOptions = {}): string {
  let t = options.lowercase ? token.toLowerCase() : token;
  if (options.normalizeDigits) t = t.replace(/[0-9]/g, "0");
  return t;
}

/**
 * Counts words (after normalising), in order of first appearance.
 *
 * @param sentences The sentences.
 * @param options Normalisation.
 * @returns word → count.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const counts = countWords([{ tokens: ["A", "a", "b"], tags: ["O", "O", "O"] }], { lowercase: true });
 * assert.equal(counts.get("a"), 2);
 * ```
 */
export function countWords(
  sentences: Iterable<Sentence>,
  options: NormalizeOptions = {},
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of sentences) {
    for (const t of s.tokens) {
      const w = normalizeToken(t, options);
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * Builds a word vocabulary from sentences: words seen at least `minFrequency`
 * times, most frequent first (ties in order of first appearance).
 *
 * @param sentences The (training) sentences.
 * @param options Minimum frequency, size cap, normalisation, extra words.
 * @returns The vocabulary.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const s = [{ tokens: ["the", "cat", "the"], tags: ["O", "O", "O"] }];
 * const vocab = buildWordVocabulary(s, { minFrequency: 2 });
 * assert.deepEqual(vocab.items, ["<pad>", "<unk>", "the"]);
 * ```
 */
export function buildWordVocabulary(
  sentences: Iterable<Sentence>,
  options: WordVocabularyOptions = {},
): Vocabulary {
  const counts = countWords(sentences, options);
  const min = options.minFrequency ?? 1;
  const order = [...counts.entries()].map(([w, c], i) => ({ w, c, i }))
    .filter((e) => e.c >= min && e.w !== PAD && e.w !== UNK)
    .sort((a, b) => b.c - a.c || a.i - b.i)
    .map((e) => e.w);
  const kept = options.maxSize === undefined ? order : order.slice(0, options.maxSize);
  const seen = new Set(kept);
  for (const extra of options.extra ?? []) {
    const w = normalizeToken(extra, options);
    if (!seen.has(w) && w !== PAD && w !== UNK) {
      seen.add(w);
      kept.push(w);
    }
  }
  return new Vocabulary(kept, options);
}

/**
 * Builds a character vocabulary (Unicode code points) from sentences.
 *
 * @param sentences The (training) sentences.
 * @param options `minFrequency` (default 1).
 * @returns The vocabulary (no normalisation).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const vocab = buildCharVocabulary([{ tokens: ["ab", "b"], tags: ["O", "O"] }]);
 * assert.deepEqual(vocab.items, ["<pad>", "<unk>", "b", "a"]);
 * ```
 */
export function buildCharVocabulary(
  sentences: Iterable<Sentence>,
  options: { minFrequency?: number } = {},
): Vocabulary {
  const counts = new Map<string, number>();
  for (const s of sentences) {
    for (const t of s.tokens) for (const ch of t) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  }
  const min = options.minFrequency ?? 1;
  const items = [...counts.entries()].map(([w, c], i) => ({ w, c, i }))
    .filter((e) => e.c >= min)
    .sort((a, b) => b.c - a.c || a.i - b.i)
    .map((e) => e.w);
  return new Vocabulary(items);
}

/**
 * Builds the tag vocabulary (no `<pad>`/`<unk>`): the given tags, or those of
 * the sentences sorted with `O` first, then by type, then B, I, E, S, L, U.
 *
 * @param tags The tag list, in id order.
 * @returns The vocabulary; looking up an unknown tag throws.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const tags = buildTagVocabulary(["O", "B-PER", "I-PER"]);
 * assert.equal(tags.id("I-PER"), 2);
 * assert.throws(() => tags.id("B-LOC"), /Cannot look up "B-LOC"/);
 * ```
 */
export function buildTagVocabulary(tags: Iterable<string>): Vocabulary {
  return new Vocabulary(tags, { specials: false });
}

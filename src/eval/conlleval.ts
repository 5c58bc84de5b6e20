/**
 * Entity-level evaluation with exactly the semantics of `conlleval.pl`
 * (CoNLL-2000/2003 shared tasks, version 2004-01-26).
 *
 * A tag `P-TYPE` is split at its first hyphen into a chunk tag `P` and a type
 * (a tag without a hyphen, such as `O`, has the empty type; a type `0` counts
 * as empty, as in Perl). Between two tokens a chunk **ends** when the previous
 * tag is B or I and the current one is B or O (an I followed by O, a B
 * followed by B, …), when an E is followed by E, I or O, when the type changes
 * after a tag other than `O` and `.`, and always after the one-token chunk
 * tags `[` and `]`. A chunk **starts** when B follows B, I or O, when I
 * follows O, when E follows E or O, when I follows E, when the type changes at
 * a tag other than `O` and `.`, and always at `[` and `]`. So an I- after O
 * starts a chunk (IOB1 input works), and a type change inside a chunk splits
 * it. Sentence boundaries act as an `O` token that is not counted. A guessed
 * chunk is correct when it starts and ends where a gold chunk does, with the
 * same type, and the two agree on every boundary in between.
 *
 * The original script has no S- rules: with `rules: "conlleval"` (the
 * default) `S-PER S-PER` is one chunk and `E-PER B-PER` does not split, just
 * as `conlleval.pl` counts them. `rules: "iobes"` adds the S- and E- → B-
 * rules of the widely used IOBES variant of the script (a chunk always ends
 * after E or S and always starts at B or S).
 *
 * @module
 */

import { DataFormatError } from "../data/errors.ts";

/** Which chunk rules to apply. */
export type ChunkRules = "conlleval" | "iobes";

/** Chunk counts of one entity type. */
export interface TypeCounts {
  /** Chunks in the gold standard. */
  gold: number;
  /** Chunks in the prediction. */
  guessed: number;
  /** Guessed chunks that match a gold chunk exactly. */
  correct: number;
}

/** Everything conlleval counts. */
export interface ConllevalCounts {
  /** Tokens processed (sentence boundaries excluded). */
  tokens: number;
  /** Tokens whose full tag is right. */
  correctTags: number;
  /** Gold chunks. */
  gold: number;
  /** Guessed chunks. */
  guessed: number;
  /** Correct chunks. */
  correct: number;
  /** Per type; a type has an entry when it occurs in the gold standard or the prediction. */
  types: Record<string, TypeCounts>;
}

interface Parsed {
  tag: string;
  type: string;
}

function parseTag(tag: string): Parsed {
  const dash = tag.indexOf("-");
  if (dash < 0) return { tag, type: "" };
  const type = tag.slice(dash + 1);
  // Perl: `$type = $type ? $type : ""` turns "0" into "".
  return { tag: tag.slice(0, dash), type: type === "0" ? "" : type };
}

function endOfChunk(prev: string, tag: string, prevType: string, type: string, iobes: boolean) {
  if ((prev === "B" || prev === "I") && (tag === "B" || tag === "O")) return true;
  if (prev === "E" && (tag === "E" || tag === "I" || tag === "O")) return true;
  if (iobes) {
    if ((prev === "B" || prev === "I") && tag === "S") return true;
    if (prev === "E" && (tag === "S" || tag === "B")) return true;
    if (prev === "S" && (tag === "B" || tag === "I" || tag === "E" || tag === "S" || tag === "O")) {
      return true;
    }
  }
  if (prev !== "O" && prev !== "." && prevType !== type) return true;
  return prev === "]" || prev === "[";
}

function startOfChunk(prev: string, tag: string, prevType: string, type: string, iobes: boolean) {
  if (tag === "B" && (prev === "B" || prev === "I" || prev === "O")) return true;
  if (prev === "O" && (tag === "I" || tag === "E")) return true;
  if (prev === "E" && (tag === "E" || tag === "I")) return true;
  if (iobes) {
    if (tag === "B" && (prev === "S" || prev === "E")) return true;
    if (
      tag === "S" && (prev === "B" || prev === "I" || prev === "O" || prev === "S" || prev === "E")
    ) {
      return true;
    }
    if (prev === "S" && (tag === "I" || tag === "E")) return true;
  }
  if (tag !== "O" && tag !== "." && prevType !== type) return true;
  return tag === "[" || tag === "]";
}

/** Options for {@linkcode ConllevalScorer}. */
export interface ConllevalOptions {
  /** The chunk rules. Default `"conlleval"` (the original script). */
  rules?: ChunkRules;
}

/**
 * Feeds token pairs one by one, as `conlleval.pl` reads lines.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const scorer = new ConllevalScorer();
 * scorer.token("B-PER", "B-PER");
 * scorer.token("I-PER", "O");
 * scorer.boundary();
 * const counts = scorer.counts();
 * assert.deepEqual([counts.gold, counts.guessed, counts.correct], [1, 1, 0]);
 * ```
 */
export class ConllevalScorer {
  #iobes: boolean;
  #tokens = 0;
  #correctTags = 0;
  #gold = 0;
  #guessed = 0;
  #correct = 0;
  #types = new Map<string, TypeCounts>();
  #inCorrect = false;
  #lastGold: Parsed = { tag: "O", type: "" };
  #lastGuess: Parsed = { tag: "O", type: "" };

  /**
   * Creates a scorer.
   *
   * @param options The chunk rules.
   */
  constructor(options: ConllevalOptions = {}) {
    this.#iobes = (options.rules ?? "conlleval") === "iobes";
  }

  #type(type: string): TypeCounts {
    let t = this.#types.get(type);
    if (!t) this.#types.set(type, t = { gold: 0, guessed: 0, correct: 0 });
    return t;
  }

  #step(gold: Parsed, guess: Parsed, boundary: boolean): void {
    const lg = this.#lastGold, lp = this.#lastGuess, iobes = this.#iobes;
    if (this.#inCorrect) {
      const endGold = endOfChunk(lg.tag, gold.tag, lg.type, gold.type, iobes);
      const endGuess = endOfChunk(lp.tag, guess.tag, lp.type, guess.type, iobes);
      if (endGold && endGuess && lp.type === lg.type) {
        this.#inCorrect = false;
        this.#correct++;
        this.#type(lg.type).correct++;
      } else if (endGold !== endGuess || guess.type !== gold.type) {
        this.#inCorrect = false;
      }
    }
    const startGold = startOfChunk(lg.tag, gold.tag, lg.type, gold.type, iobes);
    const startGuess = startOfChunk(lp.tag, guess.tag, lp.type, guess.type, iobes);
    if (startGold && startGuess && guess.type === gold.type) this.#inCorrect = true;
    if (startGold) {
      this.#gold++;
      this.#type(gold.type).gold++;
    }
    if (startGuess) {
      this.#guessed++;
      this.#type(guess.type).guessed++;
    }
    if (!boundary) {
      if (gold.tag === guess.tag && gold.type === guess.type) this.#correctTags++;
      this.#tokens++;
    }
    this.#lastGold = gold;
    this.#lastGuess = guess;
  }

  /**
   * Adds one token.
   *
   * @param gold The gold tag.
   * @param guess The predicted tag.
   */
  token(gold: string, guess: string): void {
    this.#step(parseTag(gold), parseTag(guess), false);
  }

  /** Adds a sentence boundary (an uncounted `O O` token that ends chunks). */
  boundary(): void {
    this.#step({ tag: "O", type: "" }, { tag: "O", type: "" }, true);
  }

  /**
   * The counts so far, as if the input ended here (the scorer can go on).
   *
   * @returns The counts.
   */
  counts(): ConllevalCounts {
    const types: Record<string, TypeCounts> = {};
    for (const [k, v] of this.#types) types[k] = { ...v };
    let correct = this.#correct;
    if (this.#inCorrect) {
      correct++;
      const k = this.#lastGold.type;
      types[k] = types[k] ?? { gold: 0, guessed: 0, correct: 0 };
      types[k].correct++;
    }
    return {
      tokens: this.#tokens,
      correctTags: this.#correctTags,
      gold: this.#gold,
      guessed: this.#guessed,
      correct,
      types,
    };
  }
}

/**
 * Counts chunks for sentences of gold and predicted tags (a boundary after each sentence).
 *
 * @param gold Gold tags, one array per sentence.
 * @param predicted Predicted tags, parallel to `gold`.
 * @param options The chunk rules.
 * @returns The counts.
 * @throws {RangeError} When the two do not have the same shape.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const counts = conllevalCounts(
 *   [["B-PER", "I-PER", "O"], ["B-LOC"]],
 *   [["B-PER", "I-PER", "O"], ["B-ORG"]],
 * );
 * assert.deepEqual([counts.gold, counts.guessed, counts.correct], [2, 2, 1]);
 * ```
 */
export function conllevalCounts(
  gold: readonly (readonly string[])[],
  predicted: readonly (readonly string[])[],
  options: ConllevalOptions = {},
): ConllevalCounts {
  if (gold.length !== predicted.length) {
    throw new RangeError(
      `Cannot evaluate: expected as many predicted sentences as gold ones (${gold.length}), found ${predicted.length}`,
    );
  }
  const scorer = new ConllevalScorer(options);
  for (let s = 0; s < gold.length; s++) {
    const g = gold[s], p = predicted[s];
    if (g.length !== p.length) {
      throw new RangeError(
        `Cannot evaluate sentence ${s}: expected ${g.length} predicted tags as in the gold standard, found ${p.length}`,
      );
    }
    for (let t = 0; t < g.length; t++) scorer.token(g[t], p[t]);
    scorer.boundary();
  }
  return scorer.counts();
}

/** Precision, recall and F1 as fractions in [0, 1], with the counts. */
export interface EntityScores extends TypeCounts {
  /** correct / guessed (0 when nothing was guessed). */
  precision: number;
  /** correct / gold (0 when there is no gold chunk). */
  recall: number;
  /** The harmonic mean of precision and recall (0 when both are 0). */
  f1: number;
}

/** Entity-level results in fractions, overall and per type (types sorted as conlleval sorts them). */
export interface EntityEvaluation {
  /** Tokens evaluated. */
  tokens: number;
  /** Token accuracy in [0, 1] (full tag equal). */
  accuracy: number;
  /** Over all types. */
  overall: EntityScores;
  /** Per type, sorted by type. */
  types: (EntityScores & { type: string })[];
}

function scores(c: TypeCounts): EntityScores {
  const precision = c.guessed > 0 ? c.correct / c.guessed : 0;
  const recall = c.gold > 0 ? c.correct / c.gold : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { ...c, precision, recall, f1 };
}

/**
 * Compares strings as Perl's `sort` does on UTF-8 bytes (code point order).
 *
 * @param a A string.
 * @param b Another string.
 * @returns Negative, zero or positive.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(["b", "B", "é", ""].sort(comparePerl), ["", "B", "b", "é"]);
 * ```
 */
export function comparePerl(a: string, b: string): number {
  const ia = a[Symbol.iterator](), ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next(), y = ib.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    const cx = x.value.codePointAt(0)!, cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx - cy;
  }
}

/**
 * Turns counts into precision, recall and F1 (fractions).
 *
 * @param counts From {@linkcode conllevalCounts} or a {@linkcode ConllevalScorer}.
 * @returns The scores.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const e = entityEvaluation(conllevalCounts([["B-PER", "O"]], [["B-PER", "B-PER"]]));
 * assert.equal(e.overall.precision, 0.5);
 * assert.equal(e.overall.recall, 1);
 * assert.equal(e.accuracy, 0.5);
 * ```
 */
export function entityEvaluation(counts: ConllevalCounts): EntityEvaluation {
  const types = Object.keys(counts.types).sort(comparePerl)
    .map((type) => ({ type, ...scores(counts.types[type]) }));
  return {
    tokens: counts.tokens,
    accuracy: counts.tokens > 0 ? counts.correctTags / counts.tokens : 0,
    overall: scores(counts),
    types,
  };
}

/**
 * Formats a number as C's `printf("%.2f")` does: round to nearest, ties to
 * even on the exact binary value (JavaScript's `toFixed` rounds ties up).
 *
 * @param x A finite number.
 * @returns Two decimals.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(printf2(0.125), "0.12");
 * assert.equal(printf2(0.375), "0.38");
 * assert.equal(printf2(66.66666), "66.67");
 * ```
 */
export function printf2(x: number): string {
  // The only exact ties at the third decimal are odd multiples of 1/8; toFixed rounds
  // .125 and .625 up where C rounds them to even (down); .375 and .875 agree.
  const a = Math.abs(x);
  const eighths = a * 8;
  if (Number.isInteger(eighths) && eighths < 2 ** 50 && eighths % 4 === 1) {
    return (x < 0 ? "-" : "") + (a - 0.001).toFixed(2);
  }
  return x.toFixed(2);
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

function pct(x: number): string {
  return printf2(x).padStart(6);
}

/**
 * Prints counts in `conlleval.pl`'s report format, byte for byte: the
 * "processed" line, the overall "accuracy" line (when there were tokens) and
 * one line per type, computed with the script's arithmetic (percentages,
 * `%6.2f`, `%17s`).
 *
 * @param counts The counts.
 * @returns The report, ending in a newline.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = formatConlleval(conllevalCounts([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]]));
 * assert.equal(
 *   text,
 *   "processed 3 tokens with 1 phrases; found: 1 phrases; correct: 1.\n" +
 *     "accuracy: 100.00%; precision: 100.00%; recall: 100.00%; FB1: 100.00\n" +
 *     "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n",
 * );
 * ```
 */
export function formatConlleval(counts: ConllevalCounts): string {
  const c = counts;
  let precision = 0, recall = 0, fb1 = 0;
  if (c.guessed > 0) precision = 100 * c.correct / c.guessed;
  if (c.gold > 0) recall = 100 * c.correct / c.gold;
  if (precision + recall > 0) fb1 = 2 * precision * recall / (precision + recall);
  let out = `processed ${c.tokens} tokens with ${c.gold} phrases; ` +
    `found: ${c.guessed} phrases; correct: ${c.correct}.\n`;
  if (c.tokens > 0) {
    out += `accuracy: ${pct(100 * c.correctTags / c.tokens)}%; precision: ${pct(precision)}%; ` +
      `recall: ${pct(recall)}%; FB1: ${pct(fb1)}\n`;
  }
  // Perl merges the keys of %foundCorrect and %foundGuessed, sorts them and drops
  // repeats, except that a repeated "" (false in Perl) is printed twice.
  const keys: string[] = [];
  for (const [k, v] of Object.entries(c.types)) {
    if (v.gold > 0) keys.push(k);
    if (v.guessed > 0) keys.push(k);
  }
  keys.sort(comparePerl);
  const sorted: string[] = [];
  let last: string | undefined;
  for (const k of keys) {
    if (!last || last === "0" || last !== k) sorted.push(k);
    last = k;
  }
  for (const k of sorted) {
    const t = c.types[k];
    const p = t.guessed > 0 ? 100 * t.correct / t.guessed : 0;
    const r = t.gold > 0 ? 100 * t.correct / t.gold : 0;
    const f = p + r === 0 ? 0 : 2 * p * r / (p + r);
    const name = " ".repeat(Math.max(0, 17 - utf8Length(k))) + k;
    out += `${name}: precision: ${pct(p)}%; recall: ${pct(r)}%; FB1: ${pct(f)}  ${t.guessed}\n`;
  }
  return out;
}

/** Options for {@linkcode parseConllevalInput}. */
export interface ConllevalInputOptions extends ConllevalOptions {
  /** The name used in error messages. Default `"<input>"`. */
  path?: string;
  /** The field delimiter (`conlleval.pl -d`). Default one space. */
  delimiter?: string;
  /** The first field that marks a sentence boundary. Default `-X-`. */
  boundary?: string;
}

/** A predictions file read the way `conlleval.pl` reads it. */
export interface ConllevalInput {
  /** The counts. */
  counts: ConllevalCounts;
  /** Gold tags per sentence (boundary lines excluded). */
  gold: string[][];
  /** Predicted tags per sentence. */
  predicted: string[][];
}

/**
 * Reads a predictions file of lines `token … gold predicted` (blank lines or
 * lines starting with `-X-` between sentences) exactly as `conlleval.pl` does:
 * fields are split on the delimiter (default one space, empty trailing fields
 * dropped); every non-empty line must have as many fields as the first line;
 * the last two fields are the gold and the predicted tag. Unlike the script, a
 * `\r` before the line end is ignored.
 *
 * @param text The file's text.
 * @param options Chunk rules, delimiter, boundary marker, the name for errors.
 * @returns The counts and the tag sequences.
 * @throws {DataFormatError} On a line with another field count than the first
 *   one, or with fewer than two fields.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const input = parseConllevalInput("Ada NNP B-PER B-PER\nsang VBD O O\n\nHi UH O B-LOC\n");
 * assert.equal(input.counts.tokens, 3);
 * assert.deepEqual(input.predicted, [["B-PER", "O"], ["B-LOC"]]);
 * ```
 */
export function parseConllevalInput(
  text: string,
  options: ConllevalInputOptions = {},
): ConllevalInput {
  const path = options.path ?? "<input>";
  const delimiter = options.delimiter ?? " ";
  const boundaryMark = options.boundary ?? "-X-";
  const scorer = new ConllevalScorer(options);
  const gold: string[][] = [];
  const predicted: string[][] = [];
  let g: string[] = [], p: string[] = [];
  const flush = () => {
    if (g.length > 0) {
      gold.push(g);
      predicted.push(p);
    }
    g = [];
    p = [];
  };
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  let expected = -1;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (line.endsWith("\r")) line = line.slice(0, -1);
    const fields = line.split(delimiter);
    while (fields.length > 0 && fields[fields.length - 1] === "") fields.pop();
    if (expected < 0) {
      if (fields.length > 0) expected = fields.length;
    } else if (fields.length !== expected && fields.length !== 0) {
      throw new DataFormatError(
        path,
        i + 1,
        `expected ${expected} fields as on the first line, found ${fields.length}`,
      );
    }
    if (fields.length === 0 || fields[0] === boundaryMark) {
      scorer.boundary();
      flush();
      continue;
    }
    if (fields.length < 2) {
      throw new DataFormatError(
        path,
        i + 1,
        `expected at least 2 fields (gold and predicted tags), found ${fields.length}`,
      );
    }
    const guess = fields[fields.length - 1];
    const correct = fields[fields.length - 2];
    scorer.token(correct, guess);
    g.push(correct);
    p.push(guess);
  }
  flush();
  return { counts: scorer.counts(), gold, predicted };
}

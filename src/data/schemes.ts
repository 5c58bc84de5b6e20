/**
 * Tag schemes (IOB1, IOB2/BIO, IOBES/BIOES, BILOU): checking tags, detecting
 * the scheme of a corpus, converting between schemes, and the transition mask
 * a CRF's constrained Viterbi uses.
 *
 * A tag is `O` or `P-TYPE` where the prefix `P` is one of B, I, E, S, L, U and
 * the type is letters, digits, `_`, `.`, `:` or inner `-` (`B-PER`, `I-geo`).
 *
 * @module
 */

/** The tag schemes this module knows. `BIO` means IOB2 and `BIOES` means IOBES. */
export type TagScheme = "IOB1" | "IOB2" | "IOBES" | "BILOU";

/** A tag taken apart: its prefix (`"O"` for the outside tag) and its type (`""` for `O`). */
export interface TagParts {
  /** `"O"`, `"B"`, `"I"`, `"E"`, `"S"`, `"L"` or `"U"`. */
  prefix: string;
  /** The entity type; `""` for `O`. */
  type: string;
}

const TYPE_RE = /^[\p{L}\p{N}_.:$]+(?:-[\p{L}\p{N}_.:$]+)*$/u;
const PREFIXES = new Set(["B", "I", "E", "S", "L", "U"]);

/**
 * Checks one tag and says what is wrong with it, or returns `undefined` when it
 * is a well-formed tag of some scheme.
 *
 * @param tag The tag.
 * @returns `undefined` for a good tag, otherwise a sentence saying what came.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(checkTag("B-PER"), undefined);
 * assert.equal(checkTag("O"), undefined);
 * assert.match(checkTag("I-")!, /malformed type/);
 * assert.match(checkTag("PER")!, /fits no tag scheme/);
 * ```
 */
export function checkTag(tag: string): string | undefined {
  if (tag === "O") return undefined;
  const dash = tag.indexOf("-");
  const prefix = dash < 0 ? tag : tag.slice(0, dash);
  if (dash < 0 || !PREFIXES.has(prefix)) {
    return `expected a tag O or B-, I-, E-, S-, L-, U- and a type, found "${tag}" that fits no tag scheme`;
  }
  const type = tag.slice(dash + 1);
  if (!TYPE_RE.test(type)) {
    return `expected an entity type after "${prefix}-", found "${tag}" with a malformed type`;
  }
  return undefined;
}

/**
 * Splits a tag into prefix and type. `O` gives `{prefix: "O", type: ""}`.
 *
 * @param tag A tag (not checked; see {@linkcode checkTag}).
 * @returns The prefix and the type.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(splitTag("I-geo"), { prefix: "I", type: "geo" });
 * assert.deepEqual(splitTag("O"), { prefix: "O", type: "" });
 * ```
 */
export function splitTag(tag: string): TagParts {
  if (tag === "O") return { prefix: "O", type: "" };
  const dash = tag.indexOf("-");
  if (dash < 0) return { prefix: tag, type: "" };
  return { prefix: tag.slice(0, dash), type: tag.slice(dash + 1) };
}

/**
 * Normalises a scheme name: `BIO` → `IOB2`, `BIOES` → `IOBES`, case-insensitive.
 *
 * @param name A scheme name.
 * @returns The canonical scheme.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(parseScheme("bio"), "IOB2");
 * assert.equal(parseScheme("BIOES"), "IOBES");
 * ```
 */
export function parseScheme(name: string): TagScheme {
  const n = name.toUpperCase();
  if (n === "BIO" || n === "IOB2") return "IOB2";
  if (n === "IOB1" || n === "IOB") return "IOB1";
  if (n === "IOBES" || n === "BIOES") return "IOBES";
  if (n === "BILOU") return "BILOU";
  throw new TypeError(
    `Cannot parse tag scheme: expected IOB1, IOB2 (BIO), IOBES (BIOES) or BILOU, found "${name}"`,
  );
}

/** A labelled span `[start, end)` of token positions. */
export interface Span {
  /** The entity type. */
  type: string;
  /** First token (inclusive). */
  start: number;
  /** One past the last token. */
  end: number;
}

/**
 * Reads entity spans from tags of any scheme. A span starts at B, S or U, or at
 * I, E or L when the previous token is O, has another type, or closed a span
 * (E, S, L, U); it continues at I, E, L of the same type. This reads valid IOB1,
 * IOB2, IOBES and BILOU sequences alike and repairs invalid ones the way most
 * taggers do (an I- after O starts a span).
 *
 * @param tags One sentence's tags.
 * @returns The spans in order.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(tagsToSpans(["B-PER", "I-PER", "O", "S-LOC"]), [
 *   { type: "PER", start: 0, end: 2 },
 *   { type: "LOC", start: 3, end: 4 },
 * ]);
 * ```
 */
export function tagsToSpans(tags: readonly string[]): Span[] {
  const spans: Span[] = [];
  let current: Span | undefined;
  let prevPrefix = "O";
  for (let i = 0; i < tags.length; i++) {
    const { prefix, type } = splitTag(tags[i]);
    if (prefix === "O") {
      current = undefined;
    } else {
      const continues = current !== undefined && current.type === type &&
        (prefix === "I" || prefix === "E" || prefix === "L") &&
        !(prevPrefix === "E" || prevPrefix === "S" || prevPrefix === "L" || prevPrefix === "U");
      if (continues) {
        current!.end = i + 1;
      } else {
        current = { type, start: i, end: i + 1 };
        spans.push(current);
      }
    }
    prevPrefix = prefix;
  }
  return spans;
}

/**
 * Writes spans as tags of a scheme.
 *
 * @param spans Non-overlapping spans, in order.
 * @param length The sentence length.
 * @param scheme The target scheme.
 * @returns One tag per token.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const spans = [{ type: "PER", start: 0, end: 2 }, { type: "PER", start: 2, end: 3 }];
 * assert.deepEqual(spansToTags(spans, 3, "IOB1"), ["I-PER", "I-PER", "B-PER"]);
 * assert.deepEqual(spansToTags(spans, 3, "BILOU"), ["B-PER", "L-PER", "U-PER"]);
 * ```
 */
export function spansToTags(spans: readonly Span[], length: number, scheme: TagScheme): string[] {
  const tags = new Array<string>(length).fill("O");
  let prevEnd = -1;
  let prevType = "";
  for (const { type, start, end } of spans) {
    const single = end - start === 1;
    const last = end - 1;
    for (let i = start; i < end; i++) {
      let p: string;
      switch (scheme) {
        case "IOB1":
          p = i === start && prevEnd === start && prevType === type ? "B" : "I";
          break;
        case "IOB2":
          p = i === start ? "B" : "I";
          break;
        case "IOBES":
          p = single ? "S" : i === start ? "B" : i === last ? "E" : "I";
          break;
        case "BILOU":
          p = single ? "U" : i === start ? "B" : i === last ? "L" : "I";
          break;
      }
      tags[i] = `${p}-${type}`;
    }
    prevEnd = end;
    prevType = type;
  }
  return tags;
}

/**
 * Converts one sentence's tags from any scheme to `to` (through
 * {@linkcode tagsToSpans}).
 *
 * @param tags One sentence's tags.
 * @param to The target scheme.
 * @returns The converted tags.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(convertTags(["B-ORG", "I-ORG", "I-ORG", "O"], "IOBES"), [
 *   "B-ORG", "I-ORG", "E-ORG", "O",
 * ]);
 * ```
 */
export function convertTags(tags: readonly string[], to: TagScheme): string[] {
  return spansToTags(tagsToSpans(tags), tags.length, to);
}

/**
 * Detects the scheme of tag sequences: BILOU if any L- or U- tag occurs, else
 * IOBES if any E- or S- occurs, else IOB1 if some span starts with I- (after
 * O, another type, or at the sentence start) and every B- follows a tag of its
 * own type, else IOB2 (also for sequences without entities).
 *
 * @param sequences Tag sequences (one per sentence).
 * @returns The detected scheme.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(detectScheme([["I-PER", "I-PER", "B-PER", "O"]]), "IOB1");
 * assert.equal(detectScheme([["B-PER", "I-PER", "O"]]), "IOB2");
 * assert.equal(detectScheme([["S-PER", "O"]]), "IOBES");
 * ```
 */
export function detectScheme(sequences: Iterable<readonly string[]>): TagScheme {
  let bilou = false, iobes = false, iStarts = 0, looseB = 0;
  for (const tags of sequences) {
    let prev: TagParts = { prefix: "O", type: "" };
    for (const tag of tags) {
      const t = splitTag(tag);
      if (t.prefix === "L" || t.prefix === "U") bilou = true;
      else if (t.prefix === "E" || t.prefix === "S") iobes = true;
      else if (t.prefix === "I" && (prev.prefix === "O" || prev.type !== t.type)) iStarts++;
      else if (t.prefix === "B" && (prev.prefix === "O" || prev.type !== t.type)) looseB++;
      prev = t;
    }
  }
  if (bilou) return "BILOU";
  if (iobes) return "IOBES";
  if (iStarts > 0 && looseB === 0) return "IOB1";
  return "IOB2";
}

/**
 * Which tag may follow which under a scheme: the hard constraints of a CRF's
 * constrained Viterbi. All arrays hold 1 (allowed) or 0 (forbidden).
 *
 * Layout: `transitions[from * K + to]` (row = previous tag, column = next
 * tag), matching `crf.transitions [from, to]`; `start[k]` says whether a
 * sentence may begin with tag k, `end[k]` whether it may end with it.
 */
export interface TransitionMask {
  /** K, the number of tags. */
  size: number;
  /** (K, K) row-major, `[from * K + to]`. */
  transitions: Uint8Array;
  /** (K) tags allowed first. */
  start: Uint8Array;
  /** (K) tags allowed last. */
  end: Uint8Array;
}

/**
 * Builds the allowed-transition mask for a tag list in a scheme.
 *
 * - IOB2: I-X only after B-X or I-X; a sentence cannot start with I-X.
 * - IOB1: B-X only after I-X or B-X; a sentence cannot start with B-X.
 * - IOBES/BILOU: after B-X or I-X only I-X and E-X (L-X); after O, E-, S-
 *   (L-, U-) only O, B- and S- (U-); start with O, B-, S- (U-); end with
 *   O, E-, S- (L-, U-).
 *
 * @param tags The tag list (index k is tag id k); every tag must belong to the scheme.
 * @param scheme The scheme.
 * @returns The mask.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const tags = ["O", "B-PER", "I-PER"];
 * const mask = transitionMask(tags, "IOB2");
 * assert.equal(mask.transitions[0 * 3 + 2], 0); // O → I-PER forbidden
 * assert.equal(mask.transitions[1 * 3 + 2], 1); // B-PER → I-PER allowed
 * assert.deepEqual([...mask.start], [1, 1, 0]);
 * ```
 */
export function transitionMask(tags: readonly string[], scheme: TagScheme): TransitionMask {
  const K = tags.length;
  const parts = tags.map((tag) => {
    const bad = checkTag(tag);
    if (bad) throw new TypeError(`Cannot build a transition mask: ${bad}`);
    const p = splitTag(tag);
    const allowed = scheme === "IOB1" || scheme === "IOB2"
      ? "OBI"
      : scheme === "IOBES"
      ? "OBIES"
      : "OBILU";
    if (!allowed.includes(p.prefix)) {
      throw new TypeError(
        `Cannot build a transition mask: expected ${scheme} tags (${
          allowed.split("").join(", ")
        }), found "${tag}"`,
      );
    }
    return p;
  });
  // Map BILOU onto IOBES letters: L ≡ E, U ≡ S.
  const norm = (p: string) => (p === "L" ? "E" : p === "U" ? "S" : p);
  const transitions = new Uint8Array(K * K);
  const start = new Uint8Array(K);
  const end = new Uint8Array(K);
  for (let j = 0; j < K; j++) {
    const b = parts[j];
    const pb = norm(b.prefix);
    if (scheme === "IOB2") start[j] = pb === "I" ? 0 : 1;
    else if (scheme === "IOB1") start[j] = pb === "B" ? 0 : 1;
    else start[j] = pb === "O" || pb === "B" || pb === "S" ? 1 : 0;
    if (scheme === "IOB1" || scheme === "IOB2") end[j] = 1;
    else end[j] = pb === "O" || pb === "E" || pb === "S" ? 1 : 0;
    for (let i = 0; i < K; i++) {
      const a = parts[i];
      const pa = norm(a.prefix);
      let ok: boolean;
      if (scheme === "IOB2") ok = pb !== "I" || ((pa === "B" || pa === "I") && a.type === b.type);
      else if (scheme === "IOB1") {
        ok = pb !== "B" || ((pa === "B" || pa === "I") && a.type === b.type);
      } else {
        const inside = pa === "B" || pa === "I";
        if (inside) ok = (pb === "I" || pb === "E") && a.type === b.type;
        else ok = pb === "O" || pb === "B" || pb === "S";
      }
      transitions[i * K + j] = ok ? 1 : 0;
    }
  }
  return { size: K, transitions, start, end };
}

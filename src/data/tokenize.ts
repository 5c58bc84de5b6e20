/**
 * A tokenizer for raw text that keeps character offsets into the original
 * string, cut the way the CoNLL-2003 and Penn Treebank corpora are cut, and
 * a sentence splitter on top of it.
 *
 * Offsets are UTF-16 code-unit offsets (what `String.prototype.slice` takes),
 * `end` exclusive, so `text.slice(token.start, token.end) === token.text`
 * always holds.
 *
 * What is cut, in order of priority at each position:
 *
 * - Whitespace (every Unicode space: `\s` of JavaScript, plus U+0085 NEXT
 *   LINE, U+180E and U+200B ZERO WIDTH SPACE) separates tokens and is never
 *   part of one.
 * - URLs (`http://`, `https://`, `ftp://`, `www.`) and e-mail addresses stay
 *   whole, less trailing punctuation (a `)` stays when it closes a `(` inside
 *   the URL); `@handle` and `#tag` stay whole at the start of a word.
 * - Words are runs of letters, digits and combining marks of any script
 *   (`\p{L}`, `\p{N}`, `\p{M}`, and the joiners U+200C/U+200D) glued by
 *   hyphens, apostrophes, periods, slashes, `&`, `_` or `·` between two of
 *   them, and by `,` or `:` between two digits. So `Anglo-French`,
 *   `state-of-the-art`, `O'Neil`, `AT&T`, `3.5`, `1,000`, `12:30`,
 *   `1996-08-22` and `example.com` are one token each.
 * - A period after a word is split off ("Jobs." → `Jobs` `.`) unless the
 *   word is an abbreviation: one in {@linkcode ABBREVIATIONS} (or added with
 *   {@linkcode TokenizeOptions.abbreviations}), single letters with periods
 *   (`U.S.`, `e.g.`, `a.m.`), or an initial (one capital letter: `J.`).
 *   `No.`, `Vol.`, `pp.`, `Fig.` and a few more count only before a number.
 *   An abbreviation that ends a sentence stays whole ("in the U.S." →
 *   `U.S.`, no extra `.` token): the simpler of the two cuts CoNLL uses.
 * - English clitics split off the end of a word: `n't`, `'s`, `'re`, `'m`,
 *   `'ve`, `'ll`, `'d`, with a straight or a curly (’) apostrophe ("don't" →
 *   `do` `n't`, "can't" → `ca` `n't`, "Apple's" → `Apple` `'s`). Other
 *   apostrophes inside a word stay (`O'Neil`, `y'all`, `l'homme`).
 *   `'n'`, `'n`, `'em`, `'til`, `'tis`, `'twas`, `'cause` and `'90s` are
 *   tokens of their own.
 * - Numbers: a sign (`-`, `+`, `−`) or a leading `.` stays with a number
 *   when it starts a word ("-3", ".5"); currency symbols and `%` are tokens
 *   of their own ("$5" → `$` `5`, "5%" → `5` `%`).
 * - `...` (any run of two or more periods), `--` (two or more hyphens),
 *   em and en dashes, and `` `` `` and `''` are single tokens.
 * - Emoji are one token per emoji, with their modifiers, variation
 *   selectors, zero-width-joiner sequences and flags.
 * - Anything else is one token per code point with the combining marks that
 *   follow it, so brackets, quotes (“ ” ‘ ’ « » " '), `,` `;` `:` `!` `?` `…`
 *   and symbols stand alone and a surrogate pair is never cut in two.
 *
 * Left out on purpose: no word segmentation for scripts written without
 * spaces (Chinese, Japanese, Thai runs are one token), no splitting of
 * clitics in languages other than English, and no splitting of two
 * sentences glued without a space ("end.The" is one token, like a domain).
 *
 * @module
 */

/**
 * One token: its text and where it is in the original string.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "Hi, Ada";
 * const token: Token = { text: "Ada", start: 4, end: 7 };
 * assert.equal(text.slice(token.start, token.end), token.text);
 * ```
 */
export interface Token {
  /** The token, exactly as it is in the original string. */
  text: string;
  /** The UTF-16 offset of its first code unit. */
  start: number;
  /** The UTF-16 offset just past its last code unit (exclusive). */
  end: number;
}

/**
 * One sentence found by {@linkcode sentences}: its span in the original
 * string and its tokens (offsets into the original string, not into the
 * sentence).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "Go. Now.";
 * const second: TextSentence = {
 *   start: 4,
 *   end: 8,
 *   tokens: [{ text: "Now", start: 4, end: 7 }, { text: ".", start: 7, end: 8 }],
 * };
 * assert.equal(text.slice(second.start, second.end), "Now.");
 * ```
 */
export interface TextSentence {
  /** The offset of the first token's first code unit. */
  start: number;
  /** The offset just past the last token (exclusive). */
  end: number;
  /** The tokens of the sentence, in order (never empty). */
  tokens: Token[];
}

/**
 * Options for {@linkcode tokenize} and {@linkcode sentences}.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const options: TokenizeOptions = { abbreviations: ["Gmbh"] };
 * assert.deepEqual(tokenize("Siemens Gmbh.", options).map((t) => t.text), ["Siemens", "Gmbh."]);
 * ```
 */
export interface TokenizeOptions {
  /**
   * More abbreviations whose period stays with the word, added to
   * {@linkcode ABBREVIATIONS}, with or without their final period (`"Gmbh"`
   * or `"Gmbh."`). Matched as written, in all capitals, and, for entries
   * written in lower case, with a capital first letter.
   */
  abbreviations?: Iterable<string>;
}

/**
 * The abbreviations whose period stays with the word (without that final
 * period): titles, company suffixes, months, a few U.S. states and Latin
 * ones. Single letters with periods (`U.S.`, `e.g.`) and initials (`J.`)
 * need no entry. An entry matches as written, in all capitals (`INC.`) and,
 * if written in lower case, with a capital first letter (`Etc.`), so a
 * lower-case word like "ill." is not taken for "Ill.".
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(ABBREVIATIONS.has("Inc"));
 * assert.deepEqual(tokenize("Apple Inc.").map((t) => t.text), ["Apple", "Inc."]);
 * ```
 */
export const ABBREVIATIONS: ReadonlySet<string> = new Set([
  // Titles and ranks.
  "Mr",
  "Mrs",
  "Ms",
  "Messrs",
  "Mme",
  "Mlle",
  "Dr",
  "Prof",
  "Sr",
  "Jr",
  "St",
  "Rev",
  "Hon",
  "Pres",
  "Gov",
  "Sen",
  "Rep",
  "Gen",
  "Lt",
  "Col",
  "Maj",
  "Capt",
  "Cmdr",
  "Adm",
  "Sgt",
  "Cpl",
  "Pvt",
  "Supt",
  "Insp",
  "Det",
  "Ph.D",
  // Companies and organisations.
  "Inc",
  "Corp",
  "Ltd",
  "Co",
  "Cos",
  "Bros",
  "Cie",
  "Pty",
  "Mfg",
  "Assn",
  "Dept",
  "Univ",
  "Intl",
  // Places.
  "Mt",
  "Ft",
  "Ave",
  "Blvd",
  "Rd",
  "Ala",
  "Ariz",
  "Ark",
  "Calif",
  "Colo",
  "Conn",
  "Fla",
  "Ga",
  "Kan",
  "Ky",
  "Md",
  "Mich",
  "Minn",
  "Neb",
  "Nev",
  "Okla",
  "Pa",
  "Tenn",
  "Tex",
  "Va",
  "Vt",
  "Wis",
  "Wyo",
  // Months and days (not "May", "Sat", "Sun", "Wed": those are words too).
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Sept",
  "Oct",
  "Nov",
  "Dec",
  "Tue",
  "Tues",
  "Thu",
  "Thur",
  "Thurs",
  "Fri",
  // Latin and other lower-case ones.
  "etc",
  "vs",
  "cf",
  "al",
  "approx",
  "ca",
  "viz",
  "esp",
  "incl",
]);

/** Abbreviations only when a number follows ("No. 1", "pp. 12"). */
const NUMBER_ABBREVIATIONS: ReadonlySet<string> = new Set([
  "No",
  "Nos",
  "no",
  "nos",
  "Vol",
  "vol",
  "Vols",
  "p",
  "pp",
  "Fig",
  "fig",
  "Art",
  "art",
  "Ch",
  "ch",
  "Sec",
  "sec",
  "Nr",
  "nr",
]);

// Character classes. All sticky regexes are only ever run at code-point
// boundaries, so the `u` flag never sees half a surrogate pair.
const SPACE = /[\s\u0085\u180e\u200b]/u;
const SPACE_RUN = /[\s\u0085\u180e\u200b]+/uy;
const WORD_CHAR = /^[\p{L}\p{N}\p{M}]$/u;
const WORD_RUN = /[\p{L}\p{N}\p{M}\u200c\u200d]+/uy;
const DIGIT = /^\p{Nd}$/u;
const URL = /(?:(?:https?|ftp):\/\/|www\.)[^\s\u0085\u180e\u200b]+/iuy;
const URL_TRAILING = /^[.,;:!?'"”’»›…>\]}*]$/u;
const EMAIL =
  /[\p{L}\p{N}\p{M}][\p{L}\p{N}\p{M}._%+-]*@[\p{L}\p{N}\p{M}-]+(?:\.[\p{L}\p{N}\p{M}-]+)*\.\p{L}{2,}(?![\p{L}\p{N}\p{M}])/uy;
const HANDLE = /[@#][\p{L}\p{N}\p{M}_]+/uy;
const ELLIPSIS = /\.{2,}/y;
const DASHES = /-{2,}|[\u2012-\u2015\u2e3a\u2e3b]+/y;
const PTB_QUOTES = /''|``/y;
const APOSTROPHE_WORD =
  /(?:['’](?:n['’]?|em|til|tis|twas|cause|\p{Nd}{2}s?|s|re|m|ve|ll|d)|‘n’)(?![\p{L}\p{N}\p{M}])/iuy;
const EMOJI =
  /\p{Regional_Indicator}\p{Regional_Indicator}|\p{Extended_Pictographic}[\p{M}\p{Emoji_Modifier}\u{e0020}-\u{e007f}]*(?:\u200d\p{Extended_Pictographic}[\p{M}\p{Emoji_Modifier}\u{e0020}-\u{e007f}]*)*/uy;
const ANY = /[^][\p{M}]*/uy;
const CLITIC = /['’](?:s|re|m|ve|ll|d)$/i;
const NEGATION = /n['’]t$/i;
const DOTTED = /^(?:\p{L}\p{M}*\.)+\p{L}\p{M}*$/u;
const INITIAL = /^\p{Lu}\p{M}*$/u;
const NUMBER_AHEAD = /[\s\u0085\u180e\u200b]*\p{Nd}/uy;
const HYPHENS = "-\u2010\u2011";
const JOINERS = "-\u2010\u2011'’./&_·";
const DIGIT_JOINERS = ",:";
const SIGNS = "-+\u2212";

/**
 * Cuts raw text into tokens with their offsets into the text, CoNLL-2003 /
 * Penn Treebank style (see the module documentation for every rule).
 *
 * @param text The raw text.
 * @param options More abbreviations.
 * @returns The tokens in order; `[]` for empty or whitespace-only text.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "Mr. O'Neil doesn't work for Apple Inc. in the U.S. — he paid $5.";
 * assert.deepEqual(tokenize(text).map((t) => t.text), [
 *   "Mr.", "O'Neil", "does", "n't", "work", "for", "Apple", "Inc.", "in", "the", "U.S.",
 *   "—", "he", "paid", "$", "5", ".",
 * ]);
 * for (const t of tokenize(text)) assert.equal(text.slice(t.start, t.end), t.text);
 * ```
 */
export function tokenize(text: string, options: TokenizeOptions = {}): Token[] {
  if (typeof text !== "string") {
    throw new TypeError(`Cannot tokenize: expected a string, found ${describe(text)}`);
  }
  const extra = extraAbbreviations(options);
  const tokens: Token[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = charAt(text, i);
    const space = sticky(SPACE_RUN, text, i);
    if (space > i) {
      i = space;
      continue;
    }
    const prevIsWord = isWordChar(charBefore(text, i));
    let end: number;
    if (isWordChar(c)) {
      if ((end = sticky(URL, text, i)) > i) {
        end = trimUrl(text, i, end);
        push(tokens, text, i, end);
      } else if ((end = sticky(EMAIL, text, i)) > i) {
        push(tokens, text, i, end);
      } else {
        end = scanWord(tokens, text, i, i, extra);
      }
    } else if ((c === "@" || c === "#") && !prevIsWord && (end = sticky(HANDLE, text, i)) > i) {
      push(tokens, text, i, end);
    } else if ((end = sticky(DASHES, text, i)) > i || (end = sticky(ELLIPSIS, text, i)) > i) {
      push(tokens, text, i, end);
    } else if (!prevIsWord && startsNumber(text, i)) {
      // A sign or a leading period that belongs to the number after it.
      const digit = text[i + 1] === "." ? i + 2 : i + 1;
      end = scanWord(tokens, text, digit, i, extra);
    } else if (
      (end = sticky(PTB_QUOTES, text, i)) > i || (end = sticky(APOSTROPHE_WORD, text, i)) > i ||
      (end = sticky(EMOJI, text, i)) > i
    ) {
      push(tokens, text, i, end);
    } else {
      end = sticky(ANY, text, i);
      push(tokens, text, i, end);
    }
    i = end;
  }
  return tokens;
}

/**
 * Splits raw text into sentences, each with its tokens (from
 * {@linkcode tokenize}, offsets into the whole text).
 *
 * A sentence ends at a `.`, `!` or `?` token (with any `.`, `!`, `?` and
 * closing quotes or brackets right after it, without a space) that is
 * followed by whitespace and then a token starting with an upper-case or
 * uncased letter, a digit, a quote or an opening bracket. Periods that belong
 * to abbreviations ("Mr.", "Inc.", "U.S.", "e.g.", "Jan.") or numbers ("3.5")
 * are inside their tokens, so they never end a sentence; an abbreviation at
 * the real end of a sentence therefore does not end it either. A blank line
 * (two line breaks) always ends a sentence. An ellipsis does not.
 *
 * @param text The raw text.
 * @param options More abbreviations.
 * @returns The sentences in order; `[]` for empty or whitespace-only text.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = 'Mr. Smith left Apple Inc. in Jan. 2001. He paid 3.5 million! "Why?" he asked.';
 * assert.deepEqual(sentences(text).map((s) => text.slice(s.start, s.end)), [
 *   "Mr. Smith left Apple Inc. in Jan. 2001.",
 *   "He paid 3.5 million!",
 *   '"Why?" he asked.',
 * ]);
 * ```
 */
export function sentences(text: string, options: TokenizeOptions = {}): TextSentence[] {
  if (typeof text !== "string") {
    throw new TypeError(`Cannot split sentences: expected a string, found ${describe(text)}`);
  }
  const tokens = tokenize(text, options);
  const out: TextSentence[] = [];
  let first = 0;
  let k = 0;
  while (k < tokens.length) {
    let last = k;
    const ends = TERMINATORS.has(tokens[k].text);
    if (ends) {
      while (
        last + 1 < tokens.length && tokens[last + 1].start === tokens[last].end &&
        (TERMINATORS.has(tokens[last + 1].text) || CLOSERS.has(tokens[last + 1].text))
      ) last++;
    }
    const next = tokens[last + 1];
    const boundary = next === undefined ||
      blankLine(text.slice(tokens[last].end, next.start)) ||
      (ends && next.start > tokens[last].end && opensSentence(next.text));
    if (boundary) {
      const own = tokens.slice(first, last + 1);
      out.push({ start: own[0].start, end: own[own.length - 1].end, tokens: own });
      first = last + 1;
    }
    k = last + 1;
  }
  return out;
}

/**
 * The original text covered by tokens `from` (inclusive) to `to`
 * (exclusive), with whatever spaces lie between them, as in the original:
 * what an entity spanning several tokens reads as.
 *
 * @param text The original text the tokens were cut from.
 * @param tokens The tokens, from {@linkcode tokenize}.
 * @param from The first token, from 0.
 * @param to One past the last token; `from === to` gives `""`.
 * @returns `text.slice(tokens[from].start, tokens[to - 1].end)`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "He joined  Apple Inc. today.";
 * const tokens = tokenize(text);
 * assert.equal(spanText(text, tokens, 2, 4), "Apple Inc.");
 * assert.equal(spanText(text, tokens, 1, 3), "joined  Apple");
 * ```
 */
export function spanText(text: string, tokens: readonly Token[], from: number, to: number): string {
  if (
    !Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from > to ||
    to > tokens.length
  ) {
    throw new RangeError(
      `Cannot take the text of tokens [${from}, ${to}): expected integers with ` +
        `0 <= from <= to <= ${tokens.length} (the number of tokens)`,
    );
  }
  if (from === to) return "";
  const start = tokens[from].start, end = tokens[to - 1].end;
  if (!(start >= 0 && start <= end && end <= text.length)) {
    throw new RangeError(
      `Cannot take the text of tokens [${from}, ${to}): expected offsets within the text ` +
        `(length ${text.length}), found ${start} to ${end}; were the tokens cut from another text?`,
    );
  }
  return text.slice(start, end);
}

const TERMINATORS: ReadonlySet<string> = new Set([".", "!", "?"]);
const CLOSERS: ReadonlySet<string> = new Set([
  '"',
  "'",
  "''",
  "”",
  "’",
  "»",
  "›",
  ")",
  "]",
  "}",
]);
const OPENS = /^[\p{Lu}\p{Lt}\p{Lo}\p{Nd}"“‘'«‹„`(\[]/u;

function opensSentence(token: string): boolean {
  return OPENS.test(token);
}

function blankLine(gap: string): boolean {
  return gap.includes("\u2029") || (gap.match(/\r\n|[\n\r\u2028]/g)?.length ?? 0) >= 2;
}

/**
 * Scans a word from `i` (a word character), pushes it (with its clitics
 * split off) as a token starting at `start`, and returns where it ends.
 */
function scanWord(
  tokens: Token[],
  text: string,
  i: number,
  start: number,
  extra: ReadonlySet<string>,
): number {
  let j = sticky(WORD_RUN, text, i);
  let wordEnd = j;
  for (;;) {
    const joiner = text[j];
    const after = charAt(text, j + 1);
    if (
      joiner !== undefined && isWordChar(after) &&
      (JOINERS.includes(joiner) ||
        (DIGIT_JOINERS.includes(joiner) && isDigit(charBefore(text, j)) && isDigit(after)))
    ) {
      j = wordEnd = sticky(WORD_RUN, text, j + 1);
      continue;
    }
    // A period that belongs to an abbreviation, which may go on with a
    // hyphen ("U.S.-led").
    if (
      joiner === "." && text[j + 1] !== "." &&
      isAbbreviation(text.slice(start, j), text, j + 1, extra)
    ) {
      j++;
      if (HYPHENS.includes(text[j] ?? "x") && isWordChar(charAt(text, j + 1))) {
        j = wordEnd = sticky(WORD_RUN, text, j + 1);
        continue;
      }
    }
    break;
  }
  if (j > wordEnd) {
    // Ends with an abbreviation period: no clitics to split.
    push(tokens, text, start, j);
    return j;
  }
  // Clitics: "shouldn't've" → "should" "n't" "'ve".
  let stem = j;
  const clitic = CLITIC.exec(text.slice(start, stem));
  const cuts: number[] = [];
  if (clitic !== null && clitic.index > 0) cuts.unshift(stem = start + clitic.index);
  const negation = NEGATION.exec(text.slice(start, stem));
  if (negation !== null && negation.index > 0) cuts.unshift(stem = start + negation.index);
  let from = start;
  for (const cut of cuts) {
    push(tokens, text, from, cut);
    from = cut;
  }
  push(tokens, text, from, j);
  return j;
}

function isAbbreviation(
  word: string,
  text: string,
  after: number,
  extra: ReadonlySet<string>,
): boolean {
  if (DOTTED.test(word) || INITIAL.test(word)) return true;
  if (known(ABBREVIATIONS, word) || known(extra, word)) return true;
  return known(NUMBER_ABBREVIATIONS, word) && sticky(NUMBER_AHEAD, text, after) > after;
}

function known(set: ReadonlySet<string>, word: string): boolean {
  if (set.has(word)) return true;
  const lower = word.toLowerCase();
  if (word === word.toUpperCase() && word !== lower) {
    // "INC" for "Inc", "ETC" for "etc".
    const title = word[0] + lower.slice(1);
    if (set.has(title) || set.has(lower)) return true;
    for (const entry of set) if (entry.toUpperCase() === word) return true;
    return false;
  }
  // "Etc" for "etc".
  return word[0] !== lower[0] && word.slice(1) === lower.slice(1) && set.has(lower);
}

function extraAbbreviations(options: TokenizeOptions): ReadonlySet<string> {
  const extra = new Set<string>();
  if (options.abbreviations === undefined) return extra;
  for (const entry of options.abbreviations) {
    if (typeof entry !== "string" || entry.replace(/\.$/, "") === "" || SPACE.test(entry)) {
      throw new TypeError(
        `Cannot use abbreviation ${JSON.stringify(entry)}: expected a non-empty string ` +
          `without spaces, such as "Gmbh" or "Gmbh."`,
      );
    }
    extra.add(entry.replace(/\.$/, ""));
  }
  return extra;
}

function startsNumber(text: string, i: number): boolean {
  const c = text[i];
  if (SIGNS.includes(c)) {
    return isDigit(text[i + 1] ?? "") || (text[i + 1] === "." && isDigit(text[i + 2] ?? ""));
  }
  return c === "." && text[i - 1] !== "." && isDigit(text[i + 1] ?? "");
}

function trimUrl(text: string, start: number, end: number): number {
  for (;;) {
    const last = text[end - 1];
    if (last === ")") {
      const url = text.slice(start, end);
      if (url.split("(").length >= url.split(")").length) return end;
      end--;
    } else if (URL_TRAILING.test(last)) {
      end--;
    } else {
      return end;
    }
  }
}

function push(tokens: Token[], text: string, start: number, end: number): void {
  tokens.push({ text: text.slice(start, end), start, end });
}

/** The end of a match of a sticky regex at `i`, or `i` if none. */
function sticky(re: RegExp, text: string, i: number): number {
  re.lastIndex = i;
  return re.test(text) ? re.lastIndex : i;
}

/** The code point at `i` as a string ("" past the end). */
function charAt(text: string, i: number): string {
  const cp = text.codePointAt(i);
  return cp === undefined ? "" : String.fromCodePoint(cp);
}

/** The code point that ends just before `i` as a string ("" at 0). */
function charBefore(text: string, i: number): string {
  if (i <= 0) return "";
  const low = text.charCodeAt(i - 1);
  if (low >= 0xdc00 && low <= 0xdfff && i >= 2) {
    const high = text.charCodeAt(i - 2);
    if (high >= 0xd800 && high <= 0xdbff) return text.slice(i - 2, i);
  }
  return text[i - 1];
}

function isWordChar(c: string): boolean {
  return c !== "" && WORD_CHAR.test(c);
}

function isDigit(c: string): boolean {
  return c !== "" && DIGIT.test(c);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

import assert from "node:assert/strict";
import { mulberry32 } from "../src/data/random.ts";
import {
  ABBREVIATIONS,
  sentences,
  spanText,
  type Token,
  tokenize,
  type TokenizeOptions,
} from "../src/data/tokenize.ts";

/** The whitespace the tokenizer skips (its module documentation says which). */
const SPACE = /[\s\u0085\u180e\u200b]/u;

/** Checks the offset invariants of `tokens` against `text`. */
function assertOffsets(text: string, tokens: readonly Token[]): void {
  let previousEnd = 0;
  for (const [i, t] of tokens.entries()) {
    assert.equal(text.slice(t.start, t.end), t.text, `token ${i} ${JSON.stringify(t)}`);
    assert.ok(t.start >= previousEnd, `token ${i} overlaps or goes back: ${JSON.stringify(t)}`);
    assert.ok(t.end > t.start, `token ${i} is empty: ${JSON.stringify(t)}`);
    previousEnd = t.end;
  }
}

/** Tokenizes, checks the offsets, and returns the token texts. */
function cut(text: string, options?: TokenizeOptions): string[] {
  const tokens = tokenize(text, options);
  assertOffsets(text, tokens);
  return tokens.map((t) => t.text);
}

Deno.test("tokenize: empty and whitespace-only text give no tokens", () => {
  assert.deepEqual(cut(""), []);
  assert.deepEqual(cut(" \t\n\r\u00a0\u2003\u3000\u2028\u200b\ufeff\u0085"), []);
});

Deno.test("tokenize: every kind of Unicode space separates and is never inside a token", () => {
  const spaces = [" ", "\t", "\n", "\r\n", "\u00a0", "\u2002", "\u2009", "\u202f", "\u3000"];
  for (const s of spaces) {
    assert.deepEqual(cut(`a${s}b${s}${s}c`), ["a", "b", "c"], JSON.stringify(s));
  }
  assert.deepEqual(tokenize("  Ada\u00a0Lovelace "), [
    { text: "Ada", start: 2, end: 5 },
    { text: "Lovelace", start: 6, end: 14 },
  ]);
});

Deno.test("tokenize: punctuation and quotes are split off", () => {
  assert.deepEqual(cut('He said, "Stop!" (twice); then: [x] {y}?'), [
    "He",
    "said",
    ",",
    '"',
    "Stop",
    "!",
    '"',
    "(",
    "twice",
    ")",
    ";",
    "then",
    ":",
    "[",
    "x",
    "]",
    "{",
    "y",
    "}",
    "?",
  ]);
  assert.deepEqual(cut("“Yes,” ‘no’ «oui» 'maybe'"), [
    "“",
    "Yes",
    ",",
    "”",
    "‘",
    "no",
    "’",
    "«",
    "oui",
    "»",
    "'",
    "maybe",
    "'",
  ]);
  assert.deepEqual(cut("Well... wait… ``quoted''"), [
    "Well",
    "...",
    "wait",
    "…",
    "``",
    "quoted",
    "''",
  ]);
});

Deno.test("tokenize: a sentence-final period is split, abbreviation periods are kept", () => {
  assert.deepEqual(cut("Steve Jobs."), ["Steve", "Jobs", "."]);
  assert.deepEqual(
    cut("Mr. and Mrs. Smith met Dr. J. Doe of Acme Corp. and Apple Inc., e.g. in Jan."),
    [
      "Mr.",
      "and",
      "Mrs.",
      "Smith",
      "met",
      "Dr.",
      "J.",
      "Doe",
      "of",
      "Acme",
      "Corp.",
      "and",
      "Apple",
      "Inc.",
      ",",
      "e.g.",
      "in",
      "Jan.",
    ],
  );
  // An abbreviation that ends the sentence stays whole, with no extra ".".
  assert.deepEqual(cut("He lives in the U.S."), ["He", "lives", "in", "the", "U.S."]);
  assert.deepEqual(cut("i.e. U.S.A. a.m. Ph.D. etc. Ltd."), [
    "i.e.",
    "U.S.A.",
    "a.m.",
    "Ph.D.",
    "etc.",
    "Ltd.",
  ]);
  // Capitals and sentence-initial capitals, but no lower-case look-alikes.
  assert.deepEqual(cut("ACME INC. Etc. was ill."), ["ACME", "INC.", "Etc.", "was", "ill", "."]);
  // "No." is an abbreviation only before a number.
  assert.deepEqual(cut("No. 1 pp. 12 said no."), ["No.", "1", "pp.", "12", "said", "no", "."]);
  // An abbreviation can go on with a hyphen.
  assert.deepEqual(cut("U.S.-led"), ["U.S.-led"]);
  assert.ok(ABBREVIATIONS.has("Corp") && !ABBREVIATIONS.has("May"));
});

Deno.test("tokenize: extra abbreviations from the options", () => {
  assert.deepEqual(cut("Siemens Gmbh."), ["Siemens", "Gmbh", "."]);
  assert.deepEqual(cut("Siemens Gmbh.", { abbreviations: ["Gmbh."] }), ["Siemens", "Gmbh."]);
  assert.deepEqual(cut("SIEMENS GMBH.", { abbreviations: new Set(["Gmbh"]) }), [
    "SIEMENS",
    "GMBH.",
  ]);
  assert.throws(
    () => tokenize("x", { abbreviations: ["Gm bh"] }),
    /Cannot use abbreviation "Gm bh": expected a non-empty string without spaces/,
  );
  assert.throws(() => tokenize("x", { abbreviations: ["."] }), /Cannot use abbreviation "\."/);
});

Deno.test("tokenize: numbers, currency and percentages as CoNLL cuts them", () => {
  assert.deepEqual(cut("3.5 1,000 1,000.50 12:30 1996-08-22 2-1 1/2"), [
    "3.5",
    "1,000",
    "1,000.50",
    "12:30",
    "1996-08-22",
    "2-1",
    "1/2",
  ]);
  assert.deepEqual(cut("$5 5% US$10 €3.5m"), ["$", "5", "5", "%", "US", "$", "10", "€", "3.5m"]);
  assert.deepEqual(cut("-3 (-3) +44 −2 .5 F-16"), [
    "-3",
    "(",
    "-3",
    ")",
    "+44",
    "−2",
    ".5",
    "F-16",
  ]);
  assert.deepEqual(cut("rose 5.5%."), ["rose", "5.5", "%", "."]);
  assert.deepEqual(cut("in 1996."), ["in", "1996", "."]);
  // A sign is not a sign after a word, or before a non-digit.
  assert.deepEqual(cut("a - b -x 5 --3"), ["a", "-", "b", "-", "x", "5", "--", "3"]);
  // Commas and colons join digits only.
  assert.deepEqual(cut("a,b a:b 1,a"), ["a", ",", "b", "a", ":", "b", "1", ",", "a"]);
});

Deno.test("tokenize: English clitics are split off, other apostrophes stay", () => {
  assert.deepEqual(cut("don't can't won't Apple's"), [
    "do",
    "n't",
    "ca",
    "n't",
    "wo",
    "n't",
    "Apple",
    "'s",
  ]);
  assert.deepEqual(cut("they're I'm we've she'll he'd"), [
    "they",
    "'re",
    "I",
    "'m",
    "we",
    "'ve",
    "she",
    "'ll",
    "he",
    "'d",
  ]);
  assert.deepEqual(cut("don’t Apple’s they’re DON'T"), [
    "do",
    "n’t",
    "Apple",
    "’s",
    "they",
    "’re",
    "DO",
    "N'T",
  ]);
  assert.deepEqual(cut("shouldn't've O'Neil O'Neil's y'all"), [
    "should",
    "n't",
    "'ve",
    "O'Neil",
    "O'Neil",
    "'s",
    "y'all",
  ]);
  assert.deepEqual(cut("rock 'n' roll, rock ‘n’ roll, 'em, the '90s"), [
    "rock",
    "'n'",
    "roll",
    ",",
    "rock",
    "‘n’",
    "roll",
    ",",
    "'em",
    ",",
    "the",
    "'90s",
  ]);
  // A plural possessive: the apostrophe stands alone.
  assert.deepEqual(cut("the boys' car"), ["the", "boys", "'", "car"]);
});

Deno.test("tokenize: hyphenated words stay whole, dashes are split", () => {
  assert.deepEqual(cut("Anglo-French state-of-the-art"), ["Anglo-French", "state-of-the-art"]);
  assert.deepEqual(cut("a—b c – d e--f g---h"), [
    "a",
    "—",
    "b",
    "c",
    "–",
    "d",
    "e",
    "--",
    "f",
    "g",
    "---",
    "h",
  ]);
  assert.deepEqual(cut("pre- and post-war"), ["pre", "-", "and", "post-war"]);
});

Deno.test("tokenize: URLs, e-mail addresses, handles and tags stay whole", () => {
  assert.deepEqual(cut("See https://example.com/a?b=1&c=2."), [
    "See",
    "https://example.com/a?b=1&c=2",
    ".",
  ]);
  assert.deepEqual(cut("(https://en.wikipedia.org/wiki/Foo_(bar)), www.x.org!"), [
    "(",
    "https://en.wikipedia.org/wiki/Foo_(bar)",
    ")",
    ",",
    "www.x.org",
    "!",
  ]);
  assert.deepEqual(cut("Mail john.smith+ner@mail.example.co.uk."), [
    "Mail",
    "john.smith+ner@mail.example.co.uk",
    ".",
  ]);
  assert.deepEqual(cut("@deno_land #WebGPU, C# a@b"), [
    "@deno_land",
    "#WebGPU",
    ",",
    "C",
    "#",
    "a",
    "@",
    "b",
  ]);
  assert.deepEqual(cut("example.com node.js."), ["example.com", "node.js", "."]);
});

Deno.test("tokenize: letters of any script, combining marks, emoji and astral characters", () => {
  assert.deepEqual(cut("Zürich Ελλάδα Москва नमस्ते القاهرة 東京"), [
    "Zürich",
    "Ελλάδα",
    "Москва",
    "नमस्ते",
    "القاهرة",
    "東京",
  ]);
  // Decomposed é (e + U+0301) stays one token; a mark after a space stays with nothing else.
  assert.deepEqual(cut("cafe\u0301, \u0301x"), ["cafe\u0301", ",", "\u0301x"]);
  assert.deepEqual(cut("hi😀there 👍🏽👨‍👩‍👧🇫🇷 1️⃣ ❤️!"), [
    "hi",
    "😀",
    "there",
    "👍🏽",
    "👨‍👩‍👧",
    "🇫🇷",
    "1️⃣",
    "❤️",
    "!",
  ]);
  // Offsets are UTF-16 code units, right after astral characters.
  const text = "𝒳😀 Apple Inc. 🇫🇷Paris";
  assert.deepEqual(tokenize(text), [
    { text: "𝒳", start: 0, end: 2 },
    { text: "😀", start: 2, end: 4 },
    { text: "Apple", start: 5, end: 10 },
    { text: "Inc.", start: 11, end: 15 },
    { text: "🇫🇷", start: 16, end: 20 },
    { text: "Paris", start: 20, end: 25 },
  ]);
  // Astral letters are letters; lone surrogates are tokens of their own.
  assert.deepEqual(cut("𝒳yz a\ud800b \udc00"), ["𝒳yz", "a", "\ud800", "b", "\udc00"]);
});

Deno.test("tokenize: rejects what is not a string", () => {
  assert.throws(
    () => tokenize(42 as unknown as string),
    /Cannot tokenize: expected a string, found number/,
  );
  assert.throws(
    () => sentences(null as unknown as string),
    /Cannot split sentences: expected a string, found null/,
  );
});

Deno.test("spanText: the original text of a run of tokens, spaces included", () => {
  const text = "Shares of  Apple\u00a0Inc. rose.";
  const tokens = tokenize(text);
  assert.equal(spanText(text, tokens, 2, 4), "Apple\u00a0Inc.");
  assert.equal(spanText(text, tokens, 1, 3), "of  Apple");
  assert.equal(spanText(text, tokens, 0, tokens.length), text);
  assert.equal(spanText(text, tokens, 3, 3), "");
  assert.throws(
    () => spanText(text, tokens, 3, 2),
    /Cannot take the text of tokens \[3, 2\): expected integers with 0 <= from <= to <= 6/,
  );
  assert.throws(() => spanText(text, tokens, 0, 7), /<= 6 \(the number of tokens\)/);
  assert.throws(() => spanText(text, tokens, 0.5, 2), /expected integers/);
  assert.throws(() => spanText("short", tokens, 0, 6), /were the tokens cut from another text/);
});

/** Splits into sentences, checks them, and returns each sentence's text. */
function split(text: string, options?: TokenizeOptions): string[] {
  const found = sentences(text, options);
  const all = found.flatMap((s) => s.tokens);
  assert.deepEqual(all, tokenize(text, options), "the sentences' tokens are the text's tokens");
  for (const s of found) {
    assert.ok(s.tokens.length > 0);
    assert.equal(s.start, s.tokens[0].start);
    assert.equal(s.end, s.tokens[s.tokens.length - 1].end);
  }
  return found.map((s) => text.slice(s.start, s.end));
}

Deno.test("sentences: split on . ! ? before a capital, a digit or a quote", () => {
  assert.deepEqual(split(""), []);
  assert.deepEqual(split("  \n "), []);
  assert.deepEqual(split("One. Two! Three? 4 is a number. “Quoted.” (Aside.) 'Single.'"), [
    "One.",
    "Two!",
    "Three?",
    "4 is a number.",
    "“Quoted.”",
    "(Aside.)",
    "'Single.'",
  ]);
  // Closing quotes and repeated marks stay with the sentence they end.
  assert.deepEqual(split('He asked "Why?" Then left?! Yes.'), [
    'He asked "Why?"',
    "Then left?!",
    "Yes.",
  ]);
  // No split before a lower-case word or without a space.
  assert.deepEqual(split("Wait. and then. A.B"), ["Wait. and then.", "A.B"]);
  assert.deepEqual(split("Done.Next"), ["Done.Next"]);
  // Uncased scripts start a sentence too.
  assert.deepEqual(split("Hello. 你好."), ["Hello.", "你好."]);
});

Deno.test("sentences: no split after abbreviations or inside numbers", () => {
  const text = "Mr. Smith of Apple Inc. met Dr. Jones on Jan. 5. He paid 3.5 million. " +
    "Acme Corp. Ltd. is in the U.S. Nobody, e.g. Ms. Doe, knew.";
  assert.deepEqual(split(text), [
    "Mr. Smith of Apple Inc. met Dr. Jones on Jan. 5.",
    "He paid 3.5 million.",
    "Acme Corp. Ltd. is in the U.S. Nobody, e.g. Ms. Doe, knew.",
  ]);
  assert.deepEqual(split("Siemens Gmbh. Then", { abbreviations: ["Gmbh"] }), [
    "Siemens Gmbh. Then",
  ]);
});

Deno.test("sentences: a blank line ends a sentence, a single line break does not", () => {
  assert.deepEqual(split("Headline without a stop\n\nBody goes\non here. Next"), [
    "Headline without a stop",
    "Body goes\non here.",
    "Next",
  ]);
  assert.deepEqual(split("a\r\n\r\nb\u2029c"), ["a", "b", "c"]);
});

Deno.test("tokenize and sentences: random mixes of words, punctuation, spaces and emoji", () => {
  const random = mulberry32(2003);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const words = [
    "Apple",
    "U.S.",
    "don't",
    "O'Neil",
    "Apple's",
    "3.5",
    "1,000",
    "-3",
    "état",
    "cafe\u0301",
    "東京",
    "Jobs.",
    "Inc.",
    "state-of-the-art",
    "https://x.org/a_(b)",
    "a@b.co",
    "@h",
    "#t",
    "'n'",
    "Mr.",
  ];
  const punctuation = [",", ".", "!", "?", "(", ")", '"', "“", "”", "'", "’", "…", "--", "—"];
  const symbols = ["$", "%", "-", "&", "/", ":", "..."];
  const spaces = [" ", " ", "  ", "\t", "\n", "\n\n", "\u00a0", "\u2003", "\u3000", ""];
  const emoji = ["😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "𝒳", "❤️", "1️⃣"];
  for (let trial = 0; trial < 300; trial++) {
    let text = "";
    const pieces = 1 + Math.floor(random() * 30);
    for (let p = 0; p < pieces; p++) {
      const r = random();
      text += r < 0.5
        ? pick(words)
        : r < 0.75
        ? pick(punctuation)
        : r < 0.85
        ? pick(symbols)
        : pick(emoji);
      text += pick(spaces);
    }
    const tokens = tokenize(text);
    const where = JSON.stringify(text);
    assertOffsets(text, tokens);
    for (const t of tokens) {
      assert.ok(!SPACE.test(t.text), `${where}: token ${JSON.stringify(t.text)} has whitespace`);
      const first = t.text.charCodeAt(0), last = t.text.charCodeAt(t.text.length - 1);
      assert.ok(!(first >= 0xdc00 && first <= 0xdfff), `${where}: starts inside a surrogate pair`);
      assert.ok(!(last >= 0xd800 && last <= 0xdbff), `${where}: ends inside a surrogate pair`);
    }
    assert.equal(
      tokens.map((t) => t.text).join(""),
      text.replace(new RegExp(SPACE, "gu"), ""),
      where,
    );
    // Whatever lies between two tokens is whitespace.
    let at = 0;
    for (const t of tokens) {
      assert.equal(text.slice(at, t.start).replace(new RegExp(SPACE, "gu"), ""), "", where);
      at = t.end;
    }
    // Sentences partition the tokens in order.
    const found = sentences(text);
    assert.deepEqual(found.flatMap((s) => s.tokens), tokens, where);
    for (let s = 1; s < found.length; s++) assert.ok(found[s].start >= found[s - 1].end, where);
  }
});

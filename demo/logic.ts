/**
 * The demo's logic without the page: tag text into tokens with marginals,
 * read a pasted or dropped corpus, split it for training, and follow a
 * training run's events as curves. Runs in Deno too, so it is tested there.
 *
 * @module
 */

import {
  type Entity,
  parseConll,
  parseJsonl,
  type Sentence,
  sentences as splitSentences,
  splitCorpus,
  type Tagger,
  type TrainEvent,
} from "../mod.ts";

/** A token of tagged text with its tag and its marginal distribution. */
export interface TaggedToken {
  /** The token as written. */
  text: string;
  /** UTF-16 offset of its first character. */
  start: number;
  /** UTF-16 offset just past it. */
  end: number;
  /** The decoded tag. */
  tag: string;
  /** p(tag | sentence) for every label, in the tagger's label order. */
  marginals: number[];
}

/** The result of {@linkcode tagText}. */
export interface TaggedText {
  /** Every token, in text order. */
  tokens: TaggedToken[];
  /** Entities with character offsets; `tokens` indexes {@linkcode TaggedText.tokens}. */
  entities: Entity[];
  /** Milliseconds spent tagging (tokenizing, GPU, decoding). */
  milliseconds: number;
}

/**
 * Tags raw text, keeping every token's marginals for display.
 *
 * @param tagger the loaded tagger
 * @param text the text
 * @returns tokens, entities (token ranges are indices into all tokens) and the time taken
 *
 * @example
 * ```ts ignore
 * const { entities } = await tagText(tagger, "Ada Lovelace met Charles Babbage in London.");
 * ```
 */
export async function tagText(tagger: Tagger, text: string): Promise<TaggedText> {
  const started = performance.now();
  const found = splitSentences(text);
  const results = await tagger.tagTokens(found.map((s) => s.tokens.map((t) => t.text)));
  const K = tagger.labels.length;
  const tokens: TaggedToken[] = [];
  const entities: Entity[] = [];
  found.forEach((sentence, i) => {
    const first = tokens.length;
    const result = results[i];
    sentence.tokens.forEach((token, t) => {
      tokens.push({
        ...token,
        tag: result.tags[t],
        marginals: Array.from(result.marginals.subarray(t * K, (t + 1) * K)),
      });
    });
    for (const e of result.entities) {
      const start = sentence.tokens[e.start].start;
      const end = sentence.tokens[e.end - 1].end;
      entities.push({
        text: text.slice(start, end),
        label: e.label,
        start,
        end,
        score: e.score,
        tokens: [first + e.start, first + e.end],
      });
    }
  });
  return { tokens, entities, milliseconds: performance.now() - started };
}

/** A piece of text to draw: plain text between tokens, or a run of tokens (maybe an entity). */
export type Segment =
  | { kind: "text"; text: string }
  | { kind: "tokens"; from: number; to: number; entity?: Entity };

/**
 * Cuts text into drawable pieces: the gaps between tokens, single tokens,
 * and entities (their tokens and the spaces between them together).
 *
 * @param text the tagged text
 * @param tagged the result of {@linkcode tagText}
 * @returns the pieces, covering the text in order
 */
export function segments(text: string, tagged: Pick<TaggedText, "tokens" | "entities">): Segment[] {
  const out: Segment[] = [];
  const entityAt = new Map<number, Entity>(tagged.entities.map((e) => [e.tokens[0], e]));
  let offset = 0;
  let i = 0;
  while (i < tagged.tokens.length) {
    const token = tagged.tokens[i];
    if (token.start > offset) out.push({ kind: "text", text: text.slice(offset, token.start) });
    const entity = entityAt.get(i);
    const to = entity ? entity.tokens[1] : i + 1;
    out.push({ kind: "tokens", from: i, to, entity });
    offset = tagged.tokens[to - 1].end;
    i = to;
  }
  if (offset < text.length) out.push({ kind: "text", text: text.slice(offset) });
  return out;
}

/** A corpus read from pasted or dropped text. */
export interface PastedCorpus {
  /** "conll" or "jsonl", as detected. */
  format: "conll" | "jsonl";
  /** The sentences. */
  sentences: Sentence[];
  /** Tokens in all sentences. */
  tokens: number;
  /** The entity types found (without prefixes), sorted. */
  types: string[];
}

/**
 * Reads CoNLL columns or JSON Lines (detected by the first non-blank
 * character: `{` means JSON Lines).
 *
 * @param text the file's text
 * @param name the file name for error messages
 * @returns the sentences and a summary
 * @throws {Error} naming the line when the text is neither format, or has no sentences
 *
 * @example
 * ```ts
 * import { readPastedCorpus } from "./logic.ts";
 * const corpus = readPastedCorpus("Ada B-PER\nsang O\n", "pasted");
 * if (corpus.format !== "conll" || corpus.types[0] !== "PER") throw new Error("wrong");
 * ```
 */
export function readPastedCorpus(text: string, name: string): PastedCorpus {
  if (!text.trim()) throw new Error(`${name} is empty: expected CoNLL lines or JSON Lines`);
  const bad = nonTextCharacter(text);
  if (bad !== null) {
    throw new Error(
      `${name} does not look like text: it holds ${bad}; expected CoNLL lines or JSON Lines`,
    );
  }
  const jsonl = text.trimStart().startsWith("{");
  const corpus = jsonl ? parseJsonl(text, { path: name }) : parseConll(text, { path: name });
  const sentences = corpus.sentences.filter((s) => s.tokens.length > 0);
  if (sentences.length === 0) throw new Error(`${name} has no sentences`);
  const types = new Set<string>();
  for (const s of sentences) {
    for (const tag of s.tags) if (tag !== "O") types.add(tag.slice(tag.indexOf("-") + 1));
  }
  return {
    format: jsonl ? "jsonl" : "conll",
    sentences,
    tokens: sentences.reduce((n, s) => n + s.tokens.length, 0),
    types: [...types].sort(),
  };
}

/**
 * Splits sentences for training in the page: a seeded 90/10 train/dev split,
 * or, below 10 sentences, every sentence in both (said in `note`).
 *
 * @param sentences the corpus
 * @returns train and dev sentences and a note for the user
 *
 * @example
 * ```ts
 * import { splitForTraining } from "./logic.ts";
 * const s = { tokens: ["Hi"], tags: ["O"] };
 * const { train, dev } = splitForTraining(Array(20).fill(s));
 * if (train.length !== 18 || dev.length !== 2) throw new Error(`${train.length}/${dev.length}`);
 * ```
 */
export function splitForTraining(
  sentences: readonly Sentence[],
): { train: Sentence[]; dev: Sentence[]; note: string } {
  if (sentences.length < 10) {
    return {
      train: [...sentences],
      dev: [...sentences],
      note: `only ${plural(sentences.length, "sentence")}: dev F1 is measured on the ` +
        "training sentences",
    };
  }
  const split = splitCorpus(sentences, { seed: 1, ratios: [0.9, 0.1, 0] });
  return {
    train: split.train,
    dev: split.dev,
    note: `${plural(split.train.length, "sentence")} for training, ${split.dev.length} for dev F1`,
  };
}

/** The curves of a training run. */
export interface Curves {
  /** Loss of each batch, in steps (x) and loss (y). */
  batches: { step: number; loss: number }[];
  /** Mean training loss and dev F1 (fraction) of each finished epoch. */
  epochs: { epoch: number; step: number; loss: number; f1: number }[];
}

/**
 * Follows a run's events as curves. The trainer's "loss" events carry the
 * running mean of the epoch so far; with `lossEvery: 1` this recovers each
 * batch's own loss from consecutive means.
 *
 * @returns the curves (mutated by `add`) and the function to feed events to
 *
 * @example
 * ```ts
 * import { curveTracker } from "./logic.ts";
 * const { curves, add } = curveTracker();
 * add({ type: "loss", epoch: 1, step: 1, loss: 4, tokensPerSecond: 0 });
 * add({ type: "loss", epoch: 1, step: 2, loss: 3, tokensPerSecond: 0 });
 * if (curves.batches[1].loss !== 2) throw new Error("batch loss");
 * ```
 */
export function curveTracker(): { curves: Curves; add: (event: TrainEvent) => void } {
  const curves: Curves = { batches: [], epochs: [] };
  let epoch = 0;
  let count = 0;
  let mean = 0;
  let step = 0;
  const add = (event: TrainEvent) => {
    if (event.type === "loss") {
      if (event.epoch !== epoch) {
        epoch = event.epoch;
        count = 0;
        mean = 0;
      }
      const batches = event.step - step;
      const before = count;
      count += batches;
      step = event.step;
      const loss = (event.loss * count - mean * before) / batches;
      mean = event.loss;
      curves.batches.push({ step, loss });
    } else if (event.type === "epoch") {
      curves.epochs.push({ epoch: event.epoch, step, loss: event.loss, f1: event.dev.f1 });
    }
  };
  return { curves, add };
}

/**
 * "1 token", "2 tokens": a count with its noun.
 *
 * @param n the count
 * @param noun the singular noun
 * @param nouns the plural (default: the noun and "s")
 * @returns the phrase
 *
 * @example
 * ```ts
 * import { plural } from "./logic.ts";
 * if (plural(1, "entity", "entities") !== "1 entity") throw new Error();
 * if (plural(0, "token") !== "0 tokens") throw new Error();
 * ```
 */
export function plural(n: number, noun: string, nouns = noun + "s"): string {
  return `${n} ${n === 1 ? noun : nouns}`;
}

/**
 * A probability as the page shows it, in the entity chips and the table
 * alike: one decimal, and never "100.0%" or "0.0%" for what is not certain.
 *
 * @param p a probability in [0, 1]
 * @returns e.g. "89.6%", ">99.9%", "<0.1%"
 *
 * @example
 * ```ts
 * import { formatConfidence } from "./logic.ts";
 * if (formatConfidence(0.8964) !== "89.6%") throw new Error();
 * if (formatConfidence(0.99996) !== ">99.9%") throw new Error();
 * ```
 */
export function formatConfidence(p: number): string {
  if (p >= 1) return "100%";
  if (p >= 0.9995) return ">99.9%";
  if (p <= 0) return "0%";
  if (p < 0.0005) return "<0.1%";
  return `${(100 * p).toFixed(1)}%`;
}

/**
 * The line under the tagged text: counts and time, or nothing for no tokens.
 *
 * @param tagged the tagging result
 * @returns e.g. "2 entities in 13 tokens, tagged in 8.1 ms", or "" when there are no tokens
 *
 * @example
 * ```ts
 * import { taggingSummary } from "./logic.ts";
 * if (taggingSummary({ tokens: [], entities: [], milliseconds: 1 }) !== "") throw new Error();
 * ```
 */
export function taggingSummary(tagged: TaggedText): string {
  if (tagged.tokens.length === 0) return "";
  return `${plural(tagged.entities.length, "entity", "entities")} in ` +
    `${plural(tagged.tokens.length, "token")}, tagged in ${tagged.milliseconds.toFixed(1)} ms`;
}

/**
 * Plain-English meanings of the entity types of the shipped model (the
 * Groningen Meaning Bank's) and of CoNLL-2003's.
 */
export const ENTITY_MEANINGS: Readonly<Record<string, string>> = {
  per: "person",
  org: "organisation",
  geo: "geographical place (city, country, river, region)",
  gpe: "geopolitical adjective or people (British, Iraqi, Palestinians)",
  tim: "time expression (Tuesday, 2003, last week)",
  art: "artefact or work (a product, vehicle, book, law)",
  eve: "event (a war, summit, festival, storm)",
  nat: "natural phenomenon (a disease, a hurricane)",
  PER: "person",
  ORG: "organisation",
  LOC: "location",
  MISC: "other names (nationalities, events, works)",
};

/**
 * The entity types of a tag list with their meanings, in tag order.
 *
 * @param labels the model's tags, e.g. `["O", "B-geo", "I-geo"]`
 * @returns one entry per type; `meaning` is "" for a type not in {@linkcode ENTITY_MEANINGS}
 *
 * @example
 * ```ts
 * import { entityLegend } from "./logic.ts";
 * const legend = entityLegend(["O", "B-geo", "I-geo", "B-ACME"]);
 * if (legend.map((e) => e.type).join() !== "geo,ACME") throw new Error();
 * ```
 */
export function entityLegend(labels: readonly string[]): { type: string; meaning: string }[] {
  const types: string[] = [];
  for (const label of labels) {
    if (label === "O") continue;
    const type = label.slice(label.indexOf("-") + 1);
    if (!types.includes(type)) types.push(type);
  }
  return types.map((type) => ({ type, meaning: ENTITY_MEANINGS[type] ?? "" }));
}

/**
 * A character that no CoNLL or JSON Lines corpus holds (NUL, other control
 * characters but tab and line breaks, or U+FFFD from undecodable bytes).
 *
 * @param text decoded text
 * @returns a description of the first such character, or null
 */
function nonTextCharacter(text: string): string | null {
  // deno-lint-ignore no-control-regex -- control characters are what this looks for
  const m = /[\u0000-\u0008\u000b\u000e-\u001f\u007f\ufffd]/.exec(text);
  if (!m) return null;
  const code = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
  return `the character U+${code} at offset ${m.index}`;
}

/**
 * Decodes a chosen or dropped file as UTF-8 text, refusing empty and binary
 * files instead of showing mojibake.
 *
 * @param bytes the file's bytes
 * @param name its name, for messages
 * @returns the text
 * @throws {Error} naming the file when it is empty, not UTF-8, or holds control characters
 *
 * @example
 * ```ts
 * import { decodeCorpusFile } from "./logic.ts";
 * if (decodeCorpusFile(new TextEncoder().encode("Ada B-PER\n"), "a.txt") !== "Ada B-PER\n") {
 *   throw new Error();
 * }
 * try {
 *   decodeCorpusFile(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0]), "photo.png");
 *   throw new Error("accepted a binary file");
 * } catch (e) {
 *   if (!/photo\.png is not a text file/.test((e as Error).message)) throw e;
 * }
 * ```
 */
export function decodeCorpusFile(bytes: Uint8Array, name: string): string {
  if (bytes.length === 0) throw new Error(`${name} is empty: expected CoNLL lines or JSON Lines`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(
      `${name} is not a text file (its bytes are not UTF-8): expected CoNLL lines or JSON Lines`,
    );
  }
  const bad = nonTextCharacter(text);
  if (bad !== null) {
    throw new Error(
      `${name} is not a text file (it holds ${bad}): expected CoNLL lines or JSON Lines`,
    );
  }
  if (!text.trim()) throw new Error(`${name} is empty: expected CoNLL lines or JSON Lines`);
  return text;
}

/** Limits of the training settings the page accepts. */
export const SETTING_LIMITS = {
  epochs: { min: 1, max: 200 },
  lr: { min: 0.0001, max: 0.1 },
} as const;

/**
 * Reads the epochs and learning-rate fields as typed, rejecting what the
 * trainer should not get (negative, zero, out of range, not a number).
 *
 * @param fields the fields' text
 * @returns the numbers, or one message per bad field
 *
 * @example
 * ```ts
 * import { parseSettings } from "./logic.ts";
 * const ok = parseSettings({ epochs: "3", lr: "0.01" });
 * if (!("ok" in ok) || ok.ok.epochs !== 3) throw new Error();
 * const bad = parseSettings({ epochs: "-5", lr: "0" });
 * if (!("errors" in bad) || bad.errors.length !== 2) throw new Error();
 * ```
 */
export function parseSettings(
  fields: { epochs: string; lr: string },
): { ok: { epochs: number; lr: number } } | { errors: string[] } {
  const errors: string[] = [];
  const { epochs: e, lr: l } = SETTING_LIMITS;
  const epochs = Number(fields.epochs);
  if (
    fields.epochs.trim() === "" || !Number.isInteger(epochs) || epochs < e.min || epochs > e.max
  ) {
    errors.push(
      `Epochs: expected a whole number from ${e.min} to ${e.max}, found ` +
        `${JSON.stringify(fields.epochs.trim())}`,
    );
  }
  const lr = Number(fields.lr);
  if (fields.lr.trim() === "" || !Number.isFinite(lr) || lr < l.min || lr > l.max) {
    errors.push(
      `Learning rate: expected a number from ${l.min} to ${l.max}, found ` +
        `${JSON.stringify(fields.lr.trim())}`,
    );
  }
  return errors.length ? { errors } : { ok: { epochs, lr } };
}

/** Where a training run stands, for {@linkcode progressText}. */
export interface RunProgress {
  /** The current epoch (1-based) and the number asked for. */
  epoch: number;
  epochs: number;
  /** Steps done in all epochs so far, and steps per epoch. */
  step: number;
  stepsPerEpoch: number;
  /** Milliseconds since the first step finished (null before it). */
  elapsedMs: number | null;
}

/**
 * The progress line of a training run: "epoch N of M, step X of Y" and an
 * estimate of the time left from the pace of the steps done so far.
 *
 * @param p where the run stands
 * @returns the line
 *
 * @example
 * ```ts
 * import { progressText } from "./logic.ts";
 * const line = progressText({ epoch: 2, epochs: 3, step: 5, stepsPerEpoch: 4, elapsedMs: 4000 });
 * if (line !== "epoch 2 of 3, step 1 of 4, about 7 s left") throw new Error(line);
 * ```
 */
export function progressText(p: RunProgress): string {
  const inEpoch = p.step - (p.epoch - 1) * p.stepsPerEpoch;
  let line = `epoch ${p.epoch} of ${p.epochs}, step ${inEpoch} of ${p.stepsPerEpoch}`;
  const total = p.epochs * p.stepsPerEpoch;
  if (p.elapsedMs !== null && p.step > 1) {
    const left = (p.elapsedMs / (p.step - 1)) * (total - p.step) / 1000;
    line += `, about ${left < 60 ? `${Math.ceil(left)} s` : `${Math.ceil(left / 60)} min`} left`;
  }
  return line;
}

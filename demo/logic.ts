/**
 * The demo's logic without the page: tag text into tokens with marginals,
 * read a pasted or dropped corpus, split it for training, and follow a
 * training run's events as curves. Runs in Deno too, so it is tested there.
 *
 * @module
 */

import type { Entity, Tagger } from "../src/api/tagger.ts";
import { parseConll } from "../src/data/conll.ts";
import { parseJsonl } from "../src/data/jsonl.ts";
import type { Sentence } from "../src/data/sentence.ts";
import { splitCorpus } from "../src/data/split.ts";
import { sentences as splitSentences } from "../src/data/tokenize.ts";
import type { TrainEvent } from "../src/train/trainer.ts";

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
      note: `only ${sentences.length} sentences: dev F1 is measured on the training sentences`,
    };
  }
  const split = splitCorpus(sentences, { seed: 1, ratios: [0.9, 0.1, 0] });
  return {
    train: split.train,
    dev: split.dev,
    note: `${split.train.length} sentences for training, ${split.dev.length} for dev F1`,
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

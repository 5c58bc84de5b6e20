/**
 * The Tagger: load a model, tag raw text or tokens on the GPU, get entities
 * with character offsets and span probabilities from CRF marginals.
 *
 * @module
 */

import { encodeSentences, makeBatches } from "../data/batch.ts";
import { CASING_CLASSES } from "../data/casing.ts";
import { splitTag, tagsToSpans, transitionMask } from "../data/schemes.ts";
import { sentences as splitSentences, type Token } from "../data/tokenize.ts";
import { acquireGpu, type Gpu } from "../gpu/device.ts";
import { decodeModel, type ModelData } from "../model/checkpoint.ts";
import { fromPytorchTensors, NerGraph } from "../model/graph.ts";
import { spanProbability } from "../ops/crf.ts";
import { nBestRef } from "../ops/viterbi_ref.ts";

/** An entity found in text. */
export interface Entity {
  /** The entity's text, exactly as in the input. */
  text: string;
  /** Its type, e.g. "PER". */
  label: string;
  /** UTF-16 offset of its first character in the input. */
  start: number;
  /** UTF-16 offset just past its last character. */
  end: number;
  /** The model's probability that exactly this span carries this label (CRF marginals). */
  score: number;
  /** Token range [first, last + 1) within its sentence. */
  tokens: [number, number];
}

/** Options for tagging. */
export interface TagOptions {
  /** Decode only tag sequences valid in the model's scheme (default true). */
  constrained?: boolean;
  /** Also return the k best tag sequences with probabilities (token-level API). */
  nBest?: number;
}

/** The result of {@linkcode Tagger.tagTokens} for one sentence. */
export interface TokenTagging {
  /** The best tag per token. */
  tags: string[];
  /** Entities as token ranges with span probabilities (offsets are token indices). */
  entities: { label: string; start: number; end: number; score: number }[];
  /** Per-token marginals p(tag | sentence), (n, K) row-major over {@linkcode Tagger.labels}. */
  marginals: Float32Array;
  /** The k best sequences with their probabilities, when `nBest` was asked. */
  nBest?: { tags: string[]; probability: number }[];
}

/** Where a model comes from: bytes, a path (Deno), or a URL. */
export type ModelSource = Uint8Array | string | URL;

async function readSource(source: ModelSource): Promise<{ bytes: Uint8Array; name: string }> {
  if (source instanceof Uint8Array) return { bytes: source, name: "model bytes" };
  const text = String(source);
  const isUrl = source instanceof URL || /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
  if (!isUrl) {
    const deno = (globalThis as { Deno?: { readFile(p: string): Promise<Uint8Array> } }).Deno;
    if (!deno) throw new Error(`Cannot load '${text}': a path needs Deno; pass a URL or bytes`);
    try {
      return { bytes: await deno.readFile(text), name: text };
    } catch (e) {
      throw new Error(`Cannot load model '${text}': ${(e as Error).message}`);
    }
  }
  const response = await fetch(source);
  if (!response.ok) throw new Error(`Cannot load model ${text}: HTTP ${response.status}`);
  return { bytes: new Uint8Array(await response.arrayBuffer()), name: text };
}

/** Sentences longer than this are tagged in pieces. */
const MAX_TIME = 128;
/** Sentences per GPU batch. */
const BATCH = 64;

/**
 * A loaded model, ready to tag. Create with {@linkcode Tagger.load}.
 *
 * @example
 * ```ts
 * import { Tagger } from "./tagger.ts";
 * const tagger = await Tagger.load(new URL("../../models/gmb-small.safetensors", import.meta.url));
 * const entities = await tagger.tag("Angela Merkel met Barack Obama in Berlin.");
 * console.log(entities.map((e) => `${e.label}: ${e.text}`));
 * ```
 */
export class Tagger {
  #constrained = true;

  private constructor(
    readonly gpu: Gpu,
    readonly model: ModelData,
    readonly graph: NerGraph,
  ) {}

  /** The output tags, in id order. */
  get labels(): readonly string[] {
    return this.model.tags.items;
  }

  /**
   * Loads a model from a path, a URL or bytes, validating the file.
   *
   * @param source the model file
   * @param options the device to use (default: the shared one)
   * @returns the tagger
   */
  static async load(source: ModelSource, options: { gpu?: Gpu } = {}): Promise<Tagger> {
    const { bytes, name } = await readSource(source);
    const model = decodeModel(bytes, name);
    return Tagger.fromModel(options.gpu ?? await acquireGpu(), model);
  }

  /**
   * Makes a tagger from a decoded model.
   *
   * @param gpu the device
   * @param model the model
   * @returns the tagger
   */
  static async fromModel(gpu: Gpu, model: ModelData): Promise<Tagger> {
    const K = model.tags.size;
    const graph = await NerGraph.create(
      gpu,
      model.config,
      {
        words: model.words.size,
        chars: model.chars.size,
        casings: CASING_CLASSES.length,
        tags: K,
      },
      { maxBatch: BATCH, maxTime: MAX_TIME, maxChars: model.config.maxChars },
      { training: false, constraints: transitionMask(model.tags.items, model.scheme) },
    );
    graph.writeParameters(fromPytorchTensors(model.tensors));
    return new Tagger(gpu, model, graph);
  }

  #setConstrained(on: boolean): void {
    if (on === this.#constrained) return;
    this.#constrained = on;
    const K = this.model.tags.size;
    this.graph.setConstraints(
      on ? transitionMask(this.model.tags.items, this.model.scheme) : {
        transitions: new Uint8Array(K * K).fill(1),
        start: new Uint8Array(K).fill(1),
        end: new Uint8Array(K).fill(1),
      },
    );
  }

  /**
   * Tags pre-tokenized sentences: best tags, entities with span
   * probabilities, per-token marginals, and optionally the n best sequences.
   *
   * @param sentences tokens per sentence
   * @param options decoding constraints, n-best
   * @returns one result per sentence
   */
  async tagTokens(
    sentences: readonly (readonly string[])[],
    options: TagOptions = {},
  ): Promise<TokenTagging[]> {
    this.#setConstrained(options.constrained ?? true);
    const K = this.model.tags.size;
    const labels = this.model.tags.items;
    // Pieces of at most MAX_TIME tokens, tagged independently.
    const pieces: { sentence: number; offset: number; tokens: string[] }[] = [];
    sentences.forEach((tokens, sentence) => {
      if (tokens.length === 0) pieces.push({ sentence, offset: 0, tokens: [] });
      for (let offset = 0; offset < tokens.length; offset += MAX_TIME) {
        pieces.push({ sentence, offset, tokens: tokens.slice(offset, offset + MAX_TIME) });
      }
    });
    const results: TokenTagging[] = sentences.map((t) => ({
      tags: new Array(t.length),
      entities: [],
      marginals: new Float32Array(t.length * K),
    }));
    const nonEmpty = pieces.filter((p) => p.tokens.length > 0);
    const encoded = encodeSentences(
      nonEmpty.map((p) => ({ tokens: p.tokens, tags: p.tokens.map(() => labels[0]) })),
      { words: this.model.words, chars: this.model.chars, tags: this.model.tags },
    );
    const batches = makeBatches(encoded, {
      batchSize: BATCH,
      shuffle: false,
      maxChars: this.model.config.maxChars,
    });
    const crf = this.model.config.head === "crf";
    const params = crf
      ? {
        transitions: this.model.tensors["crf.transitions"],
        start: this.model.tensors["crf.start"],
        end: this.model.tensors["crf.end"],
      }
      : null;
    for (const batch of batches) {
      const out = await this.graph.infer(batch, { marginals: true });
      const T = batch.maxLength;
      for (let b = 0; b < batch.size; b++) {
        const piece = nonEmpty[batch.sentenceIds[b]];
        const result = results[piece.sentence];
        const n = batch.lengths[b];
        const row = (a: Float32Array) => a.subarray(b * T * K, (b * T + n) * K);
        const ids = Array.from(out.tags.subarray(b * T, b * T + n));
        ids.forEach((id, t) => result.tags[piece.offset + t] = labels[id]);
        result.marginals.set(row(out.marginals!), piece.offset * K);
        const spans = tagsToSpans(ids.map((id) => labels[id]));
        for (const span of spans) {
          const spanIds = ids.slice(span.start, span.end);
          let score: number;
          if (params && out.logAlpha) {
            const continuation = labels
              .map((l, i) => [l, i] as const)
              .filter(([l]) => {
                const p = splitTag(l);
                return p.type === span.type &&
                  (p.prefix === "I" || p.prefix === "E" || p.prefix === "L");
              })
              .map(([, i]) => i);
            score = spanProbability({
              tags: K,
              length: n,
              emissions: row(out.emissions!),
              logAlpha: row(out.logAlpha!),
              logBeta: row(out.logBeta!),
              logZ: out.logZ![b],
              transitions: params.transitions,
            }, {
              first: span.start,
              tags: spanIds,
              excludeNext: this.model.scheme === "IOB2" ? continuation : [],
            });
          } else {
            score = spanIds.reduce(
              (p, id, r) => p * out.marginals![(b * T + span.start + r) * K + id],
              1,
            );
          }
          result.entities.push({
            label: span.type,
            start: piece.offset + span.start,
            end: piece.offset + span.end,
            score,
          });
        }
        if (options.nBest && params && out.logZ) {
          const paths = nBestRef({
            ...params,
            emissions: row(out.emissions!),
            allowed: this.#constrained ? transitionMask(labels, this.model.scheme) : undefined,
          }, { tags: K, k: options.nBest });
          (result.nBest ??= []).push(...paths.map((p) => ({
            tags: p.path.map((id) => labels[id]),
            probability: Math.exp(p.score - out.logZ![b]),
          })));
        }
      }
    }
    return results;
  }

  /**
   * Tags raw text: splits it into sentences and tokens (keeping character
   * offsets), tags them on the GPU, and returns the entities.
   *
   * @param text the text
   * @param options decoding constraints
   * @returns the entities, in text order
   */
  async tag(text: string, options: TagOptions = {}): Promise<Entity[]> {
    return (await this.tagBatch([text], options))[0];
  }

  /**
   * Tags many texts with few GPU submits (their sentences share batches).
   *
   * @param texts the texts
   * @param options decoding constraints
   * @returns entities per text
   */
  async tagBatch(texts: readonly string[], options: TagOptions = {}): Promise<Entity[][]> {
    const all: { text: number; tokens: Token[] }[] = [];
    texts.forEach((text, i) => {
      for (const s of splitSentences(text)) all.push({ text: i, tokens: s.tokens });
    });
    const tagged = await this.tagTokens(all.map((s) => s.tokens.map((t) => t.text)), {
      ...options,
      nBest: undefined,
    });
    const out: Entity[][] = texts.map(() => []);
    tagged.forEach((result, i) => {
      const { text, tokens } = all[i];
      for (const e of result.entities) {
        const start = tokens[e.start].start;
        const end = tokens[e.end - 1].end;
        out[text].push({
          text: texts[text].slice(start, end),
          label: e.label,
          start,
          end,
          score: e.score,
          tokens: [e.start, e.end],
        });
      }
    });
    return out;
  }
}

/** Re-exported for callers that build entities from tokens themselves. */
export type { Token };

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
  /** Token range [first, last + 1) within its sentence (the tokenizer's sentences). */
  tokens: [number, number];
}

/** Options for tagging. */
export interface TagOptions {
  /** Decode only tag sequences valid in the model's scheme (default true). */
  constrained?: boolean;
  /** Also return the k best tag sequences with probabilities ({@linkcode Tagger.tagTokens} only; sentences of at most 128 tokens). */
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
  let response: Response;
  try {
    response = await fetch(source);
  } catch (e) {
    throw new Error(`Cannot load model ${text}: ${(e as Error).message}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`Cannot load model ${text}: expected HTTP 200, got ${response.status}`);
  }
  return { bytes: new Uint8Array(await response.arrayBuffer()), name: text };
}

/** Sentences longer than this are tagged in pieces. */
const MAX_TIME = 128;
/** Sentences per GPU batch (one submit and one readback wait each). */
const BATCH = 128;

/**
 * A loaded model, ready to tag. Create with {@linkcode Tagger.load} (a
 * model file) or {@linkcode Tagger.fromModel} (a decoded model).
 *
 * Decoding is Viterbi on the GPU, restricted by default to tag sequences
 * valid in the model's scheme (no `I-PER` after `O` in IOB2); entity scores
 * are span probabilities from forward-backward marginals, also on the GPU.
 * Sentences longer than 128 tokens are tagged in independent pieces.
 *
 * @example
 * ```ts
 * import { encodeModel } from "../model/checkpoint.ts";
 * import { randomModel } from "./random_model.ts";
 * import { Tagger } from "./tagger.ts";
 * // A real program loads a trained file: Tagger.load("models/gmb-small.safetensors").
 * const bytes = encodeModel(randomModel({ words: ["Ada", "sang"] }));
 * const tagger = await Tagger.load(bytes);
 * for (const e of await tagger.tag("Ada sang in Oslo.")) {
 *   if (e.score <= 0 || e.score > 1) throw new Error("scores are probabilities");
 * }
 * ```
 */
export class Tagger {
  #constrained = true;
  #mask?: ReturnType<typeof transitionMask>;

  /** The scheme's allowed transitions, computed once. */
  #schemeMask(): ReturnType<typeof transitionMask> {
    return this.#mask ??= transitionMask(this.model.tags.items, this.model.scheme);
  }
  #continuationTags?: Map<string, number[]>;

  /** Tag ids that continue an entity of each type (I-, E-, L-), computed once. */
  #continuations(): Map<string, number[]> {
    if (!this.#continuationTags) {
      const byType = new Map<string, number[]>();
      this.model.tags.items.forEach((tag, id) => {
        const { prefix, type } = splitTag(tag);
        if (prefix === "I" || prefix === "E" || prefix === "L") {
          byType.set(type, [...(byType.get(type) ?? []), id]);
        }
      });
      this.#continuationTags = byType;
    }
    return this.#continuationTags;
  }

  private constructor(
    readonly gpu: Gpu,
    readonly model: ModelData,
    readonly graph: NerGraph,
  ) {}

  /**
   * The output tags, in id order (the columns of {@linkcode TokenTagging.marginals}).
   *
   * @returns the tags
   *
   * @example
   * ```ts
   * import { acquireGpu } from "../gpu/device.ts";
   * import { randomModel } from "./random_model.ts";
   * import { Tagger } from "./tagger.ts";
   * const tagger = await Tagger.fromModel(await acquireGpu(), randomModel());
   * if (tagger.labels.join() !== "O,B-PER,I-PER,B-LOC,I-LOC") throw new Error();
   * ```
   */
  get labels(): readonly string[] {
    return this.model.tags.items;
  }

  /**
   * Loads a model from a path (Deno), a URL (`http:`, `https:`, `file:`)
   * or bytes, validating the file: a truncated, foreign or inconsistent file
   * gets an error that names the source and what is wrong.
   *
   * @param source the model file
   * @param options the device to use (default: the shared one)
   * @returns the tagger
   *
   * @example
   * ```ts
   * import { Tagger } from "./tagger.ts";
   * try {
   *   await Tagger.load(new Uint8Array([1, 2, 3]));
   *   throw new Error("accepted garbage");
   * } catch (e) {
   *   if (!/model bytes/.test((e as Error).message)) throw e;
   * }
   * ```
   */
  static async load(source: ModelSource, options: { gpu?: Gpu } = {}): Promise<Tagger> {
    const { bytes, name } = await readSource(source);
    const model = decodeModel(bytes, name);
    return Tagger.fromModel(options.gpu ?? await acquireGpu(), model);
  }

  /**
   * Makes a tagger from a decoded model (e.g. `trainModel`'s result).
   *
   * @param gpu the device
   * @param model the model
   * @returns the tagger
   *
   * @example
   * ```ts
   * import { acquireGpu } from "../gpu/device.ts";
   * import { randomModel } from "./random_model.ts";
   * import { Tagger } from "./tagger.ts";
   * const tagger = await Tagger.fromModel(await acquireGpu(), randomModel());
   * if (tagger.model.scheme !== "IOB2") throw new Error();
   * ```
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
      on ? this.#schemeMask() : {
        transitions: new Uint8Array(K * K).fill(1),
        start: new Uint8Array(K).fill(1),
        end: new Uint8Array(K).fill(1),
      },
    );
  }

  /**
   * Tags pre-tokenized sentences: best tags, entities with span
   * probabilities, per-token marginals, and optionally the n best sequences
   * with their probabilities (exact k-best on the CPU from the GPU's
   * emissions; the first equals the Viterbi path).
   *
   * @param sentences tokens per sentence
   * @param options decoding constraints, n-best
   * @returns one result per sentence
   *
   * @example
   * ```ts
   * import { acquireGpu } from "../gpu/device.ts";
   * import { randomModel } from "./random_model.ts";
   * import { Tagger } from "./tagger.ts";
   * const tagger = await Tagger.fromModel(await acquireGpu(), randomModel({ words: ["Ada"] }));
   * const [result] = await tagger.tagTokens([["Ada", "sang"]], { nBest: 3 });
   * if (result.tags.length !== 2 || result.marginals.length !== 2 * 5) throw new Error();
   * if (result.nBest![0].tags.join() !== result.tags.join()) throw new Error("1-best is Viterbi");
   * ```
   */
  async tagTokens(
    sentences: readonly (readonly string[])[],
    options: TagOptions = {},
  ): Promise<TokenTagging[]> {
    if (options.nBest !== undefined && !(Number.isInteger(options.nBest) && options.nBest >= 1)) {
      throw new RangeError(`nBest: expected a positive integer, got ${options.nBest}`);
    }
    if (options.nBest) {
      const long = sentences.findIndex((s) => s.length > MAX_TIME);
      if (long >= 0) {
        throw new RangeError(
          `nBest: expected sentences of at most ${MAX_TIME} tokens, sentence ${long} has ` +
            `${sentences[long].length}`,
        );
      }
    }
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
            const continuation = this.#continuations().get(span.type) ?? [];
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
            allowed: this.#constrained ? this.#schemeMask() : undefined,
          }, { tags: K, k: options.nBest });
          (result.nBest ??= []).push(...paths.map((p) => ({
            tags: p.path.map((id) => labels[id]),
            probability: Math.exp(p.score - out.logZ![b]),
          })));
        }
      }
    }
    // Batches hold pieces in length order: put each sentence's entities back in token order.
    for (const r of results) r.entities.sort((a, b) => a.start - b.start);
    return results;
  }

  /**
   * Tags raw text: splits it into sentences and tokens (keeping character
   * offsets), tags them on the GPU, and returns the entities.
   *
   * @param text the text
   * @param options decoding constraints
   * @returns the entities, in text order
   *
   * @example
   * ```ts
   * import { acquireGpu } from "../gpu/device.ts";
   * import { randomModel } from "./random_model.ts";
   * import { Tagger } from "./tagger.ts";
   * const tagger = await Tagger.fromModel(await acquireGpu(), randomModel());
   * const text = "Ada sang in Oslo.";
   * for (const e of await tagger.tag(text)) {
   *   if (text.slice(e.start, e.end) !== e.text) throw new Error("offsets");
   * }
   * ```
   */
  async tag(text: string, options: TagOptions = {}): Promise<Entity[]> {
    return (await this.tagBatch([text], options))[0];
  }

  /**
   * Tags many texts with few GPU submits (their sentences share batches of
   * up to 128 sentences).
   *
   * @param texts the texts
   * @param options decoding constraints
   * @returns entities per text
   *
   * @example
   * ```ts
   * import { acquireGpu } from "../gpu/device.ts";
   * import { randomModel } from "./random_model.ts";
   * import { Tagger } from "./tagger.ts";
   * const tagger = await Tagger.fromModel(await acquireGpu(), randomModel());
   * const out = await tagger.tagBatch(["Ada sang.", "", "Bo left Oslo. Cy stayed."]);
   * if (out.length !== 3 || out[1].length !== 0) throw new Error();
   * ```
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

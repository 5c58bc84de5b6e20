/**
 * The Tagger: load a model, tag raw text or tokens on the GPU, get entities
 * with character offsets and span probabilities from CRF marginals.
 *
 * @module
 */

import { type Batch, encodeSentences, makeBatches } from "../data/batch.ts";
import { CASING_CLASSES } from "../data/casing.ts";
import { splitTag, tagsToSpans, transitionMask } from "../data/schemes.ts";
import { sentences as splitSentences, type Token } from "../data/tokenize.ts";
import { acquireGpu, type Gpu } from "../gpu/device.ts";
import { kernelProfile } from "../gpu/profile.ts";
import { decodeModel, type ModelData } from "../model/checkpoint.ts";
import { fromPytorchTensors, type Inference, NerGraph } from "../model/graph.ts";
import { spanProbability } from "../ops/crf.ts";
import { temperatureScale } from "../eval/calibration.ts";
import { nBest } from "./nbest.ts";

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
  /**
   * The model's probability that exactly this span carries this label (CRF
   * marginals), after the model's calibration temperature when it has one.
   */
  score: number;
  /** Token range [first, last + 1) within its sentence (the tokenizer's sentences). */
  tokens: [number, number];
}

/** Options for tagging. */
export interface TagOptions {
  /** Decode only tag sequences valid in the model's scheme (default true). */
  constrained?: boolean;
  /** Also return the k best tag sequences with probabilities ({@linkcode Tagger.tagTokens} only; sentences tagged whole, at most 4,096 tokens). */
  nBest?: number;
  /**
   * Apply the model's calibration temperature ({@linkcode Tagger.temperature})
   * to entity scores (default true; nothing changes for a model without
   * one). False gives the raw span probabilities. Marginals and n-best
   * probabilities are always raw.
   */
  calibrated?: boolean;
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

/** A sentence of a text as the Tagger split and tagged it. */
export interface TaggedSentence {
  /** Its tokens, with UTF-16 offsets into the text. */
  tokens: Token[];
  /** The best tag per token, in the model's scheme (see {@linkcode Tagger.scheme}). */
  tags: string[];
}

/** The result of {@linkcode Tagger.tagTexts} for one text. */
export interface TaggedText {
  /** The text. */
  text: string;
  /** Its entities, in text order. */
  entities: Entity[];
  /** Its sentences with their tokens and tags (none for an empty or blank text). */
  sentences: TaggedSentence[];
}

/** T of the Tagger's main graph: longer sentences go to the long-sentence graph. */
const MAX_TIME = 128;
/**
 * Sentences up to this many tokens are tagged whole (fewer where the binding limit asks);
 * longer ones in independent pieces of this length.
 */
const WHOLE_TIME = 4096;
/** The long-sentence graph's T: the call's longest sentence rounded up to a multiple of this. */
const LONG_STEP = 256;
/** The most sentences per batch of the long-sentence graph. */
const LONG_BATCH = 4;
/**
 * The most sentences per GPU batch, by kernel profile (fewer when the
 * adapter's binding limit asks for it). On a software adapter ("cpu") GPU
 * buffers are host memory and 256 costs more CPU time per token than 128
 * (5.9 vs 6.6 CPU s on CoNLL-2003 test, llvmpipe); a GPU wants larger batches.
 */
const MAX_BATCH = { cpu: 128, gpu: 256 } as const;
/** Batches submitted ahead of the one being read back and post-processed. */
const IN_FLIGHT = 2;

/**
 * The Tagger's batch shape on a device: pieces of at most 128 tokens (T),
 * and as many of them per batch (B: up to 128 on the `cpu` kernel profile,
 * 256 on `gpu`) as keep the largest buffer, the LSTM gates (B·T, 8H) f32,
 * within the storage binding limit.
 *
 * @param device the binding limit in bytes, the kernel profile
 * @param hidden H, the LSTM's hidden size per direction
 * @returns B and T
 *
 * @example
 * ```ts
 * import { taggerCapacity } from "./tagger.ts";
 * const c = taggerCapacity({ bindingLimit: 128 * 2 ** 20, profile: "gpu" }, 100);
 * if (c.maxBatch !== 256 || c.maxTime !== 128) throw new Error(JSON.stringify(c));
 * ```
 */
export function taggerCapacity(
  device: { bindingLimit: number; profile: "cpu" | "gpu" },
  hidden: number,
): { maxBatch: number; maxTime: number } {
  const most = MAX_BATCH[device.profile];
  const limit = device.bindingLimit;
  const rows = Math.floor(limit / (8 * hidden * 4));
  if (rows < 1) {
    throw new RangeError(
      `A model with hidden size ${hidden} needs ${8 * hidden * 4} bytes per token in one ` +
        `buffer, more than this adapter's storage binding limit of ${limit} bytes`,
    );
  }
  const maxTime = Math.min(MAX_TIME, rows);
  return { maxTime, maxBatch: Math.max(1, Math.min(most, Math.floor(rows / maxTime))) };
}

/**
 * The long-sentence graph's batch shape for a call whose longest sentence has `longest`
 * tokens: T that length rounded up to a multiple of 256 (at most 4,096 and what the binding
 * limit holds), B as many sentences (at most 4) as keep every LSTM buffer of (B·T, 8·Hp)
 * f32 within the binding limit (Hp = H rounded up to 4). Sentences up to T are tagged whole.
 *
 * @param device the binding limit in bytes
 * @param hidden H, the LSTM's hidden size per direction
 * @param longest the longest sentence to hold (tokens)
 * @returns B and T
 *
 * @example
 * ```ts
 * import { longCapacity } from "./tagger.ts";
 * const c = longCapacity({ bindingLimit: 128 * 2 ** 20 }, 100, 600);
 * if (c.maxBatch !== 4 || c.maxTime !== 768) throw new Error(JSON.stringify(c));
 * ```
 */
export function longCapacity(
  device: { bindingLimit: number },
  hidden: number,
  longest: number,
): { maxBatch: number; maxTime: number } {
  const rows = Math.floor(device.bindingLimit / (32 * 4 * Math.ceil(hidden / 4)));
  const maxTime = Math.max(
    1,
    Math.min(Math.ceil(longest / LONG_STEP) * LONG_STEP, WHOLE_TIME, rows),
  );
  return { maxTime, maxBatch: Math.max(1, Math.min(LONG_BATCH, Math.floor(rows / maxTime))) };
}

/** The longest sentence a tagger tags whole: 4,096 tokens, or what the binding limit holds. */
function wholeTime(device: { bindingLimit: number }, hidden: number, mainTime: number): number {
  return Math.max(mainTime, longCapacity(device, hidden, WHOLE_TIME).maxTime);
}

/** The long-sentence graph, the calls using it, and whether a larger one replaced it. */
interface LongGraph {
  graph: NerGraph;
  capacity: { maxBatch: number; maxTime: number };
  users: number;
  stale: boolean;
}

/** One GPU batch of a decoding call, the graph it runs on and the pieces it indexes. */
interface Job {
  graph: NerGraph;
  batch: Batch;
  pieces: Piece[];
}

/** A piece of a sentence: at most maxTime tokens from `offset`. */
interface Piece {
  sentence: number;
  offset: number;
  tokens: readonly string[];
}

/** What one decoding run is asked for. */
interface DecodeRequest {
  constrained: boolean;
  /** Copy each sentence's marginals into its result. */
  marginals: boolean;
  nBest?: number;
  /** τ applied to entity scores (1: raw). */
  temperature: number;
}

/**
 * A loaded model, ready to tag. Create with {@linkcode Tagger.load} (a
 * model file) or {@linkcode Tagger.fromModel} (a decoded model); free its
 * GPU memory with {@linkcode Tagger.destroy} (or `using`).
 *
 * Decoding is Viterbi on the GPU, restricted by default to tag sequences
 * valid in the model's scheme (no `I-PER` after `O` in IOB2); entity scores
 * are span probabilities from forward-backward marginals, also on the GPU.
 * Batches are pipelined: the next one is submitted before the previous one
 * is read back and turned into entities. Sentences longer than 128 tokens
 * run on a second graph, built on demand for the longest sentence of a call
 * (up to 4,096 tokens, or what the binding limit holds) and freed with the
 * tagger, so they are tagged whole; longer ones are tagged in independent
 * pieces of that length.
 *
 * @example
 * ```ts
 * import { encodeModel } from "../model/checkpoint.ts";
 * import { randomModel } from "./random_model.ts";
 * import { Tagger } from "./tagger.ts";
 * // A real program loads a trained file: Tagger.load("models/gmb-small.safetensors").
 * const bytes = encodeModel(randomModel({ words: ["Ada", "sang"] }));
 * using tagger = await Tagger.load(bytes);
 * for (const e of await tagger.tag("Ada sang in Oslo.")) {
 *   if (e.score <= 0 || e.score > 1) throw new Error("scores are probabilities");
 * }
 * ```
 */
export class Tagger {
  /** Whether each graph's decoding is constrained now (graphs start constrained). */
  #constrained = new Map<NerGraph, boolean>();
  #destroyed = false;
  /** The long-sentence graph, built on the first call that needs it; replaced ones until freed. */
  #long: LongGraph | null = null;
  #stale: LongGraph[] = [];
  #mask: ReturnType<typeof transitionMask>;
  /** Tag ids that continue an entity of each type (I-, E-, L-). */
  #continuations: Map<string, number[]>;
  #capacity: { maxBatch: number; maxTime: number };

  private constructor(
    readonly gpu: Gpu,
    readonly model: ModelData,
    readonly graph: NerGraph,
    capacity: { maxBatch: number; maxTime: number },
  ) {
    this.#capacity = capacity;
    this.#mask = transitionMask(model.tags.items, model.scheme);
    this.#continuations = continuationTags(model.tags.items);
  }

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
   * tagger.destroy();
   * ```
   */
  get labels(): readonly string[] {
    return this.model.tags.items;
  }

  /**
   * The tag scheme of {@linkcode TaggedSentence.tags} (e.g. "IOB2").
   *
   * @returns the scheme
   *
   * @example
   * ```ts
   * import { acquireGpu } from "../gpu/device.ts";
   * import { randomModel } from "./random_model.ts";
   * import { Tagger } from "./tagger.ts";
   * using tagger = await Tagger.fromModel(await acquireGpu(), randomModel({ scheme: "IOBES" }));
   * if (tagger.scheme !== "IOBES") throw new Error(tagger.scheme);
   * ```
   */
  get scheme(): ModelData["scheme"] {
    return this.model.scheme;
  }

  /**
   * The calibration temperature τ of entity scores, fitted on development
   * data when the model was trained (1 when the model stores none): a raw
   * span probability p is reported as σ(logit(p) / τ) unless a call asks
   * for `calibrated: false`.
   *
   * @returns τ
   *
   * @example
   * ```ts
   * import { acquireGpu } from "../gpu/device.ts";
   * import { randomModel } from "./random_model.ts";
   * import { Tagger } from "./tagger.ts";
   * const model = { ...randomModel(), calibration: { temperature: 1.5, fittedOn: "dev", spans: 10 } };
   * using tagger = await Tagger.fromModel(await acquireGpu(), model);
   * if (tagger.temperature !== 1.5) throw new Error(String(tagger.temperature));
   * ```
   */
  get temperature(): number {
    return this.model.calibration?.temperature ?? 1;
  }

  /** The temperature a call asks for: the model's, or 1 with `calibrated: false`. */
  #temperatureFor(options: TagOptions): number {
    const c = options.calibrated;
    if (c !== undefined && typeof c !== "boolean") {
      throw new TypeError(`calibrated: expected true or false, found ${typeof c}`);
    }
    return c === false ? 1 : this.temperature;
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
   * tagger.destroy();
   * ```
   */
  static async fromModel(gpu: Gpu, model: ModelData): Promise<Tagger> {
    const capacity = taggerCapacity({
      bindingLimit: gpu.device.limits.maxStorageBufferBindingSize,
      profile: kernelProfile(gpu).profile,
    }, model.config.hidden);
    const graph = await inferenceGraph(gpu, model, capacity);
    return new Tagger(gpu, model, graph, capacity);
  }

  /**
   * Frees the tagger's GPU memory (its graph: parameters, activations,
   * scratch). Idempotent; tagging afterwards throws. Wait for running
   * tagging calls to finish first. `using tagger = …` calls it too.
   *
   * @example
   * ```ts
   * import { acquireGpu } from "../gpu/device.ts";
   * import { randomModel } from "./random_model.ts";
   * import { Tagger } from "./tagger.ts";
   * const tagger = await Tagger.fromModel(await acquireGpu(), randomModel());
   * await tagger.tag("Ada sang.");
   * tagger.destroy();
   * try {
   *   await tagger.tag("Ada sang.");
   *   throw new Error("tagged after destroy");
   * } catch (e) {
   *   if (!/destroyed/.test((e as Error).message)) throw e;
   * }
   * ```
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.graph.destroy();
    for (const long of [...this.#stale, ...(this.#long ? [this.#long] : [])]) long.graph.destroy();
    this.#long = null;
    this.#stale = [];
  }

  /** Same as {@linkcode Tagger.destroy}, for `using`. */
  [Symbol.dispose](): void {
    this.destroy();
  }

  #checkAlive(): void {
    if (this.#destroyed) {
      throw new Error("This Tagger was destroyed; load the model again to tag");
    }
  }

  #setConstrained(graph: NerGraph, on: boolean): void {
    if (on === (this.#constrained.get(graph) ?? true)) return;
    this.#constrained.set(graph, on);
    const K = this.model.tags.size;
    graph.setConstraints(
      on ? this.#mask : {
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
   * using tagger = await Tagger.fromModel(await acquireGpu(), randomModel({ words: ["Ada"] }));
   * const [result] = await tagger.tagTokens([["Ada", "sang"]], { nBest: 3 });
   * if (result.tags.length !== 2 || result.marginals.length !== 2 * 5) throw new Error();
   * if (result.nBest![0].tags.join() !== result.tags.join()) throw new Error("1-best is Viterbi");
   * ```
   */
  async tagTokens(
    sentences: readonly (readonly string[])[],
    options: TagOptions = {},
  ): Promise<TokenTagging[]> {
    this.#checkAlive();
    checkSentences(sentences);
    if (options.nBest !== undefined && !(Number.isInteger(options.nBest) && options.nBest >= 1)) {
      throw new RangeError(`nBest: expected a positive integer, found ${options.nBest}`);
    }
    const maxTime = this.#wholeTime;
    if (options.nBest) {
      const long = sentences.findIndex((s) => s.length > maxTime);
      if (long >= 0) {
        throw new RangeError(
          `nBest: expected sentences of at most ${maxTime} tokens, sentence ${long} has ` +
            `${sentences[long].length}`,
        );
      }
    }
    return await this.#decode(sentences, {
      constrained: options.constrained ?? true,
      marginals: true,
      nBest: options.nBest,
      temperature: this.#temperatureFor(options),
    });
  }

  /** The longest sentence tagged whole (4,096 tokens, or what the binding limit holds). */
  get #wholeTime(): number {
    const device = { bindingLimit: this.gpu.device.limits.maxStorageBufferBindingSize };
    return wholeTime(device, this.model.config.hidden, this.#capacity.maxTime);
  }

  /**
   * The one decoding path of every tagging call: sentences cut into pieces
   * of at most the whole-sentence length, those up to 128 tokens batched on
   * the main graph and longer ones on the long-sentence graph, by length,
   * submitted IN_FLIGHT batches ahead, each batch's results collected while
   * the next runs.
   */
  async #decode(
    sentences: readonly (readonly string[])[],
    request: DecodeRequest,
  ): Promise<TokenTagging[]> {
    const K = this.model.tags.size;
    const pieces = splitPieces(sentences, this.#wholeTime);
    const results: TokenTagging[] = sentences.map((t) => ({
      tags: new Array(t.length),
      entities: [],
      marginals: new Float32Array(request.marginals ? t.length * K : 0),
    }));
    const short = pieces.filter((p) => p.tokens.length <= this.#capacity.maxTime);
    const longPieces = pieces.filter((p) => p.tokens.length > this.#capacity.maxTime);
    const long = longPieces.length > 0
      ? await this.#useLongGraph(Math.max(...longPieces.map((p) => p.tokens.length)))
      : null;
    try {
      const jobs = this.#jobs(this.graph, short, this.#capacity.maxBatch);
      if (long) jobs.push(...this.#jobs(long.graph, longPieces, long.capacity.maxBatch));
      await this.#run(jobs, results, request);
    } finally {
      if (long) this.#releaseLongGraph(long);
    }
    // Batches hold pieces in length order: put each sentence's entities back in token order.
    for (const r of results) r.entities.sort((a, b) => a.start - b.start);
    return results;
  }

  /** Runs the jobs IN_FLIGHT ahead, collecting each one's results while the next runs. */
  async #run(jobs: Job[], results: TokenTagging[], request: DecodeRequest): Promise<void> {
    const inFlight: { job: Job; out: Promise<Inference> }[] = [];
    let next = 0;
    try {
      while (next < jobs.length || inFlight.length > 0) {
        while (inFlight.length < IN_FLIGHT && next < jobs.length) {
          const job = jobs[next++];
          this.#checkAlive();
          this.#setConstrained(job.graph, request.constrained);
          inFlight.push({ job, out: job.graph.infer(job.batch, { marginals: true }) });
        }
        const { job, out } = inFlight.shift()!;
        this.#collect(job.batch, await out, job.pieces, results, request);
      }
    } finally {
      // A failed batch: the others still settle, without unhandled rejections.
      for (const { out } of inFlight) out.catch(() => {});
    }
  }

  /** The GPU batches of the non-empty pieces on one graph (sentenceIds index `pieces`). */
  #jobs(graph: NerGraph, pieces: Piece[], batchSize: number): Job[] {
    if (pieces.length === 0) return [];
    const labels = this.model.tags.items;
    const encoded = encodeSentences(
      pieces.map((p) => ({ tokens: p.tokens as string[], tags: p.tokens.map(() => labels[0]) })),
      { words: this.model.words, chars: this.model.chars, tags: this.model.tags },
    );
    return makeBatches(encoded, {
      batchSize,
      shuffle: false,
      maxChars: this.model.config.maxChars,
    }).map((batch) => ({ graph, batch, pieces }));
  }

  /**
   * The long-sentence graph for pieces of up to `longest` tokens, built (or replaced by a
   * larger one) on demand; the caller releases it with {@linkcode Tagger.#releaseLongGraph}.
   */
  async #useLongGraph(longest: number): Promise<LongGraph> {
    const device = { bindingLimit: this.gpu.device.limits.maxStorageBufferBindingSize };
    const capacity = longCapacity(device, this.model.config.hidden, longest);
    if (!this.#long || this.#long.capacity.maxTime < capacity.maxTime) {
      // The table of the first layer's word projection stays with the main graph.
      const graph = await inferenceGraph(this.gpu, this.model, capacity, { wordTable: false });
      if (this.#destroyed) {
        graph.destroy();
        this.#checkAlive();
      }
      if (this.#long) this.#retire(this.#long);
      this.#long = { graph, capacity, users: 0, stale: false };
    }
    this.#long.users++;
    return this.#long;
  }

  #releaseLongGraph(long: LongGraph): void {
    long.users--;
    if (long.stale && long.users === 0) this.#freeStale(long);
  }

  /** A replaced long graph: freed now, or when the calls still using it end. */
  #retire(long: LongGraph): void {
    long.stale = true;
    if (long.users === 0) long.graph.destroy();
    else this.#stale.push(long);
  }

  #freeStale(long: LongGraph): void {
    this.#stale = this.#stale.filter((l) => l !== long);
    if (!this.#destroyed) long.graph.destroy();
  }

  /** Turns one batch's inference into tags, entities, marginals and n-best lists. */
  #collect(
    batch: Batch,
    out: Inference,
    pieces: Piece[],
    results: TokenTagging[],
    request: DecodeRequest,
  ): void {
    const K = this.model.tags.size;
    const labels = this.model.tags.items;
    const T = batch.maxLength;
    for (let b = 0; b < batch.size; b++) {
      const piece = pieces[batch.sentenceIds[b]];
      const result = results[piece.sentence];
      const n = batch.lengths[b];
      const rows = { from: b * T * K, to: (b * T + n) * K };
      const ids = out.tags.subarray(b * T, b * T + n);
      const tags = Array.from(ids, (id) => labels[id]);
      for (let t = 0; t < n; t++) result.tags[piece.offset + t] = tags[t];
      if (request.marginals) {
        result.marginals.set(out.marginals!.subarray(rows.from, rows.to), piece.offset * K);
      }
      for (const span of tagsToSpans(tags)) {
        const score = this.#spanScore(out, b, T, ids, span);
        result.entities.push({
          label: span.type,
          start: piece.offset + span.start,
          end: piece.offset + span.end,
          score: request.temperature === 1 ? score : temperatureScale(score, request.temperature),
        });
      }
      if (request.nBest) {
        (result.nBest ??= []).push(...this.#nBest(out, b, rows, request));
      }
    }
  }

  /** The probability of exactly this span: CRF lattice, or the product of softmax marginals. */
  #spanScore(
    out: Inference,
    b: number,
    T: number,
    ids: Int32Array,
    span: { start: number; end: number; type: string },
  ): number {
    const K = this.model.tags.size;
    const n = ids.length;
    const spanIds = Array.from(ids.subarray(span.start, span.end));
    if (this.model.config.head !== "crf" || !out.logAlpha) {
      return spanIds.reduce(
        (p, id, r) => p * out.marginals![(b * T + span.start + r) * K + id],
        1,
      );
    }
    const row = (a: Float32Array) => a.subarray(b * T * K, (b * T + n) * K);
    return spanProbability({
      tags: K,
      length: n,
      emissions: row(out.emissions!),
      logAlpha: row(out.logAlpha!),
      logBeta: row(out.logBeta!),
      logZ: out.logZ![b],
      transitions: this.model.tensors["crf.transitions"],
    }, {
      first: span.start,
      tags: spanIds,
      excludeNext: this.model.scheme === "IOB2" ? this.#continuations.get(span.type) ?? [] : [],
    });
  }

  /** The k best sequences of sentence b with their probabilities (CRF only). */
  #nBest(
    out: Inference,
    b: number,
    rows: { from: number; to: number },
    request: DecodeRequest,
  ): { tags: string[]; probability: number }[] {
    if (this.model.config.head !== "crf" || !out.logZ) return [];
    const labels = this.model.tags.items;
    const paths = nBest({
      emissions: out.emissions!.subarray(rows.from, rows.to),
      transitions: this.model.tensors["crf.transitions"],
      start: this.model.tensors["crf.start"],
      end: this.model.tensors["crf.end"],
      allowed: request.constrained ? this.#mask : undefined,
    }, { tags: this.model.tags.size, k: request.nBest! });
    return paths.map((p) => ({
      tags: p.path.map((id) => labels[id]),
      probability: Math.exp(p.score - out.logZ![b]),
    }));
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
   * using tagger = await Tagger.fromModel(await acquireGpu(), randomModel());
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
   * up to 128 sentences on a software adapter, 256 on a GPU).
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
   * using tagger = await Tagger.fromModel(await acquireGpu(), randomModel());
   * const out = await tagger.tagBatch(["Ada sang.", "", "Bo left Oslo. Cy stayed."]);
   * if (out.length !== 3 || out[1].length !== 0) throw new Error();
   * ```
   */
  async tagBatch(texts: readonly string[], options: TagOptions = {}): Promise<Entity[][]> {
    return (await this.tagTexts(texts, options)).map((t) => t.entities);
  }

  /**
   * Tags many texts and returns, per text, its entities and its sentences
   * with their tokens and tags (what token-per-line output such as CoNLL
   * needs). The same path as {@linkcode Tagger.tagBatch}.
   *
   * @param texts the texts
   * @param options decoding constraints
   * @returns one result per text
   *
   * @example
   * ```ts
   * import { acquireGpu } from "../gpu/device.ts";
   * import { randomModel } from "./random_model.ts";
   * import { Tagger } from "./tagger.ts";
   * using tagger = await Tagger.fromModel(await acquireGpu(), randomModel());
   * const [doc] = await tagger.tagTexts(["Ada sang. Bo left."]);
   * if (doc.sentences.length !== 2 || doc.sentences[0].tags.length !== 3) throw new Error();
   * ```
   */
  async tagTexts(texts: readonly string[], options: TagOptions = {}): Promise<TaggedText[]> {
    this.#checkAlive();
    const all: { text: number; tokens: Token[] }[] = [];
    texts.forEach((text, i) => {
      if (typeof text !== "string") {
        throw new TypeError(`texts[${i}]: expected a string, found ${typeof text}`);
      }
      for (const s of splitSentences(text)) all.push({ text: i, tokens: s.tokens });
    });
    const tagged = await this.#decode(all.map((s) => s.tokens.map((t) => t.text)), {
      constrained: options.constrained ?? true,
      marginals: false,
      temperature: this.#temperatureFor(options),
    });
    const out: TaggedText[] = texts.map((text) => ({ text, entities: [], sentences: [] }));
    tagged.forEach((result, i) => {
      const { text, tokens } = all[i];
      const doc = out[text];
      doc.sentences.push({ tokens, tags: result.tags });
      for (const e of result.entities) {
        const start = tokens[e.start].start;
        const end = tokens[e.end - 1].end;
        doc.entities.push({
          text: doc.text.slice(start, end),
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

/** Validates tagTokens' input: an array of arrays of strings. */
function checkSentences(sentences: unknown): void {
  if (!Array.isArray(sentences)) {
    throw new TypeError(`sentences: expected an array of token arrays, found ${typeof sentences}`);
  }
  sentences.forEach((tokens, i) => {
    if (!Array.isArray(tokens)) {
      throw new TypeError(`sentences[${i}]: expected an array of tokens, found ${typeof tokens}`);
    }
    const bad = tokens.findIndex((t) => typeof t !== "string");
    if (bad >= 0) {
      throw new TypeError(
        `sentences[${i}][${bad}]: expected a string token, found ${typeof tokens[bad]}`,
      );
    }
  });
}

/** An inference graph of the model at this capacity, its parameters written. */
async function inferenceGraph(
  gpu: Gpu,
  model: ModelData,
  capacity: { maxBatch: number; maxTime: number },
  options: { wordTable?: boolean } = {},
): Promise<NerGraph> {
  const graph = await NerGraph.create(
    gpu,
    model.config,
    {
      words: model.words.size,
      chars: model.chars.size,
      casings: CASING_CLASSES.length,
      tags: model.tags.size,
    },
    { ...capacity, maxChars: model.config.maxChars },
    { training: false, constraints: transitionMask(model.tags.items, model.scheme), ...options },
  );
  try {
    graph.writeParameters(fromPytorchTensors(model.tensors));
  } catch (e) {
    graph.destroy();
    throw e;
  }
  return graph;
}

/** Sentences cut into pieces of at most `maxTime` tokens (empty sentences: none). */
function splitPieces(sentences: readonly (readonly string[])[], maxTime: number): Piece[] {
  const pieces: Piece[] = [];
  sentences.forEach((tokens, sentence) => {
    for (let offset = 0; offset < tokens.length; offset += maxTime) {
      pieces.push({ sentence, offset, tokens: tokens.slice(offset, offset + maxTime) });
    }
  });
  return pieces;
}

/** Tag ids that continue an entity of each type (I-, E-, L-). */
function continuationTags(tags: readonly string[]): Map<string, number[]> {
  const byType = new Map<string, number[]>();
  tags.forEach((tag, id) => {
    const { prefix, type } = splitTag(tag);
    if (prefix === "I" || prefix === "E" || prefix === "L") {
      byType.set(type, [...(byType.get(type) ?? []), id]);
    }
  });
  return byType;
}

/** Re-exported for callers that build entities from tokens themselves. */
export type { Token };

/**
 * The training loop: vocabularies, batches, the GPU graph, epochs with a
 * progress bar, dev-F1 early stopping, checkpoints through a callback (so
 * the same loop runs in a browser), and the final test report.
 *
 * Per step the host uploads a batch and submits one command buffer; it
 * reads the loss back only every `lossEvery` steps.
 *
 * @module
 */

import { type Batch, encodeSentences, makeBatches } from "../data/batch.ts";
import { CASING_CLASSES } from "../data/casing.ts";
import type { Embeddings } from "../data/embeddings.ts";
import { embeddingCoverage, embeddingMatrix } from "../data/embeddings.ts";
import { convertTags, type TagScheme, transitionMask } from "../data/schemes.ts";
import { collectTags, type Sentence } from "../data/sentence.ts";
import {
  buildCharVocabulary,
  buildTagVocabulary,
  buildWordVocabulary,
  type Vocabulary,
} from "../data/vocab.ts";
import { conllevalCounts, entityEvaluation } from "../eval/conlleval.ts";
import { evaluateTags, type EvaluationReport } from "../eval/report.ts";
import type { Gpu } from "../gpu/device.ts";
import { describeAdapter } from "../gpu/device.ts";
import { decodeModel, encodeModel, type ModelData } from "../model/checkpoint.ts";
import { type ModelConfig, resolveConfig } from "../model/config.ts";
import { fromPytorchTensors, NerGraph, toPytorchTensors } from "../model/graph.ts";
import { relabelModel } from "../model/relabel.ts";
import { Progress, type ProgressSink } from "./progress.ts";
import { mulberry32 } from "../data/random.ts";
import { EarlyStopping } from "./early_stopping.ts";
import { dropWords, singletonWords } from "./word_dropout.ts";

/** Steps between updates of the weight average (it costs a pass over every parameter). */
const AVERAGE_EVERY = 4;

/** Options of {@linkcode trainModel}; every field has a default. */
export interface TrainOptions {
  /** Model sizes (defaults: {@linkcode resolveConfig}). */
  config?: Partial<ModelConfig>;
  /** Most epochs (default 30). */
  epochs?: number;
  /** Sentences per batch (default 32). */
  batchSize?: number;
  /** Adam learning rate (default 2e-3), decayed as lr / (1 + decay·epoch). */
  lr?: number;
  /** Learning-rate decay per epoch (default 0.05). */
  lrDecay?: number;
  /** Global gradient-norm clip (default 5; 0 disables). */
  clip?: number;
  /**
   * Per-step decay of the exponential moving average of the weights that is
   * evaluated, kept and saved (Polyak averaging; default 0.999; 0 evaluates
   * the raw weights).
   */
  average?: number;
  /** Epochs without a better dev F1 before stopping (default 5; 0 never stops early). */
  patience?: number;
  /** Seed of the weights, the shuffling and dropout (default 1). */
  seed?: number;
  /** Output tag scheme (default IOB2). */
  scheme?: TagScheme;
  /** Stop after this many seconds of training (checked between steps); evaluation follows. */
  timeBudget?: number;
  /** Keep words seen at least this often in the training data (default 1). */
  minFrequency?: number;
  /**
   * Lowercase words before lookup (default true: "JAPAN" in a headline finds
   * "Japan"'s embedding; case still reaches the model through the casing and
   * character features).
   */
  lowercase?: boolean;
  /** Map digits to 0 (default true). */
  normalizeDigits?: boolean;
  /** Pretrained word vectors (their dimension sets the word embedding size). */
  embeddings?: Embeddings;
  /**
   * Probability of replacing a word seen once in the training data by
   * `<unk>` each time it is fed (default 0.5), so the `<unk>` embedding learns
   * what rare words look like (Lample et al. 2016).
   */
  unkReplace?: number;
  /**
   * Probability of feeding any word as `<unk>` (default 0.2): word-level
   * dropout, which pushes the model to use the character and casing features.
   */
  wordDropout?: number;
  /** Read the loss back every this many steps (default 50). */
  lossEvery?: number;
  /** Sentences per batch at evaluation (default 128). */
  evalBatchSize?: number;
  /** A checkpoint to resume (its bytes, from a last-epoch save). */
  resume?: Uint8Array;
  /** A model to fine-tune (its bytes): its vocabularies and weights are the start. */
  initFrom?: Uint8Array;
  /** Called with model bytes: "best" after a dev improvement, "last" after every epoch (with optimizer state). */
  save?: (kind: "best" | "last", bytes: Uint8Array) => Promise<void> | void;
  /** Called for every event (for a JSONL log, a chart in a page). */
  onEvent?: (event: TrainEvent) => void;
  /** Where the progress bar goes (default: none). */
  progress?: ProgressSink;
  /** Stops training after the current step when aborted (Ctrl-C). */
  signal?: AbortSignal;
  /** Text describing the data, stored in the model's summary. */
  corpus?: string;
}

/** Events emitted while training. */
export type TrainEvent =
  | {
    type: "start";
    adapter: string;
    sentences: number;
    tokens: number;
    parameters: number;
    config: ModelConfig;
    dispatchesPerStep: number;
  }
  | { type: "loss"; epoch: number; step: number; loss: number; tokensPerSecond: number }
  | {
    type: "epoch";
    epoch: number;
    loss: number;
    dev: { precision: number; recall: number; f1: number };
    seconds: number;
    tokensPerSecond: number;
    best: boolean;
    lr: number;
  }
  | { type: "stop"; reason: string; epoch: number }
  | { type: "test"; f1: number; precision: number; recall: number };

/** What {@linkcode trainModel} returns. */
export interface TrainResult {
  /** The best model (by dev F1). */
  model: ModelData;
  /** Its bytes, as saved. */
  bytes: Uint8Array;
  /** Best dev F1 (fraction) and its epoch. */
  bestDevF1: number;
  /** 1-based epoch of the best dev F1. */
  bestEpoch: number;
  /** Epochs run (in this call plus before a resume). */
  epochs: number;
  /** Per-epoch history. */
  history: Extract<TrainEvent, { type: "epoch" }>[];
  /** Test-set report with the best model, when test data was given. */
  test?: EvaluationReport;
  /** Why training stopped. */
  stopReason: string;
  /** Seconds spent in training steps (not evaluation). */
  trainSeconds: number;
}

/** Training, development and (optional) test sentences. */
export interface TrainData {
  /** Training sentences. */
  train: readonly Sentence[];
  /** Development sentences (early stopping). */
  dev: readonly Sentence[];
  /** Test sentences (final report). */
  test?: readonly Sentence[];
}

function toScheme(sentences: readonly Sentence[], scheme: TagScheme): Sentence[] {
  return sentences.map((s) => ({ tokens: s.tokens, tags: convertTags(s.tags, scheme) }));
}

function withVectors(sentences: readonly Sentence[], embeddings: Embeddings): string[] {
  const known = new Set(embeddings.words);
  const lower = new Set(embeddings.words.map((w) => w.toLowerCase()));
  return sentences.flatMap((s) => s.tokens).filter((w) =>
    known.has(w) || lower.has(w.toLowerCase())
  );
}

/** The model's parts that turn sentences into batches. */
interface Encoders {
  words: Vocabulary;
  chars: Vocabulary;
  tags: Vocabulary;
}

/**
 * Tags batches with `graph` and returns predicted tag strings per sentence,
 * in the order of `sentences`.
 *
 * @param graph the model on the GPU
 * @param batches batches of `sentences`
 * @param tags the tag vocabulary
 * @param count the number of sentences
 * @returns predicted tags per sentence
 */
export async function predictBatches(
  graph: NerGraph,
  batches: readonly Batch[],
  tags: Vocabulary,
  count: number,
): Promise<string[][]> {
  const out: string[][] = new Array(count);
  for (const batch of batches) {
    const { tags: ids } = await graph.infer(batch);
    for (let b = 0; b < batch.size; b++) {
      const n = batch.lengths[b];
      const row: string[] = new Array(n);
      for (let t = 0; t < n; t++) row[t] = tags.item(ids[b * batch.maxLength + t]);
      out[batch.sentenceIds[b]] = row;
    }
  }
  return out;
}

/**
 * Trains a BiLSTM-CRF (or BiLSTM-softmax) on `data` with the GPU `gpu`.
 *
 * @param gpu the device
 * @param data train, dev and optional test sentences (any tag scheme)
 * @param options hyper-parameters, callbacks
 * @returns the best model, its dev F1, history and the test report
 */
export async function trainModel(
  gpu: Gpu,
  data: TrainData,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const resumed = options.resume ? decodeModel(options.resume, "the resume checkpoint") : undefined;
  if (options.resume && !resumed?.training) {
    throw new Error(
      "Cannot resume: the checkpoint has no optimizer state (use a last-epoch checkpoint)",
    );
  }
  let initial = resumed ??
    (options.initFrom ? decodeModel(options.initFrom, "the initial model") : undefined);
  const scheme = initial?.scheme ?? options.scheme ?? "IOB2";
  const seed = options.seed ?? 1;
  const epochs = options.epochs ?? 30;
  const batchSize = options.batchSize ?? 32;
  const evalBatchSize = options.evalBatchSize ?? 128;
  const lossEvery = options.lossEvery ?? 50;
  const baseLr = options.lr ?? 2e-3;
  const lrDecay = options.lrDecay ?? 0.05;
  const clip = options.clip ?? 5;
  const averageDecay = options.average ?? 0.999;
  if (!(averageDecay >= 0 && averageDecay < 1)) {
    throw new RangeError(`average: expected a decay in [0, 1), got ${averageDecay}`);
  }
  const averaging = averageDecay > 0;
  // The average starts as a copy of the first step's weights and then moves
  // every AVERAGE_EVERY steps; its decay warms up as (1 + n) / (10 + n) over
  // the first n updates (as TensorFlow's ExponentialMovingAverage does), so
  // early, short runs follow the recent weights rather than their start.
  const averageWeightAt = (step: number): number => {
    if (!averaging || (step !== 1 && step % AVERAGE_EVERY !== 0)) return 0;
    const updates = Math.floor(step / AVERAGE_EVERY);
    const decay = Math.min(averageDecay ** AVERAGE_EVERY, (1 + updates) / (10 + updates));
    return step === 1 ? 1 : 1 - decay;
  };
  const emit = options.onEvent ?? (() => {});

  const train = toScheme(data.train, scheme);
  const dev = toScheme(data.dev, scheme);
  if (train.length === 0) throw new Error("No training sentences");
  if (dev.length === 0) throw new Error("No development sentences (needed for early stopping)");

  let config: ModelConfig;
  let encoders: Encoders;
  if (initial) {
    config = initial.config;
    encoders = { words: initial.words, chars: initial.chars, tags: initial.tags };
    const unknown = collectTags([...train, ...dev]).filter((t) => !encoders.tags.has(t));
    if (unknown.length && resumed) {
      throw new Error(`The data has tags the model does not know: ${unknown.join(", ")}`);
    }
    if (unknown.length) {
      // Fine-tuning on a new label set: the data's tags, with the output layer and CRF
      // kept for the labels the model has and fresh for the others (src/model/relabel.ts).
      const tags = collectTags([...train, ...dev, ...toScheme(data.test ?? [], scheme)]);
      initial = relabelModel(initial, tags, { seed });
      encoders = { ...encoders, tags: initial.tags };
    }
  } else {
    const lowercase = options.lowercase ?? true;
    const normalizeDigits = options.normalizeDigits ?? true;
    config = resolveConfig({
      ...options.config,
      ...(options.embeddings ? { wordDim: options.embeddings.dim } : {}),
    });
    const words = buildWordVocabulary(train, {
      minFrequency: options.minFrequency ?? 1,
      lowercase,
      normalizeDigits,
      // Words of dev and test that have a pretrained vector get a row too.
      extra: options.embeddings
        ? withVectors([...dev, ...(data.test ?? [])], options.embeddings)
        : undefined,
    });
    const allTags = collectTags([...train, ...dev, ...toScheme(data.test ?? [], scheme)]);
    encoders = {
      words,
      chars: buildCharVocabulary(train),
      tags: buildTagVocabulary(allTags),
    };
  }
  const tagList = encoders.tags.items;
  const encode = (s: readonly Sentence[]) => encodeSentences(s, encoders);
  const encodedTrain = encode(train);
  const encodedDev = encode(dev);
  const allSentences = [...train, ...dev, ...(data.test ?? [])];
  const maxTime = allSentences.reduce((m, s) => Math.max(m, s.tokens.length), 1);
  const maxChars = config.maxChars;
  const mask = transitionMask(tagList, scheme);
  const graph = await NerGraph.create(
    gpu,
    config,
    {
      words: encoders.words.size,
      chars: encoders.chars.size,
      casings: CASING_CLASSES.length,
      tags: encoders.tags.size,
    },
    { maxBatch: Math.max(batchSize, evalBatchSize), maxTime, maxChars },
    { seed, constraints: mask },
  );
  if (initial) graph.writeParameters(fromPytorchTensors(initial.tensors));
  else if (options.embeddings) {
    graph.writeParameters({
      "word_emb.weight": embeddingMatrix(encoders.words, options.embeddings, { seed }),
    });
    const coverage = embeddingCoverage(encoders.words, options.embeddings);
    emit({ type: "stop", reason: `embeddings coverage: ${JSON.stringify(coverage)}`, epoch: 0 });
  }

  const unkReplace = options.unkReplace ?? 0.5;
  if (!(unkReplace >= 0 && unkReplace <= 1)) {
    throw new RangeError(`unkReplace: expected a probability in [0, 1], got ${unkReplace}`);
  }
  const wordDropout = options.wordDropout ?? 0.2;
  if (!(wordDropout >= 0 && wordDropout < 1)) {
    throw new RangeError(`wordDropout: expected a probability in [0, 1), got ${wordDropout}`);
  }
  const dropping = {
    unkReplace,
    wordDropout,
    singletons: singletonWords(encodedTrain.map((s) => s.words), encoders.words.size),
  };

  const devBatches = makeBatches(encodedDev, {
    batchSize: evalBatchSize,
    shuffle: false,
    maxChars,
  });
  const trainTokens = encodedTrain.reduce((n, s) => n + s.words.length, 0);
  emit({
    type: "start",
    adapter: describeAdapter(gpu.adapter),
    sentences: train.length,
    tokens: trainTokens,
    parameters: graph.layout.size,
    config,
    dispatchesPerStep: graph.dispatchesPerStep,
  });

  // Loop state, restored on resume.
  const state = {
    epoch: 0,
    step: 0,
    bestDevF1: -1,
    bestEpoch: 0,
    trainSeconds: 0,
    history: [] as Extract<TrainEvent, { type: "epoch" }>[],
  };
  const stopper = new EarlyStopping(options.patience ?? 5);
  if (resumed?.training) {
    Object.assign(state, resumed.training.state);
    graph.writeOptimizerState(resumed.training);
    if (averaging) {
      if (!resumed.training.average) {
        throw new Error(
          "Cannot resume with weight averaging: the checkpoint was trained without it " +
            "(resume with the same --average as the run that wrote it)",
        );
      }
      graph.writeAverage(resumed.training.average);
    }
    graph.setStepCount(state.step);
    for (const h of state.history) stopper.observe(h.dev.f1);
  }
  let bestBytes: Uint8Array | null = null;
  let bestTensors: Record<string, Float32Array> | null = null;
  const summary = (extra: Record<string, unknown> = {}) => ({
    corpus: options.corpus ?? "",
    seed,
    adapter: describeAdapter(gpu.adapter),
    bestDevF1: state.bestDevF1,
    bestEpoch: state.bestEpoch,
    ...extra,
  });
  const modelFrom = (tensors: Record<string, Float32Array>): ModelData => ({
    config,
    ...encoders,
    scheme,
    tensors,
    summary: summary(),
  });

  let stopReason = "epochs";
  const started = performance.now();
  const overBudget = () =>
    options.timeBudget !== undefined && (performance.now() - started) / 1000 >= options.timeBudget;
  while (state.epoch < epochs) {
    if (stopper.shouldStop) {
      stopReason = `no better dev F1 in ${stopper.patience} epochs`;
      break;
    }
    if (options.signal?.aborted) {
      stopReason = "interrupted";
      break;
    }
    if (overBudget()) {
      stopReason = `time budget of ${options.timeBudget} s reached`;
      break;
    }
    const epoch = state.epoch + 1;
    const lr = baseLr / (1 + lrDecay * (epoch - 1));
    const batches = makeBatches(encodedTrain, { batchSize, seed: seed * 1000 + epoch, maxChars });
    const progress = options.progress
      ? new Progress(`epoch ${epoch}`, trainTokens, options.progress)
      : null;
    const epochStart = performance.now();
    let tokens = 0;
    let lossSum = 0;
    let lossBatches = 0;
    let pending = 0;
    let stoppedEarly = false;
    const random = mulberry32(seed * 7919 + epoch);
    for (const batch of batches) {
      graph.trainOn(
        dropWords(batch, dropping, random),
        { lr, maxNorm: clip },
        averageWeightAt(state.step + 1),
      );
      tokens += batch.tokens;
      pending++;
      state.step++;
      if (pending >= lossEvery) {
        lossSum += await graph.takeLoss();
        lossBatches += pending;
        pending = 0;
        const rate = tokens / ((performance.now() - epochStart) / 1000);
        progress?.update(tokens, `loss ${(lossSum / lossBatches).toFixed(3)}`);
        emit({
          type: "loss",
          epoch,
          step: state.step,
          loss: lossSum / lossBatches,
          tokensPerSecond: rate,
        });
      }
      if (options.signal?.aborted || overBudget()) {
        stoppedEarly = true;
        break;
      }
    }
    if (pending > 0) {
      lossSum += await graph.takeLoss();
      lossBatches += pending;
    }
    const seconds = (performance.now() - epochStart) / 1000;
    state.trainSeconds += seconds;
    const tokensPerSecond = tokens / seconds;
    progress?.done(`loss ${(lossSum / lossBatches).toFixed(3)}`);

    // Evaluate, keep and save the averaged weights; training continues from the raw ones.
    if (averaging) graph.useAverage(true);
    const predicted = await predictBatches(graph, devBatches, encoders.tags, dev.length);
    const counts = conllevalCounts(
      dev.map((s) => convertTags(s.tags, "IOB2")),
      predicted.map((p) => convertTags(p, "IOB2")),
    );
    const devScores = entityEvaluation(counts).overall;
    state.epoch = epoch;
    const best = stopper.observe(devScores.f1) && devScores.f1 > state.bestDevF1;
    const event = {
      type: "epoch" as const,
      epoch,
      loss: lossSum / lossBatches,
      dev: { precision: devScores.precision, recall: devScores.recall, f1: devScores.f1 },
      seconds,
      tokensPerSecond,
      best,
      lr,
    };
    state.history.push(event);
    emit(event);
    const tensors = toPytorchTensors(await graph.readParameters());
    if (averaging) graph.useAverage(false);
    if (best) {
      state.bestDevF1 = devScores.f1;
      state.bestEpoch = epoch;
      bestTensors = tensors;
      bestBytes = encodeModel(modelFrom(tensors));
      await options.save?.("best", bestBytes);
    }
    if (options.save) {
      const { m, v } = await graph.readOptimizerState();
      const raw = averaging ? toPytorchTensors(await graph.readParameters()) : tensors;
      const average = averaging ? await graph.readAverage() : undefined;
      await options.save(
        "last",
        encodeModel(modelFrom(raw), { training: { m, v, average, state: { ...state } } }),
      );
    }
    if (stoppedEarly) {
      stopReason = options.signal?.aborted
        ? "interrupted"
        : `time budget of ${options.timeBudget} s reached`;
      break;
    }
  }
  emit({ type: "stop", reason: stopReason, epoch: state.epoch });
  if (!bestTensors) {
    // Resumed after the best epoch: the best weights are the resumed ones' best file; use the current ones.
    if (averaging) graph.useAverage(true);
    bestTensors = toPytorchTensors(await graph.readParameters());
    if (averaging) graph.useAverage(false);
    bestBytes = encodeModel(modelFrom(bestTensors));
  }

  let test: EvaluationReport | undefined;
  if (data.test && data.test.length > 0) {
    graph.writeParameters(fromPytorchTensors(bestTensors));
    const testSentences = toScheme(data.test, scheme);
    const testBatches = makeBatches(encode(testSentences), {
      batchSize: evalBatchSize,
      shuffle: false,
      maxChars,
    });
    const predicted = await predictBatches(graph, testBatches, encoders.tags, testSentences.length);
    test = evaluateTags(
      data.test.map((s) => convertTags(s.tags, "IOB2")),
      predicted.map((p) => convertTags(p, "IOB2")),
    );
    const o = test.entities.overall;
    emit({ type: "test", f1: o.f1, precision: o.precision, recall: o.recall });
  }
  const model = modelFrom(bestTensors);
  model.summary = summary({
    testF1: test?.entities.overall.f1,
    epochs: state.epoch,
    trainSeconds: state.trainSeconds,
    stopReason,
  });
  return {
    model,
    bytes: encodeModel(model),
    bestDevF1: state.bestDevF1,
    bestEpoch: state.bestEpoch,
    epochs: state.epoch,
    history: state.history,
    test,
    stopReason,
    trainSeconds: state.trainSeconds,
  };
}

/**
 * The training loop: vocabularies, batches, the GPU graph, epochs with a
 * progress bar, dev-F1 early stopping, checkpoints through a callback (so
 * the same loop runs in a browser), and the final test report.
 *
 * `trainModel` runs five phases, one function each: prepare (vocabularies,
 * batches, the graph), restore (a resumed checkpoint), epoch (the steps),
 * evaluate (dev F1 with the averaged weights) and save (best and last
 * checkpoints), then the test report. The graph is destroyed when it ends,
 * however it ends.
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
import {
  decodeModel,
  encodeModel,
  type ModelData,
  type TrainingState,
} from "../model/checkpoint.ts";
import { type ModelConfig, resolveConfig } from "../model/config.ts";
import { fromPytorchTensors, NerGraph, toPytorchTensors } from "../model/graph.ts";
import { relabelModel } from "../model/relabel.ts";
import { Progress } from "./progress.ts";
import { calibrateOnDev, type CalibrationDecision } from "./calibrate.ts";
import { mulberry32 } from "../data/random.ts";
import { EarlyStopping } from "./early_stopping.ts";
import { dropWords, singletonWords } from "./word_dropout.ts";
import { type BatchFit, bytesPerRow, fitBatches, SOFTWARE_LOOP_LIMIT } from "./batching.ts";
import type { EpochEvent, TrainEvent } from "./events.ts";
import { type ResolvedTrainOptions, resolveTrainOptions, type TrainOptions } from "./options.ts";

export type { EpochEvent, TrainEvent } from "./events.ts";
export type { CalibrationDecision } from "./calibrate.ts";
export { TRAIN_DEFAULTS, type TrainOptions } from "./options.ts";

/** Steps between updates of the weight average (it costs a pass over every parameter). */
const AVERAGE_EVERY = 4;

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
  /** Epochs run (in this call plus before a resume), counting one cut short. */
  epochs: number;
  /** Per-epoch history (an epoch cut short last, marked `partial`). */
  history: EpochEvent[];
  /** Test-set report with the best model, when test data was given. */
  test?: EvaluationReport;
  /** The dev-set temperature fit and whether the model keeps it (absent with `calibrate: false`). */
  calibration?: CalibrationDecision;
  /** Why training stopped. */
  stopReason: string;
  /** Seconds spent in training steps (not evaluation). */
  trainSeconds: number;
  /** Warnings also emitted as events (unseen tags, an empty test set, smaller batches). */
  warnings: string[];
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

/** The model's parts that turn sentences into batches. */
interface Encoders {
  words: Vocabulary;
  chars: Vocabulary;
  tags: Vocabulary;
}

/** The loop's state, saved in every "last" checkpoint and restored on resume. */
interface LoopState {
  epoch: number;
  step: number;
  bestDevF1: number;
  bestEpoch: number;
  trainSeconds: number;
  history: EpochEvent[];
}

/** Everything one epoch needs to resume from its start. */
interface Snapshot {
  raw: Record<string, Float32Array>;
  m: Float32Array;
  v: Float32Array;
  average?: Float32Array;
  state: LoopState;
}

/** One training run: prepared once, then driven epoch by epoch. */
interface Run {
  gpu: Gpu;
  options: TrainOptions;
  o: ResolvedTrainOptions;
  emit: (event: TrainEvent) => void;
  warnings: string[];
  scheme: TagScheme;
  config: ModelConfig;
  encoders: Encoders;
  dev: Sentence[];
  test?: Sentence[];
  encodedTrain: ReturnType<typeof encodeSentences>;
  devBatches: Batch[];
  trainTokens: number;
  dropping: Parameters<typeof dropWords>[1];
  fit: BatchFit;
  graph: NerGraph;
  averaging: boolean;
  state: LoopState;
  stopper: EarlyStopping;
  best: Record<string, Float32Array> | null;
  snapshot: Snapshot | null;
  /** When this call's training began (ms), and the step count then. */
  started: number;
  firstStep: number;
  resumedTraining?: TrainingState;
  /** The epoch cut short by an interrupt or the budget, if any. */
  partial?: EpochEvent;
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
 * A resumed run restores the weights, the optimizer, the weight average, the
 * history and the best weights so far, so it never replaces the best model
 * with a worse one; a run that stops before any step throws (no model).
 *
 * @param gpu the device
 * @param data train, dev and optional test sentences (any tag scheme)
 * @param options hyper-parameters, callbacks
 * @returns the best model, its dev F1, history and the test report
 * @throws {Error} on bad options, data the model cannot take, or no step run
 *
 * @example Usage
 * ```ts ignore
 * import { acquireGpu, trainModel } from "../../mod.ts";
 * const s = { tokens: ["Ada", "sang"], tags: ["B-PER", "O"] };
 * const result = await trainModel(await acquireGpu(), { train: [s], dev: [s] }, { epochs: 1 });
 * console.log(result.bestDevF1);
 * ```
 */
export async function trainModel(
  gpu: Gpu,
  data: TrainData,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const run = await prepare(gpu, data, options);
  try {
    restore(run);
    const stopReason = await trainEpochs(run);
    return await finish(run, stopReason);
  } finally {
    run.graph.destroy();
  }
}

/** The starting model, when resuming or fine-tuning, checked against the options. */
function startingModel(options: TrainOptions) {
  const resumed = options.resume ? decodeModel(options.resume, "the resume checkpoint") : undefined;
  if (options.resume && !resumed?.training) {
    throw new Error(
      "Cannot resume: the checkpoint has no optimizer state (use a last-epoch checkpoint)",
    );
  }
  const initial = resumed ??
    (options.initFrom ? decodeModel(options.initFrom, "the initial model") : undefined);
  if (!initial) return { resumed, initial };
  const what = resumed ? "resume" : "fine-tune";
  const source = resumed ? "the checkpoint" : "the initial model";
  for (const [key, value] of Object.entries(options.config ?? {})) {
    const has = initial.config[key as keyof ModelConfig];
    if (value !== undefined && value !== has) {
      throw new Error(
        `Cannot ${what}: the options ask for ${key} ${value}, ${source} has ${key} ${has} ` +
          `(leave the model options out, or start a new run)`,
      );
    }
  }
  if (options.scheme && options.scheme !== initial.scheme) {
    throw new Error(
      `Cannot ${what}: the options ask for the ${options.scheme} scheme, ${source} uses ` +
        `${initial.scheme}`,
    );
  }
  return { resumed, initial };
}

/** Vocabularies and config: from the starting model, or built from the data. */
function buildEncoders(
  initial: ModelData | undefined,
  resumed: boolean,
  splits: { train: Sentence[]; dev: Sentence[]; test: Sentence[] },
  o: ResolvedTrainOptions,
  options: TrainOptions,
): { config: ModelConfig; encoders: Encoders; initial?: ModelData } {
  const { train, dev, test } = splits;
  if (initial) {
    let encoders: Encoders = { words: initial.words, chars: initial.chars, tags: initial.tags };
    const unknown = collectTags([...train, ...dev]).filter((t) => !encoders.tags.has(t));
    if (unknown.length && resumed) {
      throw new Error(`The data has tags the model does not know: ${unknown.join(", ")}`);
    }
    if (unknown.length) {
      // Fine-tuning on a new label set: the data's tags, with the output layer and CRF
      // kept for the labels the model has and fresh for the others (src/model/relabel.ts).
      const tags = collectTags([...train, ...dev, ...test]);
      initial = relabelModel(initial, tags, { seed: o.seed });
      encoders = { ...encoders, tags: initial.tags };
    }
    return { config: initial.config, encoders, initial };
  }
  const config = resolveConfig({
    ...options.config,
    ...(options.embeddings ? { wordDim: options.embeddings.dim } : {}),
  });
  const words = buildWordVocabulary(train, {
    minFrequency: o.minFrequency,
    lowercase: o.lowercase,
    normalizeDigits: o.normalizeDigits,
    // Words of dev and test that have a pretrained vector get a row too.
    extra: options.embeddings ? withVectors([...dev, ...test], options.embeddings) : undefined,
  });
  const encoders = {
    words,
    chars: buildCharVocabulary(train),
    tags: buildTagVocabulary(collectTags([...train, ...dev, ...test])),
  };
  return { config, encoders };
}

/** Warnings about the data: tags absent from training, an empty test set. */
function dataWarnings(splits: { train: Sentence[]; dev: Sentence[] }, test?: Sentence[]) {
  const seen = new Set(collectTags(splits.train));
  const warnings: string[] = [];
  const named = [["dev", splits.dev], ["test", test ?? []]] as const;
  for (const [name, sentences] of named) {
    const unseen = collectTags(sentences).filter((t) => !seen.has(t));
    if (unseen.length) {
      warnings.push(
        `the ${name} data has tags never seen in training: ${unseen.join(", ")} ` +
          `(the model cannot learn to predict them)`,
      );
    }
  }
  if (test && test.length === 0) warnings.push("the test data holds no sentences: no test report");
  return warnings;
}

/**
 * The weight decay a resumed checkpoint was trained with (its summary's
 * `weightDecay`; absent in checkpoints from before the option, which is 0).
 */
function resumedWeightDecay(resumed?: ModelData): number | undefined {
  const recorded = resumed?.summary?.weightDecay;
  if (recorded === undefined) return undefined;
  if (typeof recorded !== "number" || !(recorded >= 0 && Number.isFinite(recorded))) {
    throw new Error(
      `Cannot resume: the checkpoint's summary has weightDecay ${JSON.stringify(recorded)}, ` +
        "expected a number ≥ 0",
    );
  }
  return recorded;
}

/** Phase 1: options, vocabularies, batches that fit the GPU, and the graph. */
async function prepare(gpu: Gpu, data: TrainData, options: TrainOptions): Promise<Run> {
  const start = startingModel(options);
  const o = resolveTrainOptions({
    ...options,
    weightDecay: options.weightDecay ?? resumedWeightDecay(start.resumed),
  });
  const scheme = start.initial?.scheme ?? o.scheme;
  const train = toScheme(data.train, scheme);
  const dev = toScheme(data.dev, scheme);
  const test = data.test ? toScheme(data.test, scheme) : undefined;
  if (train.length === 0) throw new Error("No training sentences");
  if (dev.length === 0) throw new Error("No development sentences (needed for early stopping)");
  const splits = { train, dev, test: test ?? [] };
  const built = buildEncoders(start.initial, !!start.resumed, splits, o, options);
  const { config, encoders } = built;
  const encodedTrain = encodeSentences(train, encoders);
  const maxTime = [...train, ...dev, ...splits.test]
    .reduce((m, s) => Math.max(m, s.tokens.length), 1);
  const limit = Math.min(
    options.maxBindingBytes ?? Infinity,
    gpu.device.limits.maxStorageBufferBindingSize,
  );
  const maxRows = gpu.adapter.isFallbackAdapter ? SOFTWARE_LOOP_LIMIT : Infinity;
  const fit = fitBatches(o, maxTime, bytesPerRow(config, encoders.tags.size), limit, maxRows);
  const graph = await NerGraph.create(
    gpu,
    config,
    {
      words: encoders.words.size,
      chars: encoders.chars.size,
      casings: CASING_CLASSES.length,
      tags: encoders.tags.size,
    },
    { maxBatch: Math.max(fit.batchSize, fit.evalBatchSize), maxTime, maxChars: config.maxChars },
    { seed: o.seed, constraints: transitionMask(encoders.tags.items, scheme) },
  );
  const run: Run = {
    gpu,
    options,
    o,
    emit: options.onEvent ?? (() => {}),
    warnings: [],
    scheme,
    config,
    encoders,
    dev,
    test,
    encodedTrain,
    devBatches: makeBatches(encodeSentences(dev, encoders), {
      batchSize: fit.evalBatchSize,
      shuffle: false,
      maxChars: config.maxChars,
    }),
    trainTokens: encodedTrain.reduce((n, s) => n + s.words.length, 0),
    dropping: {
      unkReplace: o.unkReplace,
      wordDropout: o.wordDropout,
      singletons: singletonWords(encodedTrain.map((s) => s.words), encoders.words.size),
    },
    fit,
    graph,
    averaging: o.average > 0,
    state: { epoch: 0, step: 0, bestDevF1: -1, bestEpoch: 0, trainSeconds: 0, history: [] },
    stopper: new EarlyStopping(o.patience),
    best: null,
    snapshot: null,
    started: 0,
    firstStep: 0,
  };
  try {
    initialWeights(run, built.initial, start.resumed);
    for (const w of [...dataWarnings({ train, dev }, test), ...(fit.note ? [fit.note] : [])]) {
      warn(run, w);
    }
  } catch (e) {
    graph.destroy();
    throw e;
  }
  return run;
}

function warn(run: Run, message: string): void {
  run.warnings.push(message);
  run.emit({ type: "warning", message });
}

/** The starting weights: the model's, or pretrained vectors (with their coverage), or random. */
function initialWeights(
  run: Run,
  initial: ModelData | undefined,
  resumed?: ModelData & { training?: TrainingState },
) {
  const { graph, options, encoders } = run;
  if (initial) graph.writeParameters(fromPytorchTensors(initial.tensors));
  else if (options.embeddings) {
    graph.writeParameters({
      "word_emb.weight": embeddingMatrix(encoders.words, options.embeddings, { seed: run.o.seed }),
    });
    run.emit({ type: "coverage", ...embeddingCoverage(encoders.words, options.embeddings) });
  }
  if (resumed) run.resumedTraining = resumed.training;
}

/** Phase 2: the resumed checkpoint's optimizer, average, loop state and best weights. */
function restore(run: Run): void {
  const { graph } = run;
  run.emit({
    type: "start",
    adapter: describeAdapter(run.gpu.adapter),
    sentences: run.encodedTrain.length,
    tokens: run.trainTokens,
    parameters: graph.layout.size,
    config: run.config,
    dispatchesPerStep: graph.dispatchesPerStep,
    batchSize: run.fit.batchSize,
    evalBatchSize: run.fit.evalBatchSize,
  });
  const training = run.resumedTraining;
  if (!training) return;
  Object.assign(run.state, training.state);
  graph.writeOptimizerState(training);
  if (run.averaging) {
    if (!training.average) {
      throw new Error(
        "Cannot resume with weight averaging: the checkpoint was trained without it " +
          "(resume with the same --average as the run that wrote it)",
      );
    }
    graph.writeAverage(training.average);
  }
  graph.setStepCount(run.state.step);
  for (const h of run.state.history) run.stopper.observe(h.dev.f1);
  run.best = training.best ?? null;
  if (!run.best && run.state.bestEpoch > 0) {
    warn(
      run,
      "the checkpoint predates saved best weights: if no epoch beats its best dev F1, " +
        "the kept model is the last one",
    );
  }
}

/**
 * The weight of the current weights in the average after `step`: the
 * average starts as a copy of the first step's weights and then moves every
 * AVERAGE_EVERY steps; its decay warms up as (1 + n) / (10 + n) over the
 * first n updates (as TensorFlow's ExponentialMovingAverage does), so early,
 * short runs follow the recent weights rather than their start.
 */
function averageWeightAt(decay: number, step: number): number {
  if (decay === 0 || (step !== 1 && step % AVERAGE_EVERY !== 0)) return 0;
  const updates = Math.floor(step / AVERAGE_EVERY);
  const d = Math.min(decay ** AVERAGE_EVERY, (1 + updates) / (10 + updates));
  return step === 1 ? 1 : 1 - d;
}

function budgetReason(run: Run): string {
  return `time budget of ${run.o.timeBudget} s reached`;
}

function overBudget(run: Run): boolean {
  const budget = run.o.timeBudget;
  return budget !== undefined && (performance.now() - run.started) / 1000 >= budget;
}

/** Why no further epoch should start, or undefined. */
function stopBefore(run: Run): string | undefined {
  if (run.stopper.shouldStop) return `no better dev F1 in ${run.stopper.patience} epochs`;
  if (run.options.signal?.aborted) return "interrupted";
  // The budget never stops a run before its first step.
  if (run.state.step > run.firstStep && overBudget(run)) return budgetReason(run);
  return undefined;
}

/** Why training should stop after this step (an interrupt or the budget), or undefined. */
function stopAfterStep(run: Run): string | undefined {
  if (run.options.signal?.aborted) return "interrupted";
  if (overBudget(run)) return budgetReason(run);
  return undefined;
}

/** The loop's phases, epoch by epoch, until an epoch limit, early stop, budget or interrupt. */
async function trainEpochs(run: Run): Promise<string> {
  if (run.options.save) run.snapshot = await takeSnapshot(run);
  run.started = performance.now();
  run.firstStep = run.state.step;
  while (run.state.epoch < run.o.epochs) {
    const before = stopBefore(run);
    if (before) return before;
    const epoch = run.state.epoch + 1;
    const steps = await runEpoch(run, epoch);
    const dev = await evaluateDev(run);
    if (steps.batches < steps.of) {
      await savePartial(run, epoch, steps, dev);
      return steps.stop!;
    }
    await saveEpoch(run, epoch, steps, dev);
    if (steps.stop) return steps.stop;
  }
  return "epochs";
}

/** What one epoch's steps did. */
interface EpochSteps {
  lr: number;
  loss: number;
  seconds: number;
  tokensPerSecond: number;
  /** Batches run, of the epoch's total. */
  batches: number;
  of: number;
  /** Set when an interrupt or the budget stopped the loop after a step. */
  stop?: string;
}

/** Phase 3: one epoch of training steps, stopping early on an interrupt or the budget. */
async function runEpoch(run: Run, epoch: number): Promise<EpochSteps> {
  const { graph, o, state } = run;
  const lr = o.lr / (1 + o.lrDecay * (epoch - 1));
  const batches = makeBatches(run.encodedTrain, {
    batchSize: run.fit.batchSize,
    seed: o.seed * 1000 + epoch,
    maxChars: run.config.maxChars,
  });
  const progress = run.options.progress
    ? new Progress(`epoch ${epoch}`, run.trainTokens, run.options.progress)
    : null;
  const epochStart = performance.now();
  let tokens = 0, lossSum = 0, lossBatches = 0, pending = 0, done = 0;
  let stop: string | undefined;
  const random = mulberry32(o.seed * 7919 + epoch);
  for (const batch of batches) {
    graph.trainOn(
      dropWords(batch, run.dropping, random),
      { lr, maxNorm: o.clip, weightDecay: o.weightDecay },
      averageWeightAt(o.average, state.step + 1),
    );
    tokens += batch.tokens;
    pending++;
    done++;
    state.step++;
    if (pending >= o.lossEvery) {
      lossSum += await graph.takeLoss();
      lossBatches += pending;
      pending = 0;
      const rate = tokens / ((performance.now() - epochStart) / 1000);
      const loss = lossSum / lossBatches;
      progress?.update(tokens, `loss ${loss.toFixed(3)}`);
      run.emit({ type: "loss", epoch, step: state.step, loss, tokensPerSecond: rate });
    }
    stop = stopAfterStep(run);
    if (stop) break;
  }
  if (pending > 0) {
    lossSum += await graph.takeLoss();
    lossBatches += pending;
  }
  const seconds = (performance.now() - epochStart) / 1000;
  state.trainSeconds += seconds;
  const stopped = done < batches.length ? `, stopped: ${stop}` : "";
  progress?.done(
    `loss ${(lossSum / lossBatches).toFixed(3)}${stopped}`,
    stopped ? tokens : undefined,
  );
  return {
    lr,
    loss: lossSum / lossBatches,
    seconds,
    tokensPerSecond: tokens / seconds,
    batches: done,
    of: batches.length,
    stop,
  };
}

/**
 * Runs `fn` with the weights that are evaluated, kept and saved (the
 * average, when averaging), then switches back to the raw weights that
 * training continues from.
 */
async function withEvaluatedWeights<T>(run: Run, fn: () => Promise<T>): Promise<T> {
  if (run.averaging) run.graph.useAverage(true);
  try {
    return await fn();
  } finally {
    if (run.averaging) run.graph.useAverage(false);
  }
}

/** Phase 4: dev entity scores of the evaluated weights, and those weights. */
async function evaluateDev(run: Run) {
  const { graph, dev, encoders } = run;
  return await withEvaluatedWeights(run, async () => {
    const predicted = await predictBatches(graph, run.devBatches, encoders.tags, dev.length);
    const counts = conllevalCounts(
      dev.map((s) => convertTags(s.tags, "IOB2")),
      predicted.map((p) => convertTags(p, "IOB2")),
    );
    const { precision, recall, f1 } = entityEvaluation(counts).overall;
    const tensors = toPytorchTensors(await graph.readParameters());
    return { scores: { precision, recall, f1 }, tensors };
  });
}

type DevResult = Awaited<ReturnType<typeof evaluateDev>>;

function epochEvent(epoch: number, steps: EpochSteps, dev: DevResult, best: boolean): EpochEvent {
  return {
    type: "epoch",
    epoch,
    loss: steps.loss,
    dev: dev.scores,
    seconds: steps.seconds,
    tokensPerSecond: steps.tokensPerSecond,
    best,
    lr: steps.lr,
  };
}

function summary(run: Run, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    corpus: run.options.corpus ?? "",
    seed: run.o.seed,
    weightDecay: run.o.weightDecay,
    adapter: describeAdapter(run.gpu.adapter),
    bestDevF1: run.state.bestDevF1,
    bestEpoch: run.state.bestEpoch,
    ...extra,
  };
}

function modelFrom(run: Run, tensors: Record<string, Float32Array>): ModelData {
  return {
    config: run.config,
    ...run.encoders,
    scheme: run.scheme,
    tensors,
    summary: summary(run),
  };
}

/** Keeps `tensors` as the best weights and saves them as "best". */
async function keepBest(run: Run, epoch: number, dev: DevResult): Promise<void> {
  run.state.bestDevF1 = dev.scores.f1;
  run.state.bestEpoch = epoch;
  run.best = dev.tensors;
  await run.options.save?.("best", encodeModel(modelFrom(run, dev.tensors)));
}

function copyState(state: LoopState): LoopState {
  return { ...state, history: [...state.history] };
}

/** The raw weights, optimizer state and average as they are now (a resumable point). */
async function takeSnapshot(run: Run, raw?: Record<string, Float32Array>): Promise<Snapshot> {
  const { graph } = run;
  const { m, v } = await graph.readOptimizerState();
  return {
    raw: raw ?? toPytorchTensors(await graph.readParameters()),
    m,
    v,
    average: run.averaging ? await graph.readAverage() : undefined,
    state: copyState(run.state),
  };
}

function encodeLast(run: Run, snapshot: Snapshot): Uint8Array {
  const { raw, m, v, average, state } = snapshot;
  const training = { m, v, average, best: run.best ?? undefined, state: { ...state } };
  return encodeModel(modelFrom(run, raw), { training });
}

/** Phase 5: records a complete epoch, keeps the best weights, saves "best" and "last". */
async function saveEpoch(run: Run, epoch: number, steps: EpochSteps, dev: DevResult) {
  const { state } = run;
  state.epoch = epoch;
  const best = run.stopper.observe(dev.scores.f1) && dev.scores.f1 > state.bestDevF1;
  const event = epochEvent(epoch, steps, dev, best);
  state.history.push(event);
  run.emit(event);
  if (best) await keepBest(run, epoch, dev);
  if (run.options.save) {
    run.snapshot = await takeSnapshot(run, run.averaging ? undefined : dev.tensors);
    await run.options.save("last", encodeLast(run, run.snapshot));
  }
}

/**
 * Phase 5 for an epoch cut short: it is evaluated and may become the best
 * model, but "last" keeps the state at the epoch's start (with the best
 * weights and score updated), so a resume redoes the epoch exactly.
 */
async function savePartial(run: Run, epoch: number, steps: EpochSteps, dev: DevResult) {
  const best = dev.scores.f1 > run.state.bestDevF1;
  const event = {
    ...epochEvent(epoch, steps, dev, best),
    partial: { batches: steps.batches, of: steps.of },
  };
  run.partial = event;
  run.emit(event);
  if (best) await keepBest(run, epoch, dev);
  if (run.options.save && run.snapshot) {
    run.snapshot.state.bestDevF1 = run.state.bestDevF1;
    run.snapshot.state.bestEpoch = run.state.bestEpoch;
    await run.options.save("last", encodeLast(run, run.snapshot));
  }
}

/** The test report of the best weights. */
async function testReport(run: Run): Promise<EvaluationReport | undefined> {
  const { graph, test, encoders } = run;
  if (!test || test.length === 0) return undefined;
  graph.writeParameters(fromPytorchTensors(run.best!));
  const batches = makeBatches(encodeSentences(test, encoders), {
    batchSize: run.fit.evalBatchSize,
    shuffle: false,
    maxChars: run.config.maxChars,
  });
  const predicted = await predictBatches(graph, batches, encoders.tags, test.length);
  const report = evaluateTags(
    test.map((s) => convertTags(s.tags, "IOB2")),
    predicted.map((p) => convertTags(p, "IOB2")),
  );
  const o = report.entities.overall;
  run.emit({ type: "test", f1: o.f1, precision: o.precision, recall: o.recall });
  return report;
}

/** The end: the best weights (never replaced by worse ones), the test report, the result. */
async function finish(run: Run, stopReason: string): Promise<TrainResult> {
  const { state } = run;
  const epochs = state.epoch + (run.partial ? 1 : 0);
  run.emit({ type: "stop", reason: stopReason, epoch: epochs });
  if (!run.best) {
    if (epochs === 0) {
      throw new Error(`No model was trained: ${stopReason} before the first training step`);
    }
    // A checkpoint written before best weights were saved: the current ones.
    run.best = await withEvaluatedWeights(
      run,
      async () => toPytorchTensors(await run.graph.readParameters()),
    );
  }
  const test = await testReport(run);
  const model = modelFrom(run, run.best);
  const calibration = await calibrate(run, model);
  model.summary = summary(run, {
    testF1: test?.entities.overall.f1,
    epochs,
    trainSeconds: state.trainSeconds,
    stopReason,
    ...(calibration ? { calibration } : {}),
  });
  return {
    model,
    bytes: encodeModel(model),
    bestDevF1: state.bestDevF1,
    bestEpoch: state.bestEpoch,
    epochs,
    history: run.partial ? [...state.history, run.partial] : state.history,
    test,
    calibration,
    stopReason,
    trainSeconds: state.trainSeconds,
    warnings: run.warnings,
  };
}

/**
 * With `calibrate` (the default): the dev-set temperature fit of the chosen
 * model, stored in `model.calibration` when it lowers the dev ECE.
 */
async function calibrate(run: Run, model: ModelData): Promise<CalibrationDecision | undefined> {
  if (!run.o.calibrate) return undefined;
  const decision = await calibrateOnDev(run.gpu, model, run.dev);
  run.emit({ type: "calibration", ...decision });
  if (decision.applied) {
    const corpus = run.options.corpus;
    model.calibration = {
      temperature: decision.temperature,
      fittedOn: corpus ? `dev (${corpus})` : "dev",
      spans: decision.spans,
    };
  }
  return decision;
}

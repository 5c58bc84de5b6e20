/**
 * `deno run -A cli/train.ts`: trains a BiLSTM-CRF on the GPU. With no data
 * flags it uses the embedded GMB corpus (seeded 80/10/10 split).
 *
 * Order of work, so that mistakes cost nothing: flags, input files, the
 * output folder (its lock, the log), then corpora, vectors and the GPU.
 * Exit status: 0 done (also when a time budget ended training), 1 bad input
 * or a runtime error, 2 a usage error, 130 interrupted (SIGINT or SIGTERM,
 * after saving).
 *
 * @module
 */

import {
  acquireGpu,
  acquireRunLock,
  decodeModel,
  DEFAULT_CONFIG,
  describeAdapter,
  type Embeddings,
  encodeModel,
  formatCalibration,
  formatCoverage,
  formatReport,
  loadEmbeddedCorpus,
  readCorpus,
  readEmbeddings,
  removeStaleTempFiles,
  renderHtmlReport,
  reportToJSON,
  type Sentence,
  stderrSink,
  Tagger,
  TRAIN_DEFAULTS,
  type TrainEvent,
  trainModel,
  type TrainResult,
  writeFileAtomic,
} from "../deno.ts";
import { EXIT, flagHelp, type FlagValues, parseFlags, runCommand, UsageError } from "./flags.ts";

/** The flags of `cli/train.ts`; every default shown by `--help` comes from here. */
export const FLAGS = {
  train: {
    kind: "string",
    arg: "FILE",
    help: "training data: CoNLL columns (.txt/.conll), GMB CSV (.csv) or JSONL",
  },
  dev: {
    kind: "string",
    arg: "FILE",
    help: "development data (early stopping) (default: the last 10% of --train)",
  },
  test: { kind: "string", arg: "FILE", help: "test data (final report)" },
  "data-format": {
    kind: "enum",
    values: ["conll", "csv", "jsonl"],
    help: "format of the data files (default: from the file extension)",
  },
  embeddings: {
    kind: "string",
    arg: "FILE",
    help: "pretrained vectors, GloVe/word2vec text (optionally .gz)",
  },
  "split-seed": { kind: "int", min: 0, default: 42, help: "seed of the embedded corpus split" },
  hidden: {
    kind: "int",
    min: 1,
    max: 256,
    help: `LSTM hidden size per direction (default ${DEFAULT_CONFIG.hidden})`,
  },
  layers: { kind: "int", min: 1, help: `stacked BiLSTM layers (default ${DEFAULT_CONFIG.layers})` },
  "word-dim": {
    kind: "int",
    min: 1,
    max: 1024,
    help:
      `word embedding size (default ${DEFAULT_CONFIG.wordDim}; the vectors' size with --embeddings)`,
  },
  chars: {
    kind: "enum",
    values: ["cnn", "none"],
    help: `character features (default ${DEFAULT_CONFIG.charFeatures})`,
  },
  "char-filters": {
    kind: "int",
    min: 1,
    max: 256,
    help: `char CNN filters, i.e. the char feature size (default ${DEFAULT_CONFIG.charFilters})`,
  },
  head: {
    kind: "enum",
    values: ["crf", "softmax"],
    help: `output layer (default ${DEFAULT_CONFIG.head})`,
  },
  dropout: {
    kind: "number",
    min: 0,
    max: 1,
    maxExclusive: true,
    help: `dropout on LSTM input and output (default ${DEFAULT_CONFIG.dropout})`,
  },
  scheme: {
    kind: "enum",
    values: ["iob2", "iobes"],
    help: `output tag scheme (default ${TRAIN_DEFAULTS.scheme.toLowerCase()})`,
  },
  epochs: { kind: "int", min: 1, default: TRAIN_DEFAULTS.epochs, help: "most epochs" },
  "batch-size": {
    kind: "int",
    min: 1,
    default: TRAIN_DEFAULTS.batchSize,
    help: "sentences per batch",
  },
  lr: {
    kind: "number",
    min: 0,
    minExclusive: true,
    default: TRAIN_DEFAULTS.lr,
    help: "Adam learning rate",
  },
  "weight-decay": {
    kind: "number",
    min: 0,
    arg: "L",
    help: `AdamW decoupled weight decay: each step also subtracts lr·L·p from\n` +
      `every parameter, biases, CRF transitions and embeddings included\n` +
      `(torch.optim.AdamW's default); word embedding rows decay when their\n` +
      `word is in the batch (default ${TRAIN_DEFAULTS.weightDecay}; with --resume the checkpoint's)`,
  },
  average: {
    kind: "number",
    min: 0,
    max: 1,
    maxExclusive: true,
    default: TRAIN_DEFAULTS.average,
    help:
      "per-step decay of the weight average that is evaluated and saved\n(Polyak averaging; 0 = use the raw weights)",
  },
  patience: {
    kind: "int",
    min: 0,
    default: TRAIN_DEFAULTS.patience,
    help: "stop after N epochs without a better dev F1 (0 = never)",
  },
  seed: {
    kind: "int",
    min: 0,
    default: TRAIN_DEFAULTS.seed,
    help: "seed of weights, shuffling and dropout",
  },
  "time-budget": {
    kind: "number",
    min: 0,
    minExclusive: true,
    arg: "S",
    help:
      "stop training after S seconds (checked after each step, so at least one runs),\nthen evaluate and save; an epoch cut short is marked partial",
  },
  resume: {
    kind: "string",
    arg: "FILE",
    help: "continue from a last.safetensors checkpoint (appends to the log)",
  },
  init: { kind: "string", arg: "FILE", help: "fine-tune from a model.safetensors" },
  out: {
    kind: "string",
    arg: "DIR",
    default: "runs/latest",
    help: "output folder (one run at a time: a lock file keeps others out)",
  },
  log: { kind: "string", arg: "FILE", help: "JSONL event log (default <out>/train.jsonl)" },
  example: { kind: "string", arg: "TEXT", help: "sentence to tag at the end" },
  fp16: { kind: "boolean", help: "store the final model.safetensors in float16 (half the size)" },
  "no-calibrate": {
    kind: "boolean",
    help:
      "keep raw span scores (default: fit a temperature on the dev set after\ntraining and store it when it lowers the dev ECE)",
  },
  "min-frequency": {
    kind: "int",
    min: 1,
    default: TRAIN_DEFAULTS.minFrequency,
    help: "keep words seen at least N times in the training data",
  },
  "unk-replace": {
    kind: "number",
    min: 0,
    max: 1,
    default: TRAIN_DEFAULTS.unkReplace,
    arg: "P",
    help: "feed words seen once as <unk> with probability P",
  },
  "word-dropout": {
    kind: "number",
    min: 0,
    max: 1,
    maxExclusive: true,
    default: TRAIN_DEFAULTS.wordDropout,
    arg: "P",
    help: "feed any word as <unk> with probability P",
  },
  "case-sensitive": {
    kind: "boolean",
    help:
      "look words up as written (default: lowercased; case still reaches\nthe model through the casing and character features)",
  },
  quiet: { kind: "boolean", help: "no progress bar" },
  help: { kind: "boolean", short: "h", help: "show this help" },
} as const;

type Flags = FlagValues<typeof FLAGS>;

const DATA = ["train", "dev", "test", "data-format", "embeddings", "split-seed"];
const MODEL = [
  "hidden",
  "layers",
  "word-dim",
  "chars",
  "char-filters",
  "head",
  "dropout",
  "scheme",
];
const TRAINING = Object.keys(FLAGS).filter((k) => !DATA.includes(k) && !MODEL.includes(k));

/** The `--help` text. */
export const USAGE = `Usage: deno run -A cli/train.ts [options]

Trains a BiLSTM-CRF named-entity tagger on the GPU (WebGPU). Without
--train it trains on the embedded GMB corpus (47,959 sentences, 17 tags,
seeded 80/10/10 split). Writes model.safetensors (the best dev-F1 model),
last.safetensors (resumable), report.json (with --test), report.html and
train.jsonl to --out, prints the test report, then tags an example sentence.

Data:
${flagHelp(FLAGS, DATA)}

Model (with --resume or --init the model's own; a flag that disagrees is an error):
${flagHelp(FLAGS, MODEL)}

Training:
${flagHelp(FLAGS, TRAINING)}

Ctrl-C (or SIGTERM) finishes the current step, evaluates, saves and exits with
status 130; last.safetensors then holds the start of the epoch it cut short,
so --resume redoes that epoch and continues exactly as an uninterrupted run.`;

/** Flags checked as a whole: combinations and renamed flags, before anything is read. */
function parseTrainFlags(args: string[]): Flags {
  const renamed = args.find((a) => a === "--format" || a.startsWith("--format="));
  if (renamed) {
    throw new UsageError(
      "--format: renamed --data-format (the input corpus format; --format names an output " +
        "format in cli/tag.ts and cli/eval.ts)",
    );
  }
  const flags = parseFlags(args, FLAGS).values;
  if ((flags.dev || flags.test) && !flags.train) {
    throw new UsageError("--dev and --test need --train");
  }
  if (flags.resume && flags.init) throw new UsageError("--resume and --init exclude each other");
  return flags;
}

/** Checks that each input flag names a readable file, before any is loaded. */
async function checkInputFiles(flags: Flags): Promise<void> {
  for (const name of ["train", "dev", "test", "embeddings", "resume", "init"] as const) {
    const path = flags[name];
    if (path === undefined) continue;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
      throw new Error(`--${name} ${path}: ${why}`);
    }
    if (!info.isFile) throw new Error(`--${name} ${path}: expected a file, found a folder`);
  }
}

/** The output folder: a folder (not a file), writable, locked for this run, cleaned of debris. */
async function prepareOut(dir: string) {
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) throw new Error(`--out ${dir}: expected a folder, found a file`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new Error(`--out ${dir}: cannot create the folder: ${(e as Error).message}`);
  }
  const lock = await acquireRunLock(dir);
  try {
    const removed = await removeStaleTempFiles(dir);
    if (removed.length) {
      console.error(`note: removed ${removed.length} temporary file(s) of an interrupted write`);
    }
    for (const name of ["report.json", "report.html"]) {
      try {
        await Deno.remove(`${dir}/${name}`);
        console.error(`note: removed ${dir}/${name} of an earlier run (rewritten at the end)`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  } catch (e) {
    await lock.release();
    throw new Error(`--out ${dir}: ${(e as Error).message}`);
  }
  return lock;
}

/** The JSONL log, appended to when resuming. */
async function openLog(path: string, append: boolean) {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, create: true, append, truncate: !append });
  } catch (e) {
    throw new Error(`Cannot open the log ${path}: ${(e as Error).message}`);
  }
  const encoder = new TextEncoder();
  return {
    write(event: TrainEvent) {
      const line = JSON.stringify({ time: new Date().toISOString(), ...event }) + "\n";
      try {
        file.writeSync(encoder.encode(line));
      } catch (e) {
        throw new Error(`Cannot write the log ${path}: ${(e as Error).message}`);
      }
    },
    close: () => file.close(),
  };
}

/** Model flags that disagree with the checkpoint or initial model, named before any data loads. */
function checkModelFlags(flags: Flags, bytes: Uint8Array, file: string, what: string): void {
  const model = decodeModel(bytes, file);
  const given: [string, unknown, unknown][] = [
    ["hidden", flags.hidden, model.config.hidden],
    ["layers", flags.layers, model.config.layers],
    ["word-dim", flags["word-dim"], model.config.wordDim],
    ["chars", flags.chars, model.config.charFeatures],
    ["char-filters", flags["char-filters"], model.config.charFilters],
    ["head", flags.head, model.config.head],
    ["dropout", flags.dropout, model.config.dropout],
    ["scheme", flags.scheme?.toUpperCase(), model.scheme],
  ];
  for (const [name, value, has] of given) {
    if (value !== undefined && value !== has) {
      throw new Error(
        `--${name} ${String(value).toLowerCase()} disagrees with ${what} ${file}, which has ` +
          `${
            String(has).toLowerCase()
          } (leave the model flags out, or start a new run in another --out)`,
      );
    }
  }
}

async function readSplit(flag: string, path: string, format?: string): Promise<Sentence[]> {
  const corpus = await readCorpus(path, {
    format: format as "conll" | "csv" | "jsonl" | undefined,
  });
  for (const w of corpus.warnings) console.error(`warning: ${w}`);
  if (corpus.sentences.length === 0) throw new Error(`--${flag} ${path}: no sentences in the file`);
  return corpus.sentences;
}

/** The corpora: files, or the embedded GMB corpus. */
async function loadData(flags: Flags) {
  if (!flags.train) {
    const seed = flags["split-seed"];
    const embedded = await loadEmbeddedCorpus({ seed });
    for (const w of embedded.warnings) console.error(`note: ${w}`);
    return { data: embedded, corpus: `embedded GMB corpus (split seed ${seed})` };
  }
  const format = flags["data-format"];
  const train = await readSplit("train", flags.train, format);
  let dev = flags.dev ? await readSplit("dev", flags.dev, format) : undefined;
  let trainPart = train;
  if (!dev) {
    const cut = Math.max(1, Math.floor(train.length * 0.9));
    trainPart = train.slice(0, cut);
    dev = train.slice(cut);
    if (dev.length === 0) {
      throw new Error(`--train ${flags.train}: too few sentences to hold out dev data; give --dev`);
    }
    console.error(`no --dev: using the last ${dev.length} sentences of --train as dev data`);
  }
  const test = flags.test ? await readSplit("test", flags.test, format) : undefined;
  return { data: { train: trainPart, dev, test }, corpus: flags.train };
}

/** SIGINT and SIGTERM abort training after the current step; a second signal quits at once. */
function stopSignals(controller: AbortController) {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const onSignal = () => {
    if (controller.signal.aborted) Deno.exit(EXIT.interrupted);
    console.error("\ninterrupted: finishing the step and saving (again to quit at once)");
    controller.abort();
  };
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  return () => signals.forEach((s) => Deno.removeSignalListener(s, onSignal));
}

function printEvent(event: TrainEvent): void {
  const pct = (x: number) => (100 * x).toFixed(2);
  if (event.type === "start") {
    console.log(
      `model: ${event.parameters.toLocaleString("en-US")} parameters, ` +
        `${event.dispatchesPerStep} GPU dispatches per training step (one submit)`,
    );
  } else if (event.type === "warning") console.error(`warning: ${event.message}`);
  else if (event.type === "coverage") console.log(formatCoverage(event));
  else if (event.type === "calibration") console.log(formatCalibration(event));
  else if (event.type === "epoch") {
    const partial = event.partial
      ? ` (partial: ${event.partial.batches} of ${event.partial.of} batches)`
      : "";
    console.log(
      `epoch ${event.epoch}${partial}: loss ${event.loss.toFixed(4)}, dev P ${
        pct(event.dev.precision)
      } ` +
        `R ${pct(event.dev.recall)} F1 ${pct(event.dev.f1)}${event.best ? " (best)" : ""}, ` +
        `${event.seconds.toFixed(1)} s, ${
          Math.round(event.tokensPerSecond).toLocaleString("en-US")
        } tokens/s`,
    );
  }
}

/** The reports: the test report (terminal and report.json), report.html; returns the files written. */
async function writeReports(out: string, result: TrainResult, adapter: string, corpus: string) {
  const written: string[] = [];
  const epochs = result.history;
  const chart = (
    title: string,
    yLabel: string,
    name: string,
    y: (e: typeof epochs[0]) => number,
  ) => ({
    title,
    xLabel: "epoch",
    yLabel,
    curves: [{ name, points: epochs.map((e) => [e.epoch, y(e)] as [number, number]) }],
  });
  if (result.test) {
    console.log(`\ntest set (conlleval):\n${formatReport(result.test, { details: true })}`);
    const json = {
      adapter,
      corpus,
      history: epochs,
      calibration: result.calibration,
      test: reportToJSON(result.test),
    };
    await writeFileAtomic(
      `${out}/report.json`,
      new TextEncoder().encode(JSON.stringify(json, null, 2)),
    );
    written.push(`${out}/report.json`);
  }
  const html = renderHtmlReport({
    title: `webgpu-ner: ${corpus}`,
    report: result.test,
    charts: [
      chart("Training loss", "loss", "train loss", (e) => e.loss),
      chart("Dev entity F1", "F1 (%)", "dev F1", (e) => 100 * e.dev.f1),
    ],
    notes: [
      `adapter: ${adapter}`,
      `stopped: ${result.stopReason}`,
      ...(result.calibration ? [formatCalibration(result.calibration)] : []),
    ],
  });
  await writeFileAtomic(`${out}/report.html`, new TextEncoder().encode(html));
  written.push(`${out}/report.html`);
  return written;
}

async function tagExample(
  gpu: Awaited<ReturnType<typeof acquireGpu>>,
  result: TrainResult,
  text: string,
) {
  using tagger = await Tagger.fromModel(gpu, result.model);
  const entities = await tagger.tag(text);
  console.log(`\n${text}`);
  for (const e of entities) {
    console.log(
      `  ${e.label.padEnd(5)} ${JSON.stringify(e.text)} [${e.start}, ${e.end}) p=${
        e.score.toFixed(2)
      }`,
    );
  }
  if (entities.length === 0) console.log("  (no entities)");
}

/** Trains with the flags' options, logging and printing every event; stops on a signal. */
async function runTraining(
  flags: Flags,
  gpu: Awaited<ReturnType<typeof acquireGpu>>,
  input: Awaited<ReturnType<typeof loadData>> & {
    embeddings?: Embeddings;
    resume?: Uint8Array;
    init?: Uint8Array;
  },
  log: Awaited<ReturnType<typeof openLog>>,
  controller: AbortController,
): Promise<TrainResult> {
  const out = flags.out;
  return await trainModel(gpu, input.data, {
    config: {
      hidden: flags.hidden,
      layers: flags.layers,
      wordDim: flags["word-dim"],
      charFeatures: flags.chars as "cnn" | "none" | undefined,
      head: flags.head as "crf" | "softmax" | undefined,
      charFilters: flags["char-filters"],
      dropout: flags.dropout,
    },
    epochs: flags.epochs,
    batchSize: flags["batch-size"],
    lr: flags.lr,
    weightDecay: flags["weight-decay"],
    patience: flags.patience,
    seed: flags.seed,
    scheme: flags.scheme ? (flags.scheme.toUpperCase() as "IOB2" | "IOBES") : undefined,
    timeBudget: flags["time-budget"],
    minFrequency: flags["min-frequency"],
    unkReplace: flags["unk-replace"],
    wordDropout: flags["word-dropout"],
    average: flags.average,
    lowercase: !flags["case-sensitive"],
    embeddings: input.embeddings,
    resume: input.resume,
    initFrom: input.init,
    corpus: input.corpus,
    calibrate: !flags["no-calibrate"],
    signal: controller.signal,
    progress: flags.quiet ? undefined : stderrSink(),
    save: (kind, bytes) =>
      writeFileAtomic(`${out}/${kind === "best" ? "model" : "last"}.safetensors`, bytes),
    onEvent: (event) => {
      log.write(event);
      printEvent(event);
    },
  });
}

async function readInput(flag: string, path: string | undefined): Promise<Uint8Array | undefined> {
  if (path === undefined) return undefined;
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new Error(`--${flag} ${path}: ${(e as Error).message}`);
  }
}

/**
 * Runs the command: returns its exit status and never exits the process
 * itself (only a second Ctrl-C does, at once).
 *
 * @param args command-line arguments
 * @returns 0 done, 1 bad input or runtime error, 2 usage error, 130 interrupted
 * @throws {UsageError} for bad flags, {Error} for bad input (`runCommand` prints either as one line)
 */
export async function main(args: string[]): Promise<number> {
  const flags = parseTrainFlags(args);
  if (flags.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  await checkInputFiles(flags);
  const resume = await readInput("resume", flags.resume);
  const init = await readInput("init", flags.init);
  if (resume) checkModelFlags(flags, resume, flags.resume!, "the checkpoint");
  if (init) checkModelFlags(flags, init, flags.init!, "the initial model");
  const out = flags.out;
  const lock = await prepareOut(out);
  const controller = new AbortController();
  let removeSignals = () => {};
  try {
    const log = await openLog(flags.log ?? `${out}/train.jsonl`, resume !== undefined);
    try {
      const input = await loadData(flags);
      const embeddings = flags.embeddings ? await readEmbeddings(flags.embeddings) : undefined;
      for (const w of embeddings?.warnings ?? []) console.error(`warning: ${w}`);
      const gpu = await acquireGpu();
      const adapter = describeAdapter(gpu.adapter);
      const { data } = input;
      console.log(
        `adapter: ${adapter}\ndata: ${input.corpus}: ${data.train.length} train / ${data.dev.length} dev / ` +
          `${data.test?.length ?? 0} test sentences` +
          (flags["time-budget"] !== undefined
            ? `\ntime budget: training stops after ${flags["time-budget"]} s, then evaluates`
            : ""),
      );
      removeSignals = stopSignals(controller);
      let result: TrainResult;
      try {
        result = await runTraining(
          flags,
          gpu,
          { ...input, embeddings, resume, init },
          log,
          controller,
        );
      } catch (e) {
        if (!controller.signal.aborted) throw e;
        console.error(`cli/train.ts: ${(e as Error).message}`);
        return EXIT.interrupted;
      } finally {
        removeSignals();
      }
      const finalBytes = flags.fp16 ? encodeModel(result.model, { float16: true }) : result.bytes;
      await writeFileAtomic(`${out}/model.safetensors`, finalBytes);
      console.log(
        `\nstopped: ${result.stopReason}; best dev F1 ${(100 * result.bestDevF1).toFixed(2)} ` +
          `at epoch ${result.bestEpoch}; ${result.trainSeconds.toFixed(1)} s training; ` +
          `model: ${out}/model.safetensors`,
      );
      const written = await writeReports(out, result, adapter, input.corpus);
      console.log(`reports: ${[...written, flags.log ?? `${out}/train.jsonl`].join(", ")}`);
      await tagExample(
        gpu,
        result,
        flags.example ?? "Apple Inc. was founded by Steve Jobs in California on April 1, 1976.",
      );
      return controller.signal.aborted ? EXIT.interrupted : EXIT.ok;
    } finally {
      log.close();
    }
  } finally {
    removeSignals();
    await lock.release();
  }
}

if (import.meta.main) Deno.exit(await runCommand("cli/train.ts", main, Deno.args));

/**
 * `deno run -A cli/train.ts`: trains a BiLSTM-CRF on the GPU. With no data
 * flags it uses the embedded GMB corpus (seeded 80/10/10 split).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadEmbeddedCorpus } from "../src/data/embedded.ts";
import { readEmbeddings } from "../src/data/embeddings.ts";
import { readCorpus } from "../src/data/read_corpus.ts";
import { parseScheme } from "../src/data/schemes.ts";
import type { CorpusFormat, Sentence } from "../src/data/sentence.ts";
import { formatReport, reportToJSON } from "../src/eval/report.ts";
import { renderHtmlReport } from "../src/eval/html.ts";
import { acquireGpu, describeAdapter } from "../src/gpu/device.ts";
import { writeFileAtomic } from "../src/io/files.ts";
import type { CharFeatures, Head } from "../src/model/config.ts";
import { stderrSink } from "../src/train/progress.ts";
import { type TrainEvent, trainModel } from "../src/train/trainer.ts";
import { Tagger } from "../src/api/tagger.ts";
import { encodeModel } from "../src/model/checkpoint.ts";

export const USAGE = `Usage: deno run -A cli/train.ts [options]

Trains a BiLSTM-CRF named-entity tagger on the GPU (WebGPU). Without
--train it trains on the embedded GMB corpus (47,959 sentences, 17 tags,
seeded 80/10/10 split). Writes model.safetensors (the best dev-F1 model),
last.safetensors (resumable), report.json, report.html and train.jsonl to
--out, prints the test report, then tags an example sentence.

Data:
  --train FILE         training data: CoNLL columns (.txt/.conll), GMB CSV (.csv) or JSONL
  --dev FILE           development data (early stopping); default: 10% of --train
  --test FILE          test data (final report)
  --format F           conll | csv | jsonl (default: from the file extension)
  --embeddings FILE    pretrained vectors, GloVe/word2vec text (optionally .gz)
  --split-seed N       seed of the embedded corpus split (default 42)

Model:
  --hidden N           LSTM hidden size per direction (default 100)
  --layers N           stacked BiLSTM layers (default 1)
  --word-dim N         word embedding size (default 100; the vectors' size with --embeddings)
  --chars cnn|none     character features (default cnn)
  --char-filters N     char CNN filters, i.e. the char feature size (default 48)
  --head crf|softmax   output layer (default crf)
  --dropout P          dropout on LSTM input and output (default 0.5)
  --scheme iob2|iobes  output tag scheme (default iob2)

Training:
  --epochs N           most epochs (default 30)
  --batch-size N       sentences per batch (default 32)
  --lr X               Adam learning rate (default 0.002)
  --average D          per-step decay of the weight average that is evaluated and saved
                       (Polyak averaging; default 0.999; 0 = use the raw weights)
  --patience N         stop after N epochs without a better dev F1 (default 5; 0 = never)
  --seed N             seed of weights, shuffling and dropout (default 1)
  --time-budget S      stop training after S seconds, then evaluate and save
  --resume FILE        continue from a last.safetensors checkpoint
  --init FILE          fine-tune from a model.safetensors
  --out DIR            output folder (default runs/latest)
  --log FILE           JSONL event log (default <out>/train.jsonl)
  --example TEXT       sentence to tag at the end
  --fp16               store the final model.safetensors in float16 (half the size)
  --min-frequency N    keep words seen at least N times in the training data (default 1)
  --unk-replace P      feed words seen once as <unk> with probability P (default 0.5)
  --word-dropout P     feed any word as <unk> with probability P (default 0.2)
  --case-sensitive     look words up as written (default: lowercased; case still reaches
                       the model through the casing and character features)
  --quiet              no progress bar
  -h, --help           show this help

Ctrl-C finishes the current step, saves the checkpoints and exits cleanly.`;

function fail(message: string): never {
  console.error(`cli/train.ts: ${message}\n(run with --help for usage)`);
  Deno.exit(2);
}

function intFlag(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    fail(`--${name}: expected an integer ≥ ${min}, got '${value}'`);
  }
  return n;
}

function numFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  below = Infinity,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n >= below) {
    fail(
      below === Infinity
        ? `--${name}: expected a non-negative number, got '${value}'`
        : `--${name}: expected a number in [0, ${below}), got '${value}'`,
    );
  }
  return n;
}

/**
 * Runs the CLI.
 *
 * @param args command-line arguments
 * @returns the exit code
 */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        train: { type: "string" },
        dev: { type: "string" },
        test: { type: "string" },
        format: { type: "string" },
        embeddings: { type: "string" },
        "split-seed": { type: "string" },
        hidden: { type: "string" },
        layers: { type: "string" },
        "word-dim": { type: "string" },
        chars: { type: "string" },
        head: { type: "string" },
        dropout: { type: "string" },
        scheme: { type: "string" },
        epochs: { type: "string" },
        "batch-size": { type: "string" },
        lr: { type: "string" },
        patience: { type: "string" },
        seed: { type: "string" },
        "time-budget": { type: "string" },
        resume: { type: "string" },
        init: { type: "string" },
        out: { type: "string" },
        log: { type: "string" },
        example: { type: "string" },
        quiet: { type: "boolean" },
        fp16: { type: "boolean" },
        "min-frequency": { type: "string" },
        "unk-replace": { type: "string" },
        "word-dropout": { type: "string" },
        average: { type: "string" },
        "char-filters": { type: "string" },
        "case-sensitive": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    fail((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  if (v.chars && v.chars !== "cnn" && v.chars !== "none") {
    fail(`--chars: expected cnn or none, got '${v.chars}'`);
  }
  if (v.head && v.head !== "crf" && v.head !== "softmax") {
    fail(`--head: expected crf or softmax, got '${v.head}'`);
  }
  if (v.format && !["conll", "csv", "jsonl"].includes(v.format)) {
    fail(`--format: expected conll, csv or jsonl, got '${v.format}'`);
  }
  const scheme = v.scheme
    ? (() => {
      try {
        const s = parseScheme(v.scheme!);
        if (s !== "IOB2" && s !== "IOBES") throw new Error();
        return s;
      } catch {
        fail(`--scheme: expected iob2 or iobes, got '${v.scheme}'`);
      }
    })()
    : "IOB2";
  if ((v.dev || v.test) && !v.train) fail("--dev and --test need --train");
  const out = v.out ?? "runs/latest";
  await Deno.mkdir(out, { recursive: true });

  // Data.
  let data: { train: Sentence[]; dev: Sentence[]; test?: Sentence[] };
  let corpus: string;
  const format = v.format as CorpusFormat | undefined;
  try {
    if (v.train) {
      const read = async (path: string) => {
        const c = await readCorpus(path, { format });
        for (const w of c.warnings) console.error(`warning: ${w}`);
        return c.sentences;
      };
      const train = await read(v.train);
      let dev = v.dev ? await read(v.dev) : undefined;
      let trainPart = train;
      if (!dev) {
        const cut = Math.max(1, Math.floor(train.length * 0.9));
        trainPart = train.slice(0, cut);
        dev = train.slice(cut);
        console.error(`no --dev: using the last ${dev.length} sentences of --train as dev data`);
      }
      data = { train: trainPart, dev, test: v.test ? await read(v.test) : undefined };
      corpus = v.train;
    } else {
      const splitSeed = intFlag("split-seed", v["split-seed"], 42);
      const embedded = await loadEmbeddedCorpus({ seed: splitSeed });
      for (const w of embedded.warnings) console.error(`note: ${w}`);
      data = embedded;
      corpus = `embedded GMB corpus (split seed ${splitSeed})`;
    }
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
  const embeddings = v.embeddings ? await readEmbeddings(v.embeddings) : undefined;

  const gpu = await acquireGpu().catch((e) => {
    console.error((e as Error).message);
    Deno.exit(1);
  });
  const adapter = describeAdapter(gpu.adapter);
  const timeBudget = v["time-budget"] !== undefined
    ? numFlag("time-budget", v["time-budget"], 0)
    : undefined;
  console.log(
    `adapter: ${adapter}\ndata: ${corpus}: ${data.train.length} train / ${data.dev.length} dev / ` +
      `${data.test?.length ?? 0} test sentences` +
      (timeBudget !== undefined
        ? `\ntime budget: training stops after ${timeBudget} s, then evaluates`
        : ""),
  );

  const log = await Deno.open(v.log ?? `${out}/train.jsonl`, {
    write: true,
    create: true,
    truncate: true,
  });
  const encoder = new TextEncoder();
  const events: TrainEvent[] = [];
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) Deno.exit(130);
    console.error("\ninterrupted: finishing the step and saving (Ctrl-C again to quit at once)");
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", onSigint);
  const read = async (path: string | undefined) => path ? await Deno.readFile(path) : undefined;
  let result;
  try {
    result = await trainModel(gpu, data, {
      config: {
        hidden: v.hidden ? intFlag("hidden", v.hidden, 100, 1) : undefined,
        layers: v.layers ? intFlag("layers", v.layers, 1, 1) : undefined,
        wordDim: v["word-dim"] ? intFlag("word-dim", v["word-dim"], 100, 1) : undefined,
        charFeatures: v.chars as CharFeatures | undefined,
        head: v.head as Head | undefined,
        charFilters: v["char-filters"]
          ? intFlag("char-filters", v["char-filters"], 48, 1)
          : undefined,
        dropout: v.dropout !== undefined ? numFlag("dropout", v.dropout, 0.5) : undefined,
      },
      epochs: intFlag("epochs", v.epochs, 30, 1),
      batchSize: intFlag("batch-size", v["batch-size"], 32, 1),
      lr: numFlag("lr", v.lr, 2e-3),
      patience: intFlag("patience", v.patience, 5),
      seed: intFlag("seed", v.seed, 1),
      scheme,
      timeBudget,
      minFrequency: intFlag("min-frequency", v["min-frequency"], 1, 1),
      unkReplace: numFlag("unk-replace", v["unk-replace"], 0.5),
      wordDropout: numFlag("word-dropout", v["word-dropout"], 0.2, 1),
      average: numFlag("average", v.average, 0.999, 1),
      lowercase: !v["case-sensitive"],
      embeddings,
      resume: await read(v.resume),
      initFrom: await read(v.init),
      corpus,
      signal: controller.signal,
      progress: v.quiet ? undefined : stderrSink(),
      save: (kind, bytes) =>
        writeFileAtomic(`${out}/${kind === "best" ? "model" : "last"}.safetensors`, bytes),
      onEvent: (event) => {
        events.push(event);
        log.writeSync(
          encoder.encode(JSON.stringify({ time: new Date().toISOString(), ...event }) + "\n"),
        );
        if (event.type === "start") {
          console.log(
            `model: ${event.parameters.toLocaleString("en-US")} parameters, ` +
              `${event.dispatchesPerStep} GPU dispatches per training step (one submit)`,
          );
        }
        if (event.type === "epoch") {
          const pct = (x: number) => (100 * x).toFixed(2);
          console.log(
            `epoch ${event.epoch}: loss ${event.loss.toFixed(4)}, dev P ${
              pct(event.dev.precision)
            } ` +
              `R ${pct(event.dev.recall)} F1 ${pct(event.dev.f1)}${event.best ? " (best)" : ""}, ` +
              `${event.seconds.toFixed(1)} s, ${
                Math.round(event.tokensPerSecond).toLocaleString("en-US")
              } tokens/s`,
          );
        }
      },
    });
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
    log.close();
  }
  const finalBytes = v.fp16 ? encodeModel(result.model, { float16: true }) : result.bytes;
  await writeFileAtomic(`${out}/model.safetensors`, finalBytes);
  console.log(
    `\nstopped: ${result.stopReason}; best dev F1 ${(100 * result.bestDevF1).toFixed(2)} ` +
      `at epoch ${result.bestEpoch}; ${result.trainSeconds.toFixed(1)} s training; ` +
      `model: ${out}/model.safetensors`,
  );
  const epochs = result.history;
  const curves = [
    {
      title: "Training loss",
      xLabel: "epoch",
      yLabel: "loss",
      curves: [{
        name: "train loss",
        points: epochs.map((e) => [e.epoch, e.loss] as [number, number]),
      }],
    },
    {
      title: "Dev entity F1",
      xLabel: "epoch",
      yLabel: "F1 (%)",
      curves: [{
        name: "dev F1",
        points: epochs.map((e) => [e.epoch, 100 * e.dev.f1] as [number, number]),
      }],
    },
  ];
  if (result.test) {
    console.log(`\ntest set (conlleval):\n${formatReport(result.test, { details: true })}`);
    await Deno.writeTextFile(
      `${out}/report.json`,
      JSON.stringify(
        { adapter, corpus, history: epochs, test: reportToJSON(result.test) },
        null,
        2,
      ),
    );
  }
  await Deno.writeTextFile(
    `${out}/report.html`,
    renderHtmlReport({
      title: `webgpu-ner: ${corpus}`,
      report: result.test,
      charts: curves,
      notes: [`adapter: ${adapter}`, `stopped: ${result.stopReason}`],
    }),
  );
  console.log(`reports: ${out}/report.json, ${out}/report.html, ${out}/train.jsonl`);

  const example = v.example ??
    "Apple Inc. was founded by Steve Jobs in California on April 1, 1976.";
  const tagger = await Tagger.fromModel(gpu, result.model);
  const entities = await tagger.tag(example);
  console.log(`\n${example}`);
  for (const e of entities) {
    console.log(
      `  ${e.label.padEnd(5)} ${JSON.stringify(e.text)} [${e.start}, ${e.end}) p=${
        e.score.toFixed(2)
      }`,
    );
  }
  if (entities.length === 0) console.log("  (no entities)");
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

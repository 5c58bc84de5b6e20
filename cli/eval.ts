/**
 * Evaluates NER predictions or models.
 *
 * Predictions-file mode (conlleval-compatible): a file of lines
 * `token … gold predicted`, a blank line between sentences, as
 * `conlleval.pl` reads it. Text output is byte-identical to `conlleval.pl`'s
 * report; `--details` adds the per-tag table, top errors and the confusion
 * matrix; `--format json|html` writes everything.
 *
 * Model mode: `--model m.safetensors --data test.txt` tags the data's
 * tokens with the model, converts gold and predicted tags to IOB2 and
 * prints the full report with the calibration of span scores. Two
 * `--model`s are compared side by side with a paired bootstrap test.
 *
 * ```sh
 * deno run -A cli/eval.ts --conlleval examples/predictions.txt
 * deno run -A cli/eval.ts --model m.safetensors --data test.txt --format html --out r.html
 * deno run -A cli/eval.ts --model a.safetensors --model b.safetensors --data test.txt
 * ```
 *
 * @module
 */

import {
  type ChunkRules,
  compareModels,
  evaluateModel,
  evaluateTags,
  type EvaluationReport,
  fitDevTemperature,
  formatReport,
  type GoldSentences,
  loadEmbeddedCorpus,
  parseConllevalInput,
  readCorpus,
  renderComparison,
  renderEvaluation,
  renderHtmlReport,
  reportToJSON,
  Tagger,
} from "../deno.ts";
import { EXIT, flagHelp, parseFlags, runCommand, UsageError } from "./flags.ts";

/** The flags, declared once: the parser, the messages and `--help` come from here. */
export const FLAGS = {
  conlleval: { kind: "string", arg: "FILE", help: "predictions file (or the one positional FILE)" },
  model: {
    kind: "string",
    arg: "FILE",
    multiple: true,
    help: "a model.safetensors to evaluate; twice: compare two",
  },
  data: {
    kind: "string",
    arg: "FILE",
    help: "gold data: a CoNLL, GMB CSV or JSONL file (any tag scheme),\n" +
      "or embedded:test, embedded:dev, embedded:train (a split of\nthe embedded corpus)",
  },
  "data-format": {
    kind: "enum",
    values: ["conll", "csv", "jsonl"],
    help: "format of the --data and --fit-temperature files\n(default: from the extension)",
  },
  "split-seed": { kind: "int", default: 42, help: "seed of the embedded corpus's split" },
  unconstrained: {
    kind: "boolean",
    help: "decode without the scheme's transition constraints",
  },
  temperature: {
    kind: "number",
    min: 0,
    minExclusive: true,
    arg: "X",
    help: "apply temperature X to the raw span scores (calibration table;\n" +
      "default: the model's stored temperature, if any; 1: raw scores)",
  },
  "fit-temperature": {
    kind: "string",
    arg: "FILE",
    help: "fit the temperature on FILE's span scores (a dev set; embedded:dev\n" +
      "works) and apply it on --data",
  },
  bins: { kind: "int", min: 1, max: 100, default: 10, help: "score bins of the reliability table" },
  resamples: {
    kind: "int",
    min: 1,
    default: 1000,
    help: "resamples of the paired bootstrap (two models)",
  },
  seed: { kind: "int", default: 1, help: "seed of the bootstrap's resampling" },
  format: {
    kind: "enum",
    values: ["text", "json", "html"],
    default: "text",
    help: "output format; text starts with conlleval.pl's report",
  },
  details: {
    kind: "boolean",
    help: "text format: add the per-tag table, top errors and matrix",
  },
  out: { kind: "string", arg: "FILE", help: "write the report to FILE instead of standard output" },
  scheme: {
    kind: "enum",
    values: ["iob", "iobes"],
    default: "iob",
    help: "chunk rules: conlleval.pl's, or S- and E- end chunks",
  },
  iobes: { kind: "boolean", help: "the same as --scheme iobes" },
  delimiter: {
    kind: "string",
    arg: "STR",
    help: "field delimiter (conlleval.pl -d; default a space)",
  },
  top: { kind: "int", min: 0, default: 10, help: "error patterns to list" },
  help: { kind: "boolean", short: "h", help: "show this help" },
} as const;

/**
 * The usage text printed by `--help`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(USAGE, /--conlleval FILE/);
 * assert.match(USAGE, /--resamples N +resamples of the paired bootstrap \(two models\) \(default 1000\)/);
 * ```
 */
export const USAGE = `Usage: deno run -A cli/eval.ts [options] [FILE]

Evaluates NER predictions with conlleval.pl's semantics, or models on gold data.

Predictions-file mode: FILE (or --conlleval FILE) has lines "token ... gold
predicted", blank lines between sentences; "-" or no file reads standard input.
${flagHelp(FLAGS, ["conlleval", "details", "scheme", "iobes", "delimiter"])}

Model mode: --model FILE --data FILE tags the data's tokens with the model and
compares gold and predicted tags (both as IOB2); a second --model compares two
models side by side with a paired bootstrap test of the F1 difference.
${
  flagHelp(FLAGS, [
    "model",
    "data",
    "data-format",
    "split-seed",
    "unconstrained",
    "temperature",
    "fit-temperature",
    "bins",
    "resamples",
    "seed",
  ])
}

Output:
${flagHelp(FLAGS, ["format", "out", "top", "help"])}
`;

/** Options for {@linkcode evaluatePredictions}. */
export interface PredictionsOptions {
  /** Output format. Default `"text"`. */
  format?: "text" | "json" | "html";
  /** Text format: add the per-tag table, top errors and confusion matrix. Default false. */
  details?: boolean;
  /** Chunk rules. Default `"conlleval"`. */
  rules?: ChunkRules;
  /** Field delimiter. Default one space. */
  delimiter?: string;
  /** The name used in error messages and the HTML title. Default `"<stdin>"`. */
  path?: string;
  /** Error patterns to list. Default 10. */
  top?: number;
}

/**
 * The predictions-file mode as a pure function: text in, report out.
 *
 * @param text The predictions file's text.
 * @param options Format, rules, delimiter.
 * @returns The report text (conlleval format, JSON or HTML).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const out = evaluatePredictions("Ada B-PER B-PER\nsang O O\n");
 * assert.match(out, /^processed 2 tokens with 1 phrases; found: 1 phrases; correct: 1\.\n/);
 * ```
 */
export function evaluatePredictions(text: string, options: PredictionsOptions = {}): string {
  const path = options.path ?? "<stdin>";
  const rules = options.rules ?? "conlleval";
  const input = parseConllevalInput(text, { path, rules, delimiter: options.delimiter });
  const report: EvaluationReport = evaluateTags(input.gold, input.predicted, {
    rules,
    topErrors: options.top,
  });
  // The scorer saw the file exactly as conlleval.pl does (including "-X-" lines and
  // whatever it counts at boundaries); keep its counts for the conlleval block.
  report.counts = input.counts;
  switch (options.format ?? "text") {
    case "json":
      return JSON.stringify({ path, ...reportToJSON(report) }, null, 2) + "\n";
    case "html":
      return renderHtmlReport({
        title: `Evaluation of ${path}`,
        report,
        notes: [`predictions: ${path}`],
      });
    default:
      return formatReport(report, { details: options.details ?? false });
  }
}

/** Where {@linkcode main} reads and writes (replaceable in tests). */
export interface CliIO {
  /** Writes to standard output. */
  stdout: (text: string) => Promise<void> | void;
  /** Writes to standard error. */
  stderr: (text: string) => Promise<void> | void;
  /** Reads all of standard input. */
  stdin: () => Promise<string>;
}

const denoIO: CliIO = {
  stdout: async (t) => {
    await Deno.stdout.write(new TextEncoder().encode(t));
  },
  stderr: async (t) => {
    await Deno.stderr.write(new TextEncoder().encode(t));
  },
  stdin: () => new Response(Deno.stdin.readable).text(),
};

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>["values"];

/**
 * Runs the command line; returns the exit code (0 ok, 1 bad input or a
 * runtime error, 2 bad usage). Errors are one line on `io.stderr`.
 *
 * @param args The arguments (without the program name).
 * @param io Standard streams (default: Deno's).
 * @returns The exit code.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * let out = "";
 * const code = await main(["--help"], { stdout: (t) => void (out += t), stderr: () => {}, stdin: async () => "" });
 * assert.equal(code, 0);
 * assert.match(out, /^Usage:/);
 * ```
 */
export async function main(args: string[], io: CliIO = denoIO): Promise<number> {
  try {
    const { values, positionals } = parseFlags(args, FLAGS, { positionals: true });
    if (values.help) {
      await io.stdout(USAGE);
      return EXIT.ok;
    }
    const output = values.model.length > 0
      ? await modelMode(values, positionals, io)
      : await predictionsMode(values, positionals, io);
    if (values.out !== undefined) await writeReport(values.out, output);
    else await io.stdout(output);
    return EXIT.ok;
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    if (error instanceof UsageError) {
      await io.stderr(`eval: ${error.message}\n(run with --help for usage)\n`);
      return EXIT.usage;
    }
    await io.stderr(`eval: ${error.message}\n`);
    return EXIT.error;
  }
}

async function writeReport(path: string, text: string): Promise<void> {
  try {
    await Deno.writeTextFile(path, text);
  } catch (e) {
    throw new Error(`Cannot write the report to ${path}: ${(e as Error).message}`);
  }
}

function checkModelUsage(values: Values, positionals: string[]): void {
  if (values.data === undefined) throw new UsageError("model mode needs both --model and --data");
  if (values.conlleval !== undefined || positionals.length > 0) {
    throw new UsageError("expected either --model/--data or a predictions file, not both");
  }
  if (values.model.length > 2) {
    throw new UsageError(`--model: expected one or two models, found ${values.model.length}`);
  }
  if (values.temperature !== undefined && values["fit-temperature"] !== undefined) {
    throw new UsageError("expected --temperature or --fit-temperature, not both");
  }
}

/** Reads gold sentences from a file or a split of the embedded corpus. */
async function readGold(source: string, values: Values, io: CliIO): Promise<GoldSentences> {
  const embedded = source.match(/^embedded:(train|dev|test)$/);
  if (embedded) {
    const corpus = await loadEmbeddedCorpus({ seed: values["split-seed"] });
    return corpus[embedded[1] as "train" | "dev" | "test"];
  }
  if (source.startsWith("embedded:")) {
    throw new UsageError(
      `--data: expected embedded:train, embedded:dev or embedded:test, found '${source}'`,
    );
  }
  const corpus = await readCorpus(source, { format: values["data-format"] as never });
  // The reader's warnings name the file already.
  for (const w of corpus.warnings) await io.stderr(`eval: warning: ${w}\n`);
  return corpus.sentences;
}

async function modelMode(values: Values, positionals: string[], io: CliIO): Promise<string> {
  checkModelUsage(values, positionals);
  const data = values.data!;
  const gold = await readGold(data, values, io);
  const taggers = [];
  for (const path of values.model) taggers.push(await Tagger.load(path));
  const constrained = !values.unconstrained;
  const temperatures = await temperaturesOf(taggers, values, io);
  const common = { constrained, top: values.top, bins: values.bins };
  if (taggers.length === 1) {
    const ev = await evaluateModel(taggers[0], gold, {
      ...common,
      temperature: temperatures[0],
      names: { model: values.model[0], data },
    });
    for (const w of ev.warnings) await io.stderr(`eval: warning: ${w}\n`);
    return renderEvaluation(ev, values.format as "text" | "json" | "html");
  }
  const own = values.temperature === undefined && values["fit-temperature"] === undefined;
  if (!own && temperatures[0] !== temperatures[1]) {
    throw new UsageError(
      "--fit-temperature: comparing two models fits one temperature each; use one model",
    );
  }
  const c = await compareModels(taggers[0], taggers[1], gold, {
    ...common,
    // Without a temperature flag each model keeps its own stored temperature.
    temperature: own ? undefined : temperatures[0],
    resamples: values.resamples,
    seed: values.seed,
    names: { a: values.model[0], b: values.model[1], data },
  });
  for (const w of c.a.warnings) await io.stderr(`eval: warning: A: ${w}\n`);
  for (const w of c.b.warnings) await io.stderr(`eval: warning: B: ${w}\n`);
  return renderComparison(c, values.format as "text" | "json" | "html");
}

/**
 * The temperature of each model: --temperature, fitted on --fit-temperature's
 * data, or the model's stored one (1 without one; a stored one is named on
 * standard error).
 */
async function temperaturesOf(
  taggers: Tagger[],
  values: Values,
  io: CliIO,
): Promise<number[]> {
  const source = values["fit-temperature"];
  if (source === undefined && values.temperature !== undefined) {
    return taggers.map(() => values.temperature!);
  }
  if (source === undefined) {
    for (const [i, tagger] of taggers.entries()) {
      const c = tagger.model.calibration;
      if (!c) continue;
      await io.stderr(
        `eval: span scores of ${values.model[i]} after its stored temperature ` +
          `${c.temperature.toFixed(4)} (fitted on ${c.fittedOn}, ${c.spans} spans); ` +
          `--temperature 1 reports raw scores\n`,
      );
    }
    return taggers.map((t) => t.temperature);
  }
  const dev = await readGold(source, values, io);
  const out = [];
  for (const [i, tagger] of taggers.entries()) {
    const t = await fitDevTemperature(tagger, dev, { constrained: !values.unconstrained });
    await io.stderr(
      `eval: temperature ${t.toFixed(4)} fitted on ${source} for ${values.model[i]}\n`,
    );
    out.push(t);
  }
  return out;
}

async function predictionsMode(values: Values, positionals: string[], io: CliIO): Promise<string> {
  const files = [...(values.conlleval !== undefined ? [values.conlleval] : []), ...positionals];
  if (files.length > 1) {
    throw new UsageError(
      `expected at most one predictions file, found ${files.length}: ${files.join(", ")}`,
    );
  }
  const file = files[0] ?? "-";
  let text: string;
  try {
    text = file === "-" ? await io.stdin() : await Deno.readTextFile(file);
  } catch (e) {
    throw new Error(`Cannot read ${file}: ${(e as Error).message}`);
  }
  return evaluatePredictions(text, {
    format: values.format as "text" | "json" | "html",
    details: values.details,
    rules: values.iobes || values.scheme === "iobes" ? "iobes" : "conlleval",
    delimiter: values.delimiter,
    path: file === "-" ? "<stdin>" : file,
    top: values.top,
  });
}

if (import.meta.main) Deno.exit(await runCommand("cli/eval.ts", (a) => main(a), Deno.args));

/**
 * Evaluates NER predictions.
 *
 * Predictions-file mode (conlleval-compatible): a file of lines
 * `token … gold predicted`, a blank line between sentences, as
 * `conlleval.pl` reads it. Text output is byte-identical to `conlleval.pl`'s
 * report; `--details` adds the per-tag table, top errors and the confusion
 * matrix; `--format json|html` writes everything.
 *
 * Model mode: `--model m.safetensors --data test.txt` tags the data's
 * tokens with the model (constrained Viterbi on the GPU), converts gold and
 * predicted tags to IOB2 and prints the full report (conlleval numbers,
 * per-type and per-tag tables, top errors, confusion matrix).
 *
 * ```sh
 * deno run -A cli/eval.ts --conlleval examples/predictions.txt
 * deno run -A cli/eval.ts --format html --out report.html < predictions.txt
 * deno run -A cli/eval.ts --model m.safetensors --data test.txt --format html --out r.html
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Tagger } from "../src/api/tagger.ts";
import { readCorpus } from "../src/data/read_corpus.ts";
import { convertTags } from "../src/data/schemes.ts";
import { DataFormatError } from "../src/data/errors.ts";
import type { ChunkRules } from "../src/eval/conlleval.ts";
import { parseConllevalInput } from "../src/eval/conlleval.ts";
import { renderHtmlReport } from "../src/eval/html.ts";
import {
  evaluateTags,
  type EvaluationReport,
  formatReport,
  reportToJSON,
} from "../src/eval/report.ts";

/**
 * The usage text printed by `--help`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(USAGE, /--conlleval FILE/);
 * ```
 */
export const USAGE = `Usage: deno run -A cli/eval.ts [options] [FILE]

Evaluates NER predictions with conlleval.pl's semantics.

Predictions-file mode:
  FILE, --conlleval FILE   lines "token ... gold predicted", blank lines between
                           sentences (as conlleval.pl reads them); "-" or no
                           file reads standard input

Model mode:
  --model FILE             a model.safetensors to evaluate
  --data FILE              gold data (CoNLL, GMB CSV or JSONL, by extension;
                           any tag scheme): its tokens are tagged with the
                           model and compared with its tags (both as IOB2)
  --unconstrained          decode without the scheme's transition constraints

Options:
  --format text|json|html  output format (default text: conlleval.pl's report,
                           byte for byte; in model mode with every table)
  --details                text format: add the per-tag table, top errors and
                           the confusion matrix
  --out FILE               write the report to FILE instead of standard output
  --iobes                  IOBES chunk rules (S- and E- end chunks); the default
                           is the original conlleval.pl rules
  --delimiter STR          field delimiter (conlleval.pl -d; default one space)
  --top N                  error patterns to list (default 10)
  -h, --help               show this help
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

/** Options for {@linkcode evaluateModel}. */
export interface ModelEvalOptions {
  /** Output format. Default `"text"` (with every table). */
  format?: "text" | "json" | "html";
  /** Error patterns to list. Default 10. */
  top?: number;
  /** Constrained decoding. Default true. */
  constrained?: boolean;
  /** Names for the report (default "model" and "data"). */
  names?: { model?: string; data?: string };
}

/**
 * The model mode as a function: tags `gold`'s tokens with `tagger`,
 * converts both tag sets to IOB2 and renders the full report.
 *
 * @param tagger the model
 * @param gold the gold sentences (any scheme)
 * @param options format, error patterns, names
 * @returns the report text
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { Tagger } from "../src/api/tagger.ts";
 * import { randomModel } from "../src/api/random_model.ts";
 * import { acquireGpu } from "../src/gpu/device.ts";
 * const tagger = await Tagger.fromModel(await acquireGpu(), randomModel({ words: ["Ada"] }));
 * const out = await evaluateModel(tagger, [{ tokens: ["Ada", "sang"], tags: ["B-PER", "O"] }]);
 * assert.match(out, /^processed 2 tokens with 1 phrases;/);
 * ```
 */
export async function evaluateModel(
  tagger: Tagger,
  gold: readonly { tokens: readonly string[]; tags: readonly string[] }[],
  options: ModelEvalOptions = {},
): Promise<string> {
  const tagged = await tagger.tagTokens(gold.map((s) => s.tokens), {
    constrained: options.constrained ?? true,
  });
  const goldTags = gold.map((s) => convertTags(s.tags, "IOB2"));
  const predicted = tagged.map((r) => convertTags(r.tags, "IOB2"));
  const report = evaluateTags(goldTags, predicted, { topErrors: options.top });
  const model = options.names?.model ?? "model";
  const data = options.names?.data ?? "data";
  switch (options.format ?? "text") {
    case "json":
      return JSON.stringify({ model, data, ...reportToJSON(report) }, null, 2) + "\n";
    case "html":
      return renderHtmlReport({
        title: `Evaluation of ${model} on ${data}`,
        report,
        notes: [`model: ${model}`, `data: ${data}`, `tokens: ${goldTags.flat().length}`],
      });
    default:
      return formatReport(report, { details: true });
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

/**
 * Runs the command line; returns the exit code (0 ok, 1 bad input, 2 bad usage).
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
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        conlleval: { type: "string" },
        format: { type: "string", default: "text" },
        details: { type: "boolean", default: false },
        out: { type: "string" },
        iobes: { type: "boolean", default: false },
        delimiter: { type: "string" },
        top: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
        model: { type: "string" },
        data: { type: "string" },
        unconstrained: { type: "boolean", default: false },
      },
    });
  } catch (e) {
    await io.stderr(`eval: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    await io.stdout(USAGE);
    return 0;
  }
  const format = values.format;
  if (format !== "text" && format !== "json" && format !== "html") {
    await io.stderr(`eval: expected --format text, json or html, found "${format}"\n`);
    return 2;
  }
  const top = values.top === undefined ? undefined : Number(values.top);
  if (top !== undefined && !(Number.isInteger(top) && top >= 0)) {
    await io.stderr(`eval: expected --top to be a non-negative integer, found "${values.top}"\n`);
    return 2;
  }
  if ((values.model === undefined) !== (values.data === undefined)) {
    await io.stderr(`eval: model mode needs both --model and --data\n`);
    return 2;
  }
  if (values.model !== undefined) {
    if (values.conlleval !== undefined || positionals.length > 0) {
      await io.stderr(`eval: expected either --model/--data or a predictions file, not both\n`);
      return 2;
    }
    let output: string;
    try {
      const corpus = await readCorpus(values.data!);
      const tagger = await Tagger.load(values.model);
      output = await evaluateModel(tagger, corpus.sentences, {
        format,
        top,
        constrained: !values.unconstrained,
        names: { model: values.model, data: values.data },
      });
    } catch (e) {
      await io.stderr(`eval: ${(e as Error).message}\n`);
      return 1;
    }
    if (values.out !== undefined) await Deno.writeTextFile(values.out, output);
    else await io.stdout(output);
    return 0;
  }
  const files = [...(values.conlleval !== undefined ? [values.conlleval] : []), ...positionals];
  if (files.length > 1) {
    await io.stderr(
      `eval: expected at most one predictions file, found ${files.length}: ${files.join(", ")}\n`,
    );
    return 2;
  }
  const file = files[0] ?? "-";
  let output: string;
  try {
    const text = file === "-" ? await io.stdin() : await Deno.readTextFile(file);
    output = evaluatePredictions(text, {
      format,
      details: values.details,
      rules: values.iobes ? "iobes" : "conlleval",
      delimiter: values.delimiter,
      path: file === "-" ? "<stdin>" : file,
      top,
    });
  } catch (e) {
    if (e instanceof DataFormatError || e instanceof Deno.errors.NotFound) {
      await io.stderr(`eval: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (values.out !== undefined) await Deno.writeTextFile(values.out, output);
  else await io.stdout(output);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * Trains one configuration with N seeds and reports the mean ± standard
 * deviation of dev and test F1: the error bars of the README's Accuracy
 * table. Each seed is a plain `cli/train.ts` run (the flags after `--`,
 * plus `--seed S --out DIR/seed-S`), one after the other; its
 * `report.json` gives the best dev F1 and the test F1 (a run without test
 * data has no report.json: its `train.jsonl` epochs give the dev F1).
 *
 * ```sh
 * deno run -A cli/seeds.ts --seeds 3 --out runs/seeds -- --train train.txt --dev valid.txt --test test.txt
 * ```
 *
 * @module
 */

import { EXIT, flagHelp, parseFlags, runCommand, UsageError } from "./flags.ts";

/** The flags, declared once. */
export const FLAGS = {
  seeds: { kind: "int", min: 1, max: 100, default: 3, help: "how many seeds" },
  "first-seed": { kind: "int", min: 0, default: 1, help: "the first seed; the others follow it" },
  out: {
    kind: "string",
    arg: "DIR",
    default: "runs/seeds",
    help: "one folder per seed (DIR/seed-S) and summary.json",
  },
  format: { kind: "enum", values: ["text", "json"], default: "text", help: "output format" },
  help: { kind: "boolean", short: "h", help: "show this help" },
} as const;

/**
 * The usage text printed by `--help`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(USAGE, /--seeds N +how many seeds \(default 3\)/);
 * ```
 */
export const USAGE = `Usage: deno run -A cli/seeds.ts [options] [-- TRAIN FLAGS]

Trains with seeds first-seed, first-seed + 1, … by running cli/train.ts with the
flags after "--" (plus --seed and --out), and prints each seed's best dev F1 and
test F1 and their mean ± standard deviation (sample, n − 1).
${flagHelp(FLAGS)}
`;

/** One seed's result (F1 as fractions). */
export interface SeedRun {
  /** The seed. */
  seed: number;
  /** The run's folder. */
  out: string;
  /** Best dev F1 over the epochs. */
  devF1: number;
  /** Its epoch (1-based). */
  bestEpoch: number;
  /** Test F1 of the saved (best dev) model, when the run had test data. */
  testF1?: number;
}

/** Mean and sample standard deviation. */
export interface Spread {
  /** The mean. */
  mean: number;
  /** The sample standard deviation (n − 1; 0 for one value). */
  std: number;
  /** The smallest value. */
  min: number;
  /** The largest value. */
  max: number;
  /** How many values. */
  n: number;
}

/**
 * Mean, sample standard deviation (n − 1), min and max.
 *
 * @param values at least one number
 * @returns the spread
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const s = spread([0.86, 0.88, 0.87]);
 * assert.ok(Math.abs(s.mean - 0.87) < 1e-12 && Math.abs(s.std - 0.01) < 1e-12);
 * ```
 */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError("spread: expected at least one value, found none");
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const ss = values.reduce((a, b) => a + (b - mean) ** 2, 0);
  return {
    mean,
    std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0,
    min: Math.min(...values),
    max: Math.max(...values),
    n,
  };
}

/** The summary of a multi-seed run. */
export interface SeedSummary {
  /** The flags given to every cli/train.ts run. */
  trainArgs: string[];
  /** One entry per seed. */
  runs: SeedRun[];
  /** Best dev F1 over seeds. */
  dev: Spread;
  /** Test F1 over seeds, when every run had test data. */
  test?: Spread;
}

/**
 * Reads one run's `report.json`: the best dev F1 (and its epoch) from the
 * history, the test F1 from the test report.
 *
 * @param json the parsed report
 * @param seed the run's seed
 * @param out the run's folder (for messages)
 * @returns the seed's result
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const run = seedRunFromReport({
 *   history: [{ epoch: 1, dev: { f1: 0.5 } }, { epoch: 2, dev: { f1: 0.7 } }],
 *   test: { entities: { overall: { f1: 0.6 } } },
 * }, 1, "runs/seed-1");
 * assert.deepEqual(run, { seed: 1, out: "runs/seed-1", devF1: 0.7, bestEpoch: 2, testF1: 0.6 });
 * ```
 */
export function seedRunFromReport(json: unknown, seed: number, out: string): SeedRun {
  const report = json as {
    history?: { epoch: number; dev: { f1: number } }[];
    test?: { entities?: { overall?: { f1?: number } } };
  };
  const history = report.history ?? [];
  if (history.length === 0) {
    throw new Error(`${out}/report.json: expected a history of epochs, found none`);
  }
  const best = history.reduce((a, b) => (b.dev.f1 > a.dev.f1 ? b : a));
  const testF1 = report.test?.entities?.overall?.f1;
  return {
    seed,
    out,
    devF1: best.dev.f1,
    bestEpoch: best.epoch,
    ...(typeof testF1 === "number" ? { testF1 } : {}),
  };
}

/**
 * Summarises seed runs: mean ± standard deviation of dev and test F1.
 *
 * @param runs the seeds' results
 * @param trainArgs the flags they shared
 * @returns the summary (`test` only when every run has a test F1)
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const s = summarizeSeeds([
 *   { seed: 1, out: "a", devF1: 0.9, bestEpoch: 3, testF1: 0.86 },
 *   { seed: 2, out: "b", devF1: 0.92, bestEpoch: 3, testF1: 0.88 },
 * ], []);
 * assert.ok(Math.abs(s.test!.mean - 0.87) < 1e-12);
 * ```
 */
export function summarizeSeeds(
  runs: readonly SeedRun[],
  trainArgs: readonly string[],
): SeedSummary {
  const tests = runs.map((r) => r.testF1).filter((x): x is number => x !== undefined);
  return {
    trainArgs: [...trainArgs],
    runs: [...runs],
    dev: spread(runs.map((r) => r.devF1)),
    ...(tests.length === runs.length ? { test: spread(tests) } : {}),
  };
}

const pct = (x: number) => (100 * x).toFixed(2);

/**
 * The summary as a text table, one line per seed, then mean ± std.
 *
 * @param s the summary
 * @returns the text
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = formatSeeds(summarizeSeeds([
 *   { seed: 1, out: "a", devF1: 0.9, bestEpoch: 3, testF1: 0.86 },
 *   { seed: 2, out: "b", devF1: 0.92, bestEpoch: 2, testF1: 0.88 },
 * ], []));
 * assert.match(text, /^mean ± std +91\.00 ± 1\.41 +87\.00 ± 1\.41$/m);
 * ```
 */
export function formatSeeds(s: SeedSummary): string {
  const lines = [
    `${"seed".padEnd(12)} ${"dev F1".padStart(14)} ${"test F1".padStart(14)}  best epoch`,
  ];
  for (const r of s.runs) {
    lines.push(
      `${String(r.seed).padEnd(12)} ${pct(r.devF1).padStart(14)} ${
        (r.testF1 === undefined ? "-" : pct(r.testF1)).padStart(14)
      }  ${r.bestEpoch}`,
    );
  }
  const pm = (x?: Spread) => x ? `${pct(x.mean)} ± ${pct(x.std)}` : "-";
  lines.push(`${"mean ± std".padEnd(12)} ${pm(s.dev).padStart(14)} ${pm(s.test).padStart(14)}`);
  const range = (x?: Spread) => x ? `${pct(x.min)}–${pct(x.max)}` : "-";
  lines.push(`${"range".padEnd(12)} ${range(s.dev).padStart(14)} ${range(s.test).padStart(14)}`);
  return lines.join("\n") + "\n";
}

/** How {@linkcode main} runs one training and talks to the user (replaceable in tests). */
export interface SeedsIO {
  /** Runs cli/train.ts with these arguments; resolves to its exit status. */
  train: (args: string[]) => Promise<number>;
  /** Writes to standard output. */
  stdout: (text: string) => Promise<void> | void;
  /** Writes to standard error. */
  stderr: (text: string) => Promise<void> | void;
}

const TRAIN = new URL("./train.ts", import.meta.url);

const denoIO: SeedsIO = {
  train: async (args) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", TRAIN.pathname, ...args],
      stdout: "inherit",
      stderr: "inherit",
    });
    return (await child.output()).code;
  },
  stdout: async (t) => void await Deno.stdout.write(new TextEncoder().encode(t)),
  stderr: async (t) => void await Deno.stderr.write(new TextEncoder().encode(t)),
};

function splitArgs(args: string[]): { own: string[]; train: string[] } {
  const dash = args.indexOf("--");
  const own = dash < 0 ? args : args.slice(0, dash);
  const train = dash < 0 ? [] : args.slice(dash + 1);
  for (const flag of train) {
    const name = flag.split("=")[0];
    if (name === "--seed" || name === "--out") {
      throw new UsageError(`${name}: set by cli/seeds.ts for each seed; remove it after "--"`);
    }
  }
  return { own, train };
}

/**
 * Runs the command line; returns the exit status (0 ok, 1 a training run
 * failed or its report is unreadable, 2 usage).
 *
 * @param args the arguments (without the program name)
 * @param io how to train and print (default: cli/train.ts subprocesses, Deno's streams)
 * @returns the exit status
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * let out = "";
 * const io = { train: () => Promise.resolve(0), stdout: (t: string) => void (out += t), stderr: () => {} };
 * assert.equal(await main(["--help"], io), 0);
 * assert.match(out, /^Usage:/);
 * ```
 */
export async function main(args: string[], io: SeedsIO = denoIO): Promise<number> {
  try {
    const { own, train } = splitArgs(args);
    const { values } = parseFlags(own, FLAGS);
    if (values.help) {
      await io.stdout(USAGE);
      return EXIT.ok;
    }
    const runs: SeedRun[] = [];
    for (let k = 0; k < values.seeds; k++) {
      const seed = values["first-seed"] + k;
      const out = `${values.out}/seed-${seed}`;
      await io.stderr(`seeds: seed ${seed} (${k + 1} of ${values.seeds}) → ${out}\n`);
      const code = await io.train([...train, "--seed", String(seed), "--out", out]);
      if (code !== 0) {
        throw new Error(
          `cli/train.ts --seed ${seed} exited with status ${code}; see its output above`,
        );
      }
      runs.push(await readRun(seed, out));
    }
    const summary = summarizeSeeds(runs, train);
    await Deno.writeTextFile(`${values.out}/summary.json`, JSON.stringify(summary, null, 2) + "\n");
    await io.stdout(
      values.format === "json" ? JSON.stringify(summary, null, 2) + "\n" : formatSeeds(summary),
    );
    return EXIT.ok;
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    await io.stderr(`seeds: ${error.message}\n`);
    if (error instanceof UsageError) {
      await io.stderr("(run with --help for usage)\n");
      return EXIT.usage;
    }
    return EXIT.error;
  }
}

/** A run's result from its report.json, or from the epochs of train.jsonl when it had no test data. */
async function readRun(seed: number, out: string): Promise<SeedRun> {
  const text = await readIfPresent(`${out}/report.json`);
  if (text !== undefined) {
    return seedRunFromReport(parseJson(text, `${out}/report.json`), seed, out);
  }
  const log = await readIfPresent(`${out}/train.jsonl`);
  if (log === undefined) {
    throw new Error(`Cannot read ${out}/report.json or ${out}/train.jsonl: the run left neither`);
  }
  const history = log.split("\n").filter((line) => line.trim() !== "")
    .map((line, i) => parseJson(line, `${out}/train.jsonl:${i + 1}`) as { type?: string })
    .filter((event) => event.type === "epoch");
  return seedRunFromReport({ history }, seed, out);
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`Cannot read ${path}: ${(e as Error).message}`);
  }
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: expected JSON, found a parse error: ${(e as Error).message}`);
  }
}

if (import.meta.main) Deno.exit(await runCommand("cli/seeds.ts", (a) => main(a), Deno.args));

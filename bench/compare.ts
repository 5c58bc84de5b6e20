/**
 * `deno task bench:compare a.json b.json …`: merges benchmark runs from
 * different adapters into one markdown table per part, one column per run.
 *
 * @module
 */

import { markdownTable } from "./report.ts";

/** The fields of a run file this tool reads (see bench/SCHEMA.md). */
export interface BenchRun {
  /** Schema tag. */
  schema: string;
  /** The adapter. */
  adapter: { description: string; isFallbackAdapter: boolean };
  /** Kernel rows. */
  kernels?: { op: string; config: string; ms: number; gflops?: number; gbps?: number }[];
  /** Whole-model rows. */
  model?: { model: string; mode: string; batch: number; tokensPerSecond: number }[];
  /** Peer rows. */
  tfjs?: { backend: string; mode: string; batch: number; tokensPerSecond: number }[];
}

/**
 * One table per part: rows are configurations, columns are runs.
 *
 * @param runs parsed run files
 * @returns markdown
 *
 * @example
 * ```ts
 * import { compareRuns } from "./compare.ts";
 * const run = (d: string, t: number) => ({
 *   schema: "webgpu-ner-bench/1",
 *   adapter: { description: d, isFallbackAdapter: false },
 *   model: [{ model: "m", mode: "train", batch: 32, tokensPerSecond: t }],
 * });
 * const md = compareRuns([run("A", 1000), run("B", 5000)]);
 * if (!md.includes("| m train B=32 | 1,000 | 5,000 |")) throw new Error(md);
 * ```
 */
export function compareRuns(runs: BenchRun[]): string {
  const names = runs.map((r) =>
    r.adapter.description + (r.adapter.isFallbackAdapter ? " (software)" : "")
  );
  const sections: string[] = [];
  const table = (title: string, unit: string, keyed: Map<string, (string | number)[]>) => {
    if (keyed.size === 0) return;
    sections.push(
      `### ${title} (${unit})\n\n` +
        markdownTable(["", ...names], [...keyed].map(([k, v]) => [k, ...v])),
    );
  };
  const collect = <T>(
    pick: (r: BenchRun) => T[] | undefined,
    key: (row: T) => string,
    value: (row: T) => string,
  ) => {
    const keyed = new Map<string, (string | number)[]>();
    runs.forEach((run, i) => {
      for (const row of pick(run) ?? []) {
        const k = key(row);
        if (!keyed.has(k)) keyed.set(k, names.map(() => "—"));
        keyed.get(k)![i] = value(row);
      }
    });
    return keyed;
  };
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  table(
    "Whole model",
    "tokens/s",
    collect(
      (r) => r.model,
      (m) => `${m.model} ${m.mode} B=${m.batch}`,
      (m) => fmt(m.tokensPerSecond),
    ),
  );
  table(
    "TF.js peer",
    "tokens/s",
    collect(
      (r) => r.tfjs,
      (t) => `tfjs-${t.backend} ${t.mode} B=${t.batch}`,
      (t) => fmt(t.tokensPerSecond),
    ),
  );
  table(
    "Kernels",
    "ms",
    collect((r) => r.kernels, (k) => `${k.op} ${k.config}`, (k) => k.ms.toFixed(3)),
  );
  return sections.join("\n\n");
}

if (import.meta.main) {
  if (Deno.args.length === 0 || Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(
      "Usage: deno task bench:compare a.json b.json …\n\nMerges `deno task bench` results into one table per part.",
    );
    Deno.exit(Deno.args.length === 0 ? 2 : 0);
  }
  const runs: BenchRun[] = [];
  for (const path of Deno.args) {
    const run = JSON.parse(await Deno.readTextFile(path)) as BenchRun;
    if (run.schema !== "webgpu-ner-bench/1") {
      console.error(`${path}: expected a webgpu-ner-bench/1 result, found schema '${run.schema}'`);
      Deno.exit(1);
    }
    runs.push(run);
  }
  console.log(compareRuns(runs));
}

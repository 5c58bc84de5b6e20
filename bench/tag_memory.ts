/**
 * Memory of streaming tagging: runs `cli/tag.ts --format jsonl` as a
 * subprocess on N generated lines of standard input (written as the child
 * reads them, never held whole), reads and counts its output, and samples
 * the child's peak resident set (VmHWM in /proc/PID/status, Linux) until it
 * exits. Run it for a small and a large N: streaming means the peaks agree.
 *
 * ```sh
 * deno run -A bench/tag_memory.ts --lines 10000,200000 [--model m.safetensors] [--v8-flags F]
 * ```
 *
 * Target (issue 16): the peak on 200k lines within 10 % of the peak on 10k
 * lines, and under 600 MB.
 *
 * @module
 */

import { benchArgs } from "./common.ts";

const PEOPLE = ["Angela", "Merkel", "Barack", "Obama", "John", "Smith", "Maria", "Garcia"];
const PLACES = ["Paris", "Berlin", "London", "Iraq", "Baghdad", "Moscow", "Washington"];
const WORDS = ["visited", "said", "on", "Monday", "the", "in", "troops", "met", "government"];

/**
 * The i-th generated input line: 3–9 tokens of news-like words, every tenth line blank.
 *
 * @param i the line number
 * @returns the line, without its line break
 *
 * @example
 * ```ts
 * import { memoryLine } from "./tag_memory.ts";
 * if (memoryLine(10) !== "" || memoryLine(1).split(" ").length < 3) throw new Error();
 * ```
 */
export function memoryLine(i: number): string {
  if (i % 10 === 0) return "";
  const n = 3 + (i * 7) % 7;
  const words: string[] = [];
  for (let k = 0; k < n; k++) {
    const pool = k % 3 === 0 ? PEOPLE : k % 3 === 1 ? WORDS : PLACES;
    words.push(pool[(i * 31 + k * 17) % pool.length]);
  }
  return words.join(" ") + " .";
}

/** What {@linkcode measureTagMemory} measured. */
export interface TagMemoryResult {
  /** Input lines. */
  lines: number;
  /** Output lines (must equal `lines`). */
  outputLines: number;
  /** The child's peak resident set, in MiB. */
  peakRssMiB: number;
  /** Wall seconds. */
  seconds: number;
}

/**
 * Runs `cli/tag.ts --format jsonl` on `lines` generated lines and samples its peak RSS.
 *
 * @param lines how many input lines
 * @param options the model (default: the shipped one), V8 flags for the child
 * @returns the measurement
 *
 * @example
 * ```ts ignore
 * import { measureTagMemory } from "./tag_memory.ts";
 * console.log(await measureTagMemory(100));
 * ```
 */
export async function measureTagMemory(
  lines: number,
  options: { model?: string; v8Flags?: string } = {},
): Promise<TagMemoryResult> {
  const cli = new URL("../cli/tag.ts", import.meta.url).pathname;
  const v8 = options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : [];
  const args = ["run", "-A", ...v8, cli, "--format", "jsonl"];
  if (options.model) args.push("--model", options.model);
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let peak = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, await peakRss(child.pid));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const feed = (async () => {
    const writer = child.stdin.getWriter();
    const encoder = new TextEncoder();
    for (let i = 0; i < lines; i += 1000) {
      let block = "";
      for (let k = i; k < Math.min(lines, i + 1000); k++) block += memoryLine(k) + "\n";
      await writer.write(encoder.encode(block));
    }
    await writer.close();
  })();
  let outputLines = 0;
  for await (const chunk of child.stdout) {
    for (const byte of chunk) if (byte === 10) outputLines++;
  }
  const stderr = new TextDecoder().decode(
    (await new Response(child.stderr).arrayBuffer()) as ArrayBuffer,
  );
  await feed;
  const status = await child.status;
  running = false;
  await sampler;
  if (!status.success) throw new Error(`cli/tag.ts exited with ${status.code}: ${stderr.trim()}`);
  if (outputLines !== lines) {
    throw new Error(`Expected ${lines} output lines, found ${outputLines}`);
  }
  return {
    lines,
    outputLines,
    peakRssMiB: peak / 2 ** 20,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** VmHWM (peak RSS) of a live process in bytes; 0 once it is gone. */
async function peakRss(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = status.match(/^VmHWM:\s+(\d+) kB/m);
    return kb ? Number(kb[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

if (import.meta.main) {
  const usage = `Usage: deno run -A bench/tag_memory.ts [--lines N,M,...] [--model FILE]

Peak RSS of cli/tag.ts --format jsonl on N generated lines of stdin (Linux).

  --lines N,M    line counts to run (default 10000,200000)
  --model FILE   the model (default: the shipped one)
  --v8-flags F   run the child as deno run -A --v8-flags=F cli/tag.ts …`;
  const values = benchArgs(usage, {
    lines: { type: "string", default: "10000,200000" },
    model: { type: "string" },
    "v8-flags": { type: "string" },
  });
  const counts = values.lines.split(",").map(Number);
  if (counts.some((n) => !(Number.isInteger(n) && n >= 1))) {
    console.error(
      `--lines: expected positive integers separated by commas, found '${values.lines}'`,
    );
    Deno.exit(2);
  }
  const results: TagMemoryResult[] = [];
  for (const n of counts) {
    results.push(await measureTagMemory(n, { model: values.model, v8Flags: values["v8-flags"] }));
  }
  console.log("| lines | output lines | peak RSS MiB | seconds |\n| --- | --- | --- | --- |");
  for (const r of results) {
    console.log(
      `| ${r.lines} | ${r.outputLines} | ${r.peakRssMiB.toFixed(1)} | ${r.seconds.toFixed(1)} |`,
    );
  }
  const first = results[0].peakRssMiB;
  const last = results[results.length - 1].peakRssMiB;
  console.log(JSON.stringify({ results, growth: last / first - 1 }));
}

/**
 * The property that running cli/tag.ts as a stage of Spark's RDD.pipe,
 * Hadoop Streaming or GNU parallel relies on: input split into chunks,
 * each chunk tagged by its own process, and the outputs concatenated in
 * chunk order, gives output byte-identical to one process over the whole
 * input. With GNU parallel (`parallel --pipe -k`, Debian's `parallel`,
 * installed by .ci/run) when it is on PATH; otherwise with several Deno
 * subprocesses run at once, and the test says so in its output.
 */

import assert from "node:assert/strict";
import { randomModel } from "../src/api/random_model.ts";
import { encodeModel } from "../src/model/checkpoint.ts";

const cli = new URL("../cli/tag.ts", import.meta.url).pathname;
const dir = await Deno.makeTempDir();
const modelPath = `${dir}/random.safetensors`;
const WORDS = ["Ada", "Bo", "visited", "Rome", "Oslo", "New", "the", "left", "Smith", "."];
await Deno.writeFile(
  modelPath,
  encodeModel(randomModel({ words: WORDS, config: { casingDim: 4 }, seed: 11 })),
);

/** 230 input lines: sentences of 1–20 tokens (unknown words too), blank lines, a key per line. */
function input(keyed: boolean): string {
  const lines: string[] = [];
  for (let i = 0; i < 230; i++) {
    const n = i % 9 === 4 ? 0 : 1 + (i * 13) % 20;
    const words = Array.from({ length: n }, (_, k) => WORDS[(i * 7 + k * 3) % WORDS.length]);
    if (i % 17 === 0) words.push("Zürich-Ω");
    const text = words.join(" ");
    lines.push(keyed ? `id-${i}\t${text}` : text);
  }
  return lines.join("\n") + "\n";
}

/** Runs a command with `stdin` as its standard input; returns its standard output. */
async function pipeThrough(command: string, args: string[], stdin: string): Promise<string> {
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, `${command} ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

/** The tag command's arguments. */
const tagArgs = (format: string, keyed: boolean) => [
  "run",
  "-A",
  cli,
  "--model",
  modelPath,
  "--format",
  format,
  "--batch-size",
  "16",
  ...(keyed ? ["--key"] : []),
];

/** Whether GNU parallel is on PATH. */
async function hasParallel(): Promise<boolean> {
  try {
    const { code } = await new Deno.Command("parallel", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

/** Chunks of `size` lines, each tagged by its own process (all at once), outputs in chunk order. */
async function chunkedByDeno(text: string, size: number, args: string[]): Promise<string> {
  const lines = text.split("\n").slice(0, -1);
  const chunks: string[] = [];
  for (let i = 0; i < lines.length; i += size) {
    chunks.push(lines.slice(i, i + size).join("\n") + "\n");
  }
  const outputs = await Promise.all(chunks.map((c) => pipeThrough(Deno.execPath(), args, c)));
  return outputs.join("");
}

for (const [format, keyed] of [["jsonl", false], ["jsonl", true], ["conll", true]] as const) {
  Deno.test(`tag in chunks by separate processes, concatenated = one process (${format}${keyed ? ", --key" : ""})`, async () => {
    const text = input(keyed);
    const whole = await pipeThrough(Deno.execPath(), tagArgs(format, keyed), text);
    if (format === "jsonl") {
      assert.equal(whole.split("\n").length - 1, 230, "one line per input line");
    }
    assert.ok(whole.includes("Zürich-Ω"), "unicode passes through");
    assert.match(whole, format === "jsonl" ? /"label":/ : / B-/, "the random model finds entities");
    let chunked: string;
    if (await hasParallel()) {
      // Four processes, each fed 60 whole lines; -k keeps their outputs in input order.
      chunked = await pipeThrough(
        "parallel",
        ["--pipe", "-k", "-N", "60", "-j", "4", Deno.execPath(), ...tagArgs(format, keyed)],
        text,
      );
    } else {
      console.log(
        "GNU parallel is not installed: chunks run as separate Deno subprocesses instead",
      );
      chunked = await chunkedByDeno(text, 60, tagArgs(format, keyed));
    }
    assert.equal(chunked.length, whole.length);
    assert.ok(chunked === whole, "chunked output differs from one process's output");
  });
}

Deno.test("tag in chunks by Deno subprocesses (no GNU parallel needed) = one process", async () => {
  const text = input(true);
  const whole = await pipeThrough(Deno.execPath(), tagArgs("jsonl", true), text);
  assert.ok(await chunkedByDeno(text, 77, tagArgs("jsonl", true)) === whole);
});

Deno.test({
  name: "tag_parallel: cleanup",
  fn: () => Deno.remove(dir, { recursive: true }),
});

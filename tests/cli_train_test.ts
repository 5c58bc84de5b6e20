import assert from "node:assert/strict";
import { decodeModel } from "../src/model/checkpoint.ts";

const script = new URL("../cli/train.ts", import.meta.url).pathname;

async function run(args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}

/** Invented sentences as JSON Lines. */
function jsonl(n: number, seed: number): string {
  const names = ["Ada", "Bob", "Eve"];
  const places = ["Paris", "Oslo", "Rome"];
  let s = seed;
  const next = (k: number) => (s = (s * 1103515245 + 12345) >>> 0) % k;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({
      tokens: [names[next(3)], "went", "to", places[next(3)], "."],
      tags: ["B-PER", "O", "O", "B-LOC", "O"],
    }));
  }
  return lines.join("\n") + "\n";
}

Deno.test("cli/train.ts trains on files, writes the model and reports, and tags the example", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, n, seed] of [["train", 24, 1], ["dev", 6, 2], ["test", 6, 3]] as const) {
      await Deno.writeTextFile(`${dir}/${name}.jsonl`, jsonl(n, seed));
    }
    const { code, out, err } = await run([
      ...[
        "--train",
        `${dir}/train.jsonl`,
        "--dev",
        `${dir}/dev.jsonl`,
        "--test",
        `${dir}/test.jsonl`,
      ],
      ...["--epochs", "3", "--hidden", "6", "--word-dim", "8", "--batch-size", "8", "--lr", "0.02"],
      ...["--out", `${dir}/run`, "--quiet", "--example", "Eve went to Oslo ."],
    ]);
    assert.equal(code, 0, err);
    assert.match(out, /epoch 3: loss/);
    assert.match(out, /processed 30 tokens with 12 phrases/);
    for (
      const file of [
        "model.safetensors",
        "last.safetensors",
        "report.json",
        "report.html",
        "train.jsonl",
      ]
    ) {
      assert.ok((await Deno.stat(`${dir}/run/${file}`)).size > 0, file);
    }
    const model = decodeModel(await Deno.readFile(`${dir}/run/model.safetensors`));
    assert.equal(model.config.hidden, 6);
    const report = JSON.parse(await Deno.readTextFile(`${dir}/run/report.json`));
    assert.equal(typeof report.test.entities.overall.f1, "number");
    assert.match(out, /Eve went to Oslo \./);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli/train.ts explains its flags and rejects bad ones with exit status 2", async () => {
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  for (
    const flag of [
      "--train",
      "--embeddings",
      "--head crf|softmax",
      "--resume",
      "--time-budget",
      "--scheme",
      "--average",
      "--word-dropout",
      "--char-filters",
    ]
  ) {
    assert.ok(help.out.includes(flag), flag);
  }
  const bad = await run(["--head", "hmm"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--head: expected crf or softmax, got 'hmm'/);
  const average = await run(["--average", "1"]);
  assert.equal(average.code, 2);
  assert.match(average.err, /--average: expected a number in \[0, 1\), got '1'/);
  const missing = await run(["--dev", "x.txt"]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /--dev and --test need --train/);
});

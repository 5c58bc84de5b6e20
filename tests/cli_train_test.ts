import assert from "node:assert/strict";
import { decodeModel } from "../src/model/checkpoint.ts";
import { corpusFlags, withInventedCorpus } from "./fixtures.ts";

const script = new URL("../cli/train.ts", import.meta.url).pathname;

async function run(args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}

Deno.test("cli/train.ts trains on files, writes the model and reports, and tags the example", async () => {
  await withInventedCorpus(async (dir) => {
    const { code, out, err } = await run([
      ...corpusFlags(dir),
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
  });
});

Deno.test("cli/train.ts fits a temperature on dev and says so; --no-calibrate keeps raw scores", async () => {
  await withInventedCorpus(async (dir) => {
    const common = [
      ...corpusFlags(dir),
      ...["--epochs", "4", "--hidden", "6", "--word-dim", "8", "--batch-size", "8", "--lr", "0.05"],
      "--quiet",
    ];
    const on = await run([...common, "--out", `${dir}/on`]);
    assert.equal(on.code, 0, on.err);
    const lines = on.out.split("\n").filter((l) => l.startsWith("calibration:"));
    assert.equal(lines.length, 1, on.out);
    const applied = lines[0].match(
      /^calibration: temperature (\d+\.\d\d) \(dev ECE (\d\.\d{3}) -> (\d\.\d{3}), \d+ spans\)$/,
    );
    const kept = lines[0].match(
      /^calibration: temperature \d+\.\d\d not applied \((dev ECE would (rise|not fall): |the fit ran to the edge of its range .*; dev ECE )\d\.\d{3} -> \d\.\d{3}\)$/,
    );
    assert.ok(applied || kept, lines[0]);
    const model = decodeModel(await Deno.readFile(`${dir}/on/model.safetensors`), "on");
    const event = (await Deno.readTextFile(`${dir}/on/train.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l)).find((e) => e.type === "calibration");
    assert.ok(event, "train.jsonl has the calibration event");
    const { type: _, time: __, ...decision } = event;
    assert.deepEqual(model.summary!.calibration, decision);
    if (applied) {
      assert.equal(event.applied, true);
      assert.equal(model.calibration!.temperature, event.temperature);
      assert.equal(model.calibration!.temperature.toFixed(2), applied[1]);
      assert.ok(Number(applied[3]) <= Number(applied[2]));
    } else {
      assert.equal(event.applied, false);
      assert.equal(model.calibration, undefined);
    }
    const report = JSON.parse(await Deno.readTextFile(`${dir}/on/report.json`));
    assert.equal(report.calibration.temperature, event.temperature);
    const off = await run([...common, "--out", `${dir}/off`, "--no-calibrate"]);
    assert.equal(off.code, 0, off.err);
    assert.doesNotMatch(off.out, /^calibration:/m);
    const raw = decodeModel(await Deno.readFile(`${dir}/off/model.safetensors`), "off");
    assert.equal(raw.calibration, undefined);
    assert.deepEqual(raw.tensors, model.tensors, "calibration never changes the weights");
  });
});

Deno.test("cli/train.ts explains its flags and rejects bad ones with exit status 2", async () => {
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  for (
    const flag of [
      "--train",
      "--embeddings",
      "--head crf|softmax",
      "--data-format conll|csv|jsonl",
      "--resume",
      "--time-budget",
      "--scheme",
      "--average",
      "--word-dropout",
      "--char-filters",
      "--weight-decay L",
    ]
  ) {
    assert.ok(help.out.includes(flag), flag);
  }
  const bad = await run(["--head", "hmm"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--head: expected crf or softmax, found 'hmm'/);
  const average = await run(["--average", "1"]);
  assert.equal(average.code, 2);
  assert.match(average.err, /--average: expected a number in \[0, 1\), found '1'/);
  const missing = await run(["--dev", "x.txt"]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /--dev and --test need --train/);
});

/** The run's flags for a tiny model on `dir`'s files. */
function tiny(dir: string, out: string, extra: string[] = []): string[] {
  return [
    ...["--train", `${dir}/train.jsonl`, "--dev", `${dir}/dev.jsonl`],
    ...["--hidden", "6", "--word-dim", "8", "--batch-size", "8", "--lr", "0.02"],
    ...["--out", out, "--quiet", "--example", "Eve went to Oslo ."],
    ...extra,
  ];
}

/** One line on stderr, no stack trace, nothing trained. */
function assertOneLine(
  result: { code: number; out: string; err: string },
  code: number,
  re: RegExp,
) {
  assert.equal(result.code, code, result.err);
  assert.match(result.err, re);
  const lines = result.err.trim().split("\n");
  assert.ok(lines.length <= (code === 2 ? 2 : 1), `more than one line:\n${result.err}`);
  assert.doesNotMatch(result.err, /^\s+at /m);
  assert.doesNotMatch(result.out, /epoch 1/);
}

async function epochLines(log: string) {
  const events = (await Deno.readTextFile(log)).trim().split("\n").map((l) => JSON.parse(l));
  const byEpoch = new Map<number, unknown>();
  for (const e of events) {
    if (e.type === "epoch" && !e.partial) byEpoch.set(e.epoch, [e.epoch, e.loss, e.dev]);
  }
  return { events, curve: [...byEpoch.values()] };
}

Deno.test("cli/train.ts: usage errors name the flag and exit 2, before anything loads", async () => {
  assertOneLine(await run(["--format", "conll"]), 2, /--format: renamed --data-format/);
  assertOneLine(
    await run(["--time-budget", "0"]),
    2,
    /--time-budget: expected a number > 0, found '0'/,
  );
  assertOneLine(
    await run(["--weight-decay", "-0.1"]),
    2,
    /--weight-decay: expected a number ≥ 0, found '-0.1'/,
  );
  assertOneLine(
    await run(["--resume", "a", "--init", "b"]),
    2,
    /--resume and --init exclude each other/,
  );
  assertOneLine(
    await run(["--data-format", "xml"]),
    2,
    /--data-format: expected conll, csv or jsonl, found 'xml'/,
  );
});

Deno.test("cli/train.ts: bad files and folders fail in one line with status 1, before training", async () => {
  await withInventedCorpus(async (dir) => {
    await Deno.writeTextFile(`${dir}/vectors.txt`, "Ada 1 2\nEve x 3\n");
    assertOneLine(
      await run(tiny(dir, `${dir}/run`, ["--embeddings", `${dir}/vectors.txt`])),
      1,
      /vectors\.txt:2: expected a finite number at position 1 of the vector of "Eve", found "x"/,
    );
    await Deno.writeTextFile(`${dir}/file`, "");
    assertOneLine(
      await run(tiny(dir, `${dir}/file`)),
      1,
      /--out .*file: expected a folder, found a file/,
    );
    assertOneLine(
      await run(tiny(dir, "/proc/1")),
      1,
      /Cannot write to the output folder \/proc\/1/,
    );
    assertOneLine(
      await run(tiny(dir, `${dir}/run`, ["--test", dir])),
      1,
      /--test .*: expected a file, found a folder/,
    );
    assertOneLine(
      await run(tiny(dir, `${dir}/run`, ["--log", "/proc/1/x.jsonl"])),
      1,
      /Cannot open the log \/proc\/1\/x\.jsonl/,
    );
    await Deno.writeTextFile(`${dir}/empty.jsonl`, "");
    assertOneLine(
      await run(tiny(dir, `${dir}/run`, ["--test", `${dir}/empty.jsonl`])),
      1,
      /--test .*empty\.jsonl: no sentences/,
    );
    const gz = `${dir}/broken.jsonl.gz`;
    await Deno.writeFile(gz, new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]));
    assertOneLine(
      await run(tiny(dir, `${dir}/run`, ["--test", gz])),
      1,
      /broken\.jsonl\.gz: not a valid gzip file/,
    );
    // A folder where the CLI writes a file.
    await Deno.mkdir(`${dir}/run/report.html/x`, { recursive: true });
    assertOneLine(await run(tiny(dir, `${dir}/run`)), 1, /--out .*run: .*report\.html/);
    await Deno.remove(`${dir}/run/report.html`, { recursive: true });
    // No run left its lock behind.
    await assert.rejects(Deno.stat(`${dir}/run/train.lock`), Deno.errors.NotFound);
  });
});

Deno.test("cli/train.ts: a live run's lock refuses a second run; a stale lock, temporary files and an old report go", async () => {
  await withInventedCorpus(async (dir) => {
    const out = `${dir}/run`;
    await Deno.mkdir(out);
    const live = { pid: Deno.pid, host: Deno.hostname(), started: "now" };
    await Deno.writeTextFile(`${out}/train.lock`, JSON.stringify(live));
    assertOneLine(
      await run(tiny(dir, out)),
      1,
      /run is in use by another training run \(process \d+/,
    );
    // A crashed run: its process is gone.
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    await Deno.writeTextFile(`${out}/train.lock`, JSON.stringify({ ...live, pid: gone.pid }));
    await Deno.writeTextFile(`${out}/.model.safetensors.0123abcd.tmp`, "half a model");
    await Deno.writeTextFile(`${out}/report.json`, '{"stale": true}');
    const vectors = ["ada", "eve", "went", "to"].map((w, i) =>
      `${w} ${Array(8).fill(i / 8).join(" ")}`
    );
    await Deno.writeTextFile(`${dir}/vectors.txt`, vectors.join("\n") + "\n");
    const result = await run(
      tiny(dir, out, ["--epochs", "1", "--embeddings", `${dir}/vectors.txt`]),
    );
    assert.equal(result.code, 0, result.err);
    // The embeddings' coverage is printed, and logged as its own event.
    assert.match(result.out, /pretrained vectors cover \d+ of \d+ words/);
    const { events } = await epochLines(`${out}/train.jsonl`);
    assert.ok(events.some((e) => e.type === "coverage" && e.exact >= 3), "no coverage event");
    assert.ok(!events.some((e) => e.type === "stop" && /coverage/.test(e.reason)));
    assert.match(result.err, /removed 1 temporary file/);
    assert.match(result.err, /removed .*report\.json of an earlier run/);
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "last.safetensors",
      "model.safetensors",
      "report.html",
      "train.jsonl",
    ]);
    // No --test: no report.json, and no line that names one.
    assert.doesNotMatch(result.out, /report\.json/);
    assert.match(result.out, /reports: .*report\.html, .*train\.jsonl/);
  });
});

Deno.test("cli/train.ts --resume appends to the log and refuses model flags that disagree", async () => {
  await withInventedCorpus(async (dir) => {
    const out = `${dir}/run`;
    assert.equal((await run(tiny(dir, out, ["--epochs", "1"]))).code, 0);
    const resume = ["--resume", `${out}/last.safetensors`, "--epochs", "2"];
    assertOneLine(
      // The later --hidden wins over tiny()'s.
      await run(tiny(dir, out, [...resume, "--hidden", "7"])),
      1,
      /--hidden 7 disagrees with the checkpoint .*last\.safetensors, which has 6/,
    );
    const resumed = await run(tiny(dir, out, resume));
    assert.equal(resumed.code, 0, resumed.err);
    const { events, curve } = await epochLines(`${out}/train.jsonl`);
    assert.equal(events.filter((e) => e.type === "start").length, 2, "the log was truncated");
    assert.equal(curve.length, 2);
  });
});

Deno.test("cli/train.ts: SIGTERM saves and exits 130; --resume then gives the uninterrupted curve", async () => {
  await withInventedCorpus(async (dir) => {
    const flags = (out: string, extra: string[] = []) =>
      tiny(dir, out, ["--epochs", "3", "--patience", "0", ...extra]);
    const full = await run(flags(`${dir}/full`));
    assert.equal(full.code, 0, full.err);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, ...flags(`${dir}/cut`)],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!/epoch 1:/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    child.kill("SIGTERM");
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    const status = await child.status;
    const err = await new Response(child.stderr).text();
    assert.equal(status.code, 130, `${text}\n${err}`);
    assert.match(err, /interrupted: finishing the step and saving/);
    const resumed = await run(flags(`${dir}/cut`, ["--resume", `${dir}/cut/last.safetensors`]));
    assert.equal(resumed.code, 0, resumed.err);
    const a = await epochLines(`${dir}/full/train.jsonl`);
    const b = await epochLines(`${dir}/cut/train.jsonl`);
    assert.deepEqual(b.curve, a.curve);
  }, 1000);
});

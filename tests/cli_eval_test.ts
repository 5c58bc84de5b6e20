import assert from "node:assert/strict";
import { type CliIO, evaluatePredictions, main } from "../cli/eval.ts";
import { acquireGpu, encodeModel, randomModel } from "../mod.ts";
import { trainTinyModel } from "./tagger_fixture.ts";

const example = new URL("../examples/predictions.txt", import.meta.url);

function capture(stdin = ""): CliIO & { out: string; err: string } {
  const io = {
    out: "",
    err: "",
    stdout: (t: string) => void (io.out += t),
    stderr: (t: string) => void (io.err += t),
    stdin: () => Promise.resolve(stdin),
  };
  return io;
}

// examples/predictions.txt by hand: gold PER×3, LOC×4, ORG×2, MISC×1 (10); predicted PER×3,
// LOC×4 (Kessler Pass as LOC), ORG×3 (Reykjavik, "Tillbury Rowing", "Freight" after O):
// correct PER×3, LOC×3; 5 of 40 tags wrong (Reykjavik, Club, Kessler, Pass, Halvorsen).
const EXPECTED = "processed 40 tokens with 10 phrases; found: 10 phrases; correct: 6.\n" +
  "accuracy:  87.50%; precision:  60.00%; recall:  60.00%; FB1:  60.00\n" +
  "              LOC: precision:  75.00%; recall:  75.00%; FB1:  75.00  4\n" +
  "             MISC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n" +
  "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  3\n" +
  "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  3\n";

Deno.test("the example predictions file gives the hand-counted conlleval report", async () => {
  for (const args of [[example.pathname], ["--conlleval", example.pathname]]) {
    const io = capture();
    assert.equal(await main(args, io), 0);
    assert.equal(io.out, EXPECTED);
  }
  const io = capture(await Deno.readTextFile(example));
  assert.equal(await main(["-"], io), 0);
  assert.equal(io.out, EXPECTED);
});

Deno.test("--details, --format json and --format html", async () => {
  const text = await Deno.readTextFile(example);
  const details = evaluatePredictions(text, { details: true });
  assert.ok(details.startsWith(EXPECTED));
  assert.match(details, /top errors\n/);
  assert.match(details, /B-LOC → B-ORG: 1/);
  const io = capture(text);
  assert.equal(await main(["--format", "json"], io), 0);
  const json = JSON.parse(io.out);
  assert.equal(json.entities.overall.precision, 0.6);
  assert.equal(json.entities.overall.correct, 6);
  assert.equal(json.tags.accuracy, 35 / 40);
  const html = evaluatePredictions(text, { format: "html", path: "p.txt" });
  assert.match(html, /<title>Evaluation of p\.txt<\/title>/);
  assert.match(html, /<svg /);
});

Deno.test("--out writes the report to a file; --iobes switches rules", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const io = capture();
    assert.equal(await main([example.pathname, "--out", `${dir}/r.txt`], io), 0);
    assert.equal(io.out, "");
    assert.equal(await Deno.readTextFile(`${dir}/r.txt`), EXPECTED);
    await Deno.writeTextFile(`${dir}/s.txt`, "a S-PER S-PER\nb S-PER O\n");
    const plain = capture(), iobes = capture();
    await main([`${dir}/s.txt`], plain);
    await main([`${dir}/s.txt`, "--scheme", "iobes"], iobes);
    const alias = capture();
    await main([`${dir}/s.txt`, "--iobes"], alias);
    assert.equal(alias.out, iobes.out);
    assert.match(plain.out, /^processed 2 tokens with 1 phrases; found: 1 phrases; correct: 0\./);
    assert.match(iobes.out, /^processed 2 tokens with 2 phrases; found: 1 phrases; correct: 1\./);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad usage exits 2, bad input exits 1 with file:line", async () => {
  for (
    const args of [
      ["--format", "xml"],
      ["--nope"],
      ["a.txt", "b.txt"],
      ["--top", "-1"],
      ["--scheme", "bilou"],
    ]
  ) {
    const io = capture();
    assert.equal(await main(args, io), 2, args.join(" "));
    assert.match(io.err, /^eval: /);
  }
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.txt`, "a NN O O\nb O O\n");
    const io = capture();
    assert.equal(await main([`${dir}/bad.txt`], io), 1);
    assert.equal(
      io.err,
      `eval: ${dir}/bad.txt:2: expected 4 fields as on the first line, found 3\n`,
    );
    const missing = capture();
    assert.equal(await main([`${dir}/none.txt`], missing), 1);
    assert.match(missing.err, /none\.txt/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the command runs as a program and prints --help", async () => {
  const cli = new URL("../cli/eval.ts", import.meta.url).pathname;
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, ...args],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  const out = await run(example.pathname);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout), EXPECTED);
  const help = await run("--help");
  assert.match(new TextDecoder().decode(help.stdout), /^Usage: deno run -A cli\/eval\.ts/);
});

// Model mode, on the GPU: the tiny model of tagger_fixture.ts and a random one with the same tags.
const gpu = await acquireGpu();
const models = await Deno.makeTempDir();
const tiny = `${models}/tiny.safetensors`, random = `${models}/random.safetensors`;
await Deno.writeFile(tiny, (await trainTinyModel(gpu)).bytes);
await Deno.writeFile(random, encodeModel(randomModel({ words: ["Ada", "Rome"], seed: 5 })));
const gold = `${models}/gold.conll`;
// Gold in IOBES: converted to IOB2 before comparing.
await Deno.writeTextFile(
  gold,
  "Ada S-PER\nvisited O\nRome S-LOC\n. O\n\nBo B-PER\nSmith E-PER\nleft O\nNew B-LOC\nOslo E-LOC\n. O\n\n" +
    "Cy S-PER\nloves O\nParis S-LOC\n. O\n",
);

Deno.test("model mode: the report with the span-score reliability table, in three formats", async () => {
  const io = capture();
  assert.equal(await main(["--model", tiny, "--data", gold], io), 0, io.err);
  assert.match(io.out, /^processed 14 tokens with 6 phrases; found: \d+ phrases; correct: \d+\.\n/);
  assert.match(io.out, /\nspan scores \(reliability by score bin\)\nscore +spans +mean score/);
  assert.match(io.out, /\n\d+ spans, mean score 0\.\d{4}, precision \d\.\d{4}; ECE \d\.\d{4}/);
  assert.equal(io.err, "");
  const json = capture();
  assert.equal(await main(["--model", tiny, "--data", gold, "--format", "json"], json), 0);
  const report = JSON.parse(json.out);
  assert.equal(report.model, tiny);
  assert.equal(report.calibration.spans, report.entities.overall.guessed);
  assert.equal(report.calibration.bins.length, 10);
  const html = capture();
  assert.equal(await main(["--model", tiny, "--data", gold, "--format", "html"], html), 0);
  assert.match(html.out, /Span-score calibration/);
  assert.match(html.out, /observed precision<\/text>/);
});

Deno.test("model mode: data whose entity types are not the model's gets a warning naming them", async () => {
  const other = `${models}/gmb.conll`;
  await Deno.writeTextFile(other, "Ada B-per\nvisited O\nRome B-geo\n");
  const io = capture();
  assert.equal(await main(["--model", tiny, "--data", other], io), 0);
  assert.match(io.out, /FB1: +0\.00/);
  assert.match(
    io.err,
    /^eval: warning: none of the data's entity types \(geo: 1 gold entity, per: 1 gold entity\) is among the model's \(LOC, PER\)/,
  );
});

Deno.test("model mode: two models side by side with a paired bootstrap test", async () => {
  const io = capture();
  const args = ["--model", random, "--model", tiny, "--data", gold, "--resamples", "300"];
  assert.equal(await main([...args, "--seed", "4"], io), 0, io.err);
  assert.match(
    io.out,
    new RegExp(`^A: ${random}\nB: ${tiny}\ndata: ${gold} \\(14 tokens, 3 sentences\\)\n`),
  );
  assert.match(io.out, /\nentities \(conlleval, %\)\n.*A: P .*B: P/);
  assert.match(io.out, /\nper-tag F1 \(token level, %\)\n/);
  assert.match(io.out, /\ntop errors \(gold → predicted: tokens\)\nA +\| B\n/);
  assert.match(
    io.out,
    /p = [01]\.\d{3} \(paired bootstrap over 3 sentences, 300 resamples, seed 4\)\n/,
  );
  const same = capture();
  assert.equal(
    await main(["--model", tiny, "--model", tiny, "--data", gold, "--format", "json"], same),
    0,
  );
  const json = JSON.parse(same.out);
  assert.equal(json.bootstrap.difference, 0);
  assert.equal(json.bootstrap.pValue, 1);
  assert.equal(json.bootstrap.resamples, 1000);
  assert.deepEqual(json.a.entities, json.b.entities);
  const html = capture();
  assert.equal(await main([...args, "--format", "html"], html), 0);
  assert.match(html.out, /<h2>Paired bootstrap<\/h2>/);
  assert.match(html.out, /<h2>A \([^)]*random\.safetensors\): Entities/);
});

Deno.test("model mode: --fit-temperature fits on one file and applies on --data", async () => {
  const io = capture();
  assert.equal(await main(["--model", tiny, "--data", gold, "--fit-temperature", gold], io), 0);
  assert.match(
    io.err,
    /^eval: temperature \d+\.\d{4} fitted on .*gold\.conll for .*tiny\.safetensors\n$/,
  );
  assert.match(io.out, /\nraw span scores \(reliability by score bin\)\n/);
  assert.match(io.out, /\nspan scores after temperature \d+\.\d{3} \(reliability by score bin\)\n/);
  const fixed = capture();
  assert.equal(
    await main(["--model", tiny, "--data", gold, "--temperature", "2", "--format", "json"], fixed),
    0,
  );
  const json = JSON.parse(fixed.out);
  assert.equal(json.calibration.temperature, 2);
  assert.equal(json.uncalibrated.temperature, 1);
});

Deno.test("model mode: a model's stored temperature is applied by default and named; --temperature 1 is raw", async () => {
  const calibrated = `${models}/calibrated.safetensors`;
  const model = randomModel({ words: ["Ada", "Rome"], seed: 5 });
  model.calibration = { temperature: 1.75, fittedOn: "dev", spans: 40 };
  await Deno.writeFile(calibrated, encodeModel(model));
  const io = capture();
  assert.equal(await main(["--model", calibrated, "--data", gold, "--format", "json"], io), 0);
  assert.match(
    io.err,
    /^eval: span scores of .*calibrated\.safetensors after its stored temperature 1\.7500 \(fitted on dev, 40 spans\); --temperature 1 reports raw scores\n$/,
  );
  const json = JSON.parse(io.out);
  assert.equal(json.calibration.temperature, 1.75);
  assert.equal(json.uncalibrated.temperature, 1);
  // The same spans, raw: the uncalibrated diagram is that of the model without its temperature.
  const plain = capture();
  assert.equal(await main(["--model", random, "--data", gold, "--format", "json"], plain), 0);
  assert.equal(plain.err, "");
  assert.deepEqual(json.uncalibrated, JSON.parse(plain.out).calibration);
  const raw = capture();
  assert.equal(await main(["--model", calibrated, "--data", gold, "--temperature", "1"], raw), 0);
  assert.equal(raw.err, "");
  assert.match(raw.out, /\nspan scores \(reliability by score bin\)\n/);
  // Two models without a temperature flag: each keeps its own.
  const both = capture();
  const args = ["--model", random, "--model", calibrated, "--data", gold, "--format", "json"];
  assert.equal(await main([...args, "--resamples", "20"], both), 0, both.err);
  const c = JSON.parse(both.out);
  assert.equal(c.a.calibration.temperature, 1);
  assert.equal(c.b.calibration.temperature, 1.75);
});

Deno.test("model mode: usage errors exit 2 and name the flag", async () => {
  const cases: [string[], RegExp][] = [
    [["--model", tiny], /model mode needs both --model and --data/],
    [
      ["--model", tiny, "--model", tiny, "--model", tiny, "--data", gold],
      /--model: expected one or two models, found 3/,
    ],
    [
      ["--model", tiny, "--data", gold, "--temperature", "0"],
      /--temperature: expected a number > 0, found '0'/,
    ],
    [
      ["--model", tiny, "--data", "embedded:valid"],
      /--data: expected embedded:train, embedded:dev or embedded:test, found 'embedded:valid'/,
    ],
    [
      ["--model", tiny, "--data", gold, "--resamples", "0"],
      /--resamples: expected an integer ≥ 1, found '0'/,
    ],
    [["--model", tiny, "--data", gold, gold], /either --model\/--data or a predictions file/],
  ];
  for (const [args, message] of cases) {
    const io = capture();
    assert.equal(await main(args, io), 2, args.join(" "));
    assert.match(io.err, message);
    assert.ok(!io.err.includes("    at "), "no stack trace");
  }
  const missing = capture();
  assert.equal(await main(["--model", `${models}/none.safetensors`, "--data", gold], missing), 1);
  assert.match(missing.err, /^eval: .*none\.safetensors/);
  assert.equal(missing.err.trim().split("\n").length, 1);
});

Deno.test({
  name: "model mode: cleanup",
  fn: () => Deno.remove(models, { recursive: true }),
});

import assert from "node:assert/strict";
import { type CliIO, evaluatePredictions, main } from "../cli/eval.ts";

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
    await main([`${dir}/s.txt`, "--iobes"], iobes);
    assert.match(plain.out, /^processed 2 tokens with 1 phrases; found: 1 phrases; correct: 0\./);
    assert.match(iobes.out, /^processed 2 tokens with 2 phrases; found: 1 phrases; correct: 1\./);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad usage exits 2, bad input exits 1 with file:line", async () => {
  for (const args of [["--format", "xml"], ["--nope"], ["a.txt", "b.txt"], ["--top", "-1"]]) {
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

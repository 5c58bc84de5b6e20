import assert from "node:assert/strict";
import { formatSeeds, main, type SeedsIO, spread, summarizeSeeds } from "../cli/seeds.ts";
import { corpusFlags, withInventedCorpus } from "./fixtures.ts";

function capture(
  train: SeedsIO["train"],
): SeedsIO & { out: string; err: string; calls: string[][] } {
  const io = {
    out: "",
    err: "",
    calls: [] as string[][],
    train: (args: string[]) => {
      io.calls.push(args);
      return train(args);
    },
    stdout: (t: string) => void (io.out += t),
    stderr: (t: string) => void (io.err += t),
  };
  return io;
}

Deno.test("spread: mean and sample standard deviation by hand", () => {
  const s = spread([0.8, 0.9, 1.0]);
  assert.ok(Math.abs(s.mean - 0.9) < 1e-12);
  assert.ok(Math.abs(s.std - 0.1) < 1e-12); // √((0.01 + 0 + 0.01) / 2)
  assert.deepEqual([s.min, s.max, s.n], [0.8, 1.0, 3]);
  assert.equal(spread([0.7]).std, 0);
  assert.throws(() => spread([]), /expected at least one value, found none/);
});

Deno.test("cli/seeds.ts trains two seeds of a tiny corpus for one epoch and reports mean ± std", async () => {
  await withInventedCorpus(async (dir) => {
    const cli = new URL("../cli/seeds.ts", import.meta.url).pathname;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "-A", cli, "--seeds", "2", "--out", `${dir}/runs`, "--format", "json", "--"],
        ...corpusFlags(dir),
        ...["--epochs", "1", "--hidden", "6", "--word-dim", "8", "--batch-size", "8", "--quiet"],
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, err);
    // The children's output goes to the terminal; the summary is the JSON on stdout.
    const text = new TextDecoder().decode(stdout);
    const summary = JSON.parse(text.slice(text.lastIndexOf("\n{\n") + 1));
    assert.deepEqual(summary.runs.map((r: { seed: number }) => r.seed), [1, 2]);
    assert.deepEqual(
      JSON.parse(await Deno.readTextFile(`${dir}/runs/summary.json`)),
      summary,
    );
    const tests: number[] = [], devs: number[] = [];
    for (const seed of [1, 2]) {
      const report = JSON.parse(await Deno.readTextFile(`${dir}/runs/seed-${seed}/report.json`));
      assert.equal(report.history.length, 1, "one epoch");
      devs.push(report.history[0].dev.f1);
      tests.push(report.test.entities.overall.f1);
    }
    assert.deepEqual(summary.runs.map((r: { devF1: number }) => r.devF1), devs);
    assert.deepEqual(summary.runs.map((r: { testF1: number }) => r.testF1), tests);
    const mean = (tests[0] + tests[1]) / 2;
    assert.ok(Math.abs(summary.test.mean - mean) < 1e-12);
    assert.ok(Math.abs(summary.test.std - Math.abs(tests[0] - tests[1]) / Math.SQRT2) < 1e-12);
    assert.match(err, /seeds: seed 2 \(2 of 2\)/);
  });
});

Deno.test("a run without test data: dev F1 from train.jsonl, no test spread", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const io = capture(async (args) => {
      const out = args[args.indexOf("--out") + 1];
      const seed = Number(args[args.indexOf("--seed") + 1]);
      await Deno.mkdir(out, { recursive: true });
      const epochs = [0.5, 0.6 + seed / 100, 0.55].map((f1, i) =>
        JSON.stringify({ type: "epoch", epoch: i + 1, dev: { f1 } })
      );
      await Deno.writeTextFile(`${out}/train.jsonl`, [`{"type":"start"}`, ...epochs].join("\n"));
      return 0;
    });
    assert.equal(
      await main(["--seeds", "2", "--first-seed", "7", "--out", dir, "--", "--epochs", "3"], io),
      0,
      io.err,
    );
    assert.deepEqual(io.calls[0], ["--epochs", "3", "--seed", "7", "--out", `${dir}/seed-7`]);
    assert.match(io.out, /^7 +67\.00 +- +2$/m);
    assert.match(io.out, /^8 +68\.00 +- +2$/m);
    assert.match(io.out, /^mean ± std +67\.50 ± 0\.71 +-$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed run exits 1 naming the seed; --seed or --out after -- is a usage error", async () => {
  const failing = capture(() => Promise.resolve(1));
  assert.equal(await main(["--out", "/nonexistent/x"], failing), 1);
  assert.match(
    failing.err,
    /seeds: cli\/train\.ts --seed 1 exited with status 1; see its output above\n$/,
  );
  assert.equal(failing.calls.length, 1, "stops at the first failure");
  for (const args of [["--", "--seed", "3"], ["--", "--out=x"], ["--seeds", "0"], ["--bogus"]]) {
    const io = capture(() => Promise.resolve(0));
    assert.equal(await main(args, io), 2, args.join(" "));
    assert.equal(io.calls.length, 0);
    assert.match(io.err, /^seeds: .*\n\(run with --help for usage\)\n$/);
  }
});

Deno.test("formatSeeds: one line per seed, mean ± std and range", () => {
  const text = formatSeeds(summarizeSeeds([
    { seed: 1, out: "a", devF1: 0.9178, bestEpoch: 30, testF1: 0.8661 },
    { seed: 2, out: "b", devF1: 0.9150, bestEpoch: 28, testF1: 0.8702 },
    { seed: 3, out: "c", devF1: 0.9201, bestEpoch: 30, testF1: 0.8689 },
  ], []));
  assert.match(text, /^1 +91\.78 +86\.61 +30$/m);
  assert.match(text, /^mean ± std +91\.76 ± 0\.26 +86\.84 ± 0\.21$/m);
  assert.match(text, /^range +91\.50–92\.01 +86\.61–87\.02$/m);
});

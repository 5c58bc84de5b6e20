import assert from "node:assert/strict";
import { EXIT, flagHelp, parseFlags, runCommand, UsageError } from "../cli/flags.ts";

const specs = {
  epochs: { kind: "int", min: 1, max: 200, default: 30, help: "most epochs" },
  lr: { kind: "number", min: 0, minExclusive: true, default: 0.002, help: "learning rate" },
  dropout: { kind: "number", min: 0, max: 1, maxExclusive: true, default: 0.5, help: "dropout" },
  head: { kind: "enum", values: ["crf", "softmax"], default: "crf", help: "output layer" },
  file: { kind: "string", multiple: true, arg: "FILE", help: "input file (repeatable)" },
  out: { kind: "string", arg: "DIR", default: "runs/latest", help: "output folder" },
  quiet: { kind: "boolean", help: "no progress bar" },
  help: { kind: "boolean", short: "h", help: "show this help" },
} as const;

Deno.test("parseFlags fills defaults and converts values", () => {
  const { values, positionals } = parseFlags(
    ["--epochs", "3", "--lr", "1e-3", "--head", "SOFTMAX", "--file", "a", "--file", "b", "-h"],
    specs,
  );
  assert.deepEqual(values, {
    epochs: 3,
    lr: 0.001,
    dropout: 0.5,
    head: "softmax",
    file: ["a", "b"],
    out: "runs/latest",
    quiet: false,
    help: true,
  });
  assert.deepEqual(positionals, []);
});

Deno.test("parseFlags names the flag, what it expected and what it found", () => {
  const cases: [string[], string][] = [
    [["--epochs", "0"], "--epochs: expected an integer in [1, 200], found '0'"],
    [["--epochs", "1000"], "--epochs: expected an integer in [1, 200], found '1000'"],
    [["--epochs", "2.5"], "--epochs: expected an integer in [1, 200], found '2.5'"],
    [["--epochs", ""], "--epochs: expected an integer in [1, 200], found ''"],
    [["--lr", "0"], "--lr: expected a number > 0, found '0'"],
    [["--lr", "-1"], "--lr: expected a number > 0, found '-1'"],
    [["--dropout", "1"], "--dropout: expected a number in [0, 1), found '1'"],
    [["--dropout", "NaN"], "--dropout: expected a number in [0, 1), found 'NaN'"],
    [["--head", "hmm"], "--head: expected crf or softmax, found 'hmm'"],
    [["--bogus"], "--bogus: unknown option"],
    [["--epochs"], "--epochs: expected a value, found none"],
    [["stray"], "'stray': this command takes no positional arguments"],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseFlags(args, specs), (e: Error) => {
      assert.ok(e instanceof UsageError, `${args.join(" ")}: ${e}`);
      assert.equal(e.message, message);
      return true;
    });
  }
  assert.deepEqual(parseFlags(["x", "y"], specs, { positionals: true }).positionals, ["x", "y"]);
});

Deno.test("flagHelp writes each default from the declaration", () => {
  const help = flagHelp(specs);
  assert.match(help, /^ {2}--epochs N {11}most epochs \(default 30\)$/m);
  assert.match(help, /^ {2}--head crf\|softmax {3}output layer \(default crf\)$/m);
  assert.match(help, /^ {2}--out DIR {12}output folder \(default runs\/latest\)$/m);
  assert.match(help, /^ {2}-h, --help {11}show this help$/m);
  assert.doesNotMatch(help, /--file FILE.*default/);
  assert.throws(() => flagHelp(specs, ["nope"]), /no flag --nope/);
});

Deno.test("runCommand turns errors into one line and an exit status", async () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    assert.equal(await runCommand("cli/x.ts", () => Promise.resolve(0), []), EXIT.ok);
    const usage = () =>
      Promise.reject(new UsageError("--epochs: expected an integer ≥ 1, found '0'"));
    assert.equal(await runCommand("cli/x.ts", usage, []), EXIT.usage);
    const broken = () => Promise.reject(new Error("Cannot read a.txt: not found"));
    assert.equal(await runCommand("cli/x.ts", broken, []), EXIT.error);
  } finally {
    console.error = original;
  }
  assert.deepEqual(lines, [
    "cli/x.ts: --epochs: expected an integer ≥ 1, found '0'\n(run with --help for usage)",
    "cli/x.ts: Cannot read a.txt: not found",
  ]);
});

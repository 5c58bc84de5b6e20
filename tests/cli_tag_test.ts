import assert from "node:assert/strict";
import { main, type TagIO } from "../cli/tag.ts";
import { main as evalMain } from "../cli/eval.ts";
import { acquireGpu } from "../src/gpu/device.ts";
import { trainTinyModel } from "./tagger_fixture.ts";

const gpu = await acquireGpu();
const dir = await Deno.makeTempDir();
const modelPath = `${dir}/tiny.safetensors`;
await Deno.writeFile(modelPath, (await trainTinyModel(gpu)).bytes);
const root = new URL("../", import.meta.url);

/** Runs cli/tag.ts's main in-process and collects its output. */
async function run(
  args: string[],
  options: { stdin?: string; tty?: boolean; env?: Record<string, string> } = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: TagIO = {
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
    stdin: () => Promise.resolve(options.stdin ?? ""),
    isTerminal: options.tty ?? false,
    stderrIsTerminal: false,
    env: (name) => options.env?.[name],
  };
  const code = await main(args, io);
  return { code, out, err };
}

Deno.test("cli/tag.ts: a text argument, pretty output without colour when not a TTY", async () => {
  const r = await run(["--model", modelPath, "Ada Smith visited New Oslo."]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^\[Ada Smith PER 0\.\d\d\] visited \[New Oslo LOC 0\.\d\d\]\.\n$/);
});

Deno.test("cli/tag.ts: colour on a TTY, none with NO_COLOR or --color never", async () => {
  const tty = await run(["--model", modelPath, "Bo left Rome."], { tty: true });
  assert.ok(tty.out.startsWith("\x1b[1;") && tty.out.includes("Bo\x1b[0m"), tty.out);
  const noColor = await run(["--model", modelPath, "Bo left Rome."], {
    tty: true,
    env: { NO_COLOR: "1" },
  });
  assert.ok(!noColor.out.includes("\x1b"));
  const never = await run(["--model", modelPath, "--color", "never", "Bo left Rome."], {
    tty: true,
  });
  assert.ok(!never.out.includes("\x1b"));
});

Deno.test("cli/tag.ts: stdin, one document per line, as JSONL keeps line alignment", async () => {
  const r = await run(["--model", modelPath, "--format", "jsonl", "--batch", "2"], {
    stdin: "Cy loves Paris.\n\nDi left Oslo.\n",
  });
  assert.equal(r.code, 0, r.err);
  const docs = r.out.trimEnd().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(docs.map((d) => d.text), ["Cy loves Paris.", "", "Di left Oslo."]);
  assert.deepEqual(
    docs.map((d) => d.entities.map((e: { text: string; label: string }) => `${e.label}:${e.text}`)),
    [["PER:Cy", "LOC:Paris"], [], ["PER:Di", "LOC:Oslo"]],
  );
  for (const e of docs[0].entities) {
    assert.equal(docs[0].text.slice(e.start, e.end), e.text);
    assert.ok(e.score > 0 && e.score <= 1);
  }
});

Deno.test("cli/tag.ts: --file (repeatable) with json and conll output, progress on stderr", async () => {
  const a = `${dir}/a.txt`;
  const b = `${dir}/b.txt`;
  await Deno.writeTextFile(a, "Ada visited Rome.\nBo Smith left New Paris.\n");
  await Deno.writeTextFile(b, "Cy loves Oslo.\n");
  const json = await run(["--model", modelPath, "--file", a, "--file", b, "--format", "json"]);
  assert.equal(json.code, 0, json.err);
  const docs = JSON.parse(json.out);
  assert.equal(docs.length, 3);
  assert.deepEqual(docs[1].entities.map((e: { text: string }) => e.text), [
    "Bo Smith",
    "New Paris",
  ]);
  assert.match(json.err, /a\.txt: 2\/2 lines/);
  assert.match(json.err, /b\.txt: 1\/1 lines/);
  const conll = await run(["--model", modelPath, "--file", b, "--format", "conll"]);
  assert.equal(conll.out, "Cy B-PER\nloves O\nOslo B-LOC\n. O\n\n");
});

Deno.test("cli/tag.ts: clear errors for bad usage, a missing file and a bad model", async () => {
  const format = await run(["--model", modelPath, "--format", "xml", "x"]);
  assert.equal(format.code, 2);
  assert.match(format.err, /expected --format pretty, json, jsonl or conll, found "xml"/);
  const missing = await run(["--model", modelPath, "--file", `${dir}/nope.txt`]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /Cannot read .*nope\.txt/);
  const junk = `${dir}/junk.safetensors`;
  await Deno.writeTextFile(junk, "not a model");
  const bad = await run(["--model", junk, "x"]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^tag: .*junk\.safetensors/);
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /^Usage: deno run -A cli\/tag\.ts/);
});

Deno.test("cli/tag.ts as a subprocess: stdin in, text out, no colour in a pipe", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("cli/tag.ts", root).pathname, "--model", modelPath],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("Di Smith loves New Rome.\n"));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.match(
    new TextDecoder().decode(stdout),
    /^\[Di Smith PER 0\.\d\d\] loves \[New Rome LOC 0\.\d\d\]\.\n$/,
  );
});

Deno.test("cli/eval.ts --model --data: the full report for a model on gold data", async () => {
  const data = `${dir}/gold.conll`;
  // Gold in IOBES: converted to IOB2 before comparing. "Zed" is unknown to the model.
  await Deno.writeTextFile(
    data,
    "Ada S-PER\nvisited O\nRome S-LOC\n. O\n\nBo B-PER\nSmith E-PER\nleft O\nZed S-LOC\n. O\n",
  );
  for (const format of ["text", "json", "html"]) {
    let out = "";
    let err = "";
    const code = await evalMain(["--model", modelPath, "--data", data, "--format", format], {
      stdout: (t) => void (out += t),
      stderr: (t) => void (err += t),
      stdin: () => Promise.resolve(""),
    });
    assert.equal(code, 0, err);
    if (format === "text") {
      assert.match(out, /^processed 9 tokens with 4 phrases; found: \d+ phrases; correct: \d+\./);
      assert.match(out, /per-tag \(token level\)/);
      assert.match(out, /top errors/);
    }
    if (format === "json") assert.equal(JSON.parse(out).data, data);
    if (format === "html") assert.match(out, /<html/i);
  }
  let err = "";
  const code = await evalMain(["--model", modelPath], {
    stdout: () => {},
    stderr: (t) => void (err += t),
    stdin: () => Promise.resolve(""),
  });
  assert.equal(code, 2);
  assert.match(err, /needs both --model and --data/);
});

Deno.test({
  name: "cli/tag.ts: cleanup",
  fn: () => Deno.remove(dir, { recursive: true }),
});

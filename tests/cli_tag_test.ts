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
  options: {
    stdin?: string | Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>;
    tty?: boolean;
    env?: Record<string, string>;
  } = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const stdin = options.stdin ?? "";
  const io: TagIO = {
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
    stdin: () => stdin instanceof ReadableStream ? stdin : new Blob([stdin]).stream(),
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
  const r = await run(["--model", modelPath, "--format", "jsonl", "--batch-size", "2"], {
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
  assert.match(json.err, /a\.txt: 2 lines, 100% read/);
  assert.match(json.err, /b\.txt: 1 lines, 100% read/);
  const conll = await run(["--model", modelPath, "--file", b, "--format", "conll"]);
  assert.equal(conll.out, "Cy B-PER\nloves O\nOslo B-LOC\n. O\n\n");
});

Deno.test("cli/tag.ts: clear errors for bad usage, a missing file and a bad model", async () => {
  const format = await run(["--model", modelPath, "--format", "xml", "x"]);
  assert.equal(format.code, 2);
  assert.match(format.err, /^tag: --format: expected pretty, json, jsonl or conll, found 'xml'\n/);
  const old = await run(["--model", modelPath, "--batch", "8", "x"]);
  assert.equal(old.code, 2);
  assert.match(old.err, /^tag: --batch: renamed; use --batch-size N\n/);
  const size = await run(["--model", modelPath, "--batch-size", "0", "x"]);
  assert.equal(size.code, 2);
  assert.match(size.err, /--batch-size: expected an integer ≥ 1, found '0'/);
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

/** The entities of JSONL output lines, as "LABEL:text" per line. */
function entitiesPerLine(out: string): string[][] {
  return out.split("\n").slice(0, -1).map((line) =>
    JSON.parse(line.slice(line.indexOf("{"))).entities?.map((e: { label: string; text: string }) =>
      `${e.label}:${e.text}`
    ) ?? ["error"]
  );
}

Deno.test("cli/tag.ts jsonl: one output line per input line, blank, whitespace-only and CRLF lines included", async () => {
  const input = "Cy loves Paris.\n\n   \n\t\nDi left Oslo.\r\nBo left Rome.";
  const r = await run(["--model", modelPath, "--format", "jsonl"], { stdin: input });
  assert.equal(r.code, 0, r.err);
  const docs = r.out.split("\n").slice(0, -1).map((l) => JSON.parse(l));
  assert.deepEqual(docs.map((d) => d.text), [
    "Cy loves Paris.",
    "",
    "   ",
    "\t",
    "Di left Oslo.",
    "Bo left Rome.",
  ]);
  assert.deepEqual(entitiesPerLine(r.out), [
    ["PER:Cy", "LOC:Paris"],
    [],
    [],
    [],
    ["PER:Di", "LOC:Oslo"],
    ["PER:Bo", "LOC:Rome"],
  ]);
  assert.equal((await run(["--model", modelPath, "--format", "jsonl"], { stdin: "" })).out, "");
});

Deno.test("cli/tag.ts: many lines in small batches come out in input order, as tagged one by one", async () => {
  const people = ["Ada", "Bo", "Cy", "Di"];
  const places = ["Paris", "Oslo", "Rome"];
  const lines = Array.from(
    { length: 41 },
    (_, i) =>
      i % 7 === 3
        ? ""
        : `${people[i % 4]} ${i % 2 ? "Smith " : ""}visited ${i % 3 ? "New " : ""}${
          places[i % 3]
        }.`,
  );
  const streamed = await run(["--model", modelPath, "--format", "jsonl", "--batch-size", "3"], {
    stdin: lines.join("\n") + "\n",
  });
  assert.equal(streamed.code, 0, streamed.err);
  const whole = await run(["--model", modelPath, "--format", "jsonl", "--batch-size", "1000"], {
    stdin: lines.join("\n") + "\n",
  });
  assert.equal(streamed.out, whole.out, "the batch size changes nothing in the output");
  const docs = streamed.out.split("\n").slice(0, -1).map((l) => JSON.parse(l));
  assert.deepEqual(docs.map((d) => d.text), lines);
  const args = await run(["--model", modelPath, "--format", "jsonl", ...lines.slice(0, 5)]);
  assert.equal(args.out, streamed.out.split("\n").slice(0, 5).join("\n") + "\n");
});

Deno.test("cli/tag.ts streams: output of the first lines is written before the input ends", async () => {
  let out = "";
  let err = "";
  let release!: () => void;
  const written = new Promise<void>((resolve) => release = resolve);
  const encoder = new TextEncoder();
  let sent = 0;
  // Sends 3 lines, then waits until output has appeared before sending the last one.
  const stdin = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent < 3) {
        controller.enqueue(encoder.encode("Ada left Rome.\n"));
        sent++;
        return;
      }
      const timeout = new Promise<string>((resolve) =>
        setTimeout(() => resolve("timeout"), 20_000)
      );
      const first = await Promise.race([written.then(() => "written"), timeout]);
      controller.enqueue(encoder.encode(`${first}\n`));
      controller.close();
    },
  });
  const code = await main(["--model", modelPath, "--format", "jsonl", "--batch-size", "2"], {
    stdout: (t) => {
      out += t;
      release();
    },
    stderr: (t) => void (err += t),
    stdin: () => stdin,
    isTerminal: false,
    stderrIsTerminal: false,
    env: () => undefined,
  });
  assert.equal(code, 0, err);
  const texts = out.split("\n").slice(0, -1).map((l) => JSON.parse(l).text);
  assert.deepEqual(texts, ["Ada left Rome.", "Ada left Rome.", "Ada left Rome.", "written"]);
});

Deno.test("cli/tag.ts --key: key<TAB>text in, key<TAB>output out, the key unchanged", async () => {
  const input = "doc-1\tAda visited Rome.\n\tBo left Oslo.\nk 3 é\tCy\tloves Paris.\nonly-key\n";
  const r = await run(["--model", modelPath, "--format", "jsonl", "--key"], { stdin: input });
  assert.equal(r.code, 0, r.err);
  const rows = r.out.split("\n").slice(0, -1).map((l) => {
    const tab = l.indexOf("\t");
    return { key: l.slice(0, tab), doc: JSON.parse(l.slice(tab + 1)) };
  });
  assert.deepEqual(rows.map((x) => x.key), ["doc-1", "", "k 3 é", "only-key"]);
  assert.deepEqual(rows.map((x) => x.doc.text), [
    "Ada visited Rome.",
    "Bo left Oslo.",
    "Cy\tloves Paris.",
    "",
  ]);
  assert.deepEqual(rows[0].doc.entities.map((e: { text: string }) => e.text), ["Ada", "Rome"]);
  const pretty = await run(["--model", modelPath, "--key"], { stdin: "id7\tBo left Rome.\n" });
  assert.match(pretty.out, /^id7\t\[Bo PER 0\.\d\d\] left \[Rome LOC 0\.\d\d\]\.\n$/);
  const json = await run(["--model", modelPath, "--key", "--format", "json"], {
    stdin: "a\tBo left Rome.\nb\t\n",
  });
  assert.deepEqual(JSON.parse(json.out).map((d: { key: string }) => d.key), ["a", "b"]);
  const conll = await run(["--model", modelPath, "--key", "--format", "conll"], {
    stdin: "a\tBo left Rome.\n",
  });
  assert.equal(conll.out, "# a\nBo B-PER\nleft O\nRome B-LOC\n. O\n\n");
});

/** Input with invalid UTF-8 on line 2 (a lone continuation byte after "Bo ") and an over-long line 4. */
function malformedInput(): Uint8Array<ArrayBuffer> {
  const e = new TextEncoder();
  return new Uint8Array([
    ...e.encode("Ada left Rome.\nBo "),
    0x80,
    ...e.encode(" left.\nCy loves Oslo.\n"),
    ...e.encode("x".repeat(300) + "\nDi left Paris.\n"),
  ]);
}

Deno.test("cli/tag.ts --on-error stop: output up to the bad line, then an error naming it, exit 1", async () => {
  const r = await run(["--model", modelPath, "--format", "jsonl"], { stdin: malformedInput() });
  assert.equal(r.code, 1);
  assert.equal(r.err, "tag: <stdin>:2: invalid UTF-8 at byte 4 of the line\n");
  assert.deepEqual(entitiesPerLine(r.out), [["PER:Ada", "LOC:Rome"]]);
  const long = await run(
    ["--model", modelPath, "--format", "jsonl", "--max-line-length", "100", "--on-error", "stop"],
    { stdin: new TextEncoder().encode("Ada left Rome.\n" + "y".repeat(101) + "\nBo left.\n") },
  );
  assert.equal(long.code, 1);
  assert.equal(
    long.err,
    "tag: <stdin>:2: the line has 101 bytes, more than --max-line-length 100\n",
  );
  assert.equal(long.out.split("\n").length, 2);
  // json stopped at line 2: the lines before it, as a complete array.
  const json = await run(["--model", modelPath, "--format", "json"], { stdin: malformedInput() });
  assert.equal(json.code, 1);
  assert.deepEqual(JSON.parse(json.out).map((d: { text: string }) => d.text), ["Ada left Rome."]);
  // A file: the error names the file.
  const file = `${dir}/bad.txt`;
  await Deno.writeFile(file, malformedInput());
  const named = await run(["--model", modelPath, "--file", file]);
  assert.equal(named.code, 1);
  assert.match(named.err, /^tag: .*bad\.txt:2: invalid UTF-8 at byte 4 of the line\n$/);
});

Deno.test("cli/tag.ts --on-error report: malformed lines are records in the output, warned on stderr", async () => {
  const r = await run(
    ["--model", modelPath, "--format", "jsonl", "--on-error", "report", "--max-line-length", "200"],
    { stdin: malformedInput() },
  );
  assert.equal(r.code, 0, r.err);
  const rows = r.out.split("\n").slice(0, -1).map((l) => JSON.parse(l));
  assert.equal(rows.length, 5, "one output line per input line");
  assert.deepEqual(rows[1], { line: 2, error: "<stdin>:2: invalid UTF-8 at byte 4 of the line" });
  assert.deepEqual(rows[3], {
    line: 4,
    error: "<stdin>:4: the line has 300 bytes, more than --max-line-length 200",
  });
  assert.deepEqual(entitiesPerLine(r.out), [
    ["PER:Ada", "LOC:Rome"],
    ["error"],
    ["PER:Cy", "LOC:Oslo"],
    ["error"],
    ["PER:Di", "LOC:Paris"],
  ]);
  assert.match(r.err, /warning: <stdin>:2: invalid UTF-8 .*reported in the output/);
  assert.match(r.err, /warning: <stdin>:4: the line has 300 bytes/);
  assert.match(r.err, /2 malformed line\(s\) reported in the output/);
  const pretty = await run(["--model", modelPath, "--on-error", "report"], {
    stdin: malformedInput(),
  });
  assert.equal(
    pretty.out.split("\n")[1],
    "[error: <stdin>:2: invalid UTF-8 at byte 4 of the line]",
  );
});

Deno.test("invalidUtf8At finds the first bad byte as TextDecoder's fatal mode judges it", async () => {
  const { invalidUtf8At } = await import("../cli/tag.ts");
  const cases: [number[], number][] = [
    [[0x41, 0x42], -1],
    [[0xc3, 0xa9], -1], // é
    [[0xe2, 0x82, 0xac], -1], // €
    [[0xf0, 0x9f, 0x98, 0x80], -1], // an emoji
    [[0x41, 0xc3], 1], // truncated
    [[0xc0, 0x80], 0], // overlong
    [[0xe0, 0x80, 0x80], 0], // overlong
    [[0xed, 0xa0, 0x80], 0], // a surrogate
    [[0xf4, 0x90, 0x80, 0x80], 0], // past U+10FFFF
    [[0x41, 0x80], 1], // stray continuation
    [[0xe2, 0x82, 0x41], 0],
  ];
  const fatal = new TextDecoder("utf-8", { fatal: true });
  for (const [bytes, at] of cases) {
    const b = Uint8Array.from(bytes);
    assert.equal(invalidUtf8At(b), at, bytes.join());
    let valid = true;
    try {
      fatal.decode(b);
    } catch {
      valid = false;
    }
    assert.equal(valid, at === -1, `TextDecoder disagrees on ${bytes.join()}`);
  }
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

Deno.test("readLines: lines split across reads, CRLF and UTF-8 split across reads, long lines across reads", async () => {
  const { readLines } = await import("../cli/tag.ts");
  const text = "ab\r\ncd Zoë €\r\n\r\nxyz" + "q".repeat(25) + "\nlast";
  const bytes = new TextEncoder().encode(text);
  // Every split of the input into reads of 1..7 bytes gives the same lines.
  for (const size of [1, 2, 3, 5, 7]) {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.length; at += size) {
          controller.enqueue(bytes.slice(at, at + size));
        }
        controller.close();
      },
    });
    const got: (string | number)[] = [];
    for await (const group of readLines(stream, 20)) {
      for (const l of group) got.push(l.bytes ? new TextDecoder().decode(l.bytes) : l.tooLong!);
    }
    assert.deepEqual(got, ["ab", "cd Zoë €", "", 28, "last"], `reads of ${size} bytes`);
  }
  // The maximum counts the line's bytes without its line break, "\r\n" or "\n".
  const edge = new TextEncoder().encode("1234\r\n12345\r\n1234\n12345\n");
  const lengths: (number | string)[] = [];
  for await (const group of readLines(new Blob([edge]).stream(), 4)) {
    for (const l of group) lengths.push(l.bytes?.length ?? `long ${l.tooLong}`);
  }
  assert.deepEqual(lengths, [4, "long 5", 4, "long 5"]);
});

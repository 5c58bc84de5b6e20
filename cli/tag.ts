/**
 * Tags text with a trained model: entities with character offsets, labels
 * and span probabilities. Standard input and `--file` are streamed: read
 * line by line (one document per line), tagged in batches while the next
 * lines are read, and written as they finish, in input order, so memory does
 * not grow with the input. It is a filter, so it runs as a stage of Spark's
 * `RDD.pipe`, Hadoop Streaming or GNU parallel (`--key` for `key<TAB>text`).
 *
 * ```sh
 * deno run -A cli/tag.ts "Angela Merkel visited Paris on Monday."
 * echo "Obama spoke in Berlin." | deno run -A cli/tag.ts --format jsonl
 * deno run -A cli/tag.ts --model m.safetensors --file news.txt --format conll
 * ```
 *
 * @module
 */

import { convertTags, type TaggedText, Tagger } from "../mod.ts";
import { EXIT, flagHelp, parseFlags, runCommand, UsageError } from "./flags.ts";

/**
 * The model used without `--model`: the one shipped in the repository,
 * resolved relative to this module (so it also works when run from a URL).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(SHIPPED_MODEL.pathname.endsWith("/models/gmb-small.safetensors"));
 * ```
 */
export const SHIPPED_MODEL: URL = new URL("../models/gmb-small.safetensors", import.meta.url);

/**
 * The flags of `cli/tag.ts`, declared once: the parser, the messages and
 * `--help` come from here.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(TAG_FLAGS["batch-size"].default, 256);
 * ```
 */
export const TAG_FLAGS = {
  model: {
    kind: "string",
    arg: "FILE",
    help: "the model (default: models/gmb-small.safetensors, shipped)",
  },
  file: {
    kind: "string",
    multiple: true,
    arg: "FILE",
    help: "tag FILE, one document per line (repeatable)",
  },
  format: {
    kind: "enum",
    values: ["pretty", "json", "jsonl", "conll"],
    default: "pretty",
    help: "the output format (see Formats below)",
  },
  color: {
    kind: "enum",
    values: ["auto", "always", "never"],
    default: "auto",
    help: "colour in pretty output; auto: on a terminal, unless NO_COLOR is set",
  },
  key: {
    kind: "boolean",
    help: "input lines are key<TAB>text (Hadoop Streaming, RDD.pipe): the key is\n" +
      "passed through unchanged, as key<TAB>output in pretty and jsonl output,\n" +
      'a "key" field in json, a "# key" line in conll; a line without a tab\n' +
      "is all key, with empty text (as in Hadoop Streaming)",
  },
  "max-line-length": {
    kind: "int",
    min: 1,
    default: 1_048_576,
    arg: "BYTES",
    help: "the longest input line accepted, in bytes",
  },
  "on-error": {
    kind: "enum",
    values: ["stop", "report"],
    default: "stop",
    help: "what a malformed line does (see Malformed lines below)",
  },
  unconstrained: { kind: "boolean", help: "allow tag sequences invalid in the model's scheme" },
  "batch-size": {
    kind: "int",
    min: 1,
    default: 256,
    help: "input lines per tagging call (two calls are in flight at once)",
  },
  help: { kind: "boolean", short: "h", help: "show this help" },
} as const;

/**
 * The usage text printed by `--help`, from {@linkcode TAG_FLAGS}.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(USAGE, /--format pretty\|json\|jsonl\|conll/);
 * ```
 */
export const USAGE = `Usage: deno run -A cli/tag.ts [options] [TEXT ...]

Finds named entities in text. Each TEXT argument is one document; without
TEXT or --file, standard input is read, one document per line. Input is
streamed: output comes in input order as batches finish.

Options:
${flagHelp(TAG_FLAGS)}

Formats:
  pretty   the text with entities marked, in colour on a terminal
  json     one array of {text, entities}
  jsonl    one {text, entities} object per input line, blank lines included
  conll    "token tag" lines (IOB2), a blank line after each sentence

Malformed lines (invalid UTF-8, longer than --max-line-length):
  stop     the output so far is written, then an error naming the line; exit 1
  report   an {"line", "error"} record in the line's place in the output, a
           warning naming it on stderr, and tagging goes on; exit 0

Exit status: 0 done, 1 bad input, model or runtime error, 2 usage error.
`;

/** Output formats. */
export type TagFormat = "pretty" | "json" | "jsonl" | "conll";

/** Where {@linkcode main} reads and writes (replaceable in tests). */
export interface TagIO {
  /** Writes to standard output (awaited: back-pressure). */
  stdout: (text: string) => Promise<void> | void;
  /** Writes to standard error. */
  stderr: (text: string) => Promise<void> | void;
  /** Standard input, as bytes. */
  stdin: () => ReadableStream<Uint8Array>;
  /** Whether standard output is a terminal (colour). */
  isTerminal: boolean;
  /** Whether standard error is a terminal (progress redraws in place). */
  stderrIsTerminal: boolean;
  /** An environment variable (NO_COLOR). */
  env: (name: string) => string | undefined;
}

/** One input line: its number, its key and text, or why it is malformed. */
export interface InputRecord {
  /** 1-based line number in its source (argument number for TEXT arguments). */
  line: number;
  /** The key, with `--key`. */
  key?: string;
  /** The document's text (absent when malformed). */
  text?: string;
  /** What is wrong with the line, naming its source and number. */
  error?: string;
}

const COLORS = ["\x1b[1;34m", "\x1b[1;32m", "\x1b[1;35m", "\x1b[1;33m", "\x1b[1;36m", "\x1b[1;31m"];

/** How records are formatted. */
interface FormatOptions {
  format: TagFormat;
  key: boolean;
  color: boolean;
  /** Entity types in tag order (their colours). */
  types: readonly string[];
}

/**
 * Formats one tagged document (or a malformed line) in `pretty`, `jsonl`,
 * `conll` or `json` (one array element, without the separator) format.
 *
 * @param record the input line
 * @param doc its tagging (absent for a malformed line)
 * @param options format, key, colour
 * @returns the text to write
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const doc = {
 *   text: "Ada sang.",
 *   entities: [{ text: "Ada", label: "PER", start: 0, end: 3, score: 0.9, tokens: [0, 1] as [number, number] }],
 *   sentences: [{ tokens: [{ text: "Ada", start: 0, end: 3 }, { text: "sang", start: 4, end: 8 }, { text: ".", start: 8, end: 9 }], tags: ["B-PER", "O", "O"] }],
 * };
 * const options = { format: "pretty", key: false, color: false, types: ["PER"] } as const;
 * assert.equal(formatRecord({ line: 1, text: doc.text }, doc, options), "[Ada PER 0.90] sang.\n");
 * assert.equal(
 *   formatRecord({ line: 1, text: doc.text }, doc, { ...options, format: "conll" }),
 *   "Ada B-PER\nsang O\n. O\n\n",
 * );
 * ```
 */
export function formatRecord(
  record: InputRecord,
  doc: TaggedText | undefined,
  options: FormatOptions,
): string {
  const { format, key } = options;
  const keyed = (s: string) => key && record.key !== undefined ? `${record.key}\t${s}` : s;
  if (!doc) {
    const error = { line: record.line, error: record.error ?? "malformed line" };
    if (format === "jsonl") return keyed(JSON.stringify(error)) + "\n";
    if (format === "json") return indent(JSON.stringify(withKey(error, record, key), null, 2));
    if (format === "conll") return `# error: ${error.error}\n\n`;
    return keyed(`[error: ${error.error}]`) + "\n";
  }
  const object = { text: doc.text, entities: doc.entities };
  if (format === "jsonl") return keyed(JSON.stringify(object)) + "\n";
  if (format === "json") return indent(JSON.stringify(withKey(object, record, key), null, 2));
  if (format === "conll") {
    let out = key && record.key !== undefined ? `# ${record.key}\n` : "";
    for (const s of doc.sentences) {
      const tags = convertTags(s.tags, "IOB2");
      s.tokens.forEach((token, t) => out += `${token.text} ${tags[t]}\n`);
      out += "\n";
    }
    return out;
  }
  return keyed(markEntities(doc, options)) + "\n";
}

/** `{key, ...object}` when keys are on. */
function withKey(object: object, record: InputRecord, key: boolean): object {
  return key ? { key: record.key, ...object } : object;
}

/** A JSON text indented by two spaces, as an element of `JSON.stringify(array, null, 2)`. */
function indent(json: string): string {
  return "  " + json.replaceAll("\n", "\n  ");
}

/** The text with its entities marked: `[text LABEL score]`, or in colour. */
function markEntities(doc: TaggedText, options: FormatOptions): string {
  let out = "";
  let at = 0;
  for (const e of doc.entities) {
    out += doc.text.slice(at, e.start);
    const score = e.score.toFixed(2);
    if (options.color) {
      const i = Math.max(0, options.types.indexOf(e.label));
      out += `${COLORS[i % COLORS.length]}${e.text}\x1b[0m\x1b[2m ${e.label} ${score}\x1b[0m`;
    } else {
      out += `[${e.text} ${e.label} ${score}]`;
    }
    at = e.end;
  }
  return out + doc.text.slice(at);
}

/** A line of bytes from {@linkcode readLines}, or how long an over-long line was. */
export interface RawLine {
  /** 1-based line number. */
  line: number;
  /** The line's bytes without its line break (absent when too long). */
  bytes?: Uint8Array;
  /** The line's length in bytes, when it passed the maximum (its bytes were not kept). */
  tooLong?: number;
}

/**
 * Splits a byte stream into lines (`\n` or `\r\n`; a last line without a
 * break counts), keeping at most `maxBytes` of any line in memory: a longer
 * line is counted and skipped, and reported as `tooLong`. Lines come in
 * groups: those completed by one read of the stream (so a consumer knows
 * when the next group may have to wait for input).
 *
 * @param stream the bytes
 * @param maxBytes the longest line kept
 * @param onBytes called with the number of bytes read so far (progress)
 * @returns the lines, in order, one group per read that completed any
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const stream = new Blob(["a\r\n\nbcd\nef"]).stream();
 * const lines = [];
 * for await (const group of readLines(stream, 2)) {
 *   for (const l of group) lines.push(l.bytes?.length ?? `long ${l.tooLong}`);
 * }
 * assert.deepEqual(lines, [1, 0, "long 3", 2]);
 * ```
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  onBytes: (bytes: number) => void = () => {},
): AsyncGenerator<RawLine[]> {
  let parts: Uint8Array[] = [];
  let length = 0;
  let line = 0;
  let read = 0;
  // One byte more than the maximum is kept: a line of maxBytes may end in "\r\n".
  const keep = maxBytes + 1;
  let last = -1;
  const finish = (): RawLine => {
    line++;
    const bytes = length > keep ? undefined : stripCR(concat(parts, length));
    const out = bytes && bytes.length <= maxBytes
      ? { line, bytes }
      : { line, tooLong: bytes?.length ?? length - (last === 13 ? 1 : 0) };
    parts = [];
    length = 0;
    last = -1;
    return out;
  };
  for await (const chunk of stream) {
    read += chunk.length;
    const group: RawLine[] = [];
    let from = 0;
    while (from <= chunk.length) {
      const nl = chunk.indexOf(10, from);
      const end = nl < 0 ? chunk.length : nl;
      if (length + (end - from) <= keep) parts.push(chunk.subarray(from, end));
      else parts = [];
      if (end > from) last = chunk[end - 1];
      length += end - from;
      if (nl < 0) break;
      group.push(finish());
      from = nl + 1;
    }
    onBytes(read);
    if (group.length > 0) yield group;
  }
  if (length > 0) yield [finish()];
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function stripCR(bytes: Uint8Array): Uint8Array {
  return bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.subarray(0, -1) : bytes;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The 0-based offset of the first byte that is not valid UTF-8 (a bad lead
 * byte, a missing or stray continuation byte, an overlong form, a surrogate,
 * a code point past U+10FFFF), or −1 when all of `bytes` is valid.
 *
 * @param bytes the bytes
 * @returns the offset, or −1
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(invalidUtf8At(new TextEncoder().encode("Zoë")), -1);
 * assert.equal(invalidUtf8At(Uint8Array.of(0x41, 0xff, 0x42)), 1);
 * ```
 */
export function invalidUtf8At(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const need = b < 0x80
      ? 0
      : b >= 0xc2 && b <= 0xdf
      ? 1
      : b >= 0xe0 && b <= 0xef
      ? 2
      : b >= 0xf0 && b <= 0xf4
      ? 3
      : -1;
    if (need < 0) return i;
    // The second byte's range (no overlong forms, no surrogates, ≤ U+10FFFF).
    const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      if (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** Groups of lines decoded into records. */
async function* records(
  groups: AsyncIterable<RawLine[]>,
  source: string,
  options: { key: boolean; maxBytes: number },
): AsyncGenerator<InputRecord[]> {
  for await (const group of groups) yield group.map((raw) => toRecord(raw, source, options));
}

/** One line as a record: its text and key, or an error naming `source:line`. */
function toRecord(
  raw: RawLine,
  source: string,
  options: { key: boolean; maxBytes: number },
): InputRecord {
  const where = `${source}:${raw.line}`;
  if (raw.bytes === undefined) {
    return {
      line: raw.line,
      error: `${where}: the line has ${raw.tooLong} bytes, more than --max-line-length ` +
        `${options.maxBytes}`,
    };
  }
  let text: string;
  try {
    text = utf8.decode(raw.bytes);
  } catch {
    const at = invalidUtf8At(raw.bytes);
    return { line: raw.line, error: `${where}: invalid UTF-8 at byte ${at + 1} of the line` };
  }
  if (!options.key) return { line: raw.line, text };
  const tab = text.indexOf("\t");
  return tab < 0
    ? { line: raw.line, key: text, text: "" }
    : { line: raw.line, key: text.slice(0, tab), text: text.slice(tab + 1) };
}

/** An input of the command: TEXT arguments, a file or standard input. */
interface Source {
  name: string;
  /** The records, in groups (one per read of the input). */
  records: () => AsyncIterable<InputRecord[]>;
  /** Whether to report progress on stderr (files). */
  progress: boolean;
}

/** Bad input that ends the run with exit status 1 (a malformed line with --on-error stop). */
class InputError extends Error {}

/** The run's settings, from the flags. */
interface RunSettings {
  format: FormatOptions;
  batchSize: number;
  onError: "stop" | "report";
  constrained: boolean;
}

/**
 * Tags the records of one source in chunks of `batchSize`, two chunks in
 * flight, writing each chunk's output as soon as it and all before it are
 * done. A partial chunk is sent when no input has come for 50 ms, so
 * interactive input is answered at once. Returns the number of lines and of
 * malformed lines reported.
 */
async function tagSource(
  tagger: Tagger,
  source: Source,
  settings: RunSettings,
  write: (text: string) => Promise<void>,
  warn: (text: string) => Promise<void>,
): Promise<{ lines: number; reported: number }> {
  const written: Promise<void>[] = [];
  let tail = Promise.resolve();
  let chunk: InputRecord[] = [];
  const counts = { lines: 0, reported: 0 };
  const send = async (limit: number) => {
    if (chunk.length > 0) {
      const out = tagChunk(tagger, chunk, settings);
      out.catch(() => {});
      tail = tail.then(async () => await write(await out));
      written.push(tail);
      chunk = [];
    }
    while (written.length > limit) await written.shift();
  };
  const input = new PausingReader(source.records()[Symbol.asyncIterator]());
  try {
    while (true) {
      const next = await input.next(chunk.length > 0 ? IDLE_MS : undefined);
      if (next === "idle") {
        await send(1);
        continue;
      }
      if (next.done) break;
      for (const record of next.value) {
        counts.lines++;
        if (record.error !== undefined) {
          if (settings.onError === "stop") {
            await send(0);
            throw new InputError(record.error);
          }
          counts.reported++;
          await warn(`warning: ${record.error} (reported in the output)\n`);
        }
        chunk.push(record);
        if (chunk.length >= settings.batchSize) await send(1);
      }
    }
    await send(0);
  } finally {
    for (const pending of written) pending.catch(() => {});
  }
  return counts;
}

/** How long input may pause before a partial chunk is tagged. */
const IDLE_MS = 50;

/** Reads an async iterator and can tell when the next item takes longer than a pause. */
class PausingReader<T> {
  #pending?: Promise<IteratorResult<T>>;
  constructor(readonly input: AsyncIterator<T>) {}

  /** The next result, or "idle" after `idleMs` without one (the same read then goes on). */
  next(idleMs?: number): Promise<IteratorResult<T> | "idle"> {
    const next = this.#pending ??= this.input.next();
    const settled = next.then((r) => {
      this.#pending = undefined;
      return r;
    });
    if (idleMs === undefined) return settled;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<"idle">((resolve) =>
      timer = setTimeout(() => resolve("idle"), idleMs)
    );
    return Promise.race([settled, idle]).finally(() => clearTimeout(timer));
  }
}

/** Tags one chunk's well-formed records and formats all of them, in order. */
async function tagChunk(
  tagger: Tagger,
  chunk: InputRecord[],
  settings: RunSettings,
): Promise<string> {
  const texts = chunk.filter((r) => r.text !== undefined).map((r) => r.text!);
  const docs = await tagger.tagTexts(texts, { constrained: settings.constrained });
  let out = "";
  let next = 0;
  for (const record of chunk) {
    const doc = record.text !== undefined ? docs[next++] : undefined;
    out += formatRecord(record, doc, settings.format);
    if (settings.format.format === "json") out += ",\n";
  }
  return out;
}

const encoder = new TextEncoder();

async function writeAll(target: { write(p: Uint8Array): Promise<number> }, text: string) {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length;) at += await target.write(bytes.subarray(at));
}

const denoIO = (): TagIO => ({
  stdout: (t) => writeAll(Deno.stdout, t),
  stderr: (t) => writeAll(Deno.stderr, t),
  stdin: () => Deno.stdin.readable,
  isTerminal: Deno.stdout.isTerminal(),
  stderrIsTerminal: Deno.stderr.isTerminal(),
  env: (name) => Deno.env.get(name),
});

/** The sources of a run: TEXT arguments, the files, or standard input. */
function sources(
  positionals: string[],
  files: string[],
  io: TagIO,
  options: { key: boolean; maxBytes: number; progress: (name: string, fraction: number) => void },
): Source[] {
  if (positionals.length > 0) {
    return [{
      name: "arguments",
      progress: false,
      records: async function* () {
        yield positionals.map((text, i) => ({ line: i + 1, text }));
      },
    }];
  }
  if (files.length === 0) {
    return [{
      name: "<stdin>",
      progress: false,
      records: () => records(readLines(io.stdin(), options.maxBytes), "<stdin>", options),
    }];
  }
  return files.map((file) => ({
    name: file,
    progress: true,
    records: async function* () {
      let handle: Deno.FsFile;
      let size: number;
      try {
        handle = await Deno.open(file);
        size = (await handle.stat()).size;
      } catch (e) {
        throw new InputError(`Cannot read ${file}: ${(e as Error).message}`);
      }
      const onBytes = (n: number) => options.progress(file, size > 0 ? n / size : 1);
      yield* records(readLines(handle.readable, options.maxBytes, onBytes), file, options);
    },
  }));
}

/** Loads `--model`, or the shipped model with a clear message when it is missing. */
async function loadTagger(model: string | undefined): Promise<Tagger> {
  if (model === undefined && SHIPPED_MODEL.protocol === "file:") {
    try {
      await Deno.stat(SHIPPED_MODEL);
    } catch {
      throw new InputError(
        `The shipped model ${decodeURIComponent(SHIPPED_MODEL.pathname)} is missing; ` +
          `pass --model FILE (train one with cli/train.ts)`,
      );
    }
  }
  return await Tagger.load(model ?? SHIPPED_MODEL);
}

/** Entity types of the model in tag order (their colours). */
function entityTypes(tagger: Tagger): string[] {
  const types: string[] = [];
  for (const tag of tagger.labels) {
    const type = tag.replace(/^[BIESLU]-/, "");
    if (tag !== "O" && !types.includes(type)) types.push(type);
  }
  return types;
}

/** Parses the flags; `--batch` (the old name) gets a pointer to `--batch-size`. */
function parseTagFlags(args: string[]) {
  const old = args.find((a) => a === "--batch" || a.startsWith("--batch="));
  if (old) throw new UsageError(`--batch: renamed; use --batch-size N`);
  const parsed = parseFlags(args, TAG_FLAGS, { positionals: true });
  const { values, positionals } = parsed;
  if (values.file.length > 0 && positionals.length > 0) {
    throw new UsageError(`expected TEXT arguments or --file, found both`);
  }
  return parsed;
}

/**
 * Runs the command line; returns the exit code (0 ok, 1 bad input, model or
 * runtime error, 2 bad usage). Errors are one line on stderr, never a
 * stack trace.
 *
 * @param args the arguments (without the program name)
 * @param io standard streams (default: Deno's)
 * @returns the exit code
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * let out = "";
 * const io = {
 *   stdout: (t: string) => void (out += t), stderr: () => {}, stdin: () => new Blob([]).stream(),
 *   isTerminal: false, stderrIsTerminal: false, env: () => undefined,
 * };
 * assert.equal(await main(["--help"], io), 0);
 * assert.match(out, /^Usage:/);
 * ```
 */
export async function main(args: string[], io: TagIO = denoIO()): Promise<number> {
  try {
    return await run(args, io);
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    if (error instanceof UsageError) {
      await io.stderr(`tag: ${error.message}\n(run with --help for usage)\n`);
      return EXIT.usage;
    }
    if (error instanceof Deno.errors.BrokenPipe) return EXIT.ok;
    await io.stderr(`tag: ${error.message}\n`);
    return EXIT.error;
  }
}

async function run(args: string[], io: TagIO): Promise<number> {
  const { values, positionals } = parseTagFlags(args);
  if (values.help) {
    await io.stdout(USAGE);
    return EXIT.ok;
  }
  const format = values.format as TagFormat;
  const color = format === "pretty" && (values.color === "always" ||
    (values.color === "auto" && io.isTerminal && !io.env("NO_COLOR")));
  const tagger = await loadTagger(values.model);
  try {
    const settings: RunSettings = {
      format: { format, key: values.key, color, types: entityTypes(tagger) },
      batchSize: values["batch-size"],
      onError: values["on-error"] as "stop" | "report",
      constrained: !values.unconstrained,
    };
    const progress = progressReporter(io);
    const list = sources(positionals, values.file, io, {
      key: values.key,
      maxBytes: values["max-line-length"],
      progress: progress.update,
    });
    let reported = 0;
    // json: each chunk's elements end in ",\n"; the array is opened and closed around them.
    const sink = format === "json" ? jsonArray(io.stdout) : {
      write: async (text: string) => void (text && await io.stdout(text)),
      close: async () => {},
    };
    try {
      for (const source of list) {
        const warn = async (t: string) => await io.stderr(t);
        const counts = await tagSource(tagger, source, settings, sink.write, warn);
        reported += counts.reported;
        if (source.progress) await progress.done(source.name, counts.lines);
      }
    } catch (e) {
      // Stopped at a malformed line: what was written stays valid json.
      if (e instanceof InputError) await sink.close();
      throw e;
    }
    await sink.close();
    if (reported > 0) {
      await io.stderr(`tag: ${reported} malformed line(s) reported in the output\n`);
    }
    return EXIT.ok;
  } finally {
    tagger.destroy();
  }
}

/** Writes chunks of json elements (each ending in ",\n") as one array. */
function jsonArray(out: (text: string) => Promise<void> | void) {
  let started = false;
  return {
    write: async (text: string) => {
      if (!text) return;
      await out((started ? ",\n" : "[\n") + text.slice(0, -2));
      started = true;
    },
    close: async () => {
      await out(started ? "\n]\n" : "[]\n");
    },
  };
}

/** Progress of --file on stderr: at most once a second, and when a file is done. */
function progressReporter(io: TagIO) {
  let last = 0;
  let fraction = 0;
  const line = (name: string, lines?: number) =>
    `${name}: ${lines === undefined ? "" : `${lines} lines, `}${Math.round(100 * fraction)}% read`;
  return {
    update: (name: string, f: number) => {
      fraction = f;
      const now = performance.now();
      if (!io.stderrIsTerminal || now - last < 1000) return;
      last = now;
      io.stderr(`\r\x1b[2K${line(name)}`);
    },
    done: async (name: string, lines: number) => {
      fraction = 1;
      const text = line(name, lines);
      await io.stderr(io.stderrIsTerminal ? `\r\x1b[2K${text}\n` : `${text}\n`);
    },
  };
}

if (import.meta.main) Deno.exit(await runCommand("cli/tag.ts", (args) => main(args), Deno.args));

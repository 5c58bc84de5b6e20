/**
 * Tags text with a trained model: entities with character offsets, labels
 * and span probabilities.
 *
 * ```sh
 * deno run -A cli/tag.ts "Angela Merkel visited Paris on Monday."
 * echo "Obama spoke in Berlin." | deno run -A cli/tag.ts --format jsonl
 * deno run -A cli/tag.ts --model m.safetensors --file news.txt --format conll
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Entity, Tagger } from "../src/api/tagger.ts";
import { sentences } from "../src/data/tokenize.ts";

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
 * The usage text printed by `--help`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(USAGE, /--format pretty\|json\|jsonl\|conll/);
 * ```
 */
export const USAGE = `Usage: deno run -A cli/tag.ts [options] [TEXT ...]

Finds named entities in text. Each TEXT argument is one document; without
TEXT or --file, standard input is read, one document per line.

Options:
  --model FILE        the model (default: models/gmb-small.safetensors, shipped)
  --file FILE         tag FILE, one document per line (repeatable)
  --format pretty|json|jsonl|conll
                      pretty (default): the text with entities marked, in
                        colour on a terminal (not when NO_COLOR is set)
                      json: one array of {text, entities}
                      jsonl: one {text, entities} object per document and line
                      conll: "token tag" lines (IOB2), a blank line between
                        sentences
  --color auto|always|never   colour in pretty output (default auto)
  --unconstrained     allow tag sequences invalid in the model's scheme
  --batch N           documents per GPU batch call (default 256)
  -h, --help          show this help
`;

/** Output formats. */
export type TagFormat = "pretty" | "json" | "jsonl" | "conll";

/** A tagged document. */
export interface TaggedDocument {
  /** The document's text. */
  text: string;
  /** Its entities. */
  entities: Entity[];
}

const COLORS = ["\x1b[1;34m", "\x1b[1;32m", "\x1b[1;35m", "\x1b[1;33m", "\x1b[1;36m", "\x1b[1;31m"];

/**
 * Formats one document.
 *
 * @param doc the text and its entities
 * @param format the output format (json is assembled by the caller from jsonl-like parts)
 * @param options colour for pretty output
 * @returns the text to print, ending in a newline
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const doc = {
 *   text: "Ada sang.",
 *   entities: [{ text: "Ada", label: "PER", start: 0, end: 3, score: 0.9, tokens: [0, 1] as [number, number] }],
 * };
 * assert.equal(formatDocument(doc, "pretty"), "[Ada PER 0.90] sang.\n");
 * assert.equal(formatDocument(doc, "conll"), "Ada B-PER\nsang O\n. O\n\n");
 * ```
 */
export function formatDocument(
  doc: TaggedDocument,
  format: Exclude<TagFormat, "json">,
  options: { color?: boolean; labels?: readonly string[] } = {},
): string {
  if (format === "jsonl") return JSON.stringify(doc) + "\n";
  if (format === "conll") {
    let out = "";
    for (const s of sentences(doc.text)) {
      for (const token of s.tokens) {
        const e = doc.entities.find((e) => e.start <= token.start && token.end <= e.end);
        const tag = e ? `${e.start === token.start ? "B" : "I"}-${e.label}` : "O";
        out += `${token.text} ${tag}\n`;
      }
      out += "\n";
    }
    return out;
  }
  let out = "";
  let at = 0;
  for (const e of doc.entities) {
    out += doc.text.slice(at, e.start);
    const score = e.score.toFixed(2);
    if (options.color) {
      const labels = options.labels ?? [];
      const i = Math.max(0, labels.indexOf(e.label));
      out += `${COLORS[i % COLORS.length]}${e.text}\x1b[0m\x1b[2m ${e.label} ${score}\x1b[0m`;
    } else {
      out += `[${e.text} ${e.label} ${score}]`;
    }
    at = e.end;
  }
  return out + doc.text.slice(at) + "\n";
}

/** Where {@linkcode main} reads and writes (replaceable in tests). */
export interface TagIO {
  /** Writes to standard output. */
  stdout: (text: string) => Promise<void> | void;
  /** Writes to standard error. */
  stderr: (text: string) => Promise<void> | void;
  /** Reads all of standard input. */
  stdin: () => Promise<string>;
  /** Whether standard output is a terminal (colour). */
  isTerminal: boolean;
  /** Whether standard error is a terminal (progress redraws in place). */
  stderrIsTerminal: boolean;
  /** An environment variable (NO_COLOR). */
  env: (name: string) => string | undefined;
}

const encoder = new TextEncoder();
const denoIO = (): TagIO => ({
  stdout: async (t) => {
    await Deno.stdout.write(encoder.encode(t));
  },
  stderr: async (t) => {
    await Deno.stderr.write(encoder.encode(t));
  },
  stdin: () => new Response(Deno.stdin.readable).text(),
  isTerminal: Deno.stdout.isTerminal(),
  stderrIsTerminal: Deno.stderr.isTerminal(),
  env: (name) => Deno.env.get(name),
});

/** Lines of a text, without a final empty line. */
function lines(text: string): string[] {
  const out = text.split(/\r?\n/);
  if (out.length > 0 && out[out.length - 1] === "") out.pop();
  return out;
}

/**
 * Runs the command line; returns the exit code (0 ok, 1 bad input or model, 2 bad usage).
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
 *   stdout: (t: string) => void (out += t), stderr: () => {}, stdin: async () => "",
 *   isTerminal: false, stderrIsTerminal: false, env: () => undefined,
 * };
 * assert.equal(await main(["--help"], io), 0);
 * assert.match(out, /^Usage:/);
 * ```
 */
export async function main(args: string[], io: TagIO = denoIO()): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        model: { type: "string" },
        file: { type: "string", multiple: true },
        format: { type: "string", default: "pretty" },
        color: { type: "string", default: "auto" },
        unconstrained: { type: "boolean", default: false },
        batch: { type: "string", default: "256" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    await io.stderr(`tag: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    await io.stdout(USAGE);
    return 0;
  }
  const format = values.format as TagFormat;
  if (!["pretty", "json", "jsonl", "conll"].includes(format)) {
    await io.stderr(`tag: expected --format pretty, json, jsonl or conll, found "${format}"\n`);
    return 2;
  }
  if (!["auto", "always", "never"].includes(values.color)) {
    await io.stderr(`tag: expected --color auto, always or never, found "${values.color}"\n`);
    return 2;
  }
  const batchSize = Number(values.batch);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    await io.stderr(`tag: expected --batch to be a positive integer, found "${values.batch}"\n`);
    return 2;
  }
  const files = values.file ?? [];
  if (files.length > 0 && positionals.length > 0) {
    await io.stderr(`tag: expected TEXT arguments or --file, not both\n`);
    return 2;
  }
  const color = format === "pretty" && (values.color === "always" ||
    (values.color === "auto" && io.isTerminal && !io.env("NO_COLOR")));

  // The inputs: [name, documents] per source.
  const sources: { name: string; docs: () => Promise<string[]>; progress: boolean }[] = [];
  if (positionals.length > 0) {
    sources.push({ name: "arguments", docs: () => Promise.resolve(positionals), progress: false });
  } else if (files.length > 0) {
    for (const file of files) {
      sources.push({
        name: file,
        docs: async () => {
          try {
            return lines(await Deno.readTextFile(file));
          } catch (e) {
            throw new InputError(`Cannot read ${file}: ${(e as Error).message}`);
          }
        },
        progress: true,
      });
    }
  } else {
    sources.push({ name: "<stdin>", docs: async () => lines(await io.stdin()), progress: false });
  }

  let tagger: Tagger;
  try {
    if (values.model === undefined && SHIPPED_MODEL.protocol === "file:") {
      try {
        await Deno.stat(SHIPPED_MODEL);
      } catch {
        throw new Error(
          `The shipped model ${decodeURIComponent(SHIPPED_MODEL.pathname)} is missing; ` +
            `pass --model FILE (train one with cli/train.ts)`,
        );
      }
    }
    tagger = await Tagger.load(values.model ?? SHIPPED_MODEL);
  } catch (e) {
    await io.stderr(`tag: ${(e as Error).message}\n`);
    return 1;
  }
  const options = { constrained: !values.unconstrained };
  const all: TaggedDocument[] = [];
  try {
    for (const source of sources) {
      const docs = await source.docs();
      for (let i = 0; i < docs.length; i += batchSize) {
        const chunk = docs.slice(i, i + batchSize);
        const tagged = await tagger.tagBatch(chunk, options);
        let out = "";
        chunk.forEach((text, j) => {
          const doc = { text, entities: tagged[j] };
          if (format === "json") all.push(doc);
          else out += formatDocument(doc, format, { color, labels: entityTypes(tagger) });
        });
        if (out) await io.stdout(out);
        if (source.progress) {
          const done = Math.min(i + batchSize, docs.length);
          const line = `${source.name}: ${done}/${docs.length} lines`;
          const last = done === docs.length;
          await io.stderr(
            io.stderrIsTerminal ? `\r\x1b[2K${line}${last ? "\n" : ""}` : `${line}\n`,
          );
        }
      }
    }
  } catch (e) {
    if (e instanceof InputError) {
      await io.stderr(`tag: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (format === "json") await io.stdout(JSON.stringify(all, null, 2) + "\n");
  return 0;
}

class InputError extends Error {}

/** Entity types of the model in tag order (their colours). */
function entityTypes(tagger: Tagger): string[] {
  const types: string[] = [];
  for (const tag of tagger.labels) {
    const type = tag.replace(/^[BIESLU]-/, "");
    if (tag !== "O" && !types.includes(type)) types.push(type);
  }
  return types;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

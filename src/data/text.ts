/**
 * Strict text decoding that reports where the bad bytes are.
 *
 * @module
 */

import { DataFormatError } from "./errors.ts";

/** Options for {@linkcode decodeUtf8}. */
export interface DecodeOptions {
  /** The name used in error messages. Default `"<input>"`. */
  path?: string;
}

/**
 * Decodes UTF-8 bytes strictly, drops a leading byte-order mark, and on
 * invalid bytes throws a {@linkcode DataFormatError} naming the line.
 *
 * @param bytes The bytes (a string passes through, less a leading BOM).
 * @param options Where the bytes came from.
 * @returns The text.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(decodeUtf8(new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69])), "hi");
 * assert.throws(() => decodeUtf8(new Uint8Array([0x61, 0x0a, 0xff]), { path: "x.txt" }), /x.txt:2:/);
 * ```
 */
export function decodeUtf8(bytes: Uint8Array | string, options: DecodeOptions = {}): string {
  if (typeof bytes === "string") return bytes.charCodeAt(0) === 0xfeff ? bytes.slice(1) : bytes;
  try {
    // ignoreBOM: false (the default) drops a leading BOM.
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    const shown = Array.from(bytes.subarray(at, at + 4), (b) => b.toString(16).padStart(2, "0"))
      .join(" ");
    throw new DataFormatError(
      options.path ?? "<input>",
      line,
      `expected UTF-8 text, found invalid bytes ${shown} at byte ${at}`,
    );
  }
}

/**
 * The offset of the first byte that does not begin a valid UTF-8 sequence, or -1.
 *
 * @param b The bytes.
 * @returns The offset, or -1 when all bytes are valid UTF-8.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(firstInvalidUtf8(new Uint8Array([0x61, 0xc3, 0xa9, 0xff])), 3);
 * assert.equal(firstInvalidUtf8(new TextEncoder().encode("héllo")), -1);
 * ```
 */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number, min: number;
    if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/**
 * Splits text into lines on `\n`, `\r\n` or `\r`.
 *
 * @param text The text.
 * @returns The lines; a final line break does not add an empty line.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(splitLines("a\r\nb\n\nc\n"), ["a", "b", "", "c"]);
 * ```
 */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * Decompresses gzip bytes with the web platform's `DecompressionStream`.
 *
 * @param bytes The gzip bytes.
 * @returns The decompressed bytes.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const gz = await new Response(
 *   new Blob(["hello"]).stream().pipeThrough(new CompressionStream("gzip")),
 * ).bytes();
 * assert.equal(new TextDecoder().decode(await gunzip(gz)), "hello");
 * ```
 */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return await new Response(stream).bytes();
}

/**
 * The safetensors format, bytes in and bytes out, with no file system: the
 * same code runs in Deno and in browsers (file helpers live in
 * `files.ts`). Layout (https://github.com/huggingface/safetensors):
 *
 * ```
 * u64 little-endian N | N bytes of JSON header, space-padded | tensor data
 * header: { "__metadata__": { string: string }?,
 *           name: { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, … }
 * ```
 *
 * Offsets are relative to the start of the data; the tensors cover it
 * exactly, with no gaps or overlaps; all numbers are little-endian. Also
 * float32 ⇄ float16 conversion (round to nearest, ties to even), so a model
 * can be stored at half the size.
 *
 * @module
 */

/** The element types this library reads and writes. */
export type Dtype = "F32" | "F16" | "I32" | "I64" | "U8";

/** Bytes per element of each supported dtype. */
export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = Object.freeze({
  F32: 4,
  F16: 2,
  I32: 4,
  I64: 8,
  U8: 1,
});

/** Every dtype the format defines: recognised, but only {@linkcode Dtype} is supported. */
const KNOWN_DTYPES = new Set([
  "BOOL",
  "U8",
  "I8",
  "I16",
  "U16",
  "F16",
  "BF16",
  "I32",
  "U32",
  "F32",
  "F64",
  "I64",
  "U64",
  "F8_E4M3",
  "F8_E5M2",
  "F8_E8M0",
  "F6_E2M3",
  "F6_E3M2",
  "F4",
  "C64",
]);

/** Typed storage of a decoded tensor: F16 is kept as raw bits. */
export type TensorArray = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

/** A tensor to encode. */
export interface TensorInput {
  /** Unique name, e.g. "lstm.weight_ih_l0" (not "__metadata__"). */
  name: string;
  /** Element type in the file. */
  dtype: Dtype;
  /** Dimensions, row-major; [] is a scalar (one element). */
  shape: number[];
  /**
   * Values, product(shape) of them: the dtype's typed array, or numbers.
   * For F16 a Uint16Array is taken as raw half-precision bits, and any other
   * array as values to round ({@linkcode float32ToFloat16}).
   */
  data: TensorArray | ArrayLike<number>;
}

/** A decoded tensor: its own copy of the data, aligned, in the platform's byte order. */
export interface Tensor {
  /** Name from the header. */
  name: string;
  /** Element type. */
  dtype: Dtype;
  /** Dimensions. */
  shape: number[];
  /** Values (F16: raw bits; see {@linkcode tensorToFloat32}). */
  data: TensorArray;
}

/** The content of a safetensors file. */
export interface Safetensors {
  /** Tensors by name, in data-offset order. */
  tensors: Map<string, Tensor>;
  /** The `__metadata__` string map ({} when absent). */
  metadata: Record<string, string>;
}

/** Thrown for bytes that are not a valid safetensors file, or for invalid input to encode. */
export class SafetensorsError extends Error {
  /** @param message what was wrong, naming the source */
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

/** Headers beyond this are refused (the reference implementation's limit). */
const MAX_HEADER_BYTES = 100_000_000;

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Copies `src` reversing each `width`-byte word when the platform is big-endian. */
function toLittleEndian(src: Uint8Array, width: number): Uint8Array {
  if (littleEndian || width === 1) return src;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i += width) {
    for (let j = 0; j < width; j++) out[i + j] = src[i + width - 1 - j];
  }
  return out;
}

/** The bytes of one tensor's data, little-endian. */
function tensorBytes(t: TensorInput, count: number): Uint8Array {
  const where = `tensor '${t.name}' (${t.dtype})`;
  const { data } = t;
  if (data.length !== count) {
    throw new SafetensorsError(
      `Cannot encode ${where}: shape [${t.shape.join(", ")}] holds ${count} values, ` +
        `data has ${data.length}`,
    );
  }
  let typed: TensorArray;
  switch (t.dtype) {
    case "F32":
      typed = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
      break;
    case "F16":
      typed = data instanceof Uint16Array ? data : float32ArrayToFloat16(data as ArrayLike<number>);
      break;
    case "I32":
    case "U8": {
      if ((t.dtype === "I32" ? data instanceof Int32Array : data instanceof Uint8Array)) {
        typed = data as TensorArray;
        break;
      }
      const [lo, hi] = t.dtype === "I32" ? [-(2 ** 31), 2 ** 31 - 1] : [0, 255];
      const values = data as ArrayLike<number>;
      for (let i = 0; i < values.length; i++) {
        const x = values[i];
        if (!Number.isInteger(x) || x < lo || x > hi) {
          throw new SafetensorsError(
            `Cannot encode ${where}: value ${x} at index ${i} is not an integer in [${lo}, ${hi}]`,
          );
        }
      }
      typed = t.dtype === "I32" ? Int32Array.from(values) : Uint8Array.from(values);
      break;
    }
    case "I64": {
      if (data instanceof BigInt64Array) {
        typed = data;
        break;
      }
      const values = data as ArrayLike<number>;
      typed = new BigInt64Array(values.length);
      for (let i = 0; i < values.length; i++) {
        if (!Number.isSafeInteger(values[i])) {
          throw new SafetensorsError(
            `Cannot encode ${where}: value ${values[i]} at index ${i} is not a safe integer`,
          );
        }
        typed[i] = BigInt(values[i]);
      }
      break;
    }
  }
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  return toLittleEndian(bytes, DTYPE_BYTES[t.dtype]);
}

/**
 * Encodes tensors and a metadata string map as a safetensors file. Tensors
 * are laid out by element size, largest first (stable otherwise), so that
 * with the 8-byte-aligned header every tensor is aligned to its element
 * size; the header is padded with spaces to a multiple of 8 bytes.
 *
 * @param tensors the tensors (unique names, data matching shape and dtype)
 * @param metadata the `__metadata__` map (string values; omitted when empty)
 * @returns the file's bytes
 * @throws {SafetensorsError} for duplicate or reserved names, bad shapes or data
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors(
 *   [{ name: "w", dtype: "F32", shape: [2], data: [1.5, -2] }],
 *   { format: "pt" },
 * );
 * const file = decodeSafetensors(bytes);
 * if (file.tensors.get("w")!.data[1] !== -2 || file.metadata.format !== "pt") throw new Error();
 * ```
 */
export function encodeSafetensors(
  tensors: readonly TensorInput[],
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = new Set<string>();
  for (const t of tensors) {
    if (typeof t.name !== "string" || t.name === "" || t.name === "__metadata__") {
      throw new SafetensorsError(`Cannot encode a tensor named ${JSON.stringify(t.name)}`);
    }
    if (names.has(t.name)) {
      throw new SafetensorsError(`Cannot encode: tensor name '${t.name}' appears twice`);
    }
    names.add(t.name);
    if (!(t.dtype in DTYPE_BYTES)) {
      throw new SafetensorsError(
        `Cannot encode tensor '${t.name}': dtype ${JSON.stringify(t.dtype)} is not one of ` +
          Object.keys(DTYPE_BYTES).join(", "),
      );
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(
        `Cannot encode tensor '${t.name}': shape ${JSON.stringify(t.shape)} is not a list of ` +
          "non-negative integers",
      );
    }
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string") {
      throw new SafetensorsError(
        `Cannot encode metadata '${key}': values must be strings, got ${typeof value}`,
      );
    }
  }
  const ordered = tensors
    .map((t, i) => ({ t, i }))
    .sort((a, b) => DTYPE_BYTES[b.t.dtype] - DTYPE_BYTES[a.t.dtype] || a.i - b.i)
    .map(({ t }) => t);
  // No prototype: a tensor named "__proto__" must become a key, not a prototype.
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of ordered) {
    const bytes = tensorBytes(t, product(t.shape));
    header[t.name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * Throws when any JSON object in `text` (already known to be valid JSON)
 * repeats a key: the format forbids it and `JSON.parse` keeps the last silently.
 */
function checkDuplicateKeys(text: string, fail: (what: string) => never): void {
  let i = 0;
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const string = (): string => {
    const start = i;
    i++; // opening quote
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  /** An object or array from its opening bracket: `item` reads each member, then `,` or `close`. */
  const members = (close: string, item: () => void): void => {
    i++;
    space();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      item();
      space();
      if (text[i++] === close) return;
    }
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === "{") {
      const keys = new Set<string>();
      members("}", () => {
        space();
        const key = string();
        if (keys.has(key)) fail(`the key ${JSON.stringify(key)} appears twice in one object`);
        keys.add(key);
        space();
        i++; // colon
        value();
      });
    } else if (c === "[") {
      members("]", value);
    } else if (c === '"') {
      string();
    } else {
      while (i < text.length && !",]} \t\n\r".includes(text[i])) i++;
    }
  };
  value();
}

function isNonNegativeInteger(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/** Options for {@linkcode decodeSafetensors}. */
export interface DecodeOptions {
  /** Where the bytes came from (a path or URL), named in every error (default "safetensors data"). */
  source?: string;
}

/**
 * Decodes and validates a safetensors file: the header length, UTF-8 JSON
 * header (no duplicate keys), each tensor's dtype, shape and offsets (sized
 * exactly shape × dtype, covering the data with no gap, overlap or trailing
 * bytes) and the metadata map. Every tensor's data is copied out aligned.
 *
 * @param bytes the whole file
 * @param options the source's name for error messages
 * @returns tensors by name and the metadata
 * @throws {SafetensorsError} naming the source and what was wrong
 *
 * @example
 * ```ts
 * import { decodeSafetensors, SafetensorsError } from "./safetensors.ts";
 * try {
 *   decodeSafetensors(new Uint8Array(3), { source: "model.safetensors" });
 *   throw new Error("not rejected");
 * } catch (e) {
 *   if (!(e instanceof SafetensorsError) || !e.message.includes("model.safetensors")) throw e;
 * }
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array, options: DecodeOptions = {}): Safetensors {
  const source = options.source ?? "safetensors data";
  const fail = (what: string): never => {
    throw new SafetensorsError(`Cannot read ${source}: ${what}`);
  };
  const { header, headerLength } = readHeader(bytes, fail);
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") metadata = readMetadata(info, fail);
    else entries.push(readEntry(name, info, dataLength, fail));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkCoverage(entries, dataLength, fail);
  const tensors = new Map<string, Tensor>();
  for (const e of entries) tensors.set(e.name, copyTensor(bytes, dataStart, e));
  return { tensors, metadata };
}

/** A tensor's header entry, checked: its dtype, shape and byte range in the data. */
interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/** The header length field, then the UTF-8 JSON object after it (no duplicate keys). */
function readHeader(
  bytes: Uint8Array,
  fail: (what: string) => never,
): { header: Record<string, unknown>; headerLength: number } {
  if (!(bytes instanceof Uint8Array)) fail("expected a Uint8Array of the file's bytes");
  if (bytes.length < 8) {
    fail(`file too short (${bytes.length} bytes): expected an 8-byte header length first`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  const available = bytes.length - 8;
  if (declared > BigInt(available)) {
    fail(`header length ${declared} exceeds the ${available} bytes after the length field`);
  }
  const headerLength = Number(declared);
  if (headerLength > MAX_HEADER_BYTES) {
    fail(`header length ${headerLength} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    fail("the header is not valid UTF-8");
  }
  // Checked on the raw byte: TextDecoder would silently drop a byte-order mark.
  if (bytes[8] !== 0x7b) {
    fail(
      `the header must be a JSON object starting with '{', found ${
        JSON.stringify(text.slice(0, 20))
      }`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("the header is not a JSON object");
  }
  checkDuplicateKeys(text, (what) => fail(`invalid header: ${what}`));
  return { header: header as Record<string, unknown>, headerLength };
}

/** The `__metadata__` entry: an object of strings. */
function readMetadata(info: unknown, fail: (what: string) => never): Record<string, string> {
  if (typeof info !== "object" || info === null || Array.isArray(info)) {
    fail("__metadata__ must be an object of strings");
  }
  for (const [key, value] of Object.entries(info as Record<string, unknown>)) {
    if (typeof value !== "string") {
      fail(`__metadata__ '${key}' must be a string, found ${JSON.stringify(value)}`);
    }
  }
  return { ...(info as Record<string, string>) };
}

/** One tensor's entry: exactly dtype, shape and data_offsets, sized shape × dtype, in the data. */
function readEntry(
  name: string,
  info: unknown,
  dataLength: number,
  fail: (what: string) => never,
): Entry {
  const where = `tensor '${name}'`;
  if (typeof info !== "object" || info === null || Array.isArray(info)) {
    fail(`${where}: expected an object with dtype, shape and data_offsets`);
  }
  const fields = info as Record<string, unknown>;
  for (const key of ["dtype", "shape", "data_offsets"]) {
    if (!(key in fields)) fail(`${where}: missing field "${key}"`);
  }
  const extra = Object.keys(fields).filter((k) => !["dtype", "shape", "data_offsets"].includes(k));
  if (extra.length > 0) fail(`${where}: unexpected field "${extra[0]}"`);
  const { dtype, shape, data_offsets: offsets } = fields;
  if (typeof dtype !== "string" || !KNOWN_DTYPES.has(dtype)) {
    fail(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!((dtype as string) in DTYPE_BYTES)) {
    fail(
      `${where}: dtype ${dtype} is not supported (supported: ${
        Object.keys(DTYPE_BYTES).join(", ")
      })`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    fail(
      `${where}: shape must be a list of non-negative integers, found ${JSON.stringify(shape)}`,
    );
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger) ||
    offsets[0] > offsets[1]
  ) {
    fail(
      `${where}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, found ${
        JSON.stringify(offsets)
      }`,
    );
  }
  const [begin, end] = offsets as number[];
  const count = product(shape as number[]);
  const expected = count * DTYPE_BYTES[dtype as Dtype];
  if (!Number.isSafeInteger(expected) || end - begin !== expected) {
    fail(
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, but shape ` +
        `[${(shape as number[]).join(", ")}] of ${dtype} needs ${expected}`,
    );
  }
  if (end > dataLength) {
    fail(`${where}: data_offsets [${begin}, ${end}] run past the ${dataLength} bytes of data`);
  }
  return { name, dtype: dtype as Dtype, shape: shape as number[], begin, end };
}

/** Entries sorted by begin cover the data exactly: no overlap, gap or trailing bytes. */
function checkCoverage(entries: Entry[], dataLength: number, fail: (what: string) => never): void {
  let covered = 0;
  let previous = "the start of the data";
  for (const e of entries) {
    if (e.begin < covered) {
      fail(
        `tensor '${e.name}' at [${e.begin}, ${e.end}] overlaps ${previous}, which ends at ${covered}`,
      );
    }
    if (e.begin > covered) {
      fail(
        `bytes [${covered}, ${e.begin}) between ${previous} and tensor '${e.name}' belong to no tensor`,
      );
    }
    covered = e.end;
    previous = `tensor '${e.name}'`;
  }
  if (covered !== dataLength) {
    fail(`${dataLength - covered} trailing bytes after the last tensor (data ends at ${covered})`);
  }
}

/** A copy of one tensor's data, aligned for its typed array whatever the file's offset. */
function copyTensor(bytes: Uint8Array, dataStart: number, e: Entry): Tensor {
  const width = DTYPE_BYTES[e.dtype];
  // A copy: aligned for the typed array whatever the file's offset, and
  // independent of the caller's buffer.
  const raw = toLittleEndian(bytes.slice(dataStart + e.begin, dataStart + e.end), width);
  const buffer = raw.buffer as ArrayBuffer;
  const count = (e.end - e.begin) / width;
  const data: TensorArray = e.dtype === "F32"
    ? new Float32Array(buffer, 0, count)
    : e.dtype === "F16"
    ? new Uint16Array(buffer, 0, count)
    : e.dtype === "I32"
    ? new Int32Array(buffer, 0, count)
    : e.dtype === "I64"
    ? new BigInt64Array(buffer, 0, count)
    : new Uint8Array(buffer, 0, count);
  return { name: e.name, dtype: e.dtype, shape: e.shape, data };
}

/**
 * A tensor's values as float32: F32 as is, F16 widened exactly, integers
 * converted (I64 beyond 2^53 loses precision).
 *
 * @param tensor a decoded tensor
 * @returns the values
 *
 * @example
 * ```ts
 * import { tensorToFloat32 } from "./safetensors.ts";
 * const t = { name: "x", dtype: "F16" as const, shape: [1], data: Uint16Array.of(0x3c00) };
 * if (tensorToFloat32(t)[0] !== 1) throw new Error("wrong");
 * ```
 */
export function tensorToFloat32(tensor: Tensor): Float32Array {
  const { data } = tensor;
  if (tensor.dtype === "F32") return data as Float32Array;
  if (tensor.dtype === "F16") return float16ArrayToFloat32(data as Uint16Array);
  if (data instanceof BigInt64Array) return Float32Array.from(data, (x) => Number(x));
  return Float32Array.from(data as ArrayLike<number>);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Rounds a number to IEEE binary16 bits: round to nearest, ties to even;
 * overflow to ±Infinity, gradual underflow through subnormals to ±0; NaN
 * stays NaN (quiet, sign and top payload bits kept). A float64 input is
 * first rounded to float32 (exact for float32 inputs).
 *
 * @param x the value
 * @returns the 16-bit pattern
 *
 * @example
 * ```ts
 * import { float32ToFloat16 } from "./safetensors.ts";
 * if (float32ToFloat16(1) !== 0x3c00 || float32ToFloat16(-2) !== 0xc000) throw new Error();
 * ```
 */
export function float32ToFloat16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) {
    return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0);
  }
  const e = exponent - 127 + 15; // the half-precision biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal (or zero): shift the full significand right and round.
    if (e < -10) return sign; // below half the smallest subnormal (2^-25): to ±0
    const significand = mantissa | 0x800000;
    const shift = 14 - e;
    let half = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1))) half++;
    return sign | half; // a carry into bit 10 gives the smallest normal, correctly
  }
  let h = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // a carry may reach Infinity: correct
  return sign | h;
}

/**
 * Widens IEEE binary16 bits to a number (exact).
 *
 * @param bits the 16-bit pattern
 * @returns the value
 *
 * @example
 * ```ts
 * import { float16ToFloat32 } from "./safetensors.ts";
 * if (float16ToFloat32(0x3555) !== 0.333251953125 || float16ToFloat32(0x0001) !== 2 ** -24) {
 *   throw new Error();
 * }
 * ```
 */
export function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/**
 * Rounds an array of numbers to binary16 bits ({@linkcode float32ToFloat16}).
 *
 * @param values the values
 * @returns the bits
 *
 * @example
 * ```ts
 * import { float32ArrayToFloat16 } from "./safetensors.ts";
 * if (float32ArrayToFloat16([0.5, Infinity]).join() !== "14336,31744") throw new Error();
 * ```
 */
export function float32ArrayToFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16(values[i]);
  return out;
}

/**
 * Widens binary16 bits to float32 ({@linkcode float16ToFloat32}).
 *
 * @param bits the bits
 * @returns the values
 *
 * @example
 * ```ts
 * import { float16ArrayToFloat32 } from "./safetensors.ts";
 * if (float16ArrayToFloat32(Uint16Array.of(0x3800)).join() !== "0.5") throw new Error();
 * ```
 */
export function float16ArrayToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16ToFloat32(bits[i]);
  return out;
}

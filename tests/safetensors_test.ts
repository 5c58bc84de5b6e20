import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  float16ArrayToFloat32,
  float16ToFloat32,
  float32ArrayToFloat16,
  float32ToFloat16,
  SafetensorsError,
  type TensorInput,
  tensorToFloat32,
} from "../src/io/safetensors.ts";
import { readSafetensorsFile, writeFileAtomic, writeSafetensorsFile } from "../src/io/files.ts";

/**
 * An independent minimal reader written from the spec: u64 LE header length,
 * JSON header, offsets relative to the data. Returns what it finds, raw.
 */
function minimalRead(bytes: Uint8Array) {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const data = bytes.subarray(8 + n);
  const out: Record<string, { dtype: string; shape: number[]; bytes: Uint8Array }> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [a, b] } = info as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    out[name] = { dtype, shape, bytes: data.subarray(a, b) };
  }
  return { headerLength: n, metadata: header.__metadata__, tensors: out };
}

const sample: TensorInput[] = [
  { name: "u8", dtype: "U8", shape: [3], data: [0, 7, 255] },
  { name: "out.weight", dtype: "F32", shape: [2, 3], data: [1, -2, 3.5, 1e-30, -0, 65504] },
  { name: "half", dtype: "F16", shape: [2, 2], data: [0.5, -1, 65504, 1e-7] },
  { name: "ids", dtype: "I64", shape: [2], data: [-5, 2 ** 40] },
  { name: "scalar", dtype: "I32", shape: [], data: [-123] },
  { name: "empty", dtype: "F32", shape: [0, 4], data: [] },
];

Deno.test("safetensors round trip keeps names, dtypes, shapes, values and metadata", () => {
  const metadata = { format: "pt", config: JSON.stringify({ hidden: 100, tags: ["O", "B-PER"] }) };
  const bytes = encodeSafetensors(sample, metadata);
  const file = decodeSafetensors(bytes);
  assert.deepEqual(file.metadata, metadata);
  assert.deepEqual([...file.tensors.keys()].sort(), sample.map((t) => t.name).sort());
  for (const t of sample) {
    const got = file.tensors.get(t.name)!;
    assert.equal(got.dtype, t.dtype);
    assert.deepEqual(got.shape, t.shape);
    if (t.dtype === "F16") {
      assert.deepEqual([...got.data], [...float32ArrayToFloat16(t.data as number[])]);
    } else if (t.dtype === "I64") {
      assert.deepEqual([...got.data], (t.data as number[]).map(BigInt));
    } else {
      assert.deepEqual(
        [...got.data],
        [...Float32Array.from(t.data as number[])].map((x) =>
          t.dtype === "F32" ? x : Math.round(x)
        ),
      );
    }
  }
  assert.deepEqual([...tensorToFloat32(file.tensors.get("half")!)], [
    0.5,
    -1,
    65504,
    1.1920928955078125e-7,
  ]);
  assert.deepEqual([...tensorToFloat32(file.tensors.get("ids")!)], [-5, 2 ** 40]);
  // Names that are special to JavaScript objects are plain names here.
  const odd = encodeSafetensors(
    [{ name: "__proto__", dtype: "U8", shape: [1], data: [1] }, {
      name: 'a"b\\c é',
      dtype: "U8",
      shape: [1],
      data: [2],
    }],
  );
  const oddFile = decodeSafetensors(odd);
  assert.deepEqual([...oddFile.tensors.keys()], ["__proto__", 'a"b\\c é']);
  assert.deepEqual(Object.keys(minimalRead(odd).tensors), ["__proto__", 'a"b\\c é']);
  // Encoding what was decoded gives the same bytes.
  const again = encodeSafetensors([...file.tensors.values()], file.metadata);
  assert.deepEqual(again, bytes);
});

Deno.test("safetensors layout follows the spec, checked by an independent reader", () => {
  const bytes = encodeSafetensors(sample, { a: "b" });
  const read = minimalRead(bytes);
  assert.equal(read.headerLength % 8, 0, "header padded to a multiple of 8");
  const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + read.headerLength));
  assert.match(headerText, /^\{.*\} *$/s, "JSON then space padding");
  assert.deepEqual(read.metadata, { a: "b" });
  const header = JSON.parse(headerText);
  // Data is contiguous in offset order and every tensor is aligned to its element size.
  const spans = Object.entries(header).filter(([k]) => k !== "__metadata__")
    .map(([, v]) => (v as { data_offsets: number[] }).data_offsets)
    .sort((a, b) => a[0] - b[0]);
  let end = 0;
  for (const [a, b] of spans) {
    assert.equal(a, end, "no gap or overlap");
    end = b;
  }
  assert.equal(end, bytes.length - 8 - read.headerLength, "data fills the rest of the file");
  const widths: Record<string, number> = { F32: 4, F16: 2, I32: 4, I64: 8, U8: 1 };
  for (const t of sample) {
    const r = read.tensors[t.name];
    assert.equal(r.dtype, t.dtype, t.name);
    assert.deepEqual(r.shape, t.shape, t.name);
    assert.equal(r.bytes.length, t.data.length * widths[t.dtype], t.name);
    assert.equal((8 + read.headerLength + header[t.name].data_offsets[0]) % widths[t.dtype], 0);
  }
  // Little-endian values, read byte by byte.
  const w = read.tensors["out.weight"].bytes;
  const dv = new DataView(w.buffer, w.byteOffset, w.byteLength);
  assert.deepEqual([0, 1, 2].map((i) => dv.getFloat32(4 * i, true)), [1, -2, 3.5]);
  const ids = read.tensors["ids"].bytes;
  assert.equal(new DataView(ids.buffer, ids.byteOffset).getBigInt64(8, true), 2n ** 40n);
  assert.equal(new DataView(ids.buffer, ids.byteOffset).getBigInt64(0, true), -5n);
  // No metadata: no __metadata__ key at all; no tensors: a valid empty file.
  assert.equal(minimalRead(encodeSafetensors(sample)).metadata, undefined);
  const empty = encodeSafetensors([]);
  assert.equal(empty.length, 16); // "{}" padded to 8
  assert.equal(decodeSafetensors(empty).tensors.size, 0);
});

Deno.test("safetensors encode rejects invalid input with clear errors", () => {
  const t = (extra: Partial<TensorInput>): TensorInput[] => [
    { name: "x", dtype: "F32", shape: [2], data: [1, 2], ...extra },
  ];
  assert.throws(
    () => encodeSafetensors(t({ data: [1] })),
    /shape \[2\] holds 2 values, data has 1/,
  );
  assert.throws(() => encodeSafetensors(t({ name: "__metadata__" })), /named "__metadata__"/);
  assert.throws(() => encodeSafetensors([...t({}), ...t({})]), /'x' appears twice/);
  assert.throws(
    () => encodeSafetensors(t({ dtype: "BF16" as "F32" })),
    /dtype "BF16" is not one of/,
  );
  assert.throws(() => encodeSafetensors(t({ shape: [-2] })), /non-negative integers/);
  assert.throws(() => encodeSafetensors(t({ dtype: "U8", data: [1, 256] })), /256 at index 1/);
  assert.throws(() => encodeSafetensors(t({ dtype: "I32", data: [1.5, 0] })), /1.5 at index 0/);
  assert.throws(() => encodeSafetensors(t({ dtype: "I64", data: [2 ** 60, 0] })), /safe integer/);
  assert.throws(
    () => encodeSafetensors(t({}), { n: 3 as unknown as string }),
    /metadata 'n': values must be strings/,
  );
});

/**
 * Builds a file from a header (object, raw text or raw bytes) and data bytes, with an
 * optional header-length override.
 */
function build(header: unknown, data = new Uint8Array(0), declared?: bigint): Uint8Array {
  const json = header instanceof Uint8Array
    ? header
    : new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

Deno.test("safetensors decode rejects every malformed file, naming the source", () => {
  const f32 = (offsets: number[], shape = [2]) => ({ dtype: "F32", shape, data_offsets: offsets });
  const eight = new Uint8Array(8);
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty file", new Uint8Array(0), /file too short \(0 bytes\)/],
    ["too short", new Uint8Array(5), /file too short \(5 bytes\)/],
    ["header length beyond file", build({}, eight, 100n), /header length 100 exceeds the 10 bytes/],
    ["huge header length", build({}, eight, 2n ** 63n), /exceeds/],
    ["zero header length", build("", eight), /must be a JSON object starting with '\{'/],
    ["not JSON", build("{oops", eight), /not valid JSON/],
    ["JSON array", build("[1, 2]"), /starting with '\{'/],
    ["invalid UTF-8", build(new Uint8Array([0x7b, 0xff, 0x7d])), /not valid UTF-8/],
    ["byte-order mark", build("\ufeff{}"), /starting with '\{'/],
    [
      "duplicate key",
      build(
        '{"a":' + JSON.stringify(f32([0, 8])) + ',"a":' +
          JSON.stringify(f32([0, 8])) + "}",
        eight,
      ),
      /"a" appears twice/,
    ],
    ["tensor not an object", build({ a: 3 }), /tensor 'a': expected an object/],
    [
      "missing dtype",
      build({ a: { shape: [2], data_offsets: [0, 8] } }, eight),
      /missing field "dtype"/,
    ],
    [
      "missing shape",
      build({ a: { dtype: "F32", data_offsets: [0, 8] } }, eight),
      /missing field "shape"/,
    ],
    [
      "missing offsets",
      build({ a: { dtype: "F32", shape: [2] } }, eight),
      /missing field "data_offsets"/,
    ],
    ["extra field", build({ a: { ...f32([0, 8]), extra: 1 } }, eight), /unexpected field "extra"/],
    ["unknown dtype", build({ a: { ...f32([0, 8]), dtype: "F33" } }, eight), /unknown dtype "F33"/],
    [
      "unsupported dtype",
      build({ a: { ...f32([0, 8]), dtype: "BF16" } }, eight),
      /BF16 is not supported/,
    ],
    ["bad shape", build({ a: f32([0, 8], [2.5]) }, eight), /shape must be a list of non-negative/],
    ["negative shape", build({ a: f32([0, 8], [-2]) }, eight), /shape must be/],
    ["bad offsets", build({ a: f32([8, 0]) }, eight), /data_offsets must be \[begin, end\]/],
    ["three offsets", build({ a: f32([0, 4, 8]) }, eight), /data_offsets must be/],
    [
      "size mismatch",
      build({ a: f32([0, 8], [3]) }, eight),
      /span 8 bytes, but shape \[3\] of F32 needs 12/,
    ],
    ["out of range", build({ a: f32([8, 16]) }, eight), /run past the 8 bytes of data/],
    [
      "overlap",
      build({ a: f32([0, 8]), b: f32([4, 12]) }, new Uint8Array(12)),
      /overlaps tensor 'a'/,
    ],
    [
      "gap",
      build({ a: f32([0, 8]), b: f32([12, 20]) }, new Uint8Array(20)),
      /bytes \[8, 12\) .* belong to no tensor/,
    ],
    ["hole at start", build({ a: f32([4, 12]) }, new Uint8Array(12)), /bytes \[0, 4\)/],
    ["trailing garbage", build({ a: f32([0, 8]) }, new Uint8Array(11)), /3 trailing bytes/],
    [
      "metadata not strings",
      build({ __metadata__: { n: 3 } }),
      /__metadata__ 'n' must be a string/,
    ],
    ["metadata not an object", build({ __metadata__: "x" }), /__metadata__ must be an object/],
  ];
  for (const [what, bytes, pattern] of cases) {
    assert.throws(
      () => decodeSafetensors(bytes, { source: "m.safetensors" }),
      (e: Error) => {
        assert.ok(e instanceof SafetensorsError, `${what}: ${e}`);
        assert.match(e.message, /^Cannot read m\.safetensors: /, what);
        assert.match(e.message, pattern, what);
        return true;
      },
      what,
    );
  }
  // Header padding with spaces, zero-sized tensors sharing an offset, and an unaligned
  // tensor (a U8 of odd size before an F32) are all valid.
  const ok = build(
    JSON.stringify({
      z: { dtype: "F32", shape: [0], data_offsets: [0, 0] },
      u: { dtype: "U8", shape: [1], data_offsets: [0, 1] },
      f: f32([1, 9]),
    }) + "   ",
    new Uint8Array([9, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]),
  );
  const file = decodeSafetensors(ok);
  assert.deepEqual([...file.tensors.keys()], ["z", "u", "f"]);
  assert.deepEqual([...file.tensors.get("f")!.data], [1, 2]);
  assert.deepEqual([...file.tensors.get("u")!.data], [9]);
});

/** float32 bits → value. */
function fromBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0];
}

Deno.test("float16 conversion is exact on special values and rounds ties to even", () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff], // max
    [65519.99, 0x7bff], // just below the rounding boundary
    [65520, 0x7c00], // halfway to 2^16: ties to even → Infinity
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even → 0
    [-(2 ** -25), 0x8000],
    [1.5 * 2 ** -25, 0x0001], // above halfway: rounds up
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 subnormal units → even (2)
    [5 * 2 ** -25, 0x0002], // tie between 2 and 3 → even (2)
    [2 ** -26, 0x0000],
    [1e-30, 0x0000],
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1 + 2^-10 → even (1)
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 1 + 2^-10 and 1 + 2^-9 → even
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
    [2047 * 2 ** -25, 0x0400], // rounds up out of the subnormals into the smallest normal
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
  ];
  for (const [x, bits] of cases) {
    assert.equal(float32ToFloat16(x), bits, `f16(${x}) = 0x${float32ToFloat16(x).toString(16)}`);
  }
  // NaN stays NaN (quiet), keeping its sign; a NaN with only low payload bits too.
  for (const nanBits of [0x7fc00000, 0xffc00000, 0x7f800001]) {
    const h = float32ToFloat16(fromBits(nanBits));
    assert.equal(h & 0x7c00, 0x7c00);
    assert.ok((h & 0x3ff) !== 0, `NaN 0x${nanBits.toString(16)} stays NaN`);
    assert.equal(h & 0x8000, (nanBits >>> 16) & 0x8000);
    assert.ok(Number.isNaN(float16ToFloat32(h)));
  }
  // Widening is exact for every one of the 65,536 patterns, and narrowing inverts it.
  for (let h = 0; h < 0x10000; h++) {
    const x = float16ToFloat32(h);
    if (Number.isNaN(x)) {
      assert.equal((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0, true);
      continue;
    }
    assert.equal(float32ToFloat16(x), h, `round trip 0x${h.toString(16)}`);
  }
  assert.ok(Object.is(float16ToFloat32(0x8000), -0));
  assert.equal(float16ToFloat32(0x7bff), 65504);
  assert.equal(float16ToFloat32(0xfc00), -Infinity);
});

Deno.test("float16 rounding agrees with the platform's Float16Array on random float32s", () => {
  const F16 = (globalThis as unknown as { Float16Array?: Float32ArrayConstructor }).Float16Array;
  const values = new Float32Array(200_000);
  const bits = new Uint32Array(values.buffer);
  let s = 12345;
  for (let i = 0; i < bits.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // Exponents around the half range, so subnormals, normals and overflow all occur.
    bits[i] = (s & 0x807fffff) | ((((s >>> 23) % 48) + 97) << 23);
  }
  const ours = float32ArrayToFloat16(values);
  if (F16) {
    const theirs = new Uint16Array(new F16(values).buffer);
    for (let i = 0; i < values.length; i++) {
      if (ours[i] !== theirs[i]) {
        assert.fail(
          `0x${bits[i].toString(16)}: ours 0x${ours[i].toString(16)}, platform 0x${
            theirs[i].toString(16)
          }`,
        );
      }
    }
  }
  // Independently of the platform: the result is the nearest half (checked by neighbours).
  const back = float16ArrayToFloat32(ours);
  for (let i = 0; i < values.length; i += 97) {
    const x = values[i];
    if (!Number.isFinite(back[i])) {
      assert.ok(Math.abs(x) >= 65520, `overflow only past 65520: ${x}`);
      continue;
    }
    const err = Math.abs(back[i] - x);
    for (const step of [-1, 1]) {
      const neighbour = float16ToFloat32((ours[i] & 0x8000) | ((ours[i] & 0x7fff) + step));
      if (Number.isFinite(neighbour)) assert.ok(err <= Math.abs(neighbour - x), `nearest for ${x}`);
    }
  }
});

Deno.test("writeFileAtomic replaces a file whole and safetensors files round-trip by path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/model.safetensors`;
    await Deno.writeTextFile(path, "old contents");
    await writeSafetensorsFile(path, sample, { version: "1" });
    const file = await readSafetensorsFile(path);
    assert.deepEqual(file.metadata, { version: "1" });
    assert.deepEqual(file.tensors.get("out.weight")!.shape, [2, 3]);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(names, ["model.safetensors"], "no temporary file left behind");
    // A failed write (missing directory) leaves nothing and names the path.
    await assert.rejects(
      () => writeFileAtomic(`${dir}/missing/x.bin`, new Uint8Array(1)),
      /Cannot write '.*missing\/x\.bin'/,
    );
    await Deno.writeFile(`${dir}/bad.safetensors`, new Uint8Array(4));
    await assert.rejects(
      () => readSafetensorsFile(`${dir}/bad.safetensors`),
      /Cannot read .*bad\.safetensors: file too short/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

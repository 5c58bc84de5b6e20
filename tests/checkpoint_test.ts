import assert from "node:assert/strict";
import { CASING_CLASSES } from "../src/data/casing.ts";
import { modelSizes } from "./fixtures.ts";
import { Vocabulary } from "../src/data/vocab.ts";
import { decodeModel, encodeModel, type ModelData } from "../src/model/checkpoint.ts";
import { resolveConfig } from "../src/model/config.ts";
import { initialValues, parameterSpecs } from "../src/model/parameters.ts";
import { decodeSafetensors, encodeSafetensors } from "../src/io/safetensors.ts";

function tinyModel(): ModelData {
  const config = resolveConfig({
    wordDim: 4,
    casingDim: 2,
    charDim: 3,
    charFilters: 4,
    hidden: 3,
    layers: 2,
  });
  const words = new Vocabulary(["Ada", "Paris"]);
  const chars = new Vocabulary(["A", "d", "a"]);
  const tags = new Vocabulary(["O", "B-PER", "I-PER"], { specials: false });
  const sizes = modelSizes({ words, chars, tags });
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const tensors = Object.fromEntries(
    parameterSpecs(config, sizes).map((s) => [s.name, initialValues(s, random)]),
  );
  return { config, words, chars, tags, scheme: "IOB2", tensors };
}

/** An independent minimal safetensors reader: header length, JSON header, offsets. */
function readHeader(
  bytes: Uint8Array,
): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  delete header.__metadata__;
  return header;
}

Deno.test("model.safetensors has PyTorch names, shapes and offsets an independent reader agrees with", () => {
  const model = tinyModel();
  const bytes = encodeModel(model);
  const header = readHeader(bytes);
  const H = 3, E = 4 + 2 + 4, K = 3;
  const expected: Record<string, number[]> = {
    "word_emb.weight": [4, 4],
    "casing_emb.weight": [CASING_CLASSES.length, 2],
    "char_emb.weight": [5, 3],
    "char_cnn.weight": [4, 3, 3],
    "char_cnn.bias": [4],
    "lstm.weight_ih_l0": [4 * H, E],
    "lstm.weight_hh_l0": [4 * H, H],
    "lstm.bias_ih_l0": [4 * H],
    "lstm.bias_hh_l0": [4 * H],
    "lstm.weight_ih_l0_reverse": [4 * H, E],
    "lstm.weight_ih_l1": [4 * H, 2 * H],
    "lstm.weight_hh_l1_reverse": [4 * H, H],
    "out.weight": [K, 2 * H],
    "out.bias": [K],
    "crf.transitions": [K, K],
    "crf.start": [K],
    "crf.end": [K],
  };
  for (const [name, shape] of Object.entries(expected)) {
    assert.ok(header[name], `missing ${name}`);
    assert.deepEqual(header[name].shape, shape, name);
    assert.equal(header[name].dtype, "F32", name);
    const [begin, end] = header[name].data_offsets;
    assert.equal(end - begin, 4 * shape.reduce((a, b) => a * b, 1), name);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const values = new Float32Array(bytes.slice(8 + n + begin, 8 + n + end).buffer);
    assert.deepEqual(Array.from(values), Array.from(model.tensors[name]), name);
  }
  assert.equal(
    Object.keys(header).length,
    parameterSpecs(model.config, {
      words: 4,
      chars: 5,
      casings: CASING_CLASSES.length,
      tags: 3,
    }).length,
  );
});

Deno.test("a model round-trips, also in float16, with its vocabularies and config", () => {
  const model = tinyModel();
  const back = decodeModel(encodeModel(model));
  assert.deepEqual(back.config, model.config);
  assert.equal(back.words.id("Paris"), model.words.id("Paris"));
  assert.deepEqual(back.tensors["crf.transitions"], model.tensors["crf.transitions"]);
  const half = decodeModel(encodeModel(model, { float16: true }));
  const a = half.tensors["lstm.weight_ih_l0"];
  const b = model.tensors["lstm.weight_ih_l0"];
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= 1e-3 * Math.abs(b[i]) + 1e-7);
  }
});

Deno.test("truncated, foreign and inconsistent files are rejected with what is wrong", () => {
  const bytes = encodeModel(tinyModel());
  assert.throws(
    () => decodeModel(bytes.subarray(0, bytes.length - 10), "cut.safetensors"),
    /cut\.safetensors/,
  );
  assert.throws(() => decodeModel(new TextEncoder().encode("hello world, not a model"), "x"), /x/);
  const model = tinyModel();
  model.tensors["out.bias"] = new Float32Array(7);
  assert.throws(() => encodeModel(model), /out\.bias/);
  const nan = tinyModel();
  nan.tensors["crf.start"][0] = NaN;
  assert.throws(() => decodeModel(encodeModel(nan), "nan.safetensors"), /NaN/);
});

Deno.test("a resumable checkpoint carries the best weights as best.<name>, checked like the others", () => {
  const model = tinyModel();
  const best = Object.fromEntries(
    Object.entries(model.tensors).map(([name, t]) => [name, t.map((x) => x + 1)]),
  );
  const m = new Float32Array(3), v = new Float32Array(3);
  const bytes = encodeModel(model, { training: { m, v, best, state: { epoch: 2 } } });
  const header = readHeader(bytes);
  assert.deepEqual(header["best.out.weight"].shape, header["out.weight"].shape);
  const back = decodeModel(bytes, "last.safetensors");
  for (const [name, tensor] of Object.entries(best)) {
    assert.deepEqual([...back.training!.best![name]], [...tensor], name);
    assert.deepEqual([...back.tensors[name]], [...model.tensors[name]], name);
  }
  assert.equal(
    decodeModel(encodeModel(model, { training: { m, v, state: {} } })).training?.best,
    undefined,
  );
  const broken = { ...best, "crf.start": new Float32Array([1, NaN, 0]) };
  assert.throws(
    () => decodeModel(encodeModel(model, { training: { m, v, best: broken, state: {} } }), "x"),
    /Cannot load x: tensor 'best\.crf\.start' holds NaN or infinite values/,
  );
  const { "out.bias": _, ...missing } = best;
  assert.throws(
    () => encodeModel(model, { training: { m, v, best: missing, state: {} } }),
    /best tensor 'out\.bias' is missing/,
  );
});

Deno.test("a model round-trips its calibration; one without it loads with none (temperature 1)", () => {
  const plain = decodeModel(encodeModel(tinyModel()), "plain.safetensors");
  assert.equal(plain.calibration, undefined);
  assert.equal("calibration" in decodeSafetensors(encodeModel(tinyModel())).metadata, false);
  const model = tinyModel();
  model.calibration = { temperature: 1.2345678901234, fittedOn: "dev", spans: 321 };
  const bytes = encodeModel(model, { float16: true });
  const meta = decodeSafetensors(bytes).metadata;
  assert.deepEqual(JSON.parse(meta.calibration), model.calibration);
  const back = decodeModel(bytes, "calibrated.safetensors");
  assert.deepEqual(back.calibration, model.calibration);
});

/** The model's file with its `calibration` metadata replaced by `text`. */
function withCalibrationText(text: string): Uint8Array {
  const file = decodeSafetensors(encodeModel(tinyModel()));
  return encodeSafetensors([...file.tensors.values()], { ...file.metadata, calibration: text });
}

Deno.test("an invalid calibration in a file is rejected with the file and the value named", () => {
  const cases: [string, RegExp][] = [
    ['{"temperature":0,"fittedOn":"dev","spans":3}', /expected a temperature .*> 0, found 0/],
    ['{"temperature":-1.5,"fittedOn":"dev","spans":3}', /found -1\.5/],
    ['{"temperature":1e999,"fittedOn":"dev","spans":3}', /finite number > 0, found null/],
    ['{"temperature":"2","fittedOn":"dev","spans":3}', /found "2"/],
    ['{"fittedOn":"dev","spans":3}', /expected a temperature .*, found null/],
    ['{"temperature":2,"fittedOn":"dev","spans":-1}', /spans to be an integer ≥ 0, found -1/],
    ['{"temperature":2,"spans":1}', /fittedOn to be a string/],
    ["[2]", /expected an object, found \[2\]/],
    ["{temperature: 2}", /metadata 'calibration' is not valid JSON/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => decodeModel(withCalibrationText(text), "bad_temp.safetensors"),
      (e: Error) => {
        assert.match(e.message, /^Cannot load bad_temp\.safetensors: metadata 'calibration'/, text);
        assert.match(e.message, pattern, text);
        return true;
      },
    );
  }
  const model = tinyModel();
  model.calibration = { temperature: NaN, fittedOn: "dev", spans: 1 };
  assert.throws(() => encodeModel(model), /Cannot save the model: metadata 'calibration'/);
});

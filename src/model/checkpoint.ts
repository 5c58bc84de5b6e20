/**
 * The model file: `model.safetensors` with PyTorch tensor names and
 * layouts, and `__metadata__` holding the format version, the model
 * config, the vocabularies, the tag scheme, a training summary and, when
 * training fitted one, the calibration temperature of span scores. Pure
 * bytes in and out, so it works in browsers too.
 *
 * A resumable checkpoint is the same file plus `optimizer.m` and
 * `optimizer.v` (flat, GPU layout), `optimizer.average` when weights are
 * averaged, the best weights so far as `best.<name>` (PyTorch names and
 * shapes, so a resume never loses them), and a `training_state` metadata
 * entry.
 *
 * @module
 */

import type { TagScheme } from "../data/schemes.ts";
import { Vocabulary, type VocabularyJSON } from "../data/vocab.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type TensorInput,
  tensorToFloat32,
} from "../io/safetensors.ts";
import { type ModelConfig, resolveConfig } from "./config.ts";
import { parameterSpecs } from "./parameters.ts";
import { CASING_CLASSES } from "../data/casing.ts";

/** The `format` metadata value this version writes and reads. */
export const MODEL_FORMAT = "webgpu-ner/1";

/** Everything needed to tag with a model. */
export interface ModelData {
  /** Layer sizes and switches. */
  config: ModelConfig;
  /** Word vocabulary (with its lowercasing and digit rules). */
  words: Vocabulary;
  /** Character vocabulary. */
  chars: Vocabulary;
  /** Output tags, id order. */
  tags: Vocabulary;
  /** The scheme of the output tags. */
  scheme: TagScheme;
  /** Parameters by PyTorch name. */
  tensors: Record<string, Float32Array>;
  /** Free-form training summary (corpus, F1, seed, adapter, time). */
  summary?: Record<string, unknown>;
  /** The temperature of span scores, fitted on development data (absent: raw scores, τ = 1). */
  calibration?: ModelCalibration;
}

/** A temperature for span scores and where it was fitted. */
export interface ModelCalibration {
  /** τ, finite and > 0: span scores p become σ(logit(p) / τ). */
  temperature: number;
  /** What the temperature was fitted on (e.g. "dev", a file name). */
  fittedOn: string;
  /** Predicted spans it was fitted on. */
  spans: number;
}

/** Optimizer and loop state saved beside the parameters to resume training. */
export interface TrainingState {
  /** Adam first moments, flat GPU layout. */
  m: Float32Array;
  /** Adam second moments, flat GPU layout. */
  v: Float32Array;
  /** The running parameter average, flat GPU layout, when training averages weights. */
  average?: Float32Array;
  /** The best (by dev F1) weights so far, by PyTorch name, stored as `best.<name>`. */
  best?: Record<string, Float32Array>;
  /** Anything the trainer needs (epoch, step, best F1, history). */
  state: Record<string, unknown>;
}

/** Options for {@linkcode encodeModel}. */
export interface EncodeModelOptions {
  /** Store parameters as float16 (half the size; loading converts back). */
  float16?: boolean;
  /** Optimizer state for a resumable checkpoint. */
  training?: TrainingState;
}

/**
 * Encodes a model as safetensors bytes.
 *
 * @param model the model
 * @param options fp16 storage, optimizer state
 * @returns the file's bytes
 *
 * @example
 * ```ts
 * import { decodeModel, encodeModel } from "./checkpoint.ts";
 * import { Vocabulary } from "../data/vocab.ts";
 * import { resolveConfig } from "./config.ts";
 * import { initialValues, parameterSpecs } from "./parameters.ts";
 * import { CASING_CLASSES } from "../data/casing.ts";
 * const config = resolveConfig({ hidden: 4, wordDim: 4, charFeatures: "none", casingDim: 0 });
 * const words = new Vocabulary(["a"]);
 * const chars = new Vocabulary([]);
 * const tags = new Vocabulary(["O", "B-X"], { specials: false });
 * const sizes = { words: words.size, chars: chars.size, casings: CASING_CLASSES.length, tags: 2 };
 * const tensors = Object.fromEntries(
 *   parameterSpecs(config, sizes).map((s) => [s.name, initialValues(s, Math.random)]),
 * );
 * const bytes = encodeModel({ config, words, chars, tags, scheme: "IOB2", tensors });
 * const back = decodeModel(bytes);
 * if (back.tags.item(1) !== "B-X" || back.config.hidden !== 4) throw new Error("round trip");
 * ```
 */
export function encodeModel(model: ModelData, options: EncodeModelOptions = {}): Uint8Array {
  const sizes = modelSizes(model);
  const specs = parameterSpecs(model.config, sizes);
  const entries: TensorInput[] = specs.map((spec) => {
    const data = model.tensors[spec.name];
    if (!data) throw new Error(`Cannot save the model: tensor '${spec.name}' is missing`);
    const expected = spec.shape.reduce((a, b) => a * b, 1);
    if (data.length !== expected) {
      throw new Error(
        `Cannot save the model: tensor '${spec.name}' has ${data.length} values, expected ${expected}`,
      );
    }
    return { name: spec.name, dtype: options.float16 ? "F16" : "F32", shape: spec.shape, data };
  });
  const metadata: Record<string, string> = {
    format: MODEL_FORMAT,
    config: JSON.stringify(model.config),
    words: JSON.stringify(model.words.toJSON()),
    chars: JSON.stringify(model.chars.toJSON()),
    tags: JSON.stringify(model.tags.toJSON()),
    scheme: model.scheme,
    casing_classes: JSON.stringify(CASING_CLASSES),
    summary: JSON.stringify(model.summary ?? {}),
  };
  if (model.calibration) {
    checkCalibration(model.calibration, "Cannot save the model");
    metadata.calibration = JSON.stringify(model.calibration);
  }
  if (options.training) {
    const { m, v, average, best, state } = options.training;
    entries.push(
      { name: "optimizer.m", dtype: "F32", shape: [m.length], data: m },
      { name: "optimizer.v", dtype: "F32", shape: [v.length], data: v },
    );
    if (average) {
      entries.push({
        name: "optimizer.average",
        dtype: "F32",
        shape: [average.length],
        data: average,
      });
    }
    if (best) {
      for (const spec of specs) {
        const data = best[spec.name];
        if (!data) {
          throw new Error(`Cannot save the checkpoint: best tensor '${spec.name}' is missing`);
        }
        entries.push({ name: `best.${spec.name}`, dtype: "F32", shape: spec.shape, data });
      }
    }
    metadata.training_state = JSON.stringify(state);
  }
  return encodeSafetensors(entries, metadata);
}

function modelSizes(model: Pick<ModelData, "words" | "chars" | "tags">) {
  return {
    words: model.words.size,
    chars: model.chars.size,
    casings: CASING_CLASSES.length,
    tags: model.tags.size,
  };
}

function parseJson<T>(source: string, key: string, text: string | undefined): T {
  if (text === undefined) throw new Error(`Cannot load ${source}: metadata '${key}' is missing`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`Cannot load ${source}: metadata '${key}' is not valid JSON`);
  }
}

/**
 * Decodes and validates a model file: format version, config, vocabularies
 * and every tensor's name and shape, naming what is wrong.
 *
 * @param bytes the file's bytes
 * @param source the file name or URL, for messages
 * @returns the model, and the training state when the file has one
 *
 * @example
 * ```ts
 * import { decodeModel } from "./checkpoint.ts";
 * try {
 *   decodeModel(new Uint8Array(3), "broken.safetensors");
 *   throw new Error("accepted garbage");
 * } catch (e) {
 *   if (!(e as Error).message.includes("broken.safetensors")) throw e;
 * }
 * ```
 */
export function decodeModel(
  bytes: Uint8Array,
  source = "model",
): ModelData & { training?: TrainingState } {
  const file = decodeSafetensors(bytes, { source });
  const meta = file.metadata;
  if (meta.format !== MODEL_FORMAT) {
    throw new Error(
      `Cannot load ${source}: expected a ${MODEL_FORMAT} model, found format ` +
        `'${meta.format ?? "(none)"}' (is this a webgpu-ner model file?)`,
    );
  }
  let config: ModelConfig;
  try {
    config = resolveConfig(parseJson(source, "config", meta.config));
  } catch (e) {
    throw new Error(`Cannot load ${source}: ${(e as Error).message}`);
  }
  const vocab = (key: string) =>
    Vocabulary.fromJSON(parseJson<VocabularyJSON>(source, key, meta[key]));
  const words = vocab("words");
  const chars = vocab("chars");
  const tags = vocab("tags");
  const scheme = (meta.scheme ?? "IOB2") as TagScheme;
  const specs = parameterSpecs(config, modelSizes({ words, chars, tags }));
  const tensors = readTensors(file, specs, source, "");
  const model: ModelData & { training?: TrainingState } = {
    config,
    words,
    chars,
    tags,
    scheme,
    tensors,
    summary: meta.summary ? parseJson(source, "summary", meta.summary) : {},
  };
  if (meta.calibration !== undefined) {
    model.calibration = parseJson<ModelCalibration>(source, "calibration", meta.calibration);
    checkCalibration(model.calibration, `Cannot load ${source}`);
  }
  const m = file.tensors.get("optimizer.m");
  const v = file.tensors.get("optimizer.v");
  if (m && v && meta.training_state) {
    model.training = {
      m: tensorToFloat32(m),
      v: tensorToFloat32(v),
      state: parseJson(source, "training_state", meta.training_state),
    };
    const average = file.tensors.get("optimizer.average");
    if (average) model.training.average = tensorToFloat32(average);
    if (file.tensors.has(`best.${specs[0].name}`)) {
      model.training.best = readTensors(file, specs, source, "best.");
    }
  }
  return model;
}

/** Throws `${what}: metadata 'calibration': …` unless the calibration is well formed. */
function checkCalibration(c: unknown, what: string): asserts c is ModelCalibration {
  const fail = (expected: string, found: unknown) => {
    throw new Error(
      `${what}: metadata 'calibration': expected ${expected}, found ${JSON.stringify(found)}`,
    );
  };
  if (typeof c !== "object" || c === null || Array.isArray(c)) fail("an object", c);
  const { temperature, fittedOn, spans } = c as Record<string, unknown>;
  if (!(typeof temperature === "number" && Number.isFinite(temperature) && temperature > 0)) {
    fail("a temperature that is a finite number > 0", temperature ?? null);
  }
  if (typeof fittedOn !== "string") fail("fittedOn to be a string", fittedOn ?? null);
  if (!(Number.isInteger(spans) && (spans as number) >= 0)) {
    fail("spans to be an integer ≥ 0", spans ?? null);
  }
}

/** The model's tensors under `prefix`, each checked for name, shape, dtype and finite values. */
function readTensors(
  file: ReturnType<typeof decodeSafetensors>,
  specs: ReturnType<typeof parameterSpecs>,
  source: string,
  prefix: string,
): Record<string, Float32Array> {
  const tensors: Record<string, Float32Array> = {};
  for (const { name: base, shape } of specs) {
    const name = prefix + base;
    const spec = { name, shape };
    const tensor = file.tensors.get(spec.name);
    if (!tensor) throw new Error(`Cannot load ${source}: tensor '${spec.name}' is missing`);
    if (tensor.shape.join() !== spec.shape.join()) {
      throw new Error(
        `Cannot load ${source}: tensor '${spec.name}' has shape [${tensor.shape}], ` +
          `expected [${spec.shape}]`,
      );
    }
    if (tensor.dtype !== "F32" && tensor.dtype !== "F16") {
      throw new Error(
        `Cannot load ${source}: tensor '${spec.name}' is ${tensor.dtype}, expected F32 or F16`,
      );
    }
    const values = tensorToFloat32(tensor);
    if (!values.every(Number.isFinite)) {
      throw new Error(`Cannot load ${source}: tensor '${spec.name}' holds NaN or infinite values`);
    }
    tensors[base] = values;
  }
  return tensors;
}

/**
 * webgpu-ner: BiLSTM-CRF named-entity recognition trained and run on the
 * GPU through WebGPU, in Deno and in browsers. This module re-exports the
 * public API; it has no dependencies beyond the web platform and touches no
 * Deno API when it loads, so it bundles for browsers. Functions that read
 * files from disk (`readCorpus`, `loadEmbeddedCorpus`, …) live in `deno.ts`,
 * which re-exports all of this module too.
 *
 * Tag text in three lines:
 *
 * ```ts ignore
 * import { Tagger } from "./mod.ts";
 * const tagger = await Tagger.load(new URL("./models/gmb-small.safetensors", import.meta.url));
 * console.log(await tagger.tag("Angela Merkel visited Paris on Monday."));
 * ```
 *
 * @example
 * ```ts
 * import { acquireGpu, describeAdapter } from "./mod.ts";
 * const gpu = await acquireGpu();
 * console.log(describeAdapter(gpu.adapter));
 * ```
 *
 * @module
 */

export * from "./src/gpu/mod.ts";
export * from "./src/ops/matmul.ts";

// Using a model.
export * from "./src/api/mod.ts";
export {
  decodeModel,
  encodeModel,
  type EncodeModelOptions,
  MODEL_FORMAT,
  type ModelCalibration,
  type ModelData,
  type TrainingState,
} from "./src/model/checkpoint.ts";
export { DEFAULT_CONFIG, type ModelConfig, resolveConfig } from "./src/model/config.ts";
export { relabelModel, type RelabelOptions } from "./src/model/relabel.ts";
export { parameterLayout, toPytorchTensors } from "./src/model/graph.ts";

// Data: parsers of bytes or text (file readers are in deno.ts).
export { type ConllOptions, parseConll } from "./src/data/conll.ts";
export { type GmbCorpus, type GmbCsvOptions, parseGmbCsv } from "./src/data/csv.ts";
export { type JsonlOptions, parseJsonl } from "./src/data/jsonl.ts";
export { type CorpusOptions, formatFromPath, parseCorpus } from "./src/data/read_corpus.ts";
export {
  type Coverage,
  embeddingCoverage,
  type EmbeddingOptions,
  type Embeddings,
  formatCoverage,
  parseEmbeddings,
} from "./src/data/embeddings.ts";
export { EMBEDDED_CORPUS_URL } from "./src/data/embedded.ts";
export { gunzip } from "./src/data/text.ts";
export { type Split, splitCorpus, type SplitOptions } from "./src/data/split.ts";
export { DataFormatError } from "./src/data/errors.ts";
export { type Corpus, type CorpusFormat, type Sentence } from "./src/data/sentence.ts";
export {
  convertTags,
  detectScheme,
  parseScheme,
  type Span,
  spansToTags,
  type TagScheme,
  tagsToSpans,
} from "./src/data/schemes.ts";
export { Vocabulary } from "./src/data/vocab.ts";
export {
  sentences,
  spanText,
  type TextSentence,
  tokenize,
  type TokenizeOptions,
} from "./src/data/tokenize.ts";

// Evaluation.
export * from "./src/eval/mod.ts";

// Training.
export {
  type EpochEvent,
  TRAIN_DEFAULTS,
  type TrainData,
  type TrainEvent,
  trainModel,
  type TrainOptions,
  type TrainResult,
} from "./src/train/trainer.ts";
export { type BatchFit, bytesPerRow, fitBatches } from "./src/train/batching.ts";
export {
  calibrateOnDev,
  type CalibrationDecision,
  formatCalibration,
} from "./src/train/calibrate.ts";
export type { ProgressSink } from "./src/train/progress.ts";

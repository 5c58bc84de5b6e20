/**
 * The model's configuration: sizes of each layer and the head, with the
 * defaults the CLI and the README use.
 *
 * @module
 */

/** Which character features feed the word representation. */
export type CharFeatures = "cnn" | "none";

/** Which output layer scores tag sequences. */
export type Head = "crf" | "softmax";

/** Sizes and switches of the BiLSTM-CRF. */
export interface ModelConfig {
  /** Word embedding size. */
  wordDim: number;
  /** Casing embedding size (0 disables the casing feature). */
  casingDim: number;
  /** Character features. */
  charFeatures: CharFeatures;
  /** Character embedding size (char CNN only). */
  charDim: number;
  /** Character CNN filters, i.e. the char feature size (char CNN only). */
  charFilters: number;
  /** Longest word in characters the char CNN sees; longer words are truncated. */
  maxChars: number;
  /** LSTM hidden size per direction. */
  hidden: number;
  /** Stacked BiLSTM layers. */
  layers: number;
  /** Dropout on the LSTM input and output. */
  dropout: number;
  /** Output layer. */
  head: Head;
}

/** The default model: 100-d words, 8-d casing, char CNN 30→50, one BiLSTM of 2×100, CRF. */
export const DEFAULT_CONFIG: Readonly<ModelConfig> = Object.freeze({
  wordDim: 100,
  casingDim: 8,
  charFeatures: "cnn",
  charDim: 32,
  charFilters: 48,
  maxChars: 16,
  hidden: 100,
  layers: 1,
  dropout: 0.5,
  head: "crf",
});

/**
 * Fills in defaults and checks every field, naming the bad one.
 *
 * @param partial the fields to override
 * @returns a complete configuration
 * @throws {RangeError} for a value out of range
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * const config = resolveConfig({ hidden: 64 });
 * if (config.hidden !== 64 || config.head !== "crf") throw new Error("wrong defaults");
 * ```
 */
export function resolveConfig(partial: Partial<ModelConfig> = {}): ModelConfig {
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const config = { ...DEFAULT_CONFIG, ...given } as ModelConfig;
  const positive = ["wordDim", "hidden", "layers", "maxChars"] as const;
  for (const key of positive) {
    if (!Number.isInteger(config[key]) || config[key] < 1) {
      throw new RangeError(
        `Model config '${key}': expected a positive integer, got ${config[key]}`,
      );
    }
  }
  for (const key of ["casingDim", "charDim", "charFilters"] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 0) {
      throw new RangeError(`Model config '${key}': expected an integer ≥ 0, got ${config[key]}`);
    }
  }
  if (!(config.dropout >= 0 && config.dropout < 1)) {
    throw new RangeError(
      `Model config 'dropout': expected a value in [0, 1), got ${config.dropout}`,
    );
  }
  if (config.charFeatures !== "cnn" && config.charFeatures !== "none") {
    throw new RangeError(
      `Model config 'charFeatures': expected cnn or none, got ${config.charFeatures}`,
    );
  }
  if (config.head !== "crf" && config.head !== "softmax") {
    throw new RangeError(`Model config 'head': expected crf or softmax, got ${config.head}`);
  }
  if (config.charFeatures === "cnn" && (config.charDim < 1 || config.charFilters < 1)) {
    throw new RangeError("Model config: the char CNN needs charDim ≥ 1 and charFilters ≥ 1");
  }
  return config;
}

/**
 * Width of the LSTM's input: word + casing + char features.
 *
 * @param config the configuration
 * @returns the input size E
 *
 * @example
 * ```ts
 * import { inputDim, resolveConfig } from "./config.ts";
 * if (inputDim(resolveConfig({ charFeatures: "none", casingDim: 0 })) !== 100) throw new Error();
 * ```
 */
export function inputDim(config: ModelConfig): number {
  return config.wordDim + config.casingDim +
    (config.charFeatures === "cnn" ? config.charFilters : 0);
}

/**
 * A model with random weights: for examples, tests and benchmarks that need
 * a {@linkcode ModelData} of a given size without training one.
 *
 * @module
 */

import { CASING_CLASSES } from "../data/casing.ts";
import { mulberry32 } from "../data/random.ts";
import type { TagScheme } from "../data/schemes.ts";
import { Vocabulary } from "../data/vocab.ts";
import type { ModelData } from "../model/checkpoint.ts";
import { type ModelConfig, resolveConfig } from "../model/config.ts";
import { initialValues, parameterSpecs } from "../model/parameters.ts";

/** Options for {@linkcode randomModel}. */
export interface RandomModelOptions {
  /** The output tags (default O, B-PER, I-PER, B-LOC, I-LOC). */
  tags?: readonly string[];
  /** The tags' scheme (default IOB2). */
  scheme?: TagScheme;
  /** The known words (default: none but `<pad>` and `<unk>`). */
  words?: readonly string[];
  /** The known characters (default: ASCII letters, digits and some punctuation). */
  chars?: readonly string[];
  /** Layer sizes (default: a tiny model, 8-d words, no char features, hidden 8). */
  config?: Partial<ModelConfig>;
  /** Seed of the weights (default 1). */
  seed?: number;
}

/**
 * Makes a model with weights drawn as at the start of training.
 *
 * @param options tags, vocabulary, sizes, seed
 * @returns the model (encode it with `encodeModel`, or tag with `Tagger.fromModel`)
 *
 * @example
 * ```ts
 * import { randomModel } from "./random_model.ts";
 * const model = randomModel({ words: ["Ada", "sang"], seed: 2 });
 * if (model.tags.size !== 5 || model.words.size !== 4) throw new Error("sizes");
 * ```
 */
export function randomModel(options: RandomModelOptions = {}): ModelData {
  const config = resolveConfig({
    wordDim: 8,
    casingDim: 0,
    charFeatures: "none",
    hidden: 8,
    dropout: 0,
    ...options.config,
  });
  const words = new Vocabulary(options.words ?? []);
  const chars = new Vocabulary(
    options.chars ??
      [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?-'\"()"],
  );
  const tags = new Vocabulary(options.tags ?? ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], {
    specials: false,
  });
  const sizes = {
    words: words.size,
    chars: chars.size,
    casings: CASING_CLASSES.length,
    tags: tags.size,
  };
  const random = mulberry32(options.seed ?? 1);
  const tensors = Object.fromEntries(
    parameterSpecs(config, sizes).map((spec) => [spec.name, initialValues(spec, random)]),
  );
  return {
    config,
    words,
    chars,
    tags,
    scheme: options.scheme ?? "IOB2",
    tensors,
    summary: { corpus: "random weights" },
  };
}

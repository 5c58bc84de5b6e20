/**
 * The user-facing objects: the {@linkcode Tagger}, a random-weights model
 * for examples and benchmarks, and model evaluation (`evaluateModel`,
 * `compareModels`). Re-exports only.
 *
 * @module
 */

export * from "./tagger.ts";
export * from "./random_model.ts";
export * from "./evaluate.ts";

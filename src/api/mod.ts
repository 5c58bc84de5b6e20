/**
 * The user-facing objects: the {@linkcode Tagger} and a random-weights model
 * for examples and benchmarks. Re-exports only.
 *
 * @module
 */

export * from "./tagger.ts";
export * from "./random_model.ts";

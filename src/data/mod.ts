/**
 * Data: corpus readers (CoNLL, GMB CSV, JSON Lines), tag schemes and the
 * transition mask, vocabularies, casing features, pretrained vectors,
 * batching, and the embedded GMB corpus. Re-exports only.
 *
 * @module
 */

export * from "./batch.ts";
export * from "./casing.ts";
export * from "./conll.ts";
export * from "./csv.ts";
export * from "./embedded.ts";
export * from "./embeddings.ts";
export * from "./errors.ts";
export * from "./jsonl.ts";
export * from "./random.ts";
export * from "./read_corpus.ts";
export * from "./schemes.ts";
export * from "./sentence.ts";
export * from "./split.ts";
export * from "./text.ts";
export * from "./vocab.ts";

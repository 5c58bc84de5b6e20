/**
 * The Deno entry point: everything in `mod.ts`, plus the functions that read
 * and write files with Deno's APIs (corpora, embeddings, the embedded GMB
 * corpus, safetensors files, a progress bar on stderr). `mod.ts` stays free
 * of them so that it bundles for browsers without a single `Deno.` call.
 *
 * @example
 * ```ts
 * import { readCorpus } from "./deno.ts";
 * const file = await Deno.makeTempFile({ suffix: ".conll" });
 * await Deno.writeTextFile(file, "Ada B-PER\nsang O\n");
 * const corpus = await readCorpus(file);
 * await Deno.remove(file);
 * if (corpus.sentences[0].tags[0] !== "B-PER") throw new Error("read");
 * ```
 *
 * @module
 */

export * from "./mod.ts";
export { readConll } from "./src/data/conll.ts";
export { readGmbCsv } from "./src/data/csv.ts";
export { readJsonl } from "./src/data/jsonl.ts";
export { readCorpus } from "./src/data/read_corpus.ts";
export { readEmbeddings } from "./src/data/embeddings.ts";
export {
  type EmbeddedCorpus,
  type EmbeddedCorpusOptions,
  loadEmbeddedCorpus,
} from "./src/data/embedded.ts";
export {
  readSafetensorsFile,
  removeStaleTempFiles,
  writeFileAtomic,
  writeSafetensorsFile,
} from "./src/io/files.ts";
export { acquireRunLock, LOCK_FILE, type RunLock } from "./src/train/lock.ts";
export { stderrSink } from "./src/train/progress.ts";

/**
 * Word-level dropout: the training batches with some words fed as `<unk>`,
 * so the `<unk>` embedding learns what unseen words look like and the model
 * learns to tag from characters, casing and context when a word's own
 * embedding tells it nothing (Lample et al. 2016 replace words seen once;
 * word dropout replaces any word).
 *
 * @module
 */

import type { Batch } from "../data/batch.ts";
import { groupTokenIds } from "../ops/embedding.ts";

/** The id of `<unk>` in every word vocabulary (`<pad>` is 0). */
const UNK = 1;

/** How often words are fed as `<unk>`. */
export interface WordDropoutOptions {
  /** Probability of replacing a word marked in `singletons` (default 0). */
  unkReplace?: number;
  /** Probability of replacing any word (default 0). */
  wordDropout?: number;
  /** 1 for word ids seen once in the training data (for `unkReplace`). */
  singletons?: Uint8Array;
}

/**
 * Marks the word ids that occur exactly once in the given sentences.
 *
 * @param sentences word ids per sentence
 * @param vocabularySize the number of word ids
 * @returns 1 at ids seen once (never `<pad>` or `<unk>`)
 *
 * @example
 * ```ts
 * import { singletonWords } from "./word_dropout.ts";
 * const once = singletonWords([Int32Array.of(2, 3, 2), Int32Array.of(4)], 5);
 * if (once.join() !== "0,0,0,1,1") throw new Error(once.join());
 * ```
 */
export function singletonWords(
  sentences: readonly ArrayLike<number>[],
  vocabularySize: number,
): Uint8Array {
  const counts = new Uint32Array(vocabularySize);
  for (const s of sentences) for (let i = 0; i < s.length; i++) counts[s[i]]++;
  return Uint8Array.from(counts, (n, id) => (n === 1 && id > UNK ? 1 : 0));
}

/**
 * The batch with words replaced by `<unk>`: a word marked as a singleton
 * with probability `unkReplace`, then any word with probability
 * `wordDropout`. Padding and `<unk>` itself are left alone, and the
 * embedding-gradient grouping is rebuilt for the new ids. Returns the batch
 * itself when nothing changed. Deterministic for a given `random`.
 *
 * @param batch the batch
 * @param options probabilities and the singleton marks
 * @param random a uniform [0, 1) generator
 * @returns the batch as fed to the model
 *
 * @example
 * ```ts
 * import { encodeSentences, makeBatches } from "../data/batch.ts";
 * import { buildCharVocabulary, buildTagVocabulary, buildWordVocabulary } from "../data/vocab.ts";
 * import { dropWords } from "./word_dropout.ts";
 * const sentences = [{ tokens: ["Ada", "sang"], tags: ["B-PER", "O"] }];
 * const encoders = {
 *   words: buildWordVocabulary(sentences),
 *   chars: buildCharVocabulary(sentences),
 *   tags: buildTagVocabulary(["O", "B-PER"]),
 * };
 * const [batch] = makeBatches(encodeSentences(sentences, encoders), { shuffle: false });
 * const dropped = dropWords(batch, { wordDropout: 0.999999 }, () => 0.5);
 * if ([...dropped.wordIds].join() !== "1,1") throw new Error("not replaced");
 * ```
 */
export function dropWords(
  batch: Batch,
  options: WordDropoutOptions,
  random: () => number,
): Batch {
  const unkReplace = options.unkReplace ?? 0;
  const wordDropout = options.wordDropout ?? 0;
  if (unkReplace <= 0 && wordDropout <= 0) return batch;
  const singletons = options.singletons;
  const ids = batch.wordIds.slice();
  let changed = false;
  for (let r = 0; r < ids.length; r++) {
    if (ids[r] <= UNK) continue;
    const rare = unkReplace > 0 && singletons !== undefined && singletons[ids[r]] === 1 &&
      random() < unkReplace;
    if (rare || (wordDropout > 0 && random() < wordDropout)) {
      ids[r] = UNK;
      changed = true;
    }
  }
  if (!changed) return batch;
  return { ...batch, wordIds: ids, wordGroups: groupTokenIds(ids, batch.lengths, batch.maxLength) };
}

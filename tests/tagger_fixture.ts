/**
 * A tiny model for the Tagger, CLI and URL-import tests: trained in a few
 * seconds on invented sentences in which a handful of first names are
 * persons and a handful of cities are locations, until it tags every
 * training sentence right, so the expected entities are known.
 *
 * @module
 */

import type { Sentence } from "../src/data/sentence.ts";
import type { Gpu } from "../src/gpu/device.ts";
import type { ModelData } from "../src/model/checkpoint.ts";
import { trainModel } from "../src/train/trainer.ts";

const PEOPLE = ["Ada", "Bo", "Cy", "Di"];
const PLACES = ["Paris", "Oslo", "Rome"];
const VERBS = ["visited", "left", "loves"];

/**
 * The invented sentences: "<person> <verb> <place> ." and
 * "<person> Smith <verb> New <place> .", every combination (72 sentences).
 *
 * @returns the sentences with IOB2 tags
 *
 * @example
 * ```ts
 * import { tinySentences } from "./tagger_fixture.ts";
 * if (tinySentences().length !== 72) throw new Error();
 * ```
 */
export function tinySentences(): Sentence[] {
  const out: Sentence[] = [];
  for (const p of PEOPLE) {
    for (const v of VERBS) {
      for (const c of PLACES) {
        out.push({ tokens: [p, v, c, "."], tags: ["B-PER", "O", "B-LOC", "O"] });
        out.push({
          tokens: [p, "Smith", v, "New", c, "."],
          tags: ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"],
        });
      }
    }
  }
  return out;
}

/**
 * Trains the tiny model and checks it learned the pattern.
 *
 * @param gpu the device
 * @returns the model and its file's bytes
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../src/gpu/device.ts";
 * import { trainTinyModel } from "./tagger_fixture.ts";
 * const { model } = await trainTinyModel(await acquireGpu());
 * if (model.tags.size !== 5) throw new Error(model.tags.items.join());
 * ```
 */
export async function trainTinyModel(gpu: Gpu): Promise<{ model: ModelData; bytes: Uint8Array }> {
  const data = tinySentences();
  const result = await trainModel(gpu, { train: data, dev: data }, {
    config: {
      wordDim: 8,
      casingDim: 0,
      charFeatures: "none",
      hidden: 8,
      dropout: 0,
    },
    epochs: 40,
    batchSize: 8,
    lr: 0.05,
    lrDecay: 0,
    // The raw weights: a 40-epoch run on 24 sentences is too short for a weight average.
    average: 0,
    patience: 0,
    seed: 3,
    corpus: "tiny invented sentences",
    // Its dev set is its training set: no temperature to learn there; tests see raw scores.
    calibrate: false,
  });
  if (result.bestDevF1 < 1) {
    throw new Error(`The tiny model did not learn its pattern: dev F1 ${result.bestDevF1}`);
  }
  return { model: result.model, bytes: result.bytes };
}

/**
 * Evaluating a model on gold data: tag the data's tokens, convert gold and
 * predicted tags to IOB2, and score entities, tags, errors and the
 * calibration of span scores; compare two models with the paired bootstrap.
 *
 * @module
 */

import { convertTags } from "../data/schemes.ts";
import type { BootstrapOptions } from "../eval/bootstrap.ts";
import { fitTemperature, type ScoredSpan } from "../eval/calibration.ts";
import { compareEvaluations, type Comparison } from "../eval/compare.ts";
import { type ModelEvaluation, scoreTagging } from "../eval/evaluation.ts";

/** What evaluation needs of a tagger; {@linkcode Tagger} has it. */
export interface TokenTagger {
  /** The model's tags (any scheme). */
  readonly labels: readonly string[];
  /** The model's calibration temperature of span scores, if it has one. */
  readonly temperature?: number;
  /**
   * Tags pre-tokenized sentences: tags and scored spans (token offsets) per
   * sentence; `calibrated: false` asks for raw span scores.
   */
  tagTokens(
    sentences: readonly (readonly string[])[],
    options: { constrained?: boolean; calibrated?: boolean },
  ): Promise<{ tags: string[]; entities: ScoredSpan[] }[]>;
}

/** Gold sentences: tokens and tags in any scheme. */
export type GoldSentences = readonly { tokens: readonly string[]; tags: readonly string[] }[];

/** Options for {@linkcode evaluateModel}. */
export interface EvaluateModelOptions {
  /** Decode only sequences valid in the model's scheme. Default true. */
  constrained?: boolean;
  /** Error patterns to list. Default 10. */
  top?: number;
  /** Bins of the reliability diagram. Default 10. */
  bins?: number;
  /**
   * A temperature applied to the raw span scores before binning (1: raw).
   * Default: the tagger's own (`tagger.temperature`, 1 without one).
   */
  temperature?: number;
  /** Names for the report. Default "model" and "data". */
  names?: { model?: string; data?: string };
}

/**
 * Evaluates a tagger on gold sentences: conlleval entity scores, per-tag
 * table, confusion matrix, top errors, the reliability diagram and ECE of
 * the span scores, per-sentence counts for {@linkcode compareModels}, and
 * warnings when the data's entity types are not the model's.
 *
 * @param tagger the model (a {@linkcode Tagger} or anything with `labels` and `tagTokens`)
 * @param gold the gold sentences (any scheme; both sides are compared as IOB2)
 * @param options decoding, error patterns, bins, temperature, names
 * @returns the evaluation (render it with `renderEvaluation`)
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { acquireGpu } from "../gpu/device.ts";
 * import { renderEvaluation } from "../eval/evaluation.ts";
 * import { randomModel } from "./random_model.ts";
 * import { Tagger } from "./tagger.ts";
 * const tagger = await Tagger.fromModel(await acquireGpu(), randomModel({ words: ["Ada"] }));
 * const ev = await evaluateModel(tagger, [{ tokens: ["Ada", "sang"], tags: ["B-PER", "O"] }]);
 * assert.equal(ev.report.entities.overall.gold, 1);
 * assert.match(renderEvaluation(ev), /^processed 2 tokens with 1 phrases;/);
 * ```
 */
export async function evaluateModel(
  tagger: TokenTagger,
  gold: GoldSentences,
  options: EvaluateModelOptions = {},
): Promise<ModelEvaluation> {
  const goldTags = gold.map((s, i) => {
    if (s.tokens.length !== s.tags.length) {
      throw new RangeError(
        `evaluateModel: sentence ${i}: expected one tag per token (${s.tokens.length}), found ${s.tags.length}`,
      );
    }
    return convertTags(s.tags, "IOB2");
  });
  // Raw scores: the reliability diagram applies the temperature and shows both.
  const tagged = await tagger.tagTokens(gold.map((s) => s.tokens), {
    constrained: options.constrained ?? true,
    calibrated: false,
  });
  return scoreTagging(
    goldTags,
    tagged.map((r) => ({ tags: convertTags(r.tags, "IOB2"), entities: r.entities })),
    {
      model: options.names?.model,
      data: options.names?.data,
      top: options.top,
      bins: options.bins,
      temperature: options.temperature ?? tagger.temperature ?? 1,
      modelLabels: tagger.labels,
    },
  );
}

/**
 * Evaluates two taggers on the same gold sentences and tests the F1
 * difference (B − A) with the paired bootstrap over sentences.
 *
 * @param a the baseline
 * @param b the other model
 * @param gold the gold sentences
 * @param options evaluation options for both, `names` per model, and the bootstrap's resamples and seed
 * @returns the comparison (render it with `renderComparison`)
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { acquireGpu } from "../gpu/device.ts";
 * import { randomModel } from "./random_model.ts";
 * import { Tagger } from "./tagger.ts";
 * const tagger = await Tagger.fromModel(await acquireGpu(), randomModel({ words: ["Ada"] }));
 * const gold = [{ tokens: ["Ada", "sang"], tags: ["B-PER", "O"] }];
 * const c = await compareModels(tagger, tagger, gold, { resamples: 50 });
 * assert.equal(c.bootstrap.difference, 0);
 * assert.equal(c.bootstrap.pValue, 1);
 * ```
 */
export async function compareModels(
  a: TokenTagger,
  b: TokenTagger,
  gold: GoldSentences,
  options: Omit<EvaluateModelOptions, "names"> & BootstrapOptions & {
    names?: { a?: string; b?: string; data?: string };
  } = {},
): Promise<Comparison> {
  const { names, resamples, seed, confidence, ...rest } = options;
  const evA = await evaluateModel(a, gold, {
    ...rest,
    names: { model: names?.a ?? "A", data: names?.data },
  });
  const evB = await evaluateModel(b, gold, {
    ...rest,
    names: { model: names?.b ?? "B", data: names?.data },
  });
  return compareEvaluations(evA, evB, { resamples, seed, confidence });
}

/**
 * Fits the temperature of a tagger's raw span scores on development data
 * (see `fitTemperature`; a temperature the model stores is ignored); apply
 * it with `temperatureScale`, the `temperature` option of
 * {@linkcode evaluateModel}, or store it in the model's `calibration`.
 *
 * @param tagger the model
 * @param dev development sentences (any scheme)
 * @param options decoding constraints
 * @returns τ (1 when the scores are calibrated; above 1 when over-confident)
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * // A tagger that calls every token a person with probability 0.9.
 * const tagger = {
 *   labels: ["O", "B-PER"],
 *   tagTokens: (sentences: readonly (readonly string[])[]) =>
 *     Promise.resolve(sentences.map((tokens) => ({
 *       tags: tokens.map(() => "B-PER"),
 *       entities: tokens.map((_, i) => ({ label: "PER", start: i, end: i + 1, score: 0.9 })),
 *     }))),
 * };
 * // Right 3 times in 4: τ = ln 9 / ln 3 = 2 turns 0.9 into 0.75.
 * const dev = [{ tokens: ["Ada", "Bo", "Cy", "Di"], tags: ["B-PER", "B-PER", "B-PER", "O"] }];
 * assert.ok(Math.abs((await fitDevTemperature(tagger, dev)) - 2) < 1e-6);
 * ```
 */
export async function fitDevTemperature(
  tagger: TokenTagger,
  dev: GoldSentences,
  options: { constrained?: boolean } = {},
): Promise<number> {
  const ev = await evaluateModel(tagger, dev, { ...options, temperature: 1 });
  if (ev.spans.length === 0) {
    throw new RangeError(
      "fitDevTemperature: expected predicted spans on the development data to fit on, found none",
    );
  }
  return fitTemperature(ev.spans);
}

/**
 * Calibration at the end of training: tag the development set once with
 * the chosen model, fit a temperature of its span scores
 * (`fitTemperature`, the negative log-likelihood of "this span is right")
 * and keep it only when it lowers the dev expected calibration error and
 * lies inside the fit's range (a fit that runs to τ = 0.01 or 100, as when
 * every dev span is right, says the dev set does not determine τ). The
 * weights never change; a kept temperature goes into the model's
 * `calibration`, and the Tagger applies it to entity scores.
 *
 * @module
 */

import { evaluateModel, type GoldSentences } from "../api/evaluate.ts";
import { Tagger } from "../api/tagger.ts";
import { fitTemperature, reliability } from "../eval/calibration.ts";
import type { Gpu } from "../gpu/device.ts";
import type { ModelData } from "../model/checkpoint.ts";

/** What the end-of-training calibration found and decided. */
export interface CalibrationDecision {
  /** Whether the temperature was stored in the model. */
  applied: boolean;
  /** The fitted τ (1 when nothing could be fitted). */
  temperature: number;
  /** Dev ECE of the raw span scores. */
  devEce: number;
  /** Dev ECE after the fitted temperature. */
  devEceCalibrated: number;
  /** Predicted dev spans it was fitted on. */
  spans: number;
  /** Why no temperature was fitted or kept apart from the ECE (no spans, a fit at its range's edge). */
  reason?: string;
}

/** The range `fitTemperature` searches: τ in [0.01, 100]. */
const TAU_MIN = 0.01, TAU_MAX = 100;

/**
 * Fits a temperature on the development set and decides whether to keep it
 * (one pass over `dev`: raw scores, then τ and both ECEs from them).
 *
 * @param gpu the device
 * @param model the trained model (its stored calibration, if any, is ignored)
 * @param dev development sentences (any scheme)
 * @returns the decision; `applied` when τ lowers the dev ECE
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { acquireGpu } from "../gpu/device.ts";
 * import { randomModel } from "../api/random_model.ts";
 * const dev = [{ tokens: ["Ada", "sang"], tags: ["B-PER", "O"] }];
 * const d = await calibrateOnDev(await acquireGpu(), randomModel({ words: ["Ada"] }), dev);
 * assert.equal(d.applied, d.reason === undefined && d.devEceCalibrated < d.devEce);
 * ```
 */
export async function calibrateOnDev(
  gpu: Gpu,
  model: ModelData,
  dev: GoldSentences,
): Promise<CalibrationDecision> {
  const spans = await devSpans(gpu, model, dev);
  if (spans.length === 0) {
    return {
      applied: false,
      temperature: 1,
      devEce: 0,
      devEceCalibrated: 0,
      spans: 0,
      reason: "no predicted spans on the dev set",
    };
  }
  const temperature = fitTemperature(spans);
  const devEce = reliability(spans).ece;
  const devEceCalibrated = reliability(spans, { temperature }).ece;
  const atEdge = temperature < TAU_MIN * (1 + 1e-6) || temperature > TAU_MAX * (1 - 1e-6);
  return {
    applied: !atEdge && devEceCalibrated < devEce,
    temperature,
    devEce,
    devEceCalibrated,
    spans: spans.length,
    ...(atEdge ? { reason: edgeReason(temperature, spans) } : {}),
  };
}

/** Why a fit at the edge of τ's range says nothing: what the dev spans look like. */
function edgeReason(temperature: number, spans: readonly { correct: boolean }[]): string {
  const right = spans.filter((s) => s.correct).length;
  const why = temperature < 1
    ? (right === spans.length
      ? "every predicted span is right"
      : "right and wrong spans are separated by score")
    : (right === 0
      ? "every predicted span is wrong"
      : "the scores do not tell right spans from wrong ones");
  return `the fit ran to the edge of its range (τ = ${temperature.toPrecision(3)}); ` +
    `the dev set does not determine a temperature (${why})`;
}

/** The raw span outcomes of the model on `dev` (a Tagger made and freed here). */
async function devSpans(gpu: Gpu, model: ModelData, dev: GoldSentences) {
  using tagger = await Tagger.fromModel(gpu, { ...model, calibration: undefined });
  return (await evaluateModel(tagger, dev, { temperature: 1 })).spans;
}

/**
 * The one line training prints about calibration.
 *
 * @param d the decision
 * @returns e.g. "calibration: temperature 1.21 (dev ECE 0.019 -> 0.012)"
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const line = formatCalibration({
 *   applied: false, temperature: 0.97, devEce: 0.012, devEceCalibrated: 0.014, spans: 9,
 * });
 * assert.equal(line, "calibration: temperature 0.97 not applied (dev ECE would rise: 0.012 -> 0.014)");
 * ```
 */
export function formatCalibration(d: CalibrationDecision): string {
  if (d.spans === 0) return `calibration: no temperature fitted (${d.reason})`;
  const ece = `${d.devEce.toFixed(3)} -> ${d.devEceCalibrated.toFixed(3)}`;
  const t = d.temperature.toFixed(2);
  if (d.reason) return `calibration: temperature ${t} not applied (${d.reason}; dev ECE ${ece})`;
  return d.applied
    ? `calibration: temperature ${t} (dev ECE ${ece}, ${d.spans} spans)`
    : `calibration: temperature ${t} not applied (dev ECE would ${
      d.devEceCalibrated > d.devEce ? "rise" : "not fall"
    }: ${ece})`;
}

/**
 * Evaluation: conlleval-exact entity scores, per-tag tables, the confusion
 * matrix, top errors, the paired bootstrap test, span-score calibration,
 * a model's evaluation and two models' comparison, and text, JSON and HTML
 * reports. Re-exports only.
 *
 * @module
 */

export * from "./bootstrap.ts";
export * from "./calibration.ts";
export * from "./classification.ts";
export * from "./compare.ts";
export * from "./confusion.ts";
export * from "./conlleval.ts";
export * from "./evaluation.ts";
export * from "./html.ts";
export * from "./report.ts";

/**
 * Evaluation: conlleval-exact entity scores, per-tag tables, the confusion
 * matrix, top errors, the paired bootstrap test, span-score calibration,
 * and text, JSON and HTML reports. Re-exports only.
 *
 * @module
 */

export * from "./bootstrap.ts";
export * from "./calibration.ts";
export * from "./classification.ts";
export * from "./confusion.ts";
export * from "./conlleval.ts";
export * from "./html.ts";
export * from "./report.ts";

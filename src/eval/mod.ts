/**
 * Evaluation: conlleval-exact entity scores, per-tag tables, the confusion
 * matrix, top errors, and text, JSON and HTML reports. Re-exports only.
 *
 * @module
 */

export * from "./classification.ts";
export * from "./confusion.ts";
export * from "./conlleval.ts";
export * from "./html.ts";
export * from "./report.ts";

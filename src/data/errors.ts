/**
 * The one error class every data reader throws for bad input.
 *
 * @module
 */

/**
 * Bad input in a data file: its message reads `path:line: what was expected,
 * what came`, and the fields give the same facts to code.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const error = new DataFormatError("train.txt", 12, "expected 4 columns, found 3");
 * assert.equal(error.message, "train.txt:12: expected 4 columns, found 3");
 * assert.equal(error.line, 12);
 * ```
 */
export class DataFormatError extends Error {
  /** The file (or the name given for in-memory text) the bad input came from. */
  readonly path: string;
  /** The 1-based line number of the bad input. */
  readonly line: number;
  /** What was expected and what came, without the `path:line:` prefix. */
  readonly detail: string;

  /**
   * Creates an error for `path:line`.
   *
   * @param path The file name (or a name for in-memory text).
   * @param line The 1-based line number.
   * @param detail What was expected and what came.
   */
  constructor(path: string, line: number, detail: string) {
    super(`${path}:${line}: ${detail}`);
    this.name = "DataFormatError";
    this.path = path;
    this.line = line;
    this.detail = detail;
  }
}

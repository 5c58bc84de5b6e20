/**
 * Casing features: a small fixed set of classes per token (Reimers &
 * Gurevych 2017), embedded beside the word vector.
 *
 * @module
 */

/**
 * The casing classes in id order. `pad` (0) is for padding positions.
 *
 * - `numeric`: only digits
 * - `mostly_numeric`: more than half digits
 * - `all_lower`, `all_upper`: letters of one case only (other characters allowed)
 * - `initial_upper`: first character upper case
 * - `contains_digit`: some digit
 * - `other`: none of these
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(CASING_CLASSES[casingId("Oslo")], "initial_upper");
 * assert.equal(CASING_CLASSES.length, 8);
 * ```
 */
export const CASING_CLASSES: readonly string[] = [
  "pad",
  "other",
  "numeric",
  "mostly_numeric",
  "all_lower",
  "all_upper",
  "initial_upper",
  "contains_digit",
];

/**
 * The casing class id of a token (an index into {@linkcode CASING_CLASSES}).
 *
 * @param token The token.
 * @returns The class id, 1 to 7 (0 is padding).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const name = (t: string) => CASING_CLASSES[casingId(t)];
 * assert.equal(name("2017"), "numeric");
 * assert.equal(name("12.5%"), "mostly_numeric");
 * assert.equal(name("paris"), "all_lower");
 * assert.equal(name("NATO"), "all_upper");
 * assert.equal(name("Paris"), "initial_upper");
 * assert.equal(name("b2b"), "contains_digit");
 * assert.equal(name("--"), "other");
 * ```
 */
export function casingId(token: string): number {
  let digits = 0, lower = 0, upper = 0, n = 0;
  for (const ch of token) {
    n++;
    if (ch >= "0" && ch <= "9") digits++;
    else if (ch !== ch.toUpperCase()) lower++;
    else if (ch !== ch.toLowerCase()) upper++;
  }
  if (n > 0 && digits === n) return 2;
  if (digits / n > 0.5) return 3;
  if (lower > 0 && upper === 0 && digits === 0) return 4;
  if (upper > 0 && lower === 0 && digits === 0) return 5;
  const first = [...token][0] ?? "";
  if (first !== first.toLowerCase() && first === first.toUpperCase()) return 6;
  if (digits > 0) return 7;
  return 1;
}

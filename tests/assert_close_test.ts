import assert from "node:assert/strict";
import { assertClose, numericGradient, randomArray } from "./assert_close.ts";

Deno.test("assertClose passes within tolerance and names the tensor, index and error", () => {
  assertClose([1, 2, 3], [1, 2 + 1e-7, 3]);
  assert.throws(
    () => assertClose([1, 2, 3, 4], [1, 2, 3.5, 4], { name: "dW", shape: [2, 2] }),
    (e: Error) =>
      /^dW: 1 of 4 values differ/.test(e.message) && e.message.includes("[1, 0]: got 3") &&
      e.message.includes("largest error 0.5 at [1, 0]"),
  );
});

Deno.test("assertClose rejects NaN and length mismatches", () => {
  assert.throws(() => assertClose([NaN], [0], { name: "h" }), /h: 1 of 1/);
  // NaN is not equal to NaN: the message names the tensor and the index.
  assert.throws(
    () => assertClose([1, 2, NaN], [1, 2, NaN], { name: "dBias" }),
    (e: Error) =>
      /^dBias: 1 of 3 values differ/.test(e.message) &&
      e.message.includes("[2]: got NaN, expected NaN"),
  );
  assert.throws(
    () => assertClose([0, 0, 0, 0, 5, 0], [0, 0, 0, 0, NaN, 0], { name: "logZ", shape: [2, 3] }),
    (e: Error) =>
      /^logZ: 1 of 6 values differ/.test(e.message) &&
      e.message.includes("[1, 1]: got 5, expected NaN") && e.message.includes("at [1, 1]"),
  );
  assert.throws(
    () => assertClose([NaN, 1], [3, 1], { name: "m" }),
    (e: Error) => e.message.includes("[0]: got NaN, expected 3") && e.message.includes("at [0]"),
  );
  // Infinities pass only against the same infinity.
  assertClose([-Infinity, Infinity, 1], [-Infinity, Infinity, 1]);
  assert.throws(() => assertClose([Infinity], [-Infinity], { name: "s" }), /s: 1 of 1/);
  assert.throws(() => assertClose([Infinity], [1e30], { name: "s" }), /s: 1 of 1/);
  assert.throws(() => assertClose([1], [1, 2], { name: "c" }), /c: expected 2 values, got 1/);
});

Deno.test("randomArray is seeded and in range; numericGradient matches a known derivative", () => {
  const x = randomArray(7, 1000, -2, 3);
  assert.deepEqual(x, randomArray(7, 1000, -2, 3));
  assert.notDeepEqual(x, randomArray(8, 1000, -2, 3));
  assert.ok(x.every((v) => v >= -2 && v < 3));
  const g = numericGradient((v) => Math.sin(v[0]) * v[1], [0.3, 2]);
  assertClose(g, [Math.cos(0.3) * 2, Math.sin(0.3)], { atol: 1e-8 });
});

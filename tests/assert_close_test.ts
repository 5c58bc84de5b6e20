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

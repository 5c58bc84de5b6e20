import assert from "node:assert/strict";
import { acquireGpu, createBuffer, readInt32, submitDispatches } from "../src/gpu/mod.ts";
import { readFloat32 } from "../src/gpu/mod.ts";
import { fillBuffer, linearGrid } from "../src/ops/fill.ts";

Deno.test("fill sets exactly the requested range, scalar and vec4", async () => {
  const gpu = await acquireGpu();
  for (const [offset, count] of [[0, 1], [3, 7], [4, 8], [0, 1000], [8, 0], [5, 995], [0, 1001]]) {
    const before = Float32Array.from({ length: 1001 }, (_, i) => i + 0.5);
    const x = createBuffer(gpu, "x", before);
    submitDispatches(
      gpu,
      (await fillBuffer(gpu, { buffer: x }, { value: -2.25, offset, count })).dispatches,
    );
    const got = await readFloat32(gpu, x, 1001);
    const expected = before.map((v, i) => i >= offset && i < offset + count ? -2.25 : v);
    assert.deepEqual([...got], [...expected], `offset ${offset} count ${count}`);
  }
});

Deno.test("fill writes int bit patterns, resizes, and rejects ranges outside the buffer", async () => {
  const gpu = await acquireGpu();
  const x = createBuffer(gpu, "x", new Int32Array(10));
  const d = await fillBuffer(gpu, { buffer: x }, { value: -1, type: "i32" });
  submitDispatches(gpu, d.dispatches);
  assert.deepEqual([...await readInt32(gpu, x)], new Array(10).fill(-1));
  const z = await fillBuffer(gpu, { buffer: x }, { value: 0, type: "i32" });
  z.resize({ offset: 2, count: 3 });
  submitDispatches(gpu, z.dispatches);
  assert.deepEqual([...await readInt32(gpu, x)], [-1, -1, 0, 0, 0, -1, -1, -1, -1, -1]);
  assert.throws(() => z.resize({ offset: 8, count: 3 }), /inside the buffer/);
});

Deno.test("linearGrid covers every invocation beyond 65,535 workgroups", () => {
  for (const n of [0, 1, 64, 65, 64 * 65535, 64 * 65535 + 1, 10_000_000]) {
    const [x, y] = linearGrid(n);
    assert.ok(x <= 65535 && x * y * 64 >= n, `n=${n}`);
    assert.ok(n === 0 || (x * (y - 1)) * 64 < n, `n=${n}: a whole spare row`);
  }
});

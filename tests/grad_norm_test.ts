import assert from "node:assert/strict";
import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../src/gpu/mod.ts";
import { gradNorm, planReduction } from "../src/ops/grad_norm.ts";
import { clipFactorRef, gradNormRef } from "../src/ops/grad_norm_ref.ts";
import { assertClose, randomArray } from "./assert_close.ts";

Deno.test("grad norm reference and clip factor match hand-computed values", () => {
  assert.equal(gradNormRef([]), 0);
  assert.equal(gradNormRef([-2]), 2);
  assert.equal(gradNormRef([1, 2, 2, 4]), 5);
  assert.ok(Number.isNaN(gradNormRef([1, NaN])));
  assert.equal(gradNormRef([1, -Infinity]), Infinity);
  assert.equal(clipFactorRef(4, 0), 1);
  assert.equal(clipFactorRef(4, -1), 1);
  assert.equal(clipFactorRef(0.5, 1), 1);
  assert.equal(clipFactorRef(4, 2), 2 / (4 + 1e-6));
});

Deno.test("grad norm plans bound every invocation's loop", () => {
  for (const n of [1, 7, 1000, 100_003, 5_000_000, 32 * 1024 * 1024, 32 * 1024 * 1024 - 1]) {
    const plan = planReduction(n);
    assert.equal(plan.vec4, n % 4 === 0, `vec4 for ${n}`);
    assert.ok(plan.groups * 64 * plan.per >= plan.len, `covers ${n}`);
    assert.ok((plan.groups - 1) * 64 * plan.per < plan.len, `no empty workgroup for ${n}`);
    assert.ok(plan.groups <= 2048 && plan.per <= 256, `bounded for ${n}`);
  }
  assert.throws(() => planReduction(0), /positive integer/);
});

Deno.test("grad norm on the GPU equals the float64 reference (scalar and vec4 paths)", async () => {
  const gpu = await acquireGpu();
  // 1 and 7 and 100,003 take the scalar path, 1000 and 65,536 the vec4 one;
  // 100,003 and 65,536 need several workgroups of partial sums.
  for (const [seed, n] of [1, 7, 1000, 65_536, 100_003].entries()) {
    const g = randomArray(seed + 1, n, -2, 2);
    const grads = createBuffer(gpu, "grads", g);
    // Words 1..3 of `out` must survive: the optimizer keeps its counters there.
    const out = createBuffer(gpu, "out", new Float32Array([-1, 7, 8, 9]));
    submitDispatches(gpu, (await gradNorm(gpu, { grads, out }, { n })).dispatches);
    const got = await readFloat32(gpu, out, 4);
    assertClose([got[0]], [gradNormRef(g)], { atol: 0, rtol: 2e-6, name: `norm n=${n}` });
    assert.deepEqual([...got.subarray(1)], [7, 8, 9], `other words kept, n=${n}`);
    // Deterministic: the same input gives the same bits.
    submitDispatches(gpu, (await gradNorm(gpu, { grads, out }, { n })).dispatches);
    assert.equal((await readFloat32(gpu, out, 1))[0], got[0], `repeatable n=${n}`);
    grads.destroy();
    out.destroy();
  }
});

Deno.test("grad norm reduces only the first n floats and propagates NaN and Inf", async () => {
  const gpu = await acquireGpu();
  const g = new Float32Array(12).fill(1);
  g[10] = NaN; // beyond n = 9: must not be read
  const grads = createBuffer(gpu, "grads", g);
  const out = createBuffer(gpu, "out", 16);
  submitDispatches(gpu, (await gradNorm(gpu, { grads, out }, { n: 9 })).dispatches);
  assert.equal((await readFloat32(gpu, out, 1))[0], 3);
  submitDispatches(gpu, (await gradNorm(gpu, { grads, out }, { n: 12 })).dispatches);
  assert.ok(Number.isNaN((await readFloat32(gpu, out, 1))[0]), "NaN propagates");
  const inf = createBuffer(gpu, "inf", new Float32Array([1, -Infinity, 2, 3]));
  submitDispatches(gpu, (await gradNorm(gpu, { grads: inf, out }, { n: 4 })).dispatches);
  assert.equal((await readFloat32(gpu, out, 1))[0], Infinity);
  // Finite gradients whose squares overflow f32 also give Inf (the optimizer skips those).
  const huge = createBuffer(gpu, "huge", new Float32Array([3e19, 3e19, 0, 0]));
  submitDispatches(gpu, (await gradNorm(gpu, { grads: huge, out }, { n: 4 })).dispatches);
  assert.equal((await readFloat32(gpu, out, 1))[0], Infinity);
  await assert.rejects(() => gradNorm(gpu, { grads: inf, out }, { n: 8 }), /expected ≥ 8/);
});

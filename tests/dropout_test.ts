import assert from "node:assert/strict";
import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../src/gpu/mod.ts";
import { dropoutBackward, dropoutForward } from "../src/ops/dropout.ts";
import { dropoutMaskRef, dropoutRef, pcgHash } from "../src/ops/dropout_ref.ts";
import { assertClose, numericGradient, randomArray } from "./assert_close.ts";
import { sumProduct } from "./fixtures.ts";

Deno.test("pcg hash matches known values of the WGSL formula", () => {
  // Computed by hand from the PCG RXS-M-XS definition with BigInt arithmetic.
  const big = (v: number) => {
    const m = 0xffffffffn;
    const state = (BigInt(v) * 747796405n + 2891336453n) & m;
    const word = (((state >> ((state >> 28n) + 4n)) ^ state) * 277803737n) & m;
    return Number((word >> 22n) ^ word);
  };
  for (const v of [0, 1, 2, 12345, 0x7fffffff, 0x80000000, 0xffffffff]) {
    assert.equal(pcgHash(v), big(v), `pcg(${v})`);
  }
});

Deno.test("dropout reference backward equals finite differences of sum(y·dy)", () => {
  const options = { p: 0.3, seed: 5, step: 2 };
  const x = randomArray(1, 13);
  const dy = randomArray(2, 13);
  const analytic = dropoutRef(dy, options);
  const numeric = numericGradient((v) => sumProduct(dropoutRef(v, options), dy), x);
  assertClose(analytic, numeric, { atol: 1e-7, name: "dx" });
});

Deno.test("dropout on the GPU reproduces the reference mask exactly, forward and backward", async () => {
  const gpu = await acquireGpu();
  for (const n of [1, 7, 64, 1003, 4096]) {
    for (const p of [0.1, 0.5]) {
      const options = { p, seed: 11 + n, step: 3 };
      // Inputs bounded away from 0 so a kept element is never 0.
      const x = randomArray(n, n, 0.5, 1.5);
      const dy = randomArray(n + 1, n, 0.5, 1.5);
      const bx = createBuffer(gpu, "x", x);
      const by = createBuffer(gpu, "y", n * 4);
      const bdy = createBuffer(gpu, "dy", dy);
      const bdx = createBuffer(gpu, "dx", n * 4);
      submitDispatches(gpu, [
        ...(await dropoutForward(gpu, { x: bx, y: by }, { ...options, n })).dispatches,
        ...(await dropoutBackward(gpu, { dy: bdy, dx: bdx }, { ...options, n })).dispatches,
      ]);
      const y = await readFloat32(gpu, by, n);
      const dx = await readFloat32(gpu, bdx, n);
      const mask = dropoutMaskRef(n, options);
      for (let i = 0; i < n; i++) {
        assert.equal(y[i] !== 0 ? 1 : 0, mask[i], `forward mask n=${n} p=${p} at ${i}`);
        assert.equal(dx[i] !== 0 ? 1 : 0, mask[i], `backward mask n=${n} p=${p} at ${i}`);
      }
      assertClose(y, dropoutRef(x, options), { rtol: 1e-6, name: `y n=${n} p=${p}` });
      assertClose(dx, dropoutRef(dy, options), { rtol: 1e-6, name: `dx n=${n} p=${p}` });
    }
  }
});

Deno.test("dropout in place equals out of place, and a new step gives a new mask", async () => {
  const gpu = await acquireGpu();
  const n = 1001;
  const x = randomArray(3, n, 0.5, 1.5);
  const bx = createBuffer(gpu, "x", x);
  const d = await dropoutForward(gpu, { x: bx }, { n, p: 0.25, seed: 9, step: 0 });
  submitDispatches(gpu, d.dispatches);
  assertClose(await readFloat32(gpu, bx, n), dropoutRef(x, { p: 0.25, seed: 9, step: 0 }), {
    rtol: 1e-6,
    name: "in place",
  });
  d.setStep(1);
  const bx2 = createBuffer(gpu, "x2", x);
  const d2 = await dropoutForward(gpu, { x: bx2 }, { n, p: 0.25, seed: 9, step: 1 });
  submitDispatches(gpu, d2.dispatches);
  const m0 = dropoutMaskRef(n, { p: 0.25, seed: 9, step: 0 });
  const m1 = dropoutMaskRef(n, { p: 0.25, seed: 9, step: 1 });
  assert.ok(m0.some((v, i) => v !== m1[i]), "steps 0 and 1 gave the same mask");
  const y2 = await readFloat32(gpu, bx2, n);
  for (let i = 0; i < n; i++) assert.equal(y2[i] !== 0 ? 1 : 0, m1[i], `step 1 at ${i}`);
  // resize: only the first 10 elements change.
  const bx3 = createBuffer(gpu, "x3", x);
  const d3 = await dropoutForward(gpu, { x: bx3 }, { n, p: 0.9, seed: 1 });
  d3.resize({ n: 10 });
  submitDispatches(gpu, d3.dispatches);
  const y3 = await readFloat32(gpu, bx3, n);
  assert.deepEqual([...y3.subarray(10)], [...x.subarray(10)], "past n changed");
  assert.throws(() => d3.resize({ n: n + 1 }), /element count/);
});

Deno.test("p = 0 is the identity; invalid p is rejected", async () => {
  const gpu = await acquireGpu();
  const x = randomArray(4, 9);
  const bx = createBuffer(gpu, "x", x);
  const by = createBuffer(gpu, "y", 9 * 4);
  const inPlace = await dropoutForward(gpu, { x: bx }, { n: 9, p: 0, seed: 1 });
  assert.equal(inPlace.dispatches[0].workgroups[0], 0, "in-place p = 0 should be skipped");
  submitDispatches(gpu, [
    ...inPlace.dispatches,
    ...(await dropoutForward(gpu, { x: bx, y: by }, { n: 9, p: 0, seed: 1 })).dispatches,
  ]);
  assert.deepEqual([...await readFloat32(gpu, by, 9)], [...x]);
  await assert.rejects(() => dropoutForward(gpu, { x: bx }, { n: 9, p: 1, seed: 1 }), /\[0, 1\)/);
  await assert.rejects(() => dropoutForward(gpu, { x: bx }, { n: 9, p: 0.1, seed: -1 }), /u32/);
});

Deno.test("dropout keeps ≈ 1 − p of a large buffer and preserves the mean", async () => {
  const gpu = await acquireGpu();
  const n = 1 << 18;
  const ones = new Float32Array(n).fill(1);
  for (const p of [0.1, 0.5, 0.8]) {
    const bx = createBuffer(gpu, "x", ones);
    submitDispatches(
      gpu,
      (await dropoutForward(gpu, { x: bx }, { n, p, seed: 42, step: 7 })).dispatches,
    );
    const y = await readFloat32(gpu, bx, n);
    let kept = 0, sum = 0;
    for (const v of y) {
      if (v !== 0) kept++;
      sum += v;
    }
    // Binomial: 6 standard deviations (fails with probability ≈ 2e-9 for a good hash).
    const sd = Math.sqrt(n * p * (1 - p));
    assert.ok(Math.abs(kept - n * (1 - p)) < 6 * sd, `p=${p}: kept ${kept} of ${n}`);
    // E[y] = 1: the mean is the kept fraction times 1/(1 − p).
    assert.ok(Math.abs(sum / n - 1) < 6 * sd / n / (1 - p), `p=${p}: mean ${sum / n}`);
    // Neighbouring elements must be independent: P(both kept) ≈ (1 − p)².
    let both = 0;
    for (let i = 0; i + 1 < n; i += 2) if (y[i] !== 0 && y[i + 1] !== 0) both++;
    const pairs = n / 2, q = (1 - p) ** 2;
    assert.ok(Math.abs(both - pairs * q) < 6 * Math.sqrt(pairs * q * (1 - q)), `p=${p}: pairs`);
  }
});

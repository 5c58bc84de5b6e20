import assert from "node:assert/strict";
import {
  acquireGpu,
  createBuffer,
  type Gpu,
  readFloat32,
  submitDispatches,
  writeBuffer,
} from "../src/gpu/mod.ts";
import { type AdamHyper, adamOptimizer, ParameterLayout } from "../src/ops/adam.ts";
import { type AdamStateRef, adamStepRef } from "../src/ops/adam_ref.ts";
import { gradNormRef } from "../src/ops/grad_norm_ref.ts";
import { assertClose, randomArray } from "./assert_close.ts";
import { TINY_CONFIG as tiny, tinyBatches as setup, tinyGraph } from "./fixtures.ts";

Deno.test("adam reference first step equals the hand-computed update", () => {
  // t = 1, β1 = 0.9, β2 = 0.999, ε = 1e-8, lr = 0.01, λ = 0.1, g = 0.5, p = 2:
  // AdamW: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25, p = 2 − 0.01·0.1·2 − 0.01·0.5/(0.5 + 1e-8)
  const adamW = { params: Float64Array.of(2), m: new Float64Array(1), v: new Float64Array(1) };
  assert.equal(adamStepRef(adamW, [0.5], { lr: 0.01, weightDecay: 0.1 }, 1), true);
  assertClose(adamW.m, [0.05], { atol: 1e-15, name: "m" });
  assertClose(adamW.v, [0.00025], { atol: 1e-15, name: "v" });
  assertClose(adamW.params, [2 - 0.002 - 0.005 / (0.5 + 1e-8)], { atol: 1e-15, name: "p" });
  // Adam + L2: g = 0.5 + 0.1·2 = 0.7; m̂ = 0.7, v̂ = 0.49, p = 2 − 0.01·0.7/(0.7 + 1e-8).
  const l2 = { params: Float64Array.of(2), m: new Float64Array(1), v: new Float64Array(1) };
  adamStepRef(l2, [0.5], { lr: 0.01, weightDecay: 0.1, decoupled: false }, 1);
  assertClose(l2.m, [0.07], { atol: 1e-15, name: "m (L2)" });
  assertClose(l2.params, [2 - 0.007 / (0.7 + 1e-8)], { atol: 1e-15, name: "p (L2)" });
  // Clipping: g = (3, 4) has norm 5; maxNorm 1 scales it by 1/(5 + 1e-6), so the
  // first step is unchanged in direction and m = 0.1·c·g.
  const clip = { params: new Float64Array(2), m: new Float64Array(2), v: new Float64Array(2) };
  adamStepRef(clip, [3, 4], { lr: 1, maxNorm: 1 }, 1);
  const c = 1 / (5 + 1e-6);
  assertClose(clip.m, [0.3 * c, 0.4 * c], { atol: 1e-15, name: "m (clipped)" });
  // Second step, hand-derived: m₂ = 0.9·m₁ + 0.1·g₂, bias correction 1 − 0.9² = 0.19.
  const two = { params: Float64Array.of(0), m: new Float64Array(1), v: new Float64Array(1) };
  adamStepRef(two, [1], { lr: 0.1 }, 1);
  adamStepRef(two, [-1], { lr: 0.1 }, 2);
  const m2 = 0.9 * 0.1 - 0.1;
  const v2 = 0.999 * 0.001 + 0.001;
  assertClose(two.m, [m2], { atol: 1e-15, name: "m₂" });
  const p2 = -0.1 / (1 + 1e-8) - 0.1 * (m2 / 0.19) / (Math.sqrt(v2 / (1 - 0.999 ** 2)) + 1e-8);
  assertClose(two.params, [p2], { atol: 1e-15, name: "p₂" });
  // AdamW's decay uses lr, not the bias-corrected step size: with g = 0 the moments stay 0,
  // the Adam step is 0/(0 + ε) = 0, and two steps give p = 2·(1 − 0.01·0.1)² = 1.996002.
  const decay = { params: Float64Array.of(2), m: new Float64Array(1), v: new Float64Array(1) };
  adamStepRef(decay, [0], { lr: 0.01, weightDecay: 0.1 }, 1);
  adamStepRef(decay, [0], { lr: 0.01, weightDecay: 0.1 }, 2);
  assertClose(decay.params, [1.996002], { atol: 1e-15, name: "p (decay only)" });
  // Beyond decayEnd nothing decays: the same step leaves p = 2.
  const excluded = { params: Float64Array.of(2), m: new Float64Array(1), v: new Float64Array(1) };
  adamStepRef(excluded, [0], { lr: 0.01, weightDecay: 0.1 }, 1, 0);
  assertClose(excluded.params, [2], { atol: 0, name: "p (not decayed)" });
  // A non-finite gradient leaves everything untouched.
  assert.equal(adamStepRef(two, [NaN], { lr: 0.1 }, 3), false);
  assertClose(two.params, [p2], { atol: 0, name: "p after skip" });
});

Deno.test("parameter layout aligns slices, pads to 4 and tracks the decay prefix", () => {
  const layout = new ParameterLayout({ alignment: 16 });
  assert.equal(layout.size, 0);
  assert.equal(layout.add("a", [3]).offset, 0);
  assert.equal(layout.add("b", [2, 5]).offset, 4);
  assert.equal(layout.decayEnd, 16); // 14 rounded up to 4
  const c = layout.add("c", [7], { weightDecay: false });
  assert.deepEqual([c.offset, c.size, layout.size, layout.decayEnd], [16, 7, 24, 16]);
  assert.equal(layout.add("s", [], { weightDecay: false }).size, 1, "a scalar");
  assert.throws(() => layout.add("a", [1]), /already added/);
  assert.throws(() => layout.add("bad", [2, -1]), /invalid shape/);
  assert.throws(() => layout.add("late", [2]), /add the decayed tensors first/);
  assert.throws(() => layout.get("nope"), /no tensor named 'nope'/);
  const flat = layout.pack({ b: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
  assert.equal(flat.length, layout.size);
  assert.deepEqual([...layout.unpack(flat).b], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.throws(() => layout.pack({ c: [1] }), /expects 7 values, got 1/);
  assert.throws(() => new ParameterLayout({ alignment: 8 }), /multiple of 16/);
  // The default alignment is WebGPU's storage offset alignment, so slices can be bound alone.
  const bindable = new ParameterLayout();
  bindable.add("x", [5]);
  assert.equal(bindable.add("y", [5]).offset, 64);
});

interface Case {
  name: string;
  hyper: AdamHyper;
  /** Gradient scale: large gradients make clipping bite. */
  gradScale?: number;
}

/** Runs `steps` GPU steps and the reference side by side, comparing params, m and v each step. */
async function compareSteps(
  gpu: Gpu,
  layout: ParameterLayout,
  test: Case,
  steps: number,
  seed: number,
  corrupt?: { step: number; value: number },
): Promise<void> {
  const size = layout.size;
  const p0 = layout.pack(
    Object.fromEntries(layout.slices.map((s, i) => [s.name, randomArray(seed + i, s.size)])),
  );
  const buffers = {
    params: createBuffer(gpu, "params", p0),
    grads: createBuffer(gpu, "grads", size * 4),
    m: createBuffer(gpu, "m", size * 4),
    v: createBuffer(gpu, "v", size * 4),
  };
  const adam = await adamOptimizer(gpu, buffers, { size, decayEnd: layout.decayEnd });
  const ref: AdamStateRef = {
    params: Float64Array.from(p0),
    m: new Float64Array(size),
    v: new Float64Array(size),
  };
  let skipped = 0;
  for (let t = 1; t <= steps; t++) {
    // Gradients live only in the tensors' slices: the padding's gradient stays 0.
    const g = layout.pack(Object.fromEntries(layout.slices.map((s, i) => [
      s.name,
      randomArray(seed * 100 + t * 10 + i, s.size, -(test.gradScale ?? 1), test.gradScale ?? 1),
    ])));
    if (corrupt?.step === t) g[layout.slices[0].offset + 1] = corrupt.value;
    writeBuffer(gpu, buffers.grads, g);
    // A learning-rate schedule: the hyper-parameters change between steps.
    const hyper = { ...test.hyper, lr: test.hyper.lr * (1 - 0.1 * (t - 1)) };
    adam.setStep(t, hyper);
    submitDispatches(gpu, adam.dispatches);
    if (!adamStepRef(ref, g, hyper, t, layout.decayEnd)) skipped++;
    const tag = `${test.name} t=${t}`;
    // Moments are small (v ≈ 1e-3·g² at t = 1): compare them relatively, with an
    // absolute floor of f32 rounding at the gradients' scale (m can cancel to ≈ 0).
    const rtol = 1e-5;
    const scale = test.gradScale ?? 1;
    const m = await readFloat32(gpu, buffers.m, size);
    assertClose(m, ref.m, { atol: 1e-7 * scale, rtol, name: `m ${tag}` });
    const v = await readFloat32(gpu, buffers.v, size);
    assertClose(v, ref.v, { atol: 1e-9 * scale * scale, rtol, name: `v ${tag}` });
    const params = await readFloat32(gpu, buffers.params, size);
    assertClose(params, ref.params, { atol: 1e-6, rtol, name: `params ${tag}` });
    const stats = await adam.readStats();
    const norm = gradNormRef(g);
    if (Number.isFinite(norm)) {
      assertClose([stats.gradNorm], [norm], { rtol: 1e-5, name: `norm ${tag}` });
      const max = test.hyper.maxNorm ?? 0;
      const scale = max > 0 ? Math.min(1, max / (norm + 1e-6)) : 1;
      assertClose([stats.clipScale], [scale], { rtol: 1e-5, name: `scale ${tag}` });
    } else {
      assert.ok(!Number.isFinite(stats.gradNorm), `non-finite norm reported, ${tag}`);
      assert.equal(stats.clipScale, 0, `scale 0 when skipped, ${tag}`);
    }
    assert.equal(stats.skippedSteps, skipped, `skipped ${tag}`);
    assert.equal(stats.appliedSteps, t - skipped, `applied ${tag}`);
  }
  adam.resetStats();
  const reset = await adam.readStats();
  assert.deepEqual([reset.skippedSteps, reset.appliedSteps], [0, 0], "counters reset");
  for (const b of Object.values(buffers)) b.destroy();
}

/** A layout whose tensors are not multiples of 4 and whose tail has no weight decay. */
function oddLayout(): ParameterLayout {
  const layout = new ParameterLayout({ alignment: 16 });
  layout.add("w1", [7, 5]); // 35 floats
  layout.add("w2", [3, 3]); // 9
  layout.add("bias", [5], { weightDecay: false });
  layout.add("transitions", [3, 3], { weightDecay: false });
  return layout;
}

Deno.test("adam on the GPU equals the float64 reference over several steps", async () => {
  const gpu = await acquireGpu();
  const cases: Case[] = [
    { name: "Adam", hyper: { lr: 0.01 } },
    { name: "AdamW", hyper: { lr: 0.02, weightDecay: 0.1 } },
    { name: "Adam+L2", hyper: { lr: 0.02, weightDecay: 0.1, decoupled: false } },
    {
      name: "AdamW custom betas",
      hyper: { lr: 1, beta1: 0.5, beta2: 0.9, eps: 1e-3, weightDecay: 0.01 },
    },
    { name: "clipping inactive", hyper: { lr: 0.01, maxNorm: 1000 } },
    { name: "clipping active", hyper: { lr: 0.01, maxNorm: 0.5, weightDecay: 0.1 }, gradScale: 3 },
    {
      name: "clipping active, L2",
      hyper: { lr: 0.01, maxNorm: 1, weightDecay: 0.1, decoupled: false },
      gradScale: 3,
    },
  ];
  for (const [i, test] of cases.entries()) {
    await compareSteps(gpu, oddLayout(), test, 4, 10 + i);
  }
});

Deno.test("adam leaves the padding of a layout whose size is not a multiple of 4 at zero", async () => {
  const gpu = await acquireGpu();
  const layout = new ParameterLayout({ alignment: 16 });
  layout.add("a", [3]);
  layout.add("b", [1, 5]);
  assert.equal(layout.size, 12);
  await compareSteps(
    gpu,
    layout,
    { name: "odd sizes", hyper: { lr: 0.1, weightDecay: 0.5 } },
    3,
    3,
  );
  const params = createBuffer(gpu, "params", layout.pack({ a: [1, 2, 3], b: [1, 2, 3, 4, 5] }));
  const grads = createBuffer(gpu, "grads", layout.pack({ a: [1, 1, 1], b: [1, 1, 1, 1, 1] }));
  const [m, v] = [createBuffer(gpu, "m", 48), createBuffer(gpu, "v", 48)];
  const adam = await adamOptimizer(gpu, { params, grads, m, v }, { size: 12 });
  adam.setStep(1, { lr: 0.1, weightDecay: 0.5 });
  submitDispatches(gpu, adam.dispatches);
  const p = await readFloat32(gpu, params, 12);
  assert.deepEqual([p[3], p[9], p[10], p[11]], [0, 0, 0, 0], "padding stays 0");
  assert.ok(Math.abs(p[0] - (1 - 0.05 - 0.1)) < 1e-6, `p[0] = ${p[0]}`);
});

Deno.test("adam skips and counts a step whose gradient holds NaN or Inf", async () => {
  const gpu = await acquireGpu();
  // Step 2 is skipped (params, m, v unchanged) and counted; steps 3 and 4 carry on with t = 3, 4.
  await compareSteps(gpu, oddLayout(), { name: "NaN", hyper: { lr: 0.01, maxNorm: 1 } }, 4, 5, {
    step: 2,
    value: NaN,
  });
  await compareSteps(gpu, oddLayout(), { name: "Inf", hyper: { lr: 0.01 } }, 3, 6, {
    step: 3,
    value: -Infinity,
  });
});

Deno.test("adam runs a large multi-workgroup update and rejects bad sizes", async () => {
  const gpu = await acquireGpu();
  // 40,000 vec4s: 157 workgroups of 64 invocations × 4 vec4s.
  const size = 160_000;
  const p0 = randomArray(1, size);
  const g = randomArray(2, size);
  const buffers = {
    params: createBuffer(gpu, "params", p0),
    grads: createBuffer(gpu, "grads", g),
    m: createBuffer(gpu, "m", size * 4),
    v: createBuffer(gpu, "v", size * 4),
  };
  const adam = await adamOptimizer(gpu, buffers, { size });
  const hyper = { lr: 0.001, weightDecay: 0.01, maxNorm: 10 };
  adam.setStep(1, hyper);
  submitDispatches(gpu, adam.dispatches);
  const ref = {
    params: Float64Array.from(p0),
    m: new Float64Array(size),
    v: new Float64Array(size),
  };
  adamStepRef(ref, g, hyper, 1);
  assertClose(await readFloat32(gpu, buffers.params, size), ref.params, {
    atol: 1e-6,
    name: "params",
  });
  await assert.rejects(() => adamOptimizer(gpu, buffers, { size: 6 }), /multiple of 4/);
  await assert.rejects(() => adamOptimizer(gpu, buffers, { size: 8, decayEnd: 6 }), /decayEnd/);
  await assert.rejects(() => adamOptimizer(gpu, buffers, { size: 200_000 }), /expected ≥ 200000/);
  assert.throws(() => adam.setStep(0, hyper), /t must be ≥ 1/);
  assert.throws(() => adam.setStep(1, { lr: -1 }), /lr must be a finite number ≥ 0, got -1/);
  assert.throws(() => adam.setStep(1, { lr: 1, beta1: 1 }), /beta1 must be in \[0, 1\)/);
  assert.throws(() => adam.setStep(1, { lr: 1, beta2: NaN }), /beta2 must be in/);
  assert.throws(() => adam.setStep(1, { lr: 1, eps: -1 }), /eps must be/);
  assert.throws(() => adam.setStep(1, { lr: 1, weightDecay: -0.1 }), /weightDecay must be/);
  assert.throws(() => adam.setStep(1, { lr: 1, maxNorm: NaN }), /maxNorm must be a number/);
  for (const b of Object.values(buffers)) b.destroy();
});

Deno.test("lazy Adam updates only the listed table rows and equals the float64 reference", async () => {
  const gpu = await acquireGpu();
  // A (rows, dim) table first (as the word embedding is), then dense tensors.
  const rows = 37;
  const dim = 8;
  const layout = new ParameterLayout();
  layout.add("table", [rows, dim]);
  layout.add("w", [5, 7]);
  layout.add("bias", [6], { weightDecay: false });
  const size = layout.size;
  const tableEnd = rows * dim;
  const cases: {
    name: string;
    hyper: AdamHyper;
    ids: number[][];
    bad?: [number, number];
    /** Weight decay prefix (default the layout's: table and w). */
    decayEnd?: number;
  }[] = [
    {
      name: "AdamW, clipped",
      hyper: { lr: 0.05, weightDecay: 0.1, maxNorm: 1 },
      ids: [[0, 5, 36], [5, 2], [], [9, 1, 0, 35]],
    },
    {
      name: "Adam+L2",
      hyper: { lr: 0.05, weightDecay: 0.1, decoupled: false },
      ids: [[3], [4, 3]],
    },
    // Strong decay that makes the table's decay visible; then none on the table (decayEnd 0).
    { name: "AdamW, strong", hyper: { lr: 0.1, weightDecay: 2 }, ids: [[0, 36], [36, 8]] },
    {
      name: "AdamW, table not decayed",
      hyper: { lr: 0.1, weightDecay: 2 },
      ids: [[0, 36], [36, 8]],
      decayEnd: 0,
    },
    // A NaN in a stale row (not listed) must not skip the step; in a listed row it must.
    { name: "stale NaN", hyper: { lr: 0.05 }, ids: [[1, 2], [7]], bad: [0, 30 * dim] },
    { name: "live NaN", hyper: { lr: 0.05 }, ids: [[1, 2], [7, 30]], bad: [1, 30 * dim + 3] },
  ];
  for (const [c, test] of cases.entries()) {
    const p0 = randomArray(200 + c, size);
    p0.fill(0, tableEnd, layout.get("w").offset); // padding, as ParameterLayout.pack leaves it
    const buffers = {
      params: createBuffer(gpu, "params", p0),
      grads: createBuffer(gpu, "grads", size * 4),
      m: createBuffer(gpu, "m", size * 4),
      v: createBuffer(gpu, "v", size * 4),
    };
    const ids = createBuffer(gpu, "ids", 64 * 4);
    const adam = await adamOptimizer(gpu, buffers, {
      size,
      decayEnd: test.decayEnd ?? layout.decayEnd,
      sparseTable: { rows, dim, ids },
    });
    const ref = {
      params: Float64Array.from(p0),
      m: new Float64Array(size),
      v: new Float64Array(size),
    };
    let skipped = 0;
    for (const [s, stepIds] of test.ids.entries()) {
      const t = s + 1;
      // Stale rows hold large garbage: reading them would change the norm and the update.
      const g = randomArray(300 + 10 * c + t, size, -1, 1);
      for (let i = 0; i < tableEnd; i++) if (!stepIds.includes(Math.floor(i / dim))) g[i] = 1e3;
      for (let i = tableEnd; i < layout.get("w").offset; i++) g[i] = 0; // padding
      if (test.bad?.[0] === s) g[test.bad[1]] = NaN;
      const active = new Uint8Array(size).fill(1);
      for (let i = 0; i < tableEnd; i++) active[i] = stepIds.includes(Math.floor(i / dim)) ? 1 : 0;
      writeBuffer(gpu, buffers.grads, g);
      writeBuffer(gpu, ids, Int32Array.from(stepIds));
      adam.setRowCount(stepIds.length);
      adam.setStep(t, test.hyper);
      submitDispatches(gpu, adam.dispatches);
      if (!adamStepRef(ref, g, test.hyper, t, test.decayEnd ?? layout.decayEnd, active)) skipped++;
      const tag = `${test.name} t=${t}`;
      assertClose(await readFloat32(gpu, buffers.m, size), ref.m, {
        atol: 1e-7,
        rtol: 1e-5,
        name: `m ${tag}`,
      });
      assertClose(await readFloat32(gpu, buffers.v, size), ref.v, {
        atol: 1e-9,
        rtol: 1e-5,
        name: `v ${tag}`,
      });
      assertClose(await readFloat32(gpu, buffers.params, size), ref.params, {
        atol: 1e-6,
        rtol: 1e-5,
        name: `params ${tag}`,
      });
      const stats = await adam.readStats();
      assert.equal(stats.skippedSteps, skipped, `skipped ${tag}`);
    }
    assert.equal(skipped, test.name === "live NaN" ? 1 : 0, test.name);
  }
});

Deno.test("lazy Adam rejects a table it cannot update row by row", async () => {
  const gpu = await acquireGpu();
  const b = createBuffer(gpu, "b", 4096);
  const buffers = { params: b, grads: b, m: b, v: b };
  const ids = createBuffer(gpu, "ids", 16);
  await assert.rejects(
    adamOptimizer(gpu, buffers, { size: 1024, sparseTable: { rows: 4, dim: 6, ids } }),
    /multiple of 4/,
  );
  await assert.rejects(
    adamOptimizer(gpu, buffers, { size: 1024, sparseTable: { rows: 256, dim: 4, ids } }),
    /nothing is dense/,
  );
  await assert.rejects(
    adamOptimizer(gpu, buffers, { size: 1024, decayEnd: 8, sparseTable: { rows: 4, dim: 4, ids } }),
    /whole sparse table or none/,
  );
  const adam = await adamOptimizer(gpu, buffers, {
    size: 1024,
    sparseTable: { rows: 4, dim: 4, ids },
  });
  assert.throws(() => adam.setRowCount(5), /row count in \[0, 4\]/);
});

Deno.test("AdamW in the training graph decays every tensor by lr·λ·p; lazily updated word rows only in the batch", async () => {
  const gpu = await acquireGpu();
  // wordDim 8 takes the lazy (sparse-row) path for the word table, 6 the dense one.
  for (const wordDim of [8, 6]) {
    const config = { ...tiny, wordDim };
    const { batches, sizes } = setup(config, 3);
    const batch = batches[0];
    const graph = await tinyGraph(gpu, config, sizes, { maxBatch: 3, seed: 4 });
    assert.equal(graph.layout.decayEnd, graph.layout.size, "every tensor is in the decayed prefix");
    const p0 = await graph.readParameters();
    const lr = 0.01;
    const lambda = 0.5;
    /** One step from p0 with zeroed moments, step count 0. */
    const stepFrom = async (weightDecay: number) => {
      graph.writeParameters(p0);
      graph.writeOptimizerState({
        m: new Float32Array(graph.layout.size),
        v: new Float32Array(graph.layout.size),
      });
      graph.setStepCount(0);
      graph.trainOn(batch, { lr, maxNorm: 1, weightDecay });
      return await graph.readParameters();
    };
    const plain = await stepFrom(0);
    const decayed = await stepFrom(lambda);
    const inBatch = new Set(batch.wordGroups.uniqueIds);
    const lazy = wordDim % 4 === 0;
    for (const [name, initial] of Object.entries(p0)) {
      // decayed = plain − lr·λ·p0 wherever the parameter decays, decayed = plain elsewhere.
      const dim = name === "word_emb.weight" ? wordDim : 0;
      const decays = (i: number) => !dim || !lazy || inBatch.has(Math.floor(i / dim));
      const expected = Array.from(
        plain[name],
        (p, i) => p - (decays(i) ? lr * lambda * initial[i] : 0),
      );
      assertClose(decayed[name], expected, {
        atol: 1e-6,
        rtol: 1e-5,
        name: `${name} (word size ${wordDim})`,
      });
    }
    const table = (t: Record<string, Float32Array>, row: number) =>
      t["word_emb.weight"].subarray(row * wordDim, (row + 1) * wordDim).join();
    for (let row = 0; row < sizes.words; row++) {
      if (inBatch.has(row)) continue;
      // A word outside the batch has no gradient: Adam leaves it, decay moves it only when dense.
      assert.equal(table(plain, row), table(p0, row), `row ${row} without decay`);
      assert.equal(
        table(decayed, row) === table(p0, row),
        lazy,
        `row ${row} with decay (${wordDim})`,
      );
    }
    for (const name of ["lstm.bias_ih_l0", "crf.transitions", "char_emb.weight"]) {
      assert.ok(name in p0, `the model has ${name}`);
    }
    graph.destroy();
  }
});

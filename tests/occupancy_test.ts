/**
 * The occupancy table (bench/occupancy.ts): a row for every dispatch of the
 * graph's training step and inference, lanes = workgroups × workgroup size,
 * and the recurrences' serial loops from their formulas.
 */

import assert from "node:assert/strict";
import { acquireGpu, dispatchSpec, kernelProfile, makeDispatch } from "../src/gpu/mod.ts";
import { CASING_CLASSES } from "../src/data/casing.ts";
import { resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";
import { createBuffer } from "../src/gpu/buffers.ts";
import { kernelKey, occupancyTables, SERIAL_LOOPS, workgroupLanes } from "../bench/occupancy.ts";

const gpu = await acquireGpu();
const tiny = {
  batchSizes: [3],
  time: 5,
  sentences: 300,
  config: { wordDim: 8, casingDim: 4, charDim: 4, charFilters: 4, hidden: 6 },
};

Deno.test("workgroupLanes resolves literals, overrides (given or default) and consts", () => {
  const code = "override A: u32 = 7u;\nconst W: u32 = 4u;\n" +
    "@compute @workgroup_size(A, W, 2) fn one() {}\n@compute @workgroup_size(64u)\nfn two() {}";
  assert.equal(workgroupLanes(code, "one", {}), 56);
  assert.equal(workgroupLanes(code, "one", { A: 3 }), 24);
  assert.equal(workgroupLanes(code, "two"), 64);
  assert.throws(() => workgroupLanes(code, "three"), /fn three/);
});

Deno.test("dispatchSpec follows the pipeline a dispatch runs", async () => {
  const code =
    "// probe.wgsl — test\n@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n" +
    "override L: u32 = 2u;\n@compute @workgroup_size(L) fn main() { x[0] = 1.0; }";
  const d = await makeDispatch(gpu, { label: "probe", code, constants: { L: 8 } }, [
    createBuffer(gpu, "x", 16),
  ], [3]);
  assert.equal(kernelKey(d), "probe.wgsl:main");
  assert.deepEqual(dispatchSpec(d).constants, { L: 8 });
});

for (const profile of ["cpu", "gpu"] as const) {
  Deno.test(`occupancy table, ${profile} profile: one row per dispatch, lanes and loops`, async () => {
    const [table] = await occupancyTables(gpu, { ...tiny, profiles: [profile] });
    assert.equal(table.profile, profile);
    assert.equal(table.time, 5);
    const train = table.rows.filter((r) => r.phase === "train");
    const infer = table.rows.filter((r) => r.phase === "infer");
    // The graph's own lists, rebuilt the same way, have as many dispatches.
    assert.ok(train.length >= 20, `expected a full training step, found ${train.length} rows`);
    assert.ok(infer.some((r) => r.kernel === "viterbi.wgsl:main"), "inference has no decoder");
    for (const r of table.rows) {
      assert.ok(r.kernel in SERIAL_LOOPS, r.kernel);
      assert.equal(
        r.lanes,
        r.workgroups[0] * r.workgroups[1] * r.workgroups[2] * r.lanesPerWorkgroup,
      );
      assert.ok(Number.isInteger(r.serial) && r.serial >= 1, `${r.label}: serial ${r.serial}`);
    }
    const T = 5, H = 6;
    if (profile === "cpu") {
      // lstm.wgsl: (G, 2, 1) workgroups of (UB, QY, 1), G = ceil(B / 8), UB = ceil(H / 4).
      const rec = train.find((r) => r.kernel === "lstm.wgsl:main")!;
      assert.deepEqual(rec.workgroups, [1, 2, 1]);
      assert.equal(rec.lanesPerWorkgroup, 2);
      assert.equal(rec.lanes, 4);
      assert.equal(rec.serial, T * 4 * 4 * 8 * 8); // T · 128 · Hp, Hp = 8
    } else {
      // lstm_gpu.wgsl: (ceil(B / S), 2, 1) workgroups of LANES (a multiple of 32 ≥ HP).
      const rec = train.find((r) => r.kernel === "lstm_gpu.wgsl:main")!;
      assert.equal(rec.lanesPerWorkgroup, 32);
      assert.equal(rec.workgroups[1], 2);
      assert.equal(rec.lanes, rec.workgroups[0] * 64);
      assert.ok(rec.serial >= T * 4 * 1 * H, `${rec.serial}`);
      assert.ok(train.some((r) => r.kernel === "lstm_backward_gpu.wgsl:main"));
    }
  });
}

Deno.test("occupancy table lists the graph's own dispatches, in order", async () => {
  const profile = kernelProfile(gpu).profile;
  const [table] = await occupancyTables(gpu, { ...tiny, profiles: [profile] });
  const sizes = { words: 50, chars: 20, casings: CASING_CLASSES.length, tags: 9 };
  const graph = await NerGraph.create(gpu, resolveConfig(tiny.config), sizes, {
    maxBatch: 3,
    maxTime: 5,
    maxChars: 16,
  });
  try {
    const labels = (phase: string) =>
      table.rows.filter((r) => r.phase === phase).map((r) => r.label);
    assert.deepEqual(labels("train"), graph.trainStep.map((d) => d.label));
    assert.deepEqual(
      labels("infer"),
      [...graph.inferForward, ...graph.inferHead.decode].map((d) => d.label),
    );
    assert.deepEqual(labels("marginals"), graph.inferHead.marginals.map((d) => d.label));
  } finally {
    graph.destroy();
  }
});

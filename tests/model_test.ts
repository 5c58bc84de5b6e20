import assert from "node:assert/strict";
import type { Batch } from "../src/data/batch.ts";
import { acquireGpu } from "../src/gpu/mod.ts";
import { modelLossRef } from "../src/model/graph_ref.ts";
import { assertClose } from "./assert_close.ts";
import { adamStepRef } from "../src/ops/adam_ref.ts";
import {
  assertStepMatchesRef,
  TINY_CONFIG as tiny,
  tinyBatches as setup,
  tinyGraph,
} from "./fixtures.ts";

for (const layers of [1, 2]) {
  Deno.test(`the GPU graph's loss and every gradient equal the float64 reference (${layers} layer)`, async () => {
    const gpu = await acquireGpu();
    const config = { ...tiny, layers };
    const { batches, sizes } = setup(config);
    const batch: Batch = batches[0];
    const graph = await tinyGraph(gpu, config, sizes, { maxBatch: 8, seed: 5 });
    const params = await graph.readParameters();
    const ref = modelLossRef(config, sizes, params, batch);
    await assertStepMatchesRef(graph, batch, ref);
  });
}

Deno.test("training steps update only the batch's word rows (lazy Adam), as the float64 reference does", async () => {
  const gpu = await acquireGpu();
  // A word size that is a multiple of 4 takes the sparse path.
  const config = { ...tiny, wordDim: 8 };
  const { batches, sizes } = setup(config, 3);
  const graph = await tinyGraph(gpu, config, sizes, { maxBatch: 3, seed: 9 });
  const { layout } = graph;
  const table = layout.get("word_emb.weight");
  const hyper = { lr: 0.01, maxNorm: 0.5 };
  const initial = await graph.readParameters();
  const state = {
    params: Float64Array.from(layout.pack(initial)),
    m: new Float64Array(layout.size),
    v: new Float64Array(layout.size),
  };
  // Two batches: the rows of the first that the second lacks would drift on Adam's
  // momentum at step 2 with a dense update; the lazy update leaves them alone.
  for (const [s, batch] of batches.slice(0, 2).entries()) {
    const before = await graph.readParameters();
    const ref = modelLossRef(config, sizes, before, batch);
    graph.trainOn(batch, hyper);
    const inBatch = new Set(batch.wordGroups.uniqueIds);
    const active = new Uint8Array(layout.size).fill(1);
    for (let i = 0; i < table.size; i++) {
      active[table.offset + i] = inBatch.has(Math.floor(i / config.wordDim)) ? 1 : 0;
    }
    adamStepRef(state, layout.pack(ref.grads), hyper, s + 1, layout.decayEnd, active);
    const after = await graph.readParameters();
    const expected = layout.unpack(Float32Array.from(state.params));
    for (const [name, values] of Object.entries(after)) {
      assertClose(values, expected[name], {
        name: `${name} step ${s + 1}`,
        atol: 1e-6,
        rtol: 1e-5,
      });
    }
    for (let row = 0; row < sizes.words; row++) {
      const slice = (t: Float32Array) => t.subarray(row * 8, row * 8 + 8).join();
      const same = slice(after["word_emb.weight"]) === slice(before["word_emb.weight"]);
      assert.equal(same, !inBatch.has(row), `word row ${row} at step ${s + 1}`);
    }
  }
});

Deno.test("training overfits eight sentences to near-zero loss, and decodes them exactly", async () => {
  const gpu = await acquireGpu();
  const config = { ...tiny, hidden: 8, wordDim: 8 };
  const { batches, sizes } = setup(config, 4);
  const graph = await tinyGraph(gpu, config, sizes, { maxBatch: 4, seed: 2 });
  let first = NaN;
  let last = NaN;
  // takeLoss returns the sum of the per-batch mean sentence losses since the last call.
  for (let epoch = 0; epoch < 80; epoch++) {
    for (const b of batches) graph.trainOn(b, { lr: 0.03, maxNorm: 5 });
    if (epoch === 0) first = await graph.takeLoss();
    else if (epoch === 79) last = await graph.takeLoss();
    else if (epoch % 20 === 0 || epoch === 78) await graph.takeLoss();
  }
  assert.ok(last < 0.01 * batches.length, `loss per epoch went from ${first} to ${last}`);
  for (const b of batches) {
    const { tags } = await graph.infer(b);
    for (let s = 0; s < b.size; s++) {
      for (let t = 0; t < b.lengths[s]; t++) {
        assert.equal(tags[s * b.maxLength + t], b.tagIds[s * b.maxLength + t]);
      }
    }
  }
});

Deno.test("the softmax head without char or casing features trains down and decodes its data", async () => {
  const gpu = await acquireGpu();
  const config = {
    ...tiny,
    head: "softmax" as const,
    charFeatures: "none" as const,
    casingDim: 0,
    hidden: 8,
    wordDim: 8,
  };
  const { batches, sizes } = setup(config, 4);
  const graph = await tinyGraph(gpu, config, sizes, { maxBatch: 4, seed: 4 });
  let first = NaN;
  for (let epoch = 0; epoch < 60; epoch++) {
    for (const b of batches) graph.trainOn(b, { lr: 0.03 });
    if (epoch === 0) first = await graph.takeLoss();
    else if (epoch === 58) await graph.takeLoss();
  }
  const last = await graph.takeLoss();
  assert.ok(last < first / 20, `loss per epoch went from ${first} to ${last}`);
  for (const b of batches) {
    const { tags } = await graph.infer(b);
    for (let s = 0; s < b.size; s++) {
      for (let t = 0; t < b.lengths[s]; t++) {
        assert.equal(tags[s * b.maxLength + t], b.tagIds[s * b.maxLength + t]);
      }
    }
  }
});

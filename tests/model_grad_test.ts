/**
 * Whole-graph gradient checks of the heads and dropout settings that
 * model_test.ts does not cover (the softmax head; dropout > 0), in the two
 * stages every op is checked in: the float64 reference backward against
 * central finite differences of its own loss, then the GPU graph's
 * gradients against the reference backward.
 */
import assert from "node:assert/strict";
import type { Batch } from "../src/data/batch.ts";
import { acquireGpu } from "../src/gpu/mod.ts";
import { inputDim, type ModelConfig } from "../src/model/config.ts";
import { type DropoutMasksRef, modelLossRef } from "../src/model/graph_ref.ts";
import type { VocabularySizes } from "../src/model/parameters.ts";
import { dropoutMaskRef } from "../src/ops/dropout_ref.ts";
import { assertClose, numericGradient, randomArray } from "./assert_close.ts";
import { assertStepMatchesRef, TINY_CONFIG, tinyBatches, tinyGraph } from "./fixtures.ts";

/** Random parameters in the GPU layout (LSTM directions stacked: 8H rows). */
function randomTensors(
  config: ModelConfig,
  sizes: VocabularySizes,
  seed: number,
): Record<string, Float32Array> {
  const E = inputDim(config);
  const H = config.hidden;
  const K = sizes.tags;
  const shapes: Record<string, number> = {
    "word_emb.weight": sizes.words * config.wordDim,
    "out.weight": K * 2 * H,
    "out.bias": K,
  };
  if (config.casingDim > 0) shapes["casing_emb.weight"] = sizes.casings * config.casingDim;
  if (config.charFeatures === "cnn") {
    shapes["char_emb.weight"] = sizes.chars * config.charDim;
    shapes["char_cnn.weight"] = config.charFilters * config.charDim * 3;
    shapes["char_cnn.bias"] = config.charFilters;
  }
  for (let l = 0; l < config.layers; l++) {
    shapes[`lstm.weight_ih_l${l}`] = 8 * H * (l === 0 ? E : 2 * H);
    shapes[`lstm.weight_hh_l${l}`] = 8 * H * H;
    shapes[`lstm.bias_ih_l${l}`] = 8 * H;
    shapes[`lstm.bias_hh_l${l}`] = 8 * H;
  }
  if (config.head === "crf") {
    shapes["crf.transitions"] = K * K;
    shapes["crf.start"] = K;
    shapes["crf.end"] = K;
  }
  return Object.fromEntries(
    Object.entries(shapes).map(([name, n], i) => [name, randomArray(seed + i, n, -0.5, 0.5)]),
  );
}

/**
 * The keep masks NerGraph draws at a training step: its two dropout sites'
 * seeds are derived from the graph's seed as in src/model/graph.ts (LSTM
 * input: seed·2654435761, LSTM output: seed·2246822519 + 7, as u32).
 */
function graphMasks(
  config: ModelConfig,
  batch: Batch,
  seed: number,
  step: number,
): DropoutMasksRef {
  const rows = batch.size * batch.maxLength;
  const p = config.dropout;
  return {
    p,
    input: dropoutMaskRef(rows * inputDim(config), { p, seed: (seed * 2654435761) >>> 0, step }),
    output: dropoutMaskRef(rows * 2 * config.hidden, {
      p,
      seed: (seed * 2246822519 + 7) >>> 0,
      step,
    }),
  };
}

const variants: { name: string; config: ModelConfig }[] = [
  { name: "softmax head", config: { ...TINY_CONFIG, head: "softmax" } },
  { name: "CRF head, dropout 0.5", config: { ...TINY_CONFIG, dropout: 0.5 } },
  {
    name: "softmax head, dropout 0.3, 2 layers",
    config: { ...TINY_CONFIG, head: "softmax", dropout: 0.3, layers: 2 },
  },
];

for (const { name, config } of variants) {
  Deno.test(`whole-graph reference backward equals finite differences of its loss (${name})`, () => {
    const { batches, sizes } = tinyBatches(config, 3);
    const batch = batches[0];
    const tensors = randomTensors(config, sizes, 11);
    const masks = config.dropout > 0 ? graphMasks(config, batch, 4, 2) : undefined;
    if (masks) {
      // Both sites drop something and keep something: the masks are really applied.
      for (const m of [masks.input, masks.output]) {
        const kept = Array.from(m).filter((v) => v === 1).length;
        assert.ok(kept > 0 && kept < m.length, `kept ${kept} of ${m.length}`);
      }
    }
    const ref = modelLossRef(config, sizes, tensors, batch, masks);
    assert.deepEqual(Object.keys(ref.grads).sort(), Object.keys(tensors).sort());
    for (const [tensor, values] of Object.entries(tensors)) {
      const loss = (x: Float64Array) =>
        modelLossRef(config, sizes, { ...tensors, [tensor]: x }, batch, masks).loss;
      const fd = numericGradient(loss, values, 1e-5);
      assertClose(ref.grads[tensor], fd, { name: `d ${tensor}`, atol: 1e-7, rtol: 1e-5 });
    }
    // Not trivially zero: the LSTM and the output layer get gradient.
    for (const tensor of ["lstm.weight_ih_l0", "out.weight"]) {
      assert.ok(ref.grads[tensor].some((v) => Math.abs(v) > 1e-4), `${tensor} has no gradient`);
    }
  });
}

for (const { name, config } of variants) {
  Deno.test(`the GPU graph's loss and every gradient equal the float64 reference (${name})`, async () => {
    const gpu = await acquireGpu();
    const { batches, sizes } = tinyBatches(config);
    const batch = batches[0];
    const seed = 5;
    const graph = await tinyGraph(gpu, config, sizes, { maxBatch: 8, seed });
    const params = await graph.readParameters();
    // The first training step runs with step 1.
    const masks = config.dropout > 0 ? graphMasks(config, batch, seed, 1) : undefined;
    const ref = modelLossRef(config, sizes, params, batch, masks);
    const loss = await assertStepMatchesRef(graph, batch, ref);
    if (masks) {
      // Dropout matters here: without the masks the reference disagrees with the GPU.
      const plain = modelLossRef(config, sizes, params, batch);
      assert.ok(Math.abs(plain.loss - loss) > 1e-3, `loss ${loss} equals the no-dropout loss`);
    }
    graph.destroy();
  });
}

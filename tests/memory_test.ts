import assert from "node:assert/strict";
import type { Sentence } from "../src/data/sentence.ts";
import { acquireGpu, createBuffer, destroyBuffer, gpuMemory } from "../src/gpu/mod.ts";
import { type ModelConfig, resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";
import { crfLoss } from "../src/ops/crf.ts";
import { createBiLstm } from "../src/ops/lstm.ts";
import { viterbiDecode } from "../src/ops/viterbi.ts";
import { tinyBatches } from "./fixtures.ts";

const corpus: Sentence[] = [
  { tokens: ["Ada", "lived", "in", "London", "."], tags: ["B-PER", "O", "O", "B-LOC", "O"] },
  { tokens: ["Acme", "Corp", "hired", "Bob"], tags: ["B-ORG", "I-ORG", "O", "B-PER"] },
  { tokens: ["Paris"], tags: ["B-LOC"] },
];

function setup(config: ModelConfig) {
  const { batches: [batch], sizes } = tinyBatches(config, 4, { corpus, seed: 1 });
  return { batch, sizes };
}

const tiny = resolveConfig({ wordDim: 8, casingDim: 3, charDim: 4, charFilters: 5, hidden: 6 });
const capacity = { maxBatch: 4, maxTime: 6, maxChars: 8 };

for (const config of [tiny, { ...tiny, head: "softmax" as const, layers: 2 }]) {
  Deno.test(`a graph gives back every byte it allocated: train, infer, destroy (${config.head}, ${config.layers} layer)`, async () => {
    const gpu = await acquireGpu();
    const { batch, sizes } = setup(config);
    const before = gpuMemory(gpu).liveBytes;
    const graph = await NerGraph.create(gpu, config, sizes, capacity, { seed: 3 });
    assert.ok(graph.gpuBytes > 0);
    assert.equal(
      gpuMemory(gpu).liveBytes - before,
      graph.gpuBytes,
      "gpuBytes is what was allocated",
    );
    graph.trainOn(batch, { lr: 1e-3 }, 1);
    await graph.takeLoss();
    graph.useAverage(true);
    await graph.infer(batch, { marginals: true });
    graph.useAverage(false);
    graph.destroy();
    assert.equal(gpuMemory(gpu).liveBytes, before);
    graph.destroy(); // idempotent
    assert.equal(gpuMemory(gpu).liveBytes, before);
  });
}

Deno.test("50 create/destroy cycles of an inference graph do not grow GPU memory", async () => {
  const gpu = await acquireGpu();
  const { batch, sizes } = setup(tiny);
  const before = gpuMemory(gpu).liveBytes;
  for (let i = 0; i < 50; i++) {
    const graph = await NerGraph.create(gpu, tiny, sizes, capacity, { training: false });
    if (i % 10 === 0) await graph.infer(batch);
    graph.destroy();
    assert.equal(gpuMemory(gpu).liveBytes, before, `after cycle ${i + 1}`);
  }
});

Deno.test("ops built without an allocator free their scratch and uniform blocks on destroy", async () => {
  const gpu = await acquireGpu();
  const K = 3;
  const f32 = (n: number) => createBuffer(gpu, "f32", n * 4);
  const mine = Array.from({ length: 12 }, () => f32(64));
  const [emissions, tags, lengths, transitions, start, end, nll, dEm, dT, dS, dE, loss] = mine;
  const before = gpuMemory(gpu).liveBytes;
  const crf = await crfLoss(gpu, {
    emissions,
    tags,
    lengths,
    transitions,
    start,
    end,
    nll,
    dEmissions: dEm,
    dTransitions: dT,
    dStart: dS,
    dEnd: dE,
    loss,
  }, { batch: 2, time: 2, tags: K });
  crf.resize({ batch: 4, time: 4 }); // grows its scratch
  const vit = await viterbiDecode(gpu, {
    emissions,
    lengths,
    transitions,
    start,
    end,
    path: tags,
    score: nll,
  }, {
    batch: 2,
    time: 2,
    tags: K,
  });
  vit.resize({ batch: 4, time: 4 });
  const lstm = await createBiLstm(gpu, {
    x: f32(64),
    lengths,
    wIh: f32(64),
    wHh: f32(64),
    bIh: f32(64),
    bHh: f32(64),
    hOut: f32(64),
  }, { maxBatch: 2, maxTime: 2, inputSize: 2, hiddenSize: 2 });
  await lstm.backward({
    dhOut: f32(64),
    dWIh: f32(64),
    dWHh: f32(64),
    dBIh: f32(64),
    dBHh: f32(64),
  });
  const callers = 11 * 64 * 4;
  assert.ok(gpuMemory(gpu).liveBytes > before + callers);
  for (const op of [crf, vit, lstm]) op.destroy();
  assert.equal(gpuMemory(gpu).liveBytes, before + callers, "only the caller's buffers remain");
  for (const b of mine) destroyBuffer(gpu, b);
});

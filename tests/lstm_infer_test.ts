import assert from "node:assert/strict";
import {
  acquireGpu,
  createBuffer,
  type Gpu,
  readFloat32,
  submitDispatches,
} from "../src/gpu/mod.ts";
import type { Sentence } from "../src/data/sentence.ts";
import { resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";
import { createBiLstmInfer, type LstmInferOptions } from "../src/ops/lstm_infer.ts";
import { biLstmRef, type BiLstmShape } from "../src/ops/lstm_ref.ts";
import { assertClose, randomArray } from "./assert_close.ts";
import {
  cpuProfile,
  LSTM_CASES,
  lstmWeightBuffers,
  randomLstmParams,
  tinyBatches,
} from "./fixtures.ts";

/** Runs the inference layer on random inputs and compares h_out with the float64 reference. */
async function checkAgainstReference(
  gpu: Gpu,
  shape: BiLstmShape,
  lengths: number[],
  seed: number,
  options: LstmInferOptions = {},
  tol = { atol: 2e-5, rtol: 1e-4 }, // as tests/lstm_test.ts
): Promise<{ uniformWeights: boolean; quads: number }> {
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = shape;
  const p = randomLstmParams(seed, E, H, Math.min(0.6, 1.5 / Math.sqrt(H)));
  const x = randomArray(seed + 10, B * T * E);
  const buf = {
    x: createBuffer(gpu, "x", x),
    lengths: createBuffer(gpu, "lengths", new Int32Array(lengths)),
    ...lstmWeightBuffers(gpu, p),
    // Garbage first: every row, padding included, must be written.
    hOut: createBuffer(gpu, "hOut", new Float32Array(B * T * 2 * H).fill(Number.NaN)),
  };
  const layer = await createBiLstmInfer(gpu, buf, {
    maxBatch: B,
    maxTime: T,
    inputSize: E,
    hiddenSize: H,
    ...options,
  });
  submitDispatches(gpu, layer.dispatches);
  const tag = `B=${B} T=${T} E=${E} H=${H} lengths=${lengths} uniform W=${layer.uniformWeights}` +
    ` quads=${layer.quads}`;
  assertClose(await readFloat32(gpu, buf.hOut, B * T * 2 * H), biLstmRef(x, lengths, p, shape), {
    ...tol,
    name: `h_out ${tag}`,
    shape: [B, T, 2 * H],
  });
  const { uniformWeights, quads } = layer;
  layer.destroy();
  for (const b of Object.values(buf)) b.destroy();
  return { uniformWeights, quads };
}

Deno.test("lstm_infer forward equals the float64 reference (padding, both directions, H % 4 ≠ 0)", async () => {
  const gpu = await acquireGpu();
  for (const uniformWeights of [true, false]) {
    // H = 10: the last unit quad is partly beyond H. 19 sentences: three groups of 8, the
    // last partly empty; an empty sentence and one of length 1.
    const used = await checkAgainstReference(
      gpu,
      { batch: 19, time: 6, inputSize: 3, hiddenSize: 10 },
      [6, 1, 2, 6, 5, 0, 3, 4, 6, 1, 2, 5, 5, 1, 6, 2, 3, 4, 1],
      300,
      { uniformWeights, quads: 1 },
    );
    assert.equal(used.uniformWeights, uniformWeights, "the W_hh path asked for is the one run");
    await checkAgainstReference(gpu, ...LSTM_CASES.single, { uniformWeights, quads: 1 });
  }
});

Deno.test("lstm_infer with two and four rows of sentences per workgroup equals the reference", async () => {
  const gpu = await acquireGpu();
  const [shape, lengths, seed] = LSTM_CASES.rows;
  // With four rows, 21 sentences leave most of the workgroup empty.
  for (const [s, quads] of [[seed, 2], [seed + 1, 4]]) {
    const used = await checkAgainstReference(gpu, shape, lengths, s, { quads });
    assert.equal(used.quads, quads, `quads asked for: ${quads}`);
  }
});

Deno.test("lstm_infer at H = 100 (the shipped size, uniform W_hh) and a long sentence", async () => {
  const gpu = await acquireGpu();
  const used = await checkAgainstReference(
    gpu,
    { batch: 9, time: 300, inputSize: 4, hiddenSize: 100 },
    [300, 17, 1, 0, 299, 5, 150, 2, 64],
    700,
    {},
    { atol: 5e-5, rtol: 1e-3 },
  );
  assert.equal(used.uniformWeights, true, "H = 100 fits one 64 KiB uniform block per gate");
  assert.equal(used.quads, 2, "the default: 2 rows of 8 sentences fit 16 KiB at H = 100");
});

Deno.test("lstm_infer refuses sizes it cannot run, naming them", async () => {
  const gpu = await acquireGpu();
  const buf = createBuffer(gpu, "b", 64);
  const buffers = { x: buf, lengths: buf, wIh: buf, wHh: buf, bIh: buf, bHh: buf, hOut: buf };
  await assert.rejects(
    () => createBiLstmInfer(gpu, buffers, { maxBatch: 1, maxTime: 1, inputSize: 1, hiddenSize: 0 }),
    /hiddenSize to be a positive integer, got 0/,
  );
  await assert.rejects(
    () => createBiLstmInfer(gpu, buffers, { maxBatch: 2, maxTime: 4, inputSize: 1, hiddenSize: 4 }),
    /pre|wHh|hOut/,
  );
  buf.destroy();
});

Deno.test("an inference-only graph on the cpu profile runs lstm_infer, with the training graph's emissions", async () => {
  const gpu = await acquireGpu();
  const corpus: Sentence[] = [
    { tokens: ["Ada", "lived", "in", "London", "."], tags: ["B-PER", "O", "O", "B-LOC", "O"] },
    { tokens: ["Acme", "Corp", "hired", "Bob"], tags: ["B-ORG", "I-ORG", "O", "B-PER"] },
    { tokens: ["Paris"], tags: ["B-LOC"] },
  ];
  const config = resolveConfig({ wordDim: 8, casingDim: 4, hidden: 10, layers: 2 });
  const { batches: [batch], sizes } = tinyBatches(config, 3, { corpus, seed: 1 });
  const capacity = { maxBatch: 3, maxTime: 5, maxChars: config.maxChars };
  const cpu = cpuProfile(gpu);
  const trained = await NerGraph.create(cpu, config, sizes, capacity, { seed: 7 });
  const inference = await NerGraph.create(cpu, config, sizes, capacity, {
    seed: 7,
    training: false,
  });
  const labels = inference.inferForward.map((d) => d.label);
  assert.ok(labels.includes("lstm 1 inference recurrence"), `inference dispatches: ${labels}`);
  assert.ok(!trained.inferForward.some((d) => d.label.includes("inference recurrence")));
  const a = await trained.infer(batch, { marginals: true });
  const b = await inference.infer(batch, { marginals: true });
  assertClose(b.emissions!, a.emissions!, { atol: 1e-5, rtol: 1e-4, name: "emissions" });
  assertClose(b.marginals!, a.marginals!, { atol: 1e-5, rtol: 1e-4, name: "marginals" });
  assert.deepEqual(b.tags, a.tags);
  trained.destroy();
  inference.destroy();
});

import assert from "node:assert/strict";
import { encodeSentences, makeBatches } from "../src/data/batch.ts";
import { CASING_CLASSES } from "../src/data/casing.ts";
import { collectTags, type Sentence } from "../src/data/sentence.ts";
import { buildCharVocabulary, buildTagVocabulary, buildWordVocabulary } from "../src/data/vocab.ts";
import {
  acquireGpu,
  createBuffer,
  dispatchSpec,
  type Gpu,
  limitsFromEnvironment,
  readFloat32,
  submitDispatches,
} from "../src/gpu/mod.ts";
import { resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";
import { createBiLstm } from "../src/ops/lstm.ts";
import { biLstmRef } from "../src/ops/lstm_ref.ts";
import { assertClose, randomArray } from "./assert_close.ts";

const corpus: Sentence[] = [
  { tokens: ["Ada", "lived", "in", "London", "."], tags: ["B-PER", "O", "O", "B-LOC", "O"] },
  { tokens: ["Acme", "Corp", "hired", "Bob"], tags: ["B-ORG", "I-ORG", "O", "B-PER"] },
];

Deno.test("acquireGpu({ limits: 'default' }) requests no raised limits", async () => {
  const gpu = await acquireGpu({ limits: "default" });
  assert.equal(gpu.limitsMode, "default");
  assert.equal(gpu.device.limits.maxStorageBuffersPerShaderStage, 8);
  assert.equal(gpu.device.limits.maxComputeWorkgroupStorageSize, 16384);
  assert.equal(gpu.device.limits.maxComputeInvocationsPerWorkgroup, 256);
  // The shared device follows the mode asked for (and the environment's by default).
  const again = await acquireGpu({ limits: "default" });
  assert.equal(again, gpu);
  const mode = limitsFromEnvironment() ?? "adapter";
  assert.equal((await acquireGpu()).limitsMode, mode);
});

for (const head of ["crf", "softmax"] as const) {
  Deno.test(`every pipeline of a graph without the char CNN fits WebGPU's default limits (${head})`, async () => {
    const gpu = await acquireGpu({ limits: "default" });
    const config = resolveConfig({
      charFeatures: "none",
      wordDim: 8,
      casingDim: 4,
      hidden: 6,
      head,
      layers: 2,
    });
    const words = buildWordVocabulary(corpus);
    const tags = buildTagVocabulary(collectTags(corpus));
    const encoded = encodeSentences(corpus, { words, chars: buildCharVocabulary(corpus), tags });
    const [batch] = makeBatches(encoded, { batchSize: 2, seed: 1, maxChars: config.maxChars });
    const sizes = { words: words.size, chars: 4, casings: CASING_CLASSES.length, tags: tags.size };
    // Building compiles every pipeline: one that binds more than the limits is an error here.
    const graph = await NerGraph.create(gpu, config, sizes, {
      maxBatch: 2,
      maxTime: 5,
      maxChars: 1,
    });
    graph.trainOn(batch, { lr: 1e-2 });
    assert.ok(Number.isFinite(await graph.takeLoss()));
    const { tags: predicted } = await graph.infer(batch, { marginals: true });
    assert.equal(predicted.length, batch.size * batch.maxLength);
    graph.destroy();
    gpu.check();
  });
}

/** The cpu profile's forward recurrence at (B, T, E, H) against the float64 reference. */
async function recurrenceMatches(gpu: Gpu, H: number, seed: number): Promise<boolean> {
  const [B, T, E] = [3, 2, 4];
  const lengths = [2, 1, 0];
  const scale = 1.5 / Math.sqrt(H);
  const p = {
    wIh: randomArray(seed, 8 * H * E, -scale, scale),
    wHh: randomArray(seed + 1, 8 * H * H, -scale, scale),
    bIh: randomArray(seed + 2, 8 * H, -scale, scale),
    bHh: randomArray(seed + 3, 8 * H, -scale, scale),
  };
  const x = randomArray(seed + 4, B * T * E);
  const f32 = (a: ArrayLike<number>) => Float32Array.from(a);
  const buf = {
    x: createBuffer(gpu, "x", f32(x)),
    lengths: createBuffer(gpu, "lengths", new Int32Array(lengths)),
    wIh: createBuffer(gpu, "wIh", f32(p.wIh)),
    wHh: createBuffer(gpu, "wHh", f32(p.wHh)),
    bIh: createBuffer(gpu, "bIh", f32(p.bIh)),
    bHh: createBuffer(gpu, "bHh", f32(p.bHh)),
    hOut: createBuffer(gpu, "hOut", B * T * 2 * H * 4),
  };
  // hScratch: false asks for h in workgroup memory; the layer keeps it in storage where
  // that would pass the device's workgroup storage.
  const layer = await createBiLstm(gpu, buf, {
    maxBatch: B,
    maxTime: T,
    inputSize: E,
    hiddenSize: H,
    hScratch: false,
    profile: "cpu",
  });
  submitDispatches(gpu, layer.dispatches);
  const shape = { batch: B, time: T, inputSize: E, hiddenSize: H };
  assertClose(await readFloat32(gpu, buf.hOut), biLstmRef(x, lengths, p, shape), {
    atol: 2e-5,
    rtol: 1e-4,
    name: `h_out H=${H} under default limits`,
    shape: [B, T, 2 * H],
  });
  const recurrence = layer.dispatches.map(dispatchSpec).find((s) =>
    s.constants?.H_SCRATCH !== undefined
  );
  assert.ok(recurrence, "the layer has a recurrence dispatch");
  layer.destroy();
  for (const b of Object.values(buf)) b.destroy();
  return recurrence.constants?.H_SCRATCH === false;
}

Deno.test("the LSTM recurrence under default limits: h in workgroup memory to H = 252, in storage from 253", async () => {
  const gpu = await acquireGpu({ limits: "default" });
  // H = 252: 16·63 vec4 = 15.75 KiB of h beside group_max, within 16 KiB. H = 256: 16 KiB of h
  // alone, so the layer falls back to the storage exchange (chosen from the device's limits).
  assert.equal(await recurrenceMatches(gpu, 252, 10), true, "H = 252 keeps h in workgroup memory");
  assert.equal(await recurrenceMatches(gpu, 256, 20), false, "H = 256 keeps h in storage");
  gpu.check();
});

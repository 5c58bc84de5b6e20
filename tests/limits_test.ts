import assert from "node:assert/strict";
import { encodeSentences, makeBatches } from "../src/data/batch.ts";
import { CASING_CLASSES } from "../src/data/casing.ts";
import { collectTags, type Sentence } from "../src/data/sentence.ts";
import { buildCharVocabulary, buildTagVocabulary, buildWordVocabulary } from "../src/data/vocab.ts";
import { acquireGpu, limitsFromEnvironment } from "../src/gpu/mod.ts";
import { resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";

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

import assert from "node:assert/strict";
import { type Batch, encodeSentences, makeBatches } from "../src/data/batch.ts";
import { CASING_CLASSES } from "../src/data/casing.ts";
import { collectTags, type Sentence } from "../src/data/sentence.ts";
import { buildCharVocabulary, buildTagVocabulary, buildWordVocabulary } from "../src/data/vocab.ts";
import { acquireGpu } from "../src/gpu/mod.ts";
import { type ModelConfig, resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";
import { modelLossRef } from "../src/model/graph_ref.ts";
import { assertClose } from "./assert_close.ts";

/** Eight invented sentences with unequal lengths, one of length 1. */
const corpus: Sentence[] = [
  {
    tokens: ["Ada", "Lovelace", "lived", "in", "London", "."],
    tags: ["B-PER", "I-PER", "O", "O", "B-LOC", "O"],
  },
  { tokens: ["Acme", "Corp", "hired", "Bob"], tags: ["B-ORG", "I-ORG", "O", "B-PER"] },
  { tokens: ["Paris"], tags: ["B-LOC"] },
  {
    tokens: ["Bob", "visited", "Rome", "and", "Oslo"],
    tags: ["B-PER", "O", "B-LOC", "O", "B-LOC"],
  },
  { tokens: ["Nothing", "here", "."], tags: ["O", "O", "O"] },
  {
    tokens: ["Zed", "Inc", "sued", "Acme", "Corp", "in", "1999"],
    tags: ["B-ORG", "I-ORG", "O", "B-ORG", "I-ORG", "O", "O"],
  },
  { tokens: ["Eve", "met", "Ada"], tags: ["B-PER", "O", "B-PER"] },
  { tokens: ["London", "calling"], tags: ["B-LOC", "O"] },
];

function setup(config: ModelConfig, batchSize = 8) {
  const words = buildWordVocabulary(corpus);
  const chars = buildCharVocabulary(corpus);
  const tags = buildTagVocabulary(collectTags(corpus));
  const encoded = encodeSentences(corpus, { words, chars, tags });
  const batches = makeBatches(encoded, { batchSize, seed: 3, maxChars: config.maxChars });
  const sizes = {
    words: words.size,
    chars: chars.size,
    casings: CASING_CLASSES.length,
    tags: tags.size,
  };
  return { batches, sizes };
}

const tiny = resolveConfig({
  wordDim: 6,
  casingDim: 3,
  charDim: 4,
  charFilters: 5,
  maxChars: 6,
  hidden: 5,
  dropout: 0,
});

for (const layers of [1, 2]) {
  Deno.test(`the GPU graph's loss and every gradient equal the float64 reference (${layers} layer)`, async () => {
    const gpu = await acquireGpu();
    const config = { ...tiny, layers };
    const { batches, sizes } = setup(config);
    const batch: Batch = batches[0];
    const graph = await NerGraph.create(gpu, config, sizes, {
      maxBatch: 8,
      maxTime: 8,
      maxChars: config.maxChars,
    }, { seed: 5 });
    const params = await graph.readParameters();
    const ref = modelLossRef(config, sizes, params, batch);
    graph.trainOn(batch, { lr: 1e-3 });
    const loss = await graph.takeLoss();
    assertClose([loss], [ref.loss], { name: "loss", rtol: 1e-5 });
    const grads = await graph.readGradients();
    assert.deepEqual(Object.keys(grads).sort(), Object.keys(ref.grads).sort());
    for (const [name, expected] of Object.entries(ref.grads)) {
      assertClose(grads[name], expected, { name: `d ${name}`, atol: 2e-5, rtol: 1e-3 });
    }
  });
}

Deno.test("training overfits eight sentences to near-zero loss, and decodes them exactly", async () => {
  const gpu = await acquireGpu();
  const config = { ...tiny, hidden: 8, wordDim: 8 };
  const { batches, sizes } = setup(config, 4);
  const graph = await NerGraph.create(gpu, config, sizes, {
    maxBatch: 4,
    maxTime: 8,
    maxChars: config.maxChars,
  }, { seed: 2 });
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
  const graph = await NerGraph.create(
    gpu,
    config,
    sizes,
    { maxBatch: 4, maxTime: 8, maxChars: 1 },
    { seed: 4 },
  );
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

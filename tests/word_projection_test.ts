import assert from "node:assert/strict";
import {
  acquireGpu,
  createBuffer,
  destroyBuffer,
  gpuMemory,
  readFloat32,
  submitDispatches,
} from "../src/gpu/mod.ts";
import type { Batch } from "../src/data/batch.ts";
import { type ModelConfig, resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";
import { wordProjection, wordTableBytes, wordTableProblem } from "../src/ops/word_projection.ts";
import { wordProjectionRef } from "../src/ops/word_projection_ref.ts";
import { assertClose, randomArray } from "./assert_close.ts";
import { cpuProfile, randomIds, tinyBatches } from "./fixtures.ts";

interface Case {
  B: number;
  T: number;
  V: number;
  Ew: number;
  Er: number;
  H: number;
}

async function check({ B, T, V, Ew, Er, H }: Case, seed: number) {
  const gpu = await acquireGpu();
  const before = gpuMemory(gpu).liveBytes;
  const E = Ew + Er;
  const emb = randomArray(seed, V * Ew);
  const wIh = randomArray(seed + 1, 8 * H * E);
  const bIh = randomArray(seed + 2, 8 * H);
  const ids = randomIds(seed + 3, B * T, V);
  const lengths = Int32Array.from({ length: B }, (_, b) => Math.max(1, T - b));
  const rest = randomArray(seed + 4, Math.max(1, B * T * Er));
  // Padding rows of x_rest are zero, as the feature ops write them.
  for (let b = 0; b < B; b++) {
    for (let t = lengths[b]; t < T; t++) rest.fill(0, (b * T + t) * Er, (b * T + t + 1) * Er);
  }
  const buf = (label: string, data: Float32Array | Int32Array) => createBuffer(gpu, label, data);
  const buffers = {
    wordTable: buf("emb", emb),
    wIh: buf("wIh", wIh),
    bIh: buf("bIh", bIh),
    wordIds: buf("ids", ids),
    lengths: buf("lengths", lengths),
    rest: buf("rest", rest),
    pre: buf("pre", new Float32Array(B * T * 8 * H).fill(9)),
  };
  const op = await wordProjection(gpu, buffers, {
    maxBatch: B,
    maxTime: T,
    vocab: V,
    wordDim: Ew,
    inputSize: E,
    hiddenSize: H,
  });
  assert.equal(op.tableBytes, wordTableBytes(V, H));
  submitDispatches(gpu, [...op.build, ...op.dispatches]);
  const got = await readFloat32(gpu, buffers.pre, B * T * 8 * H);
  const want = wordProjectionRef({ emb, wIh, bIh, ids, lengths, rest }, {
    batch: B,
    time: T,
    wordDim: Ew,
    inputSize: E,
    hiddenSize: H,
  });
  assertClose(got, want, {
    atol: 1e-5,
    rtol: 1e-4,
    name: `pre ${JSON.stringify({ B, T, V, Ew, Er, H })}`,
    shape: [B * T, 8 * H],
  });
  // A smaller batch after a resize: the first rows only.
  op.resize({ batch: 1, time: T });
  submitDispatches(gpu, op.dispatches);
  const small = await readFloat32(gpu, buffers.pre, T * 8 * H);
  assertClose(small, want.subarray(0, T * 8 * H), {
    atol: 1e-5,
    rtol: 1e-4,
    name: "pre after resize",
  });
  op.destroy();
  for (const b of Object.values(buffers)) destroyBuffer(gpu, b);
  assert.equal(gpuMemory(gpu).liveBytes, before, "the op's buffers are freed on destroy");
}

Deno.test("word projection equals the float64 projection of [emb | rest] (odd sizes: scalar matmuls)", async () => {
  await check({ B: 3, T: 5, V: 7, Ew: 5, Er: 3, H: 3 }, 11);
});

Deno.test("word projection equals the float64 projection (aligned sizes: vec4 matmuls)", async () => {
  await check({ B: 2, T: 7, V: 9, Ew: 8, Er: 12, H: 4 }, 21);
});

Deno.test("word projection with no other columns (E_r = 0) is the table gather alone", async () => {
  await check({ B: 2, T: 4, V: 6, Ew: 4, Er: 0, H: 2 }, 31);
});

Deno.test("word projection rejects bad sizes and a table past the binding limit, naming them", async () => {
  const gpu = await acquireGpu();
  const limit = gpu.device.limits.maxStorageBufferBindingSize;
  const V = Math.ceil(limit / (8 * 100 * 4)) + 1;
  assert.match(
    wordTableProblem(gpu, V, 100) ?? "",
    /larger than this adapter's \d+-byte storage binding limit/,
  );
  assert.equal(wordTableProblem(gpu, 20_000, 100), null);
  const b = createBuffer(gpu, "b", 64);
  const buffers = { wordTable: b, wIh: b, bIh: b, wordIds: b, lengths: b, pre: b };
  const size = { maxBatch: 1, maxTime: 1, vocab: 2, wordDim: 3, inputSize: 2, hiddenSize: 1 };
  await assert.rejects(() => wordProjection(gpu, buffers, size), /wordDim ≤ inputSize, got 3 > 2/);
  await assert.rejects(
    () => wordProjection(gpu, buffers, { ...size, hiddenSize: 0 }),
    /hiddenSize to be a positive integer, got 0/,
  );
  destroyBuffer(gpu, b);
});

const base = resolveConfig({ wordDim: 8, casingDim: 4, charDim: 4, charFilters: 6, hidden: 6 });
const graphConfigs: [string, ModelConfig][] = [
  ["1 layer, casing and char CNN", base],
  ["2 layers, casing and char CNN", { ...base, layers: 2 }],
  ["1 layer, no char CNN", { ...base, charFeatures: "none" }],
  ["2 layers, no casing, no char CNN", { ...base, layers: 2, casingDim: 0, charFeatures: "none" }],
];

/** Random parameters at a larger scale than the initial ones, so differences would show. */
async function scrambled(graph: NerGraph, seed: number): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  let s = seed;
  for (const [name, data] of Object.entries(await graph.readParameters())) {
    out[name] = randomArray(s++, data.length, -0.8, 0.8);
  }
  return out;
}

async function compareGraphs(with_: NerGraph, without: NerGraph, batch: Batch, what: string) {
  const a = await with_.infer(batch, { marginals: true });
  const b = await without.infer(batch, { marginals: true });
  assertClose(a.emissions!, b.emissions!, { atol: 1e-5, rtol: 1e-4, name: `emissions (${what})` });
  assertClose(a.marginals!, b.marginals!, { atol: 1e-5, rtol: 1e-4, name: `marginals (${what})` });
  assert.deepEqual(a.tags, b.tags, `tags (${what})`);
  return a;
}

for (const [name, config] of graphConfigs) {
  Deno.test(`an inference graph with the word table gives the emissions, marginals and tags of one without it; rebuilt after writeParameters (${name})`, async () => {
    const gpu = cpuProfile(await acquireGpu());
    const { batches: [batch], sizes } = tinyBatches(config, 5, { seed: 2 });
    const capacity = { maxBatch: 5, maxTime: 8, maxChars: 12 };
    const options = { seed: 5, training: false };
    const table = await NerGraph.create(gpu, config, sizes, capacity, {
      ...options,
      wordTable: true,
    });
    const plain = await NerGraph.create(gpu, config, sizes, capacity, {
      ...options,
      wordTable: false,
    });
    try {
      assert.ok(table.wordTable && !plain.wordTable);
      const labels = table.inferForward.map((d) => d.label);
      assert.ok(labels.includes("lstm 0 word projection gather"), `dispatches: ${labels}`);
      assert.ok(!labels.includes("lstm 0 input projection"), `dispatches: ${labels}`);
      assert.ok(!labels.includes("word embedding"), `dispatches: ${labels}`);
      const first = await compareGraphs(table, plain, batch, "initial parameters");
      const params = await scrambled(table, 40);
      table.writeParameters(params);
      plain.writeParameters(params);
      const second = await compareGraphs(table, plain, batch, "rewritten parameters");
      assert.ok(
        second.emissions!.some((v, i) => Math.abs(v - first.emissions![i]) > 1e-3),
        "the rewrite changed the emissions",
      );
      // A write of the word table alone, the next inference after it sees the new rows.
      const emb = randomArray(77, params["word_emb.weight"].length, -0.8, 0.8);
      table.writeParameters({ "word_emb.weight": emb });
      plain.writeParameters({ "word_emb.weight": emb });
      await compareGraphs(table, plain, batch, "rewritten word embeddings");
      await compareGraphs(table, plain, batch, "second inference, table not rebuilt");
    } finally {
      table.destroy();
      plain.destroy();
    }
  });
}

Deno.test("the word table is on by default for a small inference graph on the cpu profile, refused where it cannot be built, and freed on destroy", async () => {
  const gpu = cpuProfile(await acquireGpu());
  const { batches: [batch], sizes } = tinyBatches(base, 5, { seed: 2 });
  const capacity = { maxBatch: 5, maxTime: 8, maxChars: 12 };
  const before = gpuMemory(gpu).liveBytes;
  const auto = await NerGraph.create(gpu, base, sizes, capacity, { seed: 5, training: false });
  const plain = await NerGraph.create(gpu, base, sizes, capacity, {
    seed: 5,
    training: false,
    wordTable: false,
  });
  assert.ok(auto.wordTable, "on by default");
  assert.ok(
    auto.gpuBytes - plain.gpuBytes >= wordTableBytes(sizes.words, base.hidden),
    `the table's bytes are counted: ${auto.gpuBytes} vs ${plain.gpuBytes}`,
  );
  await auto.infer(batch, { marginals: true });
  auto.destroy();
  plain.destroy();
  assert.equal(gpuMemory(gpu).liveBytes, before, "every byte given back");
  await assert.rejects(
    () => NerGraph.create(gpu, base, sizes, capacity, { seed: 5, wordTable: true }),
    /Cannot build the word table: it is for inference-only graphs/,
  );
  const training = await NerGraph.create(gpu, base, sizes, capacity, { seed: 5 });
  assert.ok(!training.wordTable, "training graphs keep the plain projection");
  training.destroy();
});

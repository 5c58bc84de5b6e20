import assert from "node:assert/strict";
import { encodeSentences, makeBatches } from "../src/data/batch.ts";
import { CASING_CLASSES } from "../src/data/casing.ts";
import { collectTags, type Sentence } from "../src/data/sentence.ts";
import { buildCharVocabulary, buildTagVocabulary, buildWordVocabulary } from "../src/data/vocab.ts";
import * as shaders from "../shaders/mod.ts";
import {
  acquireGpu,
  Allocator,
  compiledKernels,
  createBuffer,
  dispatchSpec,
  Gpu,
  type KernelProfile,
  kernelProfile,
  limitsFromEnvironment,
  PROFILE_ENV,
  readFloat32,
  submitDispatches,
} from "../src/gpu/mod.ts";
import { computeEntryPoints, entryResources } from "../src/gpu/wgsl_resources.ts";
import { resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";
import { charCnnForward } from "../src/ops/char_cnn.ts";
import { crfLoss, crfMarginals, crfParamsBinding } from "../src/ops/crf.ts";
import { gradNorm } from "../src/ops/grad_norm.ts";
import { createBiLstm } from "../src/ops/lstm.ts";
import { createBiLstmInfer } from "../src/ops/lstm_infer.ts";
import { biLstmRef } from "../src/ops/lstm_ref.ts";
import { viterbiDecode } from "../src/ops/viterbi.ts";
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

/** A Gpu on the same device whose kernel profile is `profile` (chosen once per Gpu). */
function withProfile(base: Gpu, profile: KernelProfile): Gpu {
  const previous = Deno.env.get(PROFILE_ENV);
  Deno.env.set(PROFILE_ENV, profile);
  try {
    const gpu = new Gpu(base.device, base.adapter, base.limitsMode);
    assert.equal(kernelProfile(gpu).profile, profile);
    return gpu;
  } finally {
    if (previous === undefined) Deno.env.delete(PROFILE_ENV);
    else Deno.env.set(PROFILE_ENV, previous);
  }
}

/** The largest model the CLI accepts (cli/train.ts: --hidden, --char-filters ≤ 256), K = 32. */
async function largestGraphs(base: Gpu): Promise<void> {
  const words = buildWordVocabulary(corpus);
  const chars = buildCharVocabulary(corpus);
  const tagVocab = buildTagVocabulary(collectTags(corpus));
  const sizes = { words: words.size, chars: chars.size, casings: CASING_CLASSES.length, tags: 32 };
  for (const profile of ["cpu", "gpu"] as const) {
    const gpu = withProfile(base, profile);
    for (const head of ["crf", "softmax"] as const) {
      const config = resolveConfig({
        hidden: 256,
        charFilters: 256,
        charDim: 128,
        wordDim: 16,
        layers: 2,
        head,
        dropout: 0.5,
      });
      const encoded = encodeSentences(corpus, { words, chars, tags: tagVocab });
      const [batch] = makeBatches(encoded, { batchSize: 2, seed: 1, maxChars: config.maxChars });
      const graph = await NerGraph.create(gpu, config, sizes, {
        maxBatch: 2,
        maxTime: 5,
        maxChars: config.maxChars,
      });
      graph.trainOn(batch, { lr: 1e-2, maxNorm: 5 }, 0.5); // with weight averaging
      assert.ok(Number.isFinite(await graph.takeLoss()), `${profile} ${head}: a finite loss`);
      graph.useAverage(true);
      await graph.infer(batch, { marginals: true });
      graph.useAverage(false);
      graph.destroy();
    }
  }
}

/** The entry points a graph does not build: the ops' paths for separate buffers and odd sizes. */
async function otherEntries(gpu: Gpu): Promise<void> {
  const f32 = (n: number) => createBuffer(gpu, "f32", Math.max(16, n * 4));
  const dims = { batch: 1, time: 2, chars: 3, charDim: 128, filters: 256, charVocab: 2000 };
  const charBuffers = {
    charIds: f32(6),
    charLengths: f32(2),
    lengths: f32(1),
    table: f32(2000 * 128),
    weight: f32(256 * 128 * 3),
    bias: f32(256),
    out: f32(2 * 256),
    argmax: f32(2 * 256),
  };
  // Weight and bias in separate buffers: the pack_conv dispatch; C > 1024: forward_direct.
  const direct = await charCnnForward(gpu, charBuffers, dims);
  const p = { transitions: f32(32 * 32), start: f32(32), end: f32(32) };
  const mem = new Allocator(gpu);
  const crfParams = await crfParamsBinding(gpu, mem, "crf", p, 32);
  assert.ok(crfParams.pack, "separate CRF buffers are packed");
  const norm = await gradNorm(gpu, { grads: f32(7), out: f32(1) }, { n: 7 }); // n % 4 ≠ 0
  // The CRF's and Viterbi's time loops split into ranges of steps (long sentences on fallback
  // adapters).
  const [B, T, K] = [2, 6, 32];
  const sequence = {
    emissions: f32(B * T * K),
    lengths: createBuffer(gpu, "lengths", new Int32Array([6, 3])),
    ...p,
  };
  const loss = await crfLoss(gpu, {
    ...sequence,
    tags: f32(B * T),
    nll: f32(B),
    dEmissions: f32(B * T * K),
    dTransitions: f32(K * K),
    dStart: f32(K),
    dEnd: f32(K),
    loss: f32(1),
  }, { batch: B, time: T, tags: K, lossScale: 1, stepsPerDispatch: 2 });
  const marginals = await crfMarginals(gpu, {
    ...sequence,
    logZ: f32(B),
    marginals: f32(B * T * K),
    logAlpha: f32(B * T * K),
    logBeta: f32(B * T * K),
  }, { batch: B, time: T, tags: K, stepsPerDispatch: 2 });
  const decode = await viterbiDecode(gpu, {
    ...sequence,
    path: f32(B * T),
    score: f32(B),
  }, { batch: B, time: T, tags: K, stepsPerDispatch: 2 });
  // The inference-only recurrence at the largest H with W_hh in uniform bindings (9 uniforms).
  const H = 128;
  const infer = await createBiLstmInfer(gpu, {
    x: f32(B * T * 4),
    lengths: sequence.lengths,
    wIh: f32(8 * H * 4),
    wHh: f32(8 * H * H),
    bIh: f32(8 * H),
    bHh: f32(8 * H),
    hOut: f32(B * T * 2 * H),
  }, { maxBatch: B, maxTime: T, inputSize: 4, hiddenSize: H });
  assert.ok(infer.uniformWeights, "H = 128 reads W_hh from uniform bindings");
  submitDispatches(gpu, [
    ...direct.dispatches,
    crfParams.pack,
    ...norm.dispatches,
    ...loss.dispatches,
    ...marginals.dispatches,
    ...decode.dispatches,
    ...infer.dispatches,
  ]);
  await gpu.device.queue.onSubmittedWorkDone();
  for (const op of [direct, norm, loss, marginals, decode, infer]) op.destroy();
  mem.destroy();
}

Deno.test("every pipeline of the library fits WebGPU's default limits, both profiles, largest CLI sizes", async () => {
  const gpu = await acquireGpu({ limits: "default" });
  await largestGraphs(gpu);
  await otherEntries(gpu);
  // The cpu recurrence asked to keep h in workgroup memory, at the largest H (it falls back).
  await recurrenceMatches(withProfile(gpu, "cpu"), 256, 30);
  const limits = gpu.device.limits;
  const names = new Map(Object.entries(shaders).map(([name, code]) => [code as string, name]));
  const seen = new Set<string>();
  for (const kernel of compiledKernels(gpu)) {
    const name = names.get(kernel.code);
    if (name === undefined) continue; // a test's own kernel
    const key = `${name}:${kernel.entryPoint} ${JSON.stringify(kernel.constants)}`;
    seen.add(`${name}:${kernel.entryPoint}`);
    const r = entryResources(kernel);
    assert.ok(r.storageBuffers <= 8, `${key}: ${r.storageBuffers} storage buffers (≤ 8)`);
    assert.ok(r.uniformBuffers <= 12, `${key}: ${r.uniformBuffers} uniform buffers (≤ 12)`);
    assert.ok(r.workgroupBytes <= 16_384, `${key}: ${r.workgroupBytes} B of workgroup storage`);
    assert.ok(r.invocations <= 256, `${key}: ${r.invocations} invocations (≤ 256)`);
    assert.ok(
      r.workgroupSize[0] <= 256 && r.workgroupSize[1] <= 256 && r.workgroupSize[2] <= 64,
      `${key}: workgroup size ${r.workgroupSize}`,
    );
    assert.ok(r.storageBuffers <= limits.maxStorageBuffersPerShaderStage);
  }
  const missing = Object.entries(shaders).flatMap(([name, code]) =>
    computeEntryPoints(code as string).map((e) => `${name}:${e}`).filter((k) => !seen.has(k))
  );
  assert.deepEqual(missing, [], "every entry point of shaders/ was built and checked");
  gpu.check();
});

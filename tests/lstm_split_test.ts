import assert from "node:assert/strict";
import {
  acquireGpu,
  type Gpu,
  readFloat32,
  submitDispatches,
  writeBuffer,
} from "../src/gpu/mod.ts";
import { type BiLstm, type BiLstmOptions, createBiLstm } from "../src/ops/lstm.ts";
import { sentenceGroups } from "../src/ops/lstm_split.ts";
import {
  biLstmBackwardRef,
  type BiLstmParams,
  biLstmRef,
  type BiLstmShape,
} from "../src/ops/lstm_ref.ts";
import { assertClose, randomArray } from "./assert_close.ts";
import { NerGraph } from "../src/model/graph.ts";
import { modelLossRef } from "../src/model/graph_ref.ts";
import {
  lstmLayerBuffers,
  randomLstmParams,
  TINY_CONFIG,
  TINY_CORPUS,
  tinyBatches,
} from "./fixtures.ts";

const GRADS = ["dWIh", "dWHh", "dBIh", "dBHh"] as const;

interface Layer {
  layer: BiLstm;
  backward: { dispatches: readonly unknown[] };
  buf: Record<string, GPUBuffer>;
  run(x: Float32Array, lengths: Int32Array, dh: Float32Array, B: number, T: number): void;
}

/** A layer over its own buffers for the largest (B, T), with its backward. */
async function build(
  gpu: Gpu,
  size: BiLstmShape,
  p: BiLstmParams,
  options: BiLstmOptions,
): Promise<Layer> {
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = size;
  const buf: Record<string, GPUBuffer> = lstmLayerBuffers(gpu, size, p);
  const layer = await createBiLstm(gpu, {
    x: buf.x,
    lengths: buf.lengths,
    wIh: buf.wIh,
    wHh: buf.wHh,
    bIh: buf.bIh,
    bHh: buf.bHh,
    hOut: buf.hOut,
  }, { maxBatch: B, maxTime: T, inputSize: E, hiddenSize: H, ...options });
  const backward = await layer.backward({
    dhOut: buf.dhOut,
    dX: buf.dX,
    dWIh: buf.dWIh,
    dWHh: buf.dWHh,
    dBIh: buf.dBIh,
    dBHh: buf.dBHh,
  });
  return {
    layer,
    backward,
    buf,
    run(x, lengths, dh, batch, time) {
      layer.resize({ batch, time });
      writeBuffer(gpu, buf.x, x);
      writeBuffer(gpu, buf.lengths, lengths);
      writeBuffer(gpu, buf.dhOut, dh);
      for (const k of GRADS) writeBuffer(gpu, buf[k], new Float32Array(buf[k].size / 4));
      submitDispatches(gpu, [...layer.dispatches, ...backward.dispatches]);
    },
  };
}

function sameBits(a: Float32Array, b: Float32Array, name: string): void {
  assert.equal(a.length, b.length, `${name}: lengths differ`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const i = ua.findIndex((v, k) => v !== ub[k]);
  assert.equal(i, -1, `${name}: split and whole differ first at ${i}: ${a[i]} vs ${b[i]}`);
}

Deno.test("sentenceGroups: whole when it fits, else groups of 64 sentences within the limit", async () => {
  const gpu = await acquireGpu();
  const size = { maxBatch: 256, maxTime: 124, inputSize: 100, hiddenSize: 256 };
  // (T, 8H) f32 per sentence: 1,015,808 bytes; 132 of them fit 128 MiB, so 128 per group.
  assert.deepEqual(sentenceGroups(gpu, size, { maxBindingBytes: 2 ** 27 }), [128, 128]);
  assert.deepEqual(sentenceGroups(gpu, { ...size, maxBatch: 100 }, { maxBindingBytes: 2 ** 27 }), [
    100,
  ]);
  assert.deepEqual(sentenceGroups(gpu, { ...size, maxBatch: 300 }, { maxBindingBytes: 2 ** 27 }), [
    128,
    128,
    44,
  ]);
  assert.throws(
    () => sentenceGroups(gpu, { ...size, maxTime: 1000 }, { maxBindingBytes: 2 ** 27 }),
    /a group of 64 sentences × 1000 tokens at hidden size 256 needs 500\.0 MiB .* 128\.0 MiB/,
  );
});

Deno.test("a BiLSTM split into sentence groups equals the whole layer (h, dX bit for bit; weight gradients within float32 rounding) and the float64 reference", async () => {
  const gpu = await acquireGpu();
  // H = 10 and E = 3 as in lstm_test.ts (the same pipelines). Per sentence the gates take
  // 5·8·12·4 = 1,920 bytes: a limit of 64 of them splits 130 sentences into 64 + 64 + 2.
  const size: BiLstmShape = { batch: 130, time: 5, inputSize: 3, hiddenSize: 10 };
  const { inputSize: E, hiddenSize: H } = size;
  const maxBindingBytes = 64 * 1920;
  const p = randomLstmParams(1, E, H, 0.45);
  const whole = await build(gpu, size, p, {});
  const split = await build(gpu, size, p, { maxBindingBytes });
  assert.equal(whole.layer.groups, undefined, "the default path is not split");
  assert.deepEqual(split.layer.groups?.map((g) => g.saved.gates.size), [
    64 * 5 * 8 * 12 * 4,
    64 * 5 * 8 * 12 * 4,
    2 * 5 * 8 * 12 * 4,
  ]);
  for (const g of split.layer.groups!) assert.ok(g.saved.gates.size <= maxBindingBytes);
  assert.equal(split.layer.dispatches.length, 3 * whole.layer.dispatches.length);
  // The largest batch, then fewer and shorter sentences: the ranges move with T (rows s·T)
  // and the last group is empty.
  for (const [B, T, seed] of [[130, 5, 10], [100, 3, 20], [129, 4, 30]]) {
    const lengths = Int32Array.from(
      { length: B },
      (_, b) => b % 7 === 0 ? T : (b * 5 + 1) % (T + 1),
    );
    const x = randomArray(seed, B * T * E);
    const dh = randomArray(seed + 1, B * T * 2 * H);
    whole.run(x, lengths, dh, B, T);
    split.run(x, lengths, dh, B, T);
    const tag = `B=${B} T=${T}`;
    const read = (l: Layer, k: string, n: number) => readFloat32(gpu, l.buf[k], n);
    const hSplit = await read(split, "hOut", B * T * 2 * H);
    sameBits(hSplit, await read(whole, "hOut", B * T * 2 * H), `h_out ${tag}`);
    const dxSplit = await read(split, "dX", B * T * E);
    sameBits(dxSplit, await read(whole, "dX", B * T * E), `dX ${tag}`);
    const shape = { batch: B, time: T, inputSize: E, hiddenSize: H };
    const tol = { atol: 2e-5, rtol: 1e-4 };
    assertClose(hSplit, biLstmRef(x, lengths, p, shape), { ...tol, name: `h_out ref ${tag}` });
    const ref = biLstmBackwardRef(x, lengths, p, shape, dh);
    assertClose(dxSplit, ref.dX, { ...tol, name: `dX ref ${tag}` });
    for (const k of GRADS) {
      const n = whole.buf[k].size / 4;
      const s = await read(split, k, n);
      // Accumulated group after group: another summation order than one dispatch.
      assertClose(s, await read(whole, k, n), { atol: 1e-5, rtol: 1e-5, name: `${k} ${tag}` });
      assertClose(s, ref[k], { ...tol, name: `${k} ref ${tag}` });
    }
  }
  for (const l of [whole, split]) {
    l.layer.destroy();
    for (const b of Object.values(l.buf)) b.destroy();
  }
});

Deno.test("a graph whose BiLSTM layers run as sentence groups trains and tags as the unsplit graph and the float64 reference", async () => {
  const gpu = await acquireGpu();
  // 72 sentences in one batch (the tiny corpus nine times); maxTime 8 at H = 5 (Hp = 8):
  // 8·64·4 = 2,048 bytes of gates per sentence, so this limit splits each layer into 64 + 8.
  const config = { ...TINY_CONFIG, layers: 2 };
  const corpus = Array.from({ length: 9 }, () => TINY_CORPUS).flat();
  const { batches, sizes } = tinyBatches(config, corpus.length, { corpus });
  const batch = batches[0];
  assert.equal(batch.size, 72);
  const capacity = { maxBatch: 72, maxTime: 8, maxChars: config.maxChars };
  const maxBindingBytes = 64 * 2048;
  const whole = await NerGraph.create(gpu, config, sizes, capacity, { seed: 4 });
  const split = await NerGraph.create(gpu, config, sizes, capacity, { seed: 4, maxBindingBytes });
  const lstmDispatches = 2 * (3 + 7); // per layer: the forward's 3, the backward's 7
  assert.equal(split.dispatchesPerStep, whole.dispatchesPerStep + lstmDispatches);
  const params = await whole.readParameters();
  const ref = modelLossRef(config, sizes, params, batch);
  whole.trainOn(batch, { lr: 1e-3 });
  split.trainOn(batch, { lr: 1e-3 });
  const loss = await split.takeLoss();
  assert.equal(loss, await whole.takeLoss(), "the forward is bit-identical, so is the loss");
  assertClose([loss], [ref.loss], { name: "loss", rtol: 1e-5 });
  const gs = await split.readGradients();
  const gw = await whole.readGradients();
  for (const [name, expected] of Object.entries(ref.grads)) {
    if (name.startsWith("lstm.")) {
      assertClose(gs[name], gw[name], { name: `d ${name} split vs whole`, atol: 1e-6, rtol: 1e-5 });
    } else {
      // Below the BiLSTM every gradient comes from dX, which is bit-identical.
      sameBits(gs[name], gw[name], `d ${name}`);
    }
    assertClose(gs[name], expected, { name: `d ${name}`, atol: 2e-5, rtol: 1e-3 });
  }
  // Inference on the same weights: both graphs load the whole graph's parameters.
  const tagger = await NerGraph.create(gpu, config, sizes, capacity, {
    seed: 4,
    training: false,
    maxBindingBytes,
  });
  const trained = await whole.readParameters();
  tagger.writeParameters(trained);
  const a = await tagger.infer(batch, { marginals: true });
  const b = await whole.infer(batch, { marginals: true });
  sameBits(a.emissions!, b.emissions!, "emissions");
  assert.deepEqual(a.tags, b.tags);
  for (const g of [whole, split, tagger]) g.destroy();
});

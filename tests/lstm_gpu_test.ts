// The gpu kernel profile's LSTM recurrences and split-K gradients against the float64
// reference (src/ops/lstm_ref.ts), on this machine's adapter at small shapes. The input
// projection and the dX / dW_ih matmuls (shared by both profiles) are computed here in
// float64 from the GPU's dz, so these tests check exactly the gpu-profile kernels.
import assert from "node:assert/strict";
import { acquireGpu, type Gpu } from "../src/gpu/device.ts";
import { createBuffer, readFloat32, writeBuffer } from "../src/gpu/buffers.ts";
import { submitDispatches } from "../src/gpu/kernel.ts";
import { kernelProfile } from "../src/gpu/profile.ts";
import { createBiLstm } from "../src/ops/lstm.ts";
import {
  lstmGpuBackward,
  lstmGpuForward,
  lstmGpuLayerBackward,
  lstmGpuLayerForward,
  type LstmGpuOptions,
  lstmGpuWeightGrads,
} from "../src/ops/lstm_gpu.ts";
import {
  biLstmBackwardRef,
  type BiLstmParams,
  biLstmRef,
  type BiLstmShape,
} from "../src/ops/lstm_ref.ts";
import { assertClose, randomArray } from "./assert_close.ts";
import { LSTM_CASES, lstmWeightBuffers, randomLstmParams } from "./fixtures.ts";

type Tuning = Pick<LstmGpuOptions, "lanes" | "sentences"> & { maxChunks?: number };

/** Random weights in ±min(0.6, 1.5/√H), so that the gates do not saturate at larger H. */
function randomParams(seed: number, E: number, H: number): BiLstmParams {
  return randomLstmParams(seed, E, H, Math.min(0.6, 1.5 / Math.sqrt(H)));
}

/** The whole layer's inputs on the GPU: x (B, T, E), lengths (B) and the weights. */
function layerInputs(gpu: Gpu, x: Float32Array, lengths: number[], p: BiLstmParams) {
  return {
    x: createBuffer(gpu, "x", x),
    lengths: createBuffer(gpu, "lengths", new Int32Array(lengths)),
    ...lstmWeightBuffers(gpu, p),
  };
}

/** pre = x·W_ihᵀ + b_ih, (B·T, 8H), in float64 (the matmul both profiles share). */
function project(x: ArrayLike<number>, p: BiLstmParams, rows: number, E: number, H: number) {
  const pre = new Float32Array(rows * 8 * H);
  for (let n = 0; n < rows; n++) {
    for (let r = 0; r < 8 * H; r++) {
      let sum = p.bIh[r];
      for (let e = 0; e < E; e++) sum += x[n * E + e] * p.wIh[r * E + e];
      pre[n * 8 * H + r] = sum;
    }
  }
  return pre;
}

/** dX = dz·W_ih and dW_ih = dzᵀ·x in float64, from the GPU's dz. */
function inputGrads(
  dz: Float32Array,
  x: ArrayLike<number>,
  p: BiLstmParams,
  rows: number,
  E: number,
) {
  const R = dz.length / rows;
  const dX = new Float64Array(rows * E);
  const dWIh = new Float64Array(R * E);
  for (let n = 0; n < rows; n++) {
    for (let r = 0; r < R; r++) {
      const g = dz[n * R + r];
      for (let e = 0; e < E; e++) {
        dX[n * E + e] += g * p.wIh[r * E + e];
        dWIh[r * E + e] += g * x[n * E + e];
      }
    }
  }
  return { dX, dWIh };
}

interface Run {
  hOut: Float32Array;
  dz: Float32Array;
  dWHh: Float32Array;
  dBIh: Float32Array;
  dBHh: Float32Array;
  init: { dWHh: Float32Array; dBIh: Float32Array; dBHh: Float32Array };
}

/** Forward, backward and weight gradients of the gpu profile on one batch. */
async function runGpu(
  gpu: Gpu,
  shape: BiLstmShape,
  lengths: number[],
  p: BiLstmParams,
  x: Float32Array,
  dh: Float32Array,
  tuning: Tuning,
): Promise<Run> {
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = shape;
  const hp = 4 * Math.ceil(H / 4);
  const rows = B * T;
  const f32 = (label: string, n: number) => createBuffer(gpu, label, Math.max(16, n * 4));
  const init = {
    dWHh: randomArray(31, 8 * H * H),
    dBIh: randomArray(32, 8 * H),
    dBHh: randomArray(33, 8 * H),
  };
  const buf = {
    pre: createBuffer(gpu, "pre", project(x, p, rows, E, H)),
    wHh: createBuffer(gpu, "wHh", new Float32Array(p.wHh)),
    bHh: createBuffer(gpu, "bHh", new Float32Array(p.bHh)),
    lengths: createBuffer(gpu, "lengths", new Int32Array(lengths)),
    hOut: f32("hOut", rows * 2 * H),
    gates: f32("gates", rows * 8 * hp),
    cell: f32("cell", rows * 2 * hp),
    hPrev: f32("hPrev", rows * 2 * hp),
    dhOut: createBuffer(gpu, "dhOut", dh),
    dz: f32("dz", rows * 8 * H),
    dWHh: createBuffer(gpu, "dWHh", init.dWHh),
    dBIh: createBuffer(gpu, "dBIh", init.dBIh),
    dBHh: createBuffer(gpu, "dBHh", init.dBHh),
  };
  // Stale values where the kernels must write: padding rows must come out zero.
  writeBuffer(gpu, buf.hOut, new Float32Array(rows * 2 * H).fill(7));
  writeBuffer(gpu, buf.hPrev, new Float32Array(rows * 2 * hp).fill(7));
  writeBuffer(gpu, buf.dz, new Float32Array(rows * 8 * H).fill(7));
  const options = { maxBatch: B, maxTime: T, hiddenSize: H, ...tuning };
  const forward = await lstmGpuForward(gpu, buf, options);
  const backward = await lstmGpuBackward(gpu, { ...buf, dz: buf.dz }, options);
  const grads = await lstmGpuWeightGrads(gpu, buf, options);
  submitDispatches(gpu, [...forward.dispatches, ...backward.dispatches, ...grads.dispatches]);
  const run: Run = {
    hOut: await readFloat32(gpu, buf.hOut, rows * 2 * H),
    dz: await readFloat32(gpu, buf.dz, rows * 8 * H),
    dWHh: await readFloat32(gpu, buf.dWHh, 8 * H * H),
    dBIh: await readFloat32(gpu, buf.dBIh, 8 * H),
    dBHh: await readFloat32(gpu, buf.dBHh, 8 * H),
    init,
  };
  for (const op of [forward, backward, grads]) op.destroy();
  for (const b of Object.values(buf)) b.destroy();
  return run;
}

/** Runs the gpu profile on a random batch and checks every output against the reference. */
async function checkAgainstReference(
  gpu: Gpu,
  shape: BiLstmShape,
  lengths: number[],
  seed: number,
  tuning: Tuning = {},
  tol = { atol: 2e-5, rtol: 1e-4 },
): Promise<Run> {
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = shape;
  const p = randomParams(seed, E, H);
  const x = randomArray(seed + 10, B * T * E);
  const dh = randomArray(seed + 11, B * T * 2 * H);
  const run = await runGpu(gpu, shape, lengths, p, x, dh, tuning);
  const tag = `B=${B} T=${T} E=${E} H=${H} lengths=${lengths} tuning=${JSON.stringify(tuning)}`;
  assertClose(run.hOut, biLstmRef(x, lengths, p, shape), {
    ...tol,
    name: `h_out ${tag}`,
    shape: [B, T, 2 * H],
  });
  const ref = biLstmBackwardRef(x, lengths, p, shape, dh);
  const fromDz = inputGrads(run.dz, x, p, B * T, E);
  assertClose(fromDz.dX, ref.dX, { ...tol, name: `dz·W_ih ${tag}`, shape: [B, T, E] });
  assertClose(fromDz.dWIh, ref.dWIh, { ...tol, name: `dzᵀ·x ${tag}` });
  for (const key of ["dWHh", "dBIh", "dBHh"] as const) {
    const expected = Float64Array.from(run.init[key], (v, i) => v + ref[key][i]);
    assertClose(run[key], expected, { ...tol, name: `${key} (+=) ${tag}` });
  }
  // Padding rows: h_out and dz are zero (both were 7 before).
  for (let b = 0; b < B; b++) {
    for (let t = Math.max(0, lengths[b]); t < T; t++) {
      const row = b * T + t;
      assert.ok(run.hOut.slice(row * 2 * H, (row + 1) * 2 * H).every((v) => v === 0), `h ${tag}`);
      assert.ok(run.dz.slice(row * 8 * H, (row + 1) * 8 * H).every((v) => v === 0), `dz ${tag}`);
    }
  }
  return run;
}

Deno.test("lstm gpu profile: forward and backward equal the float64 reference", async () => {
  const gpu = await acquireGpu();
  // H = 10: Hp = 12 units in 32 lanes (H not a multiple of the lane count; 20 idle lanes).
  await checkAgainstReference(gpu, ...LSTM_CASES.single);
  // Variable lengths, an empty sentence, padding; 4 sentences per workgroup, a partial group.
  await checkAgainstReference(gpu, ...LSTM_CASES.padded);
  // More sentences than several workgroups hold, and more rows than one chunk of the split-K
  // reductions (2 chunks of 57 rows).
  await checkAgainstReference(gpu, ...LSTM_CASES.many, { maxChunks: 2 });
});

Deno.test("lstm gpu profile: other lane counts and sentences per workgroup", async () => {
  const gpu = await acquireGpu();
  const shape = { batch: 7, time: 5, inputSize: 3, hiddenSize: 18 };
  const lengths = [5, 2, 0, 4, 1, 5, 3];
  // Hp = 20 in 64 lanes; 3 sentences per workgroup (7 = 3 + 3 + 1); one sentence each.
  await checkAgainstReference(gpu, shape, lengths, 500, { lanes: 64, sentences: 3 });
  await checkAgainstReference(gpu, shape, lengths, 501, { sentences: 1, maxChunks: 1 });
});

Deno.test("lstm gpu profile: a long sentence at H = 256", async () => {
  const gpu = await acquireGpu();
  // One sentence per backward workgroup at H = 256 (dz of two would pass 16 KiB); 256 lanes.
  await checkAgainstReference(gpu, ...LSTM_CASES.long, {}, { atol: 5e-5, rtol: 1e-3 });
});

Deno.test("lstm gpu profile: results are bitwise deterministic, and a batch equals its sentences", async () => {
  const gpu = await acquireGpu();
  const shape = { batch: 4, time: 6, inputSize: 3, hiddenSize: 10 };
  const { time: T, inputSize: E, hiddenSize: H } = shape;
  const lengths = [6, 2, 1, 4];
  const p = randomParams(7, E, H);
  const x = randomArray(8, 4 * T * E);
  const dh = randomArray(9, 4 * T * 2 * H);
  const first = await runGpu(gpu, shape, lengths, p, x, dh, {});
  const again = await runGpu(gpu, shape, lengths, p, x, dh, {});
  for (const key of ["hOut", "dz", "dWHh", "dBIh", "dBHh"] as const) {
    assert.deepEqual(again[key], first[key], `${key} differs between two identical runs`);
  }
  for (let b = 0; b < 4; b++) {
    const n = lengths[b];
    const one = await runGpu(
      gpu,
      { ...shape, batch: 1, time: n },
      [n],
      p,
      x.slice(b * T * E, (b * T + n) * E),
      dh.slice(b * T * 2 * H, (b * T + n) * 2 * H),
      {},
    );
    assertClose(one.hOut, first.hOut.slice(b * T * 2 * H, (b * T + n) * 2 * H), {
      atol: 1e-6,
      name: `h_out of sentence ${b}`,
    });
    assertClose(one.dz, first.dz.slice(b * T * 8 * H, (b * T + n) * 8 * H), {
      atol: 1e-6,
      name: `dz of sentence ${b}`,
    });
  }
});

Deno.test("lstm gpu profile: resize runs smaller batches with the same dispatches", async () => {
  const gpu = await acquireGpu();
  const H = 10, E = 3, maxB = 6, maxT = 5;
  const p = randomParams(11, E, H);
  const hp = 12;
  const f32 = (n: number) => createBuffer(gpu, "b", Math.max(16, n * 4));
  const rows = maxB * maxT;
  const buf = {
    pre: f32(rows * 8 * H),
    wHh: createBuffer(gpu, "wHh", new Float32Array(p.wHh)),
    bHh: createBuffer(gpu, "bHh", new Float32Array(p.bHh)),
    lengths: f32(maxB),
    hOut: f32(rows * 2 * H),
    gates: f32(rows * 8 * hp),
    cell: f32(rows * 2 * hp),
    hPrev: f32(rows * 2 * hp),
  };
  const op = await lstmGpuForward(gpu, buf, { maxBatch: maxB, maxTime: maxT, hiddenSize: H });
  const shape = { batch: 3, time: 4, inputSize: E, hiddenSize: H };
  const lengths = [4, 1, 3];
  const x = randomArray(12, 3 * 4 * E);
  writeBuffer(gpu, buf.pre, project(x, p, 12, E, H));
  writeBuffer(gpu, buf.lengths, new Int32Array(lengths));
  op.resize({ batch: 3, time: 4 });
  submitDispatches(gpu, op.dispatches);
  assertClose(await readFloat32(gpu, buf.hOut, 12 * 2 * H), biLstmRef(x, lengths, p, shape), {
    atol: 2e-5,
    rtol: 1e-4,
    name: "h_out after resize to 3×4",
  });
  op.resize({ batch: 0, time: 0 }); // an empty batch must not crash
  submitDispatches(gpu, op.dispatches);
  await readFloat32(gpu, buf.hOut, 1);
  assert.throws(() => op.resize({ batch: 7, time: 1 }), /batch of 0…6 sentences, got 7/);
  assert.throws(() => op.resize({ batch: 1, time: 6 }), /padded length of 0…5, got 6/);
  op.destroy();
  for (const b of Object.values(buf)) b.destroy();
});

Deno.test("lstm gpu profile: rejects layouts and buffers it cannot run", async () => {
  const gpu = await acquireGpu();
  const b = createBuffer(gpu, "any", 64);
  const buffers = {
    pre: b,
    wHh: b,
    bHh: b,
    lengths: b,
    hOut: b,
    gates: b,
    cell: b,
    hPrev: b,
  };
  const size = { maxBatch: 1, maxTime: 1, hiddenSize: 1 };
  await assert.rejects(
    () => lstmGpuForward(gpu, buffers, { ...size, hiddenSize: 2 }),
    /expected buffer wHh to hold at least 128 bytes, found 64/,
  );
  await assert.rejects(
    () => lstmGpuForward(gpu, buffers, { ...size, hiddenSize: 300 }),
    /hiddenSize to be an integer in 1…256, got 300/,
  );
  await assert.rejects(
    () => lstmGpuForward(gpu, buffers, { ...size, hiddenSize: 40, lanes: 32 }),
    /expected lanes in 40…256 \(one per unit\), got 32/,
  );
  // dz of 2 sentences at H = 256 needs 32 KiB, over the 16 KiB default.
  await assert.rejects(
    () =>
      lstmGpuBackward(gpu, { ...buffers, dhOut: b, dz: b }, {
        ...size,
        hiddenSize: 256,
        sentences: 2,
      }),
    /sentences to be an integer in 1…1, got 2/,
  );
});

Deno.test("lstm gpu profile: the whole layer (with the shared matmuls) equals the reference", async () => {
  const gpu = await acquireGpu();
  const shape = { batch: 6, time: 5, inputSize: 4, hiddenSize: 10 };
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = shape;
  const lengths = [5, 0, 3, 5, 1, 2];
  const p = randomParams(600, E, H);
  const x = randomArray(610, B * T * E);
  const dh = randomArray(611, B * T * 2 * H);
  const rows = B * T, hp = 12;
  const f32 = (label: string, n: number) => createBuffer(gpu, label, Math.max(16, n * 4));
  const init = { dWIh: randomArray(620, 8 * H * E), dX: randomArray(621, rows * E) };
  const buf = {
    ...layerInputs(gpu, x, lengths, p),
    hOut: f32("hOut", rows * 2 * H),
    dhOut: createBuffer(gpu, "dhOut", dh),
    dX: createBuffer(gpu, "dX", init.dX),
    dWIh: createBuffer(gpu, "dWIh", init.dWIh),
    dWHh: f32("dWHh", 8 * H * H),
    dBIh: f32("dBIh", 8 * H),
    dBHh: f32("dBHh", 8 * H),
  };
  const saved = {
    pre: f32("pre", rows * 8 * H),
    gates: f32("gates", rows * 8 * hp),
    cell: f32("cell", rows * 2 * hp),
    hPrev: f32("hPrev", rows * 2 * hp),
  };
  const options = { maxBatch: B, maxTime: T, inputSize: E, hiddenSize: H };
  const forward = await lstmGpuLayerForward(gpu, buf, saved, options);
  const backward = await lstmGpuLayerBackward(gpu, buf, saved, options);
  assert.equal(forward.dispatches.length, 3);
  assert.equal(backward.dispatches.length, 1 + 2 + 4);
  submitDispatches(gpu, [...forward.dispatches, ...backward.dispatches]);
  const tol = { atol: 2e-5, rtol: 1e-4 };
  assertClose(await readFloat32(gpu, buf.hOut, rows * 2 * H), biLstmRef(x, lengths, p, shape), {
    ...tol,
    name: "layer h_out",
  });
  const ref = biLstmBackwardRef(x, lengths, p, shape, dh);
  // dX is written with `=`, dW_ih accumulated; dW_hh and the biases started at zero.
  assertClose(await readFloat32(gpu, buf.dX, rows * E), ref.dX, { ...tol, name: "layer dX" });
  assertClose(
    await readFloat32(gpu, buf.dWIh, 8 * H * E),
    Float64Array.from(init.dWIh, (v, i) => v + ref.dWIh[i]),
    { ...tol, name: "layer dW_ih (+=)" },
  );
  for (const key of ["dWHh", "dBIh", "dBHh"] as const) {
    assertClose(await readFloat32(gpu, buf[key], ref[key].length), ref[key], {
      ...tol,
      name: `layer ${key}`,
    });
  }
  for (const op of [forward, backward]) op.destroy();
  for (const b of [...Object.values(buf), ...Object.values(saved)]) b.destroy();
});

Deno.test("createBiLstm runs the device's kernel profile, or the one it is given", async () => {
  const gpu = await acquireGpu();
  const H = 10, E = 3, B = 3, T = 4;
  const p = randomParams(700, E, H);
  const x = randomArray(701, B * T * E);
  const lengths = [4, 2, 0];
  const f32 = (n: number) => createBuffer(gpu, "b", Math.max(16, n * 4));
  const buffers = {
    ...layerInputs(gpu, x, lengths, p),
    hOut: f32(B * T * 2 * H),
  };
  const size = { maxBatch: B, maxTime: T, inputSize: E, hiddenSize: H };
  const auto = await createBiLstm(gpu, buffers, size);
  assert.equal(auto.profile, kernelProfile(gpu).profile);
  auto.destroy();
  const shape = { batch: B, time: T, inputSize: E, hiddenSize: H };
  for (const profile of ["cpu", "gpu"] as const) {
    const layer = await createBiLstm(gpu, buffers, { ...size, profile });
    assert.equal(layer.profile, profile);
    submitDispatches(gpu, layer.dispatches);
    assertClose(
      await readFloat32(gpu, buffers.hOut, B * T * 2 * H),
      biLstmRef(x, lengths, p, shape),
      {
        atol: 2e-5,
        rtol: 1e-4,
        name: `h_out of createBiLstm with profile ${profile}`,
      },
    );
    layer.destroy();
  }
  for (const b of Object.values(buffers)) b.destroy();
});

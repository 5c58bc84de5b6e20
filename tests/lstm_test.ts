import assert from "node:assert/strict";
import {
  acquireGpu,
  createBuffer,
  type Gpu,
  readFloat32,
  submitDispatches,
  writeBuffer,
} from "../src/gpu/mod.ts";
import { kernelProfile } from "../src/gpu/profile.ts";
import { type BiLstm, type BiLstmOptions, createBiLstm } from "../src/ops/lstm.ts";
import {
  biLstmBackwardRef,
  type BiLstmGrads,
  type BiLstmParams,
  biLstmRef,
  type BiLstmShape,
} from "../src/ops/lstm_ref.ts";
import { assertClose, numericGradient, randomArray } from "./assert_close.ts";
import {
  LSTM_CASES,
  type LstmCase,
  lstmLayerBuffers,
  randomLstmParams,
  sumProduct,
} from "./fixtures.ts";

Deno.test("lstm reference backward equals finite differences of sum(h_out·dh_out)", () => {
  const shape: BiLstmShape = { batch: 3, time: 4, inputSize: 3, hiddenSize: 3 };
  const lengths = [4, 1, 0];
  const E = shape.inputSize;
  const H = shape.hiddenSize;
  const p = randomLstmParams(1, E, H);
  const x = randomArray(5, 3 * 4 * E);
  const dh = randomArray(6, 3 * 4 * 2 * H);
  const g = biLstmBackwardRef(x, lengths, p, shape, dh);
  const loss = (q: BiLstmParams, xs: ArrayLike<number>) =>
    sumProduct(biLstmRef(xs, lengths, q, shape), dh);
  const tol = { atol: 1e-7, rtol: 1e-6 };
  assertClose(g.dX, numericGradient((v) => loss(p, v), x), { ...tol, name: "dX" });
  for (const key of ["wIh", "wHh", "bIh", "bHh"] as const) {
    const fd = numericGradient((v) => loss({ ...p, [key]: v }, x), p[key]);
    const name = `d${key[0].toUpperCase()}${key.slice(1)}` as keyof BiLstmGrads;
    assertClose(g[name], fd, { ...tol, name });
  }
  // Padding rows of the input get no gradient.
  assert.ok(g.dX.slice(5 * E).every((v) => v === 0), "padding and an empty sentence get dX = 0");
  assert.ok(g.dX.slice(4 * E, 5 * E).some((v) => v !== 0));
});

interface Setup {
  layer: BiLstm;
  buf: Record<string, GPUBuffer>;
}

async function setup(
  gpu: Gpu,
  shape: BiLstmShape,
  p: BiLstmParams,
  options: BiLstmOptions = {},
): Promise<Setup> {
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = shape;
  const buf = lstmLayerBuffers(gpu, shape, p);
  const layer = await createBiLstm(gpu, buf, {
    maxBatch: B,
    maxTime: T,
    inputSize: E,
    hiddenSize: H,
    ...options,
  });
  return { layer, buf };
}

/** The buffers of {@linkcode setup} that the layer's backward reads and writes. */
function gradientBuffers(buf: Record<string, GPUBuffer>) {
  const { dhOut, dX, dWIh, dWHh, dBIh, dBHh } = buf;
  return { dhOut, dX, dWIh, dWHh, dBIh, dBHh };
}

/** Runs forward + backward on the GPU and checks every output against the reference. */
async function checkAgainstReference(
  gpu: Gpu,
  shape: BiLstmShape,
  lengths: number[],
  seed: number,
  tol = { atol: 2e-5, rtol: 1e-4 },
  options: BiLstmOptions = {},
): Promise<void> {
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = shape;
  const p = randomLstmParams(seed, E, H, Math.min(0.6, 1.5 / Math.sqrt(H)));
  const x = randomArray(seed + 10, B * T * E);
  const dh = randomArray(seed + 11, B * T * 2 * H);
  const { layer, buf } = await setup(gpu, shape, p, options);
  writeBuffer(gpu, buf.x, x);
  writeBuffer(gpu, buf.lengths, new Int32Array(lengths));
  writeBuffer(gpu, buf.dhOut, dh);
  // Gradients start nonzero: weights must accumulate (+=), dX must be overwritten (=).
  const init = {
    dWIh: randomArray(seed + 20, 8 * H * E),
    dWHh: randomArray(seed + 21, 8 * H * H),
    dBIh: randomArray(seed + 22, 8 * H),
    dBHh: randomArray(seed + 23, 8 * H),
  };
  for (const [k, v] of Object.entries(init)) writeBuffer(gpu, buf[k], v);
  writeBuffer(gpu, buf.dX, randomArray(seed + 24, B * T * E));
  const backward = await layer.backward(gradientBuffers(buf));
  submitDispatches(gpu, [...layer.dispatches, ...backward.dispatches]);
  const tag = `B=${B} T=${T} E=${E} H=${H} lengths=${lengths} uniform W=${layer.uniformWeights}` +
    ` options=${JSON.stringify(options)}`;
  assertClose(await readFloat32(gpu, buf.hOut, B * T * 2 * H), biLstmRef(x, lengths, p, shape), {
    ...tol,
    name: `h_out ${tag}`,
    shape: [B, T, 2 * H],
  });
  const ref = biLstmBackwardRef(x, lengths, p, shape, dh);
  assertClose(await readFloat32(gpu, buf.dX, B * T * E), ref.dX, {
    ...tol,
    name: `dX ${tag}`,
    shape: [B, T, E],
  });
  for (const key of ["dWIh", "dWHh", "dBIh", "dBHh"] as const) {
    const expected = Float64Array.from(init[key], (v, i) => v + ref[key][i]);
    assertClose(await readFloat32(gpu, buf[key], expected.length), expected, {
      ...tol,
      name: `${key} ${tag}`,
    });
  }
  layer.destroy();
  for (const b of Object.values(buf)) b.destroy();
}

Deno.test("lstm forward and backward on the GPU equal the float64 reference", async () => {
  const gpu = await acquireGpu();
  // W_hh from uniform bindings (the default for H ≤ 128) and from storage; h of the forward
  // in workgroup memory and in a storage scratch.
  for (const [uniformWeights, hScratch] of [[true, true], [false, false]]) {
    const options = { uniformWeights, hScratch };
    const tol = { atol: 2e-5, rtol: 1e-4 };
    // H = 10: an odd count of unit quads (the backward kernel pairs them).
    for (const [shape, lengths, seed] of [LSTM_CASES.single, LSTM_CASES.padded, LSTM_CASES.many]) {
      await checkAgainstReference(gpu, shape, lengths, seed, tol, options);
    }
  }
});

Deno.test("lstm with two rows of sentences per workgroup equals the reference", async () => {
  const gpu = await acquireGpu();
  const [shape, lengths, seed] = LSTM_CASES.rows;
  for (const [s, hScratch] of [[seed, true], [seed + 1, false]] as const) {
    await checkAgainstReference(gpu, shape, lengths, s, { atol: 2e-5, rtol: 1e-4 }, {
      forwardQuads: 2,
      backwardQuads: 2,
      hScratch,
    });
  }
});

const longCases: [string, LstmCase, { atol: number; rtol: number }][] = [
  [
    "lstm on a long sentence (T = 150, H = 256) stays under the loop limit",
    LSTM_CASES.long,
    { atol: 5e-5, rtol: 1e-3 },
  ],
  [
    "lstm at T = 1000 with H = 100 (backward split into ranges on fallback adapters) equals the reference, or the gpu profile refuses it there",
    [{ batch: 2, time: 1000, inputSize: 3, hiddenSize: 100 }, [1000, 313], 600],
    { atol: 1e-4, rtol: 1e-3 },
  ],
  // One dispatch of the forward recurrence would pass llvmpipe's 65,535 loop iterations
  // past ≈ 1,450 tokens at H = 100: on a software adapter both recurrences run in ranges.
  [
    "lstm at T = 3000 with H = 100 (forward and backward split into ranges on fallback adapters) equals the reference, or the gpu profile refuses it there",
    [{ batch: 2, time: 3000, inputSize: 3, hiddenSize: 100 }, [3000, 1789], 700],
    { atol: 1e-4, rtol: 1e-3 },
  ],
];
for (const [name, [shape, lengths, seed], tol] of longCases) {
  Deno.test(name, async () => {
    const gpu = await acquireGpu();
    const run = () => checkAgainstReference(gpu, shape, lengths, seed, tol);
    // The `gpu` profile's recurrences do not split time: on a software adapter a sentence
    // past the loop limit must be refused with the reason, never truncated silently.
    if (kernelProfile(gpu).profile === "gpu" && gpu.adapter.isFallbackAdapter && shape.time > 150) {
      await assert.rejects(run, /loop iterations per invocation.*use the cpu profile/);
    } else await run();
  });
}

/**
 * Forward and backward outputs of one run (hOut, dX, dW_ih, dW_hh, dB_ih, dB_hh), then the
 * saved gates, cell states and h_prev rows (not the exchange in h_prev's tail).
 */
async function runLayer(
  gpu: Gpu,
  shape: BiLstmShape,
  lengths: number[],
  options: BiLstmOptions,
): Promise<Float32Array[]> {
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = shape;
  const p = randomLstmParams(41, E, H);
  const { layer, buf } = await setup(gpu, shape, p, options);
  writeBuffer(gpu, buf.x, randomArray(42, B * T * E));
  writeBuffer(gpu, buf.lengths, new Int32Array(lengths));
  writeBuffer(gpu, buf.dhOut, randomArray(43, B * T * 2 * H));
  const { dhOut, dX, dWIh, dWHh, dBIh, dBHh } = buf;
  const backward = await layer.backward({ dhOut, dX, dWIh, dWHh, dBIh, dBHh });
  submitDispatches(gpu, [...layer.dispatches, ...backward.dispatches]);
  const out = [];
  for (const b of [buf.hOut, dX, dWIh, dWHh, dBIh, dBHh]) out.push(await readFloat32(gpu, b));
  const { gates, cell, hPrev } = layer.saved;
  out.push(await readFloat32(gpu, gates), await readFloat32(gpu, cell));
  out.push(await readFloat32(gpu, hPrev, B * T * 2 * 4 * Math.ceil(H / 4)));
  layer.destroy();
  for (const b of Object.values(buf)) b.destroy();
  return out;
}

Deno.test("lstm backward split into ranges of steps equals one dispatch bit for bit", async () => {
  const gpu = await acquireGpu();
  // 19 sentences: three workgroups of 8, one partly empty; H = 10 as above (same pipelines).
  const shape = { batch: 19, time: 9, inputSize: 3, hiddenSize: 10 };
  const lengths = [9, 1, 2, 9, 5, 0, 3, 4, 8, 1, 2, 5, 7, 1, 6, 2, 3, 4, 1];
  const whole = await runLayer(gpu, shape, lengths, {});
  for (const backwardSteps of [1, 4, 8]) {
    const split = await runLayer(gpu, shape, lengths, { backwardSteps });
    ["hOut", "dX", "dWIh", "dWHh", "dBIh", "dBHh"].forEach((name, i) =>
      assert.deepEqual(split[i], whole[i], `${name} with ${backwardSteps} steps per dispatch`)
    );
  }
});

Deno.test("lstm forward split into ranges of steps equals one dispatch bit for bit", async () => {
  const gpu = await acquireGpu();
  // As above: three workgroups of 8 sentences, one partly empty; h in workgroup memory and
  // in the storage exchange; with the backward split too.
  const shape = { batch: 19, time: 9, inputSize: 3, hiddenSize: 10 };
  const lengths = [9, 1, 2, 9, 5, 0, 3, 4, 8, 1, 2, 5, 7, 1, 6, 2, 3, 4, 1];
  const names = ["hOut", "dX", "dWIh", "dWHh", "dBIh", "dBHh", "gates", "cell", "hPrev"];
  for (const hScratch of [true, false]) {
    const whole = await runLayer(gpu, shape, lengths, { hScratch });
    for (const forwardSteps of [1, 2, 4, 8]) {
      const options = {
        hScratch,
        forwardSteps,
        ...(forwardSteps === 4 ? { backwardSteps: 3 } : {}),
      };
      const split = await runLayer(gpu, shape, lengths, options);
      names.forEach((name, i) =>
        assert.deepEqual(split[i], whole[i], `${name} with ${JSON.stringify(options)}`)
      );
    }
  }
});

Deno.test("lstm: a padded batch equals its sentences run one by one (after resize)", async () => {
  const gpu = await acquireGpu();
  // H = 10 and E = 3 as above: the same pipelines (a cold shader cache compiles each once).
  const shape = { batch: 4, time: 6, inputSize: 3, hiddenSize: 10 };
  const { time: T, inputSize: E, hiddenSize: H } = shape;
  const lengths = [6, 2, 1, 4];
  const p = randomLstmParams(7, E, H);
  const x = randomArray(8, 4 * T * E);
  const dh = randomArray(9, 4 * T * 2 * H);
  const { layer, buf } = await setup(gpu, shape, p);
  const backward = await layer.backward(gradientBuffers(buf));
  writeBuffer(gpu, buf.x, x);
  writeBuffer(gpu, buf.lengths, new Int32Array(lengths));
  writeBuffer(gpu, buf.dhOut, dh);
  submitDispatches(gpu, [...layer.dispatches, ...backward.dispatches]);
  const hBatch = await readFloat32(gpu, buf.hOut, 4 * T * 2 * H);
  const dxBatch = await readFloat32(gpu, buf.dX, 4 * T * E);
  const wBatch = await readFloat32(gpu, buf.dWHh, 8 * H * H);
  writeBuffer(gpu, buf.dWHh, new Float32Array(8 * H * H));
  for (let b = 0; b < 4; b++) {
    const n = lengths[b];
    layer.resize({ batch: 1, time: n });
    writeBuffer(gpu, buf.x, x.slice(b * T * E, (b * T + n) * E));
    writeBuffer(gpu, buf.lengths, new Int32Array([n]));
    writeBuffer(gpu, buf.dhOut, dh.slice(b * T * 2 * H, (b * T + n) * 2 * H));
    submitDispatches(gpu, [...layer.dispatches, ...backward.dispatches]);
    assertClose(
      await readFloat32(gpu, buf.hOut, n * 2 * H),
      hBatch.slice(b * T * 2 * H, (b * T + n) * 2 * H),
      { atol: 1e-6, name: `h_out of sentence ${b}` },
    );
    assertClose(
      await readFloat32(gpu, buf.dX, n * E),
      dxBatch.slice(b * T * E, (b * T + n) * E),
      { atol: 1e-6, name: `dX of sentence ${b}` },
    );
  }
  // dW_hh accumulated over the four single-sentence runs equals the batch's.
  assertClose(await readFloat32(gpu, buf.dWHh, 8 * H * H), wBatch, {
    atol: 1e-5,
    name: "dW_hh summed over sentences",
  });
  // Padding rows of the batch run were zero.
  assert.ok(hBatch.slice((1 * T + 2) * 2 * H, 2 * T * 2 * H).every((v) => v === 0));
  layer.destroy();
  for (const b of Object.values(buf)) b.destroy();
});

Deno.test("lstm rejects shapes it cannot run", async () => {
  const gpu = await acquireGpu();
  const b = createBuffer(gpu, "any", 64);
  await assert.rejects(
    () =>
      createBiLstm(gpu, { x: b, lengths: b, wIh: b, wHh: b, bIh: b, bHh: b, hOut: b }, {
        maxBatch: 4,
        maxTime: 4,
        inputSize: 3,
        hiddenSize: 2,
      }),
    /buffer x to hold at least 192 bytes, found 64/,
  );
  const buffers = { x: b, lengths: b, wIh: b, wHh: b, bIh: b, bHh: b, hOut: b };
  await assert.rejects(
    () => createBiLstm(gpu, buffers, { maxBatch: 1, maxTime: 1, inputSize: 1, hiddenSize: 300 }),
    /hiddenSize/,
  );
  const layer = await createBiLstm(gpu, { ...buffers, hOut: createBuffer(gpu, "h", 64) }, {
    maxBatch: 2,
    maxTime: 2,
    inputSize: 1,
    hiddenSize: 1,
  });
  assert.throws(() => layer.resize({ batch: 3, time: 1 }), /batch of 0…2/);
  layer.resize({ batch: 0, time: 0 }); // an empty batch must not crash
  submitDispatches(gpu, layer.dispatches);
  await readFloat32(gpu, layer.saved.gates, 1);
  layer.destroy();
});

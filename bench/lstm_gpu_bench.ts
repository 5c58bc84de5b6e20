/**
 * Benchmark of the `gpu` kernel profile's LSTM kernels (src/ops/lstm_gpu.ts):
 * validates them against the float64 reference (the first two sentences of
 * the batch, which are independent of the rest), then times the forward
 * recurrence, the backward recurrence and the split-K weight and bias
 * gradients, and prints each kernel's layout (workgroups, lanes, sentences
 * per workgroup). The input projection is not part of these kernels: it is
 * computed on the host here.
 *
 * `deno run -A bench/lstm_gpu_bench.ts` runs the shapes of bench/lstm_bench.ts;
 * `--quick` runs one small shape (for software adapters, where the gpu
 * profile is slow by design). FLOP counts as in bench/lstm_bench.ts:
 * 2·4H·H per real token and direction for each recurrence, 2·4H·H per row
 * and direction for dW_hh.
 *
 * @module
 */

import {
  createBuffer,
  type Gpu,
  kernelProfile,
  readFloat32,
  submitDispatches,
} from "../src/gpu/mod.ts";
import { lstmGpuBackward, lstmGpuForward, lstmGpuWeightGrads } from "../src/ops/lstm_gpu.ts";
import { type KernelBenchResult, kernelTable, timeFlopCases } from "./report.ts";
import {
  benchInputs,
  benchReference,
  LSTM_BENCH_CONFIGS,
  type LstmBenchConfig,
} from "./lstm_bench.ts";
import { assertClose } from "../tests/assert_close.ts";
import { benchGpu } from "./common.ts";

/** pre = x·W_ihᵀ + b_ih on the host (float64 sums). */
function project(x: Float32Array, wIh: Float32Array, bIh: Float32Array, E: number, H: number) {
  const rows = x.length / E;
  const pre = new Float32Array(rows * 8 * H);
  for (let n = 0; n < rows; n++) {
    for (let r = 0; r < 8 * H; r++) {
      let sum = bIh[r];
      for (let e = 0; e < E; e++) sum += x[n * E + e] * wIh[r * E + e];
      pre[n * 8 * H + r] = sum;
    }
  }
  return pre;
}

/**
 * Validates and times the gpu-profile LSTM kernels for each configuration.
 *
 * @param gpu the device
 * @param configs shapes (default: bench/lstm_bench.ts's {@linkcode LSTM_BENCH_CONFIGS})
 * @returns three results per configuration
 */
export async function benchLstmGpu(
  gpu: Gpu,
  configs: LstmBenchConfig[] = LSTM_BENCH_CONFIGS,
): Promise<KernelBenchResult[]> {
  const results: KernelBenchResult[] = [];
  for (const config of configs) {
    const { batch: B, time: T, inputSize: E, hiddenSize: H } = config;
    const hp = 4 * Math.ceil(H / 4);
    const rows = B * T;
    const inputs = benchInputs(config);
    const { p, x, dh, lengths, tokens } = inputs;
    const f32 = (label: string, n: number) => createBuffer(gpu, label, Math.max(16, n * 4));
    const buf = {
      pre: createBuffer(gpu, "pre", project(x, p.wIh, p.bIh, E, H)),
      wHh: createBuffer(gpu, "wHh", p.wHh),
      bHh: createBuffer(gpu, "bHh", p.bHh),
      lengths: createBuffer(gpu, "lengths", lengths),
      hOut: f32("hOut", rows * 2 * H),
      gates: f32("gates", rows * 8 * hp),
      cell: f32("cell", rows * 2 * hp),
      hPrev: f32("hPrev", rows * 2 * hp),
      dhOut: createBuffer(gpu, "dhOut", dh),
      dz: f32("dz", rows * 8 * H),
      dWHh: f32("dWHh", 8 * H * H),
      dBIh: f32("dBIh", 8 * H),
      dBHh: f32("dBHh", 8 * H),
    };
    const options = { maxBatch: B, maxTime: T, hiddenSize: H };
    const forward = await lstmGpuForward(gpu, buf, options);
    const backward = await lstmGpuBackward(gpu, buf, options);
    const grads = await lstmGpuWeightGrads(gpu, buf, options);
    submitDispatches(gpu, [...forward.dispatches, ...backward.dispatches]);

    const n = Math.min(2, B);
    const ref = benchReference(config, inputs, n);
    const name = `B=${B} T=${T} H=${H}${config.variable ? " var. lengths" : ""}`;
    assertClose(await readFloat32(gpu, buf.hOut, n * T * 2 * H), ref.hOut, {
      atol: 1e-4,
      name: `lstm gpu ${name} h_out`,
      shape: [n, T, 2 * H],
    });
    // Σ_t dz of the first sentences is their dB; the rest of the batch adds its own.
    const dz = await readFloat32(gpu, buf.dz, n * T * 8 * H);
    const db = new Float64Array(8 * H);
    for (let r = 0; r < n * T; r++) for (let j = 0; j < 8 * H; j++) db[j] += dz[r * 8 * H + j];
    assertClose(db, ref.backward().dBIh, { atol: 1e-3, name: `lstm gpu ${name} Σ dz` });

    const recurrence = 2 * tokens * 8 * H * H;
    const reps = Math.max(1, Math.round(2e8 / recurrence));
    const f = forward.layout, b = backward.layout;
    const cases: [string, typeof forward.dispatches, number][] = [
      [
        `recurrence forward (${
          Math.ceil(B / f.sentences) * 2
        } wg × ${f.lanes} lanes, S=${f.sentences})`,
        [forward.dispatches[1]],
        recurrence,
      ],
      [
        `recurrence backward (${
          Math.ceil(B / b.sentences) * 2
        } wg × ${b.lanes} lanes, S=${b.sentences})`,
        backward.dispatches,
        recurrence,
      ],
      ["dW_hh + biases, split-K (4 dispatches)", grads.dispatches, 2 * rows * 8 * H * H],
    ];
    const timing = { op: "lstm (gpu profile)", prefix: name, sync: buf.hOut, reps };
    results.push(...await timeFlopCases(gpu, cases, timing));
    for (const op of [forward, backward, grads]) op.destroy();
    for (const x of Object.values(buf)) x.destroy();
  }
  return results;
}

if (import.meta.main) {
  const gpu = await benchGpu();
  const choice = kernelProfile(gpu);
  console.log(`profile this adapter gets: ${choice.profile} (${choice.reason})`);
  const quick = Deno.args.includes("--quick");
  const configs = quick ? [{ batch: 32, time: 20, inputSize: 100, hiddenSize: 100 }] : undefined;
  console.log(kernelTable(await benchLstmGpu(gpu, configs)));
}

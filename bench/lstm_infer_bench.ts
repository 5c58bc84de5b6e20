/**
 * Inference recurrence benchmark: the training forward recurrence
 * (`shaders/lstm.wgsl`, which saves gates, cells and h_prev for backward)
 * against the inference-only one (`shaders/lstm_infer.wgsl`), same shapes,
 * same run. Each layer is first validated against the float64 reference
 * (the first two sentences: sentences are independent), then only the
 * recurrence dispatch is timed. Run with `deno run -A bench/lstm_infer_bench.ts`
 * (`--batch`, `--time`, `--hidden`, `--input` override B = 128, T = 40, H = 100, E = 100).
 *
 * FLOP count (multiply-add = 2): 2·4H·H per real token and direction (W_hh·h); the
 * nonlinearities are not counted.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  acquireGpu,
  createBuffer,
  describeAdapter,
  type Dispatch,
  type Gpu,
  readFloat32,
  submitDispatches,
} from "../src/gpu/mod.ts";
import { createBiLstm } from "../src/ops/lstm.ts";
import { createBiLstmInfer } from "../src/ops/lstm_infer.ts";
import { biLstmRef } from "../src/ops/lstm_ref.ts";
import { type KernelBenchResult, kernelTable, timeDispatches } from "./report.ts";
import { assertClose } from "../tests/assert_close.ts";

function random(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

/** The shape benchmarked. */
export interface LstmInferBenchConfig {
  /** B. */
  batch: number;
  /** T: every sentence has this length. */
  time: number;
  /** E. */
  inputSize: number;
  /** H. */
  hiddenSize: number;
}

/** One candidate: how to build the layer and which of its dispatches is the recurrence. */
interface Candidate {
  name: string;
  build(gpu: Gpu, buf: Record<string, GPUBuffer>, size: Record<string, number>): Promise<{
    dispatches: Dispatch[];
    recurrence: Dispatch;
    destroy(): void;
  }>;
}

const CANDIDATES: Candidate[] = [
  {
    name: "training forward recurrence (lstm.wgsl)",
    async build(gpu, buf, size) {
      const layer = await createBiLstm(gpu, buf as never, size as never);
      const recurrence = layer.dispatches.find((d) => d.label.endsWith("recurrence"))!;
      return { dispatches: layer.dispatches, recurrence, destroy: () => layer.destroy() };
    },
  },
  ...[1, 2].flatMap((quads) =>
    [true, false].map((uniformWeights): Candidate => ({
      name: `inference recurrence (lstm_infer.wgsl, ${quads} row${quads > 1 ? "s" : ""}, W_hh ${
        uniformWeights ? "uniform" : "storage"
      })`,
      async build(gpu, buf, size) {
        const layer = await createBiLstmInfer(gpu, buf as never, {
          ...size,
          quads,
          uniformWeights,
        } as never);
        const recurrence = layer.dispatches[layer.dispatches.length - 1];
        return { dispatches: layer.dispatches, recurrence, destroy: () => layer.destroy() };
      },
    }))
  ),
];

/**
 * Validates then times each candidate's recurrence.
 *
 * @param gpu the device
 * @param config B, T, E, H
 * @returns one result per candidate
 */
export async function benchLstmInfer(
  gpu: Gpu,
  config: LstmInferBenchConfig,
): Promise<KernelBenchResult[]> {
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = config;
  const lengths = new Int32Array(B).fill(T);
  const scale = 1 / Math.sqrt(H);
  const p = {
    wIh: random(8 * H * E, 1, scale),
    wHh: random(8 * H * H, 2, scale),
    bIh: random(8 * H, 3, scale),
    bHh: random(8 * H, 4, scale),
  };
  const x = random(B * T * E, 5, 1);
  const buf: Record<string, GPUBuffer> = {
    x: createBuffer(gpu, "x", x),
    lengths: createBuffer(gpu, "lengths", lengths),
    wIh: createBuffer(gpu, "wIh", p.wIh),
    wHh: createBuffer(gpu, "wHh", p.wHh),
    bIh: createBuffer(gpu, "bIh", p.bIh),
    bHh: createBuffer(gpu, "bHh", p.bHh),
    hOut: createBuffer(gpu, "hOut", B * T * 2 * H * 4),
  };
  const size = { maxBatch: B, maxTime: T, inputSize: E, hiddenSize: H };
  const n = 2;
  const expected = biLstmRef(x.slice(0, n * T * E), [T, T], p, { ...size, batch: n, time: T });
  const flops = 2 * B * T * 2 * 4 * H * H;
  const results: KernelBenchResult[] = [];
  for (const candidate of CANDIDATES) {
    const layer = await candidate.build(gpu, buf, size);
    submitDispatches(gpu, layer.dispatches);
    assertClose(await readFloat32(gpu, buf.hOut, n * T * 2 * H), expected, {
      atol: 1e-4,
      rtol: 0,
      name: `${candidate.name} h_out`,
      shape: [n, T, 2 * H],
    });
    const reps = Math.max(2, Math.round(2e9 / flops));
    const ms = await timeDispatches(gpu, [layer.recurrence], buf.hOut, reps);
    results.push({
      op: "lstm_infer",
      config: `B=${B} T=${T} H=${H}: ${candidate.name}`,
      ms,
      gflops: flops / ms / 1e6,
      validated: true,
    });
    layer.destroy();
  }
  for (const b of Object.values(buf)) b.destroy();
  return results;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      batch: { type: "string", default: "128" },
      time: { type: "string", default: "40" },
      hidden: { type: "string", default: "100" },
      input: { type: "string", default: "100" },
    },
  });
  const gpu = await acquireGpu();
  console.log(`adapter: ${describeAdapter(gpu.adapter)}`);
  const results = await benchLstmInfer(gpu, {
    batch: Number(values.batch),
    time: Number(values.time),
    inputSize: Number(values.input),
    hiddenSize: Number(values.hidden),
  });
  console.log(JSON.stringify(results));
  console.log(kernelTable(results));
}

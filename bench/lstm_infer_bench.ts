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

import { type Dispatch, type Gpu, readFloat32, submitDispatches } from "../src/gpu/mod.ts";
import { createBiLstm } from "../src/ops/lstm.ts";
import { createBiLstmInfer } from "../src/ops/lstm_infer.ts";
import { type KernelBenchResult, kernelTable, timeDispatches } from "./report.ts";
import { assertClose } from "../tests/assert_close.ts";
import { benchArgs, benchGpu } from "./common.ts";
import {
  benchForwardBuffers,
  benchInputs,
  benchReference,
  type LstmBenchConfig,
} from "./lstm_bench.ts";

/** The shape benchmarked: B, T, E, H; every sentence has length T. */
export type LstmInferBenchConfig = Omit<LstmBenchConfig, "variable">;

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
  const inputs = benchInputs(config);
  const buf: Record<string, GPUBuffer> = benchForwardBuffers(gpu, config, inputs);
  const size = { maxBatch: B, maxTime: T, inputSize: E, hiddenSize: H };
  const n = 2;
  const expected = benchReference(config, inputs, n).hOut;
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
  const usage =
    `Usage: deno run -A bench/lstm_infer_bench.ts [--batch B] [--time T] [--hidden H] [--input E]

Validates, then times the training and the inference forward recurrences of a
BiLSTM layer (default B = 128, T = 40, H = 100, E = 100).`;
  const values = benchArgs(usage, {
    batch: { type: "string", default: "128" },
    time: { type: "string", default: "40" },
    hidden: { type: "string", default: "100" },
    input: { type: "string", default: "100" },
  });
  const gpu = await benchGpu();
  const results = await benchLstmInfer(gpu, {
    batch: Number(values.batch),
    time: Number(values.time),
    inputSize: Number(values.input),
    hiddenSize: Number(values.hidden),
  });
  console.log(JSON.stringify(results));
  console.log(kernelTable(results));
}

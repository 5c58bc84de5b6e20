/**
 * BiLSTM layer benchmark: validates the GPU layer against the float64
 * reference (on the first sentences of the batch: sentences are
 * independent), then times the fused recurrence forward and backward and
 * the full layer forward and backward. Run alone with
 * `deno run -A bench/lstm_bench.ts`; with `--first-run` it prints instead how long each
 * kernel's first run takes (shader compile included on llvmpipe: set
 * `MESA_SHADER_CACHE_DISABLE=true` for a cold cache).
 *
 * FLOP counts (multiply-add = 2), per real token and direction:
 * recurrence forward 2·4H·H (W_hh·h), recurrence backward 2·4H·H
 * (W_hhᵀ·dz); the full forward adds the input projection 2·4H·E, the full
 * backward adds dX, dW_ih (2·4H·E each) and dW_hh (2·4H·H). Nonlinearities
 * are not counted.
 *
 * @module
 */

import { createBuffer, type Gpu, readFloat32, submitDispatches } from "../src/gpu/mod.ts";
import { createBiLstm } from "../src/ops/lstm.ts";
import { biLstmBackwardRef, biLstmRef } from "../src/ops/lstm_ref.ts";
import { type KernelBenchResult, kernelTable, timeFlopCases } from "./report.ts";
import { assertClose } from "../tests/assert_close.ts";
import { benchGpu, benchRandom } from "./common.ts";

/** One benchmark configuration. */
export interface LstmBenchConfig {
  /** B. */
  batch: number;
  /** T (every sentence has this length unless `variable`). */
  time: number;
  /** E. */
  inputSize: number;
  /** H. */
  hiddenSize: number;
  /** Sentence lengths uniform in [T/4, T] instead of all T. */
  variable?: boolean;
}

/** The default configurations: E = 100, H = 100 and 256, B = 32 and 256, T = 40. */
export const LSTM_BENCH_CONFIGS: LstmBenchConfig[] = [
  { batch: 32, time: 40, inputSize: 100, hiddenSize: 100 },
  { batch: 32, time: 40, inputSize: 100, hiddenSize: 100, variable: true },
  { batch: 256, time: 40, inputSize: 100, hiddenSize: 100 },
  { batch: 32, time: 40, inputSize: 100, hiddenSize: 256 },
  { batch: 256, time: 40, inputSize: 100, hiddenSize: 256 },
];

/**
 * Sentence lengths of a configuration: all T, or (with `variable`) spread over [T/4, T] in a
 * scrambled order (not sorted).
 *
 * @param config the shape
 * @returns (B) lengths
 * @example
 * ```ts
 * import { benchLengths } from "./lstm_bench.ts";
 * console.log(benchLengths({ batch: 2, time: 4, inputSize: 1, hiddenSize: 1 })); // 4, 4
 * ```
 */
export function benchLengths(config: LstmBenchConfig): Int32Array {
  const { batch: B, time: T } = config;
  const shortest = Math.ceil(T / 4);
  return new Int32Array(B).map((_, b) =>
    config.variable ? shortest + (b * 7919) % (T - shortest + 1) : T
  );
}

/** The seeded inputs of a configuration (see {@linkcode benchInputs}). */
export interface LstmBenchInputs {
  /** The layer's parameters, uniform in ±1/√H. */
  p: { wIh: Float32Array; wHh: Float32Array; bIh: Float32Array; bHh: Float32Array };
  /** (B, T, E) inputs, uniform in ±1. */
  x: Float32Array;
  /** (B, T, 2H) output gradients, uniform in ±1. */
  dh: Float32Array;
  /** (B) sentence lengths ({@linkcode benchLengths}). */
  lengths: Int32Array;
  /** Σ lengths: the real tokens. */
  tokens: number;
}

/**
 * Seeded weights (uniform in ±1/√H), inputs x (B, T, E), output gradients dh (B, T, 2H) and
 * sentence lengths of a configuration, the same for every LSTM benchmark.
 *
 * @param config the shape
 * @returns the parameters p, x, dh, the lengths and their sum
 * @example
 * ```ts
 * import { benchInputs } from "./lstm_bench.ts";
 * const { p, tokens } = benchInputs({ batch: 1, time: 2, inputSize: 3, hiddenSize: 4 });
 * console.log(p.wIh.length, tokens); // 8·4·3 = 96, 2
 * ```
 */
export function benchInputs(config: LstmBenchConfig): LstmBenchInputs {
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = config;
  const scale = 1 / Math.sqrt(H);
  const p = {
    wIh: benchRandom(8 * H * E, 1, scale),
    wHh: benchRandom(8 * H * H, 2, scale),
    bIh: benchRandom(8 * H, 3, scale),
    bHh: benchRandom(8 * H, 4, scale),
  };
  const lengths = benchLengths(config);
  return {
    p,
    x: benchRandom(B * T * E, 5, 1),
    dh: benchRandom(B * T * 2 * H, 6, 1),
    lengths,
    tokens: lengths.reduce((a, b) => a + b, 0),
  };
}

/**
 * The float64 reference of a configuration's first `n` sentences: sentences are independent,
 * so the first n·T rows of a whole batch's output must match it.
 *
 * @param config the shape
 * @param inputs the configuration's {@linkcode benchInputs}
 * @param n how many sentences
 * @returns the reference h_out (n, T, 2H) and a function that runs the reference backward
 * @example
 * ```ts
 * import { benchInputs, benchReference } from "./lstm_bench.ts";
 * const config = { batch: 3, time: 2, inputSize: 3, hiddenSize: 4 };
 * const ref = benchReference(config, benchInputs(config), 2);
 * console.log(ref.hOut.length, ref.backward().dX.length); // 2·2·8 = 32, 2·2·3 = 12
 * ```
 */
export function benchReference(config: LstmBenchConfig, inputs: LstmBenchInputs, n: number) {
  const { time: T, inputSize: E, hiddenSize: H } = config;
  const shape = { batch: n, time: T, inputSize: E, hiddenSize: H };
  const lengths = Array.from(inputs.lengths.slice(0, n));
  const x = inputs.x.slice(0, n * T * E);
  const dh = inputs.dh.slice(0, n * T * 2 * H);
  return {
    hOut: biLstmRef(x, lengths, inputs.p, shape),
    backward: () => biLstmBackwardRef(x, lengths, inputs.p, shape, dh),
  };
}

/**
 * The GPU buffers a layer's forward reads and writes: x, lengths and the parameters (from
 * `inputs`), and h_out (B, T, 2H), uninitialised.
 *
 * @param gpu the device
 * @param config the shape
 * @param inputs the configuration's {@linkcode benchInputs}
 * @returns the buffers, by the names the layer's bindings use
 */
export function benchForwardBuffers(
  gpu: Gpu,
  config: LstmBenchConfig,
  inputs: LstmBenchInputs,
): Record<"x" | "lengths" | "wIh" | "wHh" | "bIh" | "bHh" | "hOut", GPUBuffer> {
  const { batch: B, time: T, hiddenSize: H } = config;
  const { p } = inputs;
  return {
    x: createBuffer(gpu, "x", inputs.x),
    lengths: createBuffer(gpu, "lengths", inputs.lengths),
    wIh: createBuffer(gpu, "wIh", p.wIh),
    wHh: createBuffer(gpu, "wHh", p.wHh),
    bIh: createBuffer(gpu, "bIh", p.bIh),
    bHh: createBuffer(gpu, "bHh", p.bHh),
    hOut: createBuffer(gpu, "hOut", B * T * 2 * H * 4),
  };
}

/**
 * Benchmarks one BiLSTM layer: the recurrence kernels alone and the whole
 * forward and backward dispatch lists.
 *
 * @param gpu the device
 * @param configs shapes to run (default {@linkcode LSTM_BENCH_CONFIGS})
 * @returns four results per configuration
 */
export async function benchLstm(
  gpu: Gpu,
  configs: LstmBenchConfig[] = LSTM_BENCH_CONFIGS,
): Promise<KernelBenchResult[]> {
  const results: KernelBenchResult[] = [];
  for (const config of configs) {
    const { batch: B, time: T, inputSize: E, hiddenSize: H } = config;
    const inputs = benchInputs(config);
    const { dh, tokens } = inputs;
    const buf = {
      ...benchForwardBuffers(gpu, config, inputs),
      dhOut: createBuffer(gpu, "dhOut", dh),
      dX: createBuffer(gpu, "dX", B * T * E * 4),
      dWIh: createBuffer(gpu, "dWIh", 8 * H * E * 4),
      dWHh: createBuffer(gpu, "dWHh", 8 * H * H * 4),
      dBIh: createBuffer(gpu, "dBIh", 8 * H * 4),
      dBHh: createBuffer(gpu, "dBHh", 8 * H * 4),
    };
    const layer = await createBiLstm(gpu, buf, {
      maxBatch: B,
      maxTime: T,
      inputSize: E,
      hiddenSize: H,
    });
    const backward = (await layer.backward(buf)).dispatches;
    submitDispatches(gpu, [...layer.dispatches, ...backward]);

    // Validate the first two sentences (independent of the rest) against float64.
    const n = 2;
    const ref = benchReference(config, inputs, n);
    const name = `B=${B} T=${T} E=${E} H=${H}${config.variable ? " var. lengths" : ""}`;
    assertClose(await readFloat32(gpu, buf.hOut, n * T * 2 * H), ref.hOut, {
      atol: 1e-4,
      rtol: 0,
      name: `lstm ${name} h_out`,
      shape: [n, T, 2 * H],
    });
    assertClose(await readFloat32(gpu, buf.dX, n * T * E), ref.backward().dX, {
      atol: 1e-3,
      rtol: 0,
      name: `lstm ${name} dX`,
      shape: [n, T, E],
    });

    // Recurrences count real tokens; the matmuls run over all B·T rows, padding included.
    const recurrence = 2 * tokens * 8 * H * H;
    const rows = B * T;
    const flops = {
      recurrence,
      backwardRecurrence: recurrence,
      forward: recurrence + 2 * rows * 8 * H * E,
      backward: recurrence + 2 * 2 * rows * 8 * H * E + 2 * rows * 8 * H * H,
    };
    const reps = Math.max(1, Math.round(4e8 / flops.backward));
    const cases: [string, typeof layer.dispatches, number][] = [
      ["recurrence forward", [layer.dispatches[2]], flops.recurrence],
      ["recurrence backward", [backward[1]], flops.backwardRecurrence],
      [`layer forward (${layer.dispatches.length} dispatches)`, layer.dispatches, flops.forward],
      [`layer backward (${backward.length} dispatches)`, backward, flops.backward],
    ];
    const timing = { op: "lstm", prefix: name, sync: buf.hOut, reps };
    results.push(...await timeFlopCases(gpu, cases, timing));
    layer.destroy();
    for (const b of Object.values(buf)) b.destroy();
  }
  return results;
}

/**
 * Seconds each dispatch of a layer (forward and backward) takes on its first run, which on
 * llvmpipe includes compiling its shader: run with `MESA_SHADER_CACHE_DISABLE=true` to see
 * what a fresh CI machine pays.
 */
async function firstRuns(gpu: Gpu, H: number, uniformWeights: boolean): Promise<string[]> {
  const B = 8, T = 3, E = 4;
  const zeros = (n: number) => createBuffer(gpu, "zeros", Math.max(16, n * 4));
  const buf = {
    x: zeros(B * T * E),
    lengths: createBuffer(gpu, "lengths", new Int32Array(B).fill(T)),
    wIh: zeros(8 * H * E),
    wHh: zeros(8 * H * H),
    bIh: zeros(8 * H),
    bHh: zeros(8 * H),
    hOut: zeros(B * T * 2 * H),
    dhOut: zeros(B * T * 2 * H),
    dX: zeros(B * T * E),
    dWIh: zeros(8 * H * E),
    dWHh: zeros(8 * H * H),
    dBIh: zeros(8 * H),
    dBHh: zeros(8 * H),
  };
  const size = { maxBatch: B, maxTime: T, inputSize: E, hiddenSize: H };
  const layer = await createBiLstm(gpu, buf, { ...size, uniformWeights });
  const rows: string[] = [];
  for (const d of [...layer.dispatches, ...(await layer.backward(buf)).dispatches]) {
    const start = performance.now();
    submitDispatches(gpu, [d]);
    await readFloat32(gpu, buf.hOut, 1);
    rows.push(
      `| ${H} | ${layer.uniformWeights} | ${d.label} | ${
        ((performance.now() - start) / 1000).toFixed(2)
      } |`,
    );
  }
  layer.destroy();
  for (const b of Object.values(buf)) b.destroy();
  return rows;
}

if (import.meta.main) {
  const gpu = await benchGpu();
  if (Deno.args.includes("--first-run")) {
    // deno run -A bench/lstm_bench.ts --first-run (with MESA_SHADER_CACHE_DISABLE=true)
    console.log("| H | uniform W_hh | dispatch | first run s |\n| --- | --- | --- | --- |");
    for (const [H, uniform] of [[10, true], [10, false], [100, true], [256, false]] as const) {
      console.log((await firstRuns(gpu, H, uniform)).join("\n"));
    }
  } else {
    console.log(kernelTable(await benchLstm(gpu)));
  }
}

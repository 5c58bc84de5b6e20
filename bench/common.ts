/**
 * What the benchmarks share besides their results and timing (`bench/report.ts`): seeded
 * inputs, the command line with its `--help`, and the adapter line every run prints first.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { acquireGpu, describeAdapter, type Gpu } from "../src/gpu/mod.ts";

/**
 * Seeded floats from a 32-bit LCG (s ← 1664525·s + 1013904223 mod 2³²): `map(s / 2³²)` for
 * each of `n` steps, stored as f32.
 *
 * @param n how many values
 * @param seed the LCG's first state (taken modulo 2³²)
 * @param map from u uniform in [0, 1) to the value
 * @returns the values
 *
 * @example
 * ```ts
 * import { lcgFloats } from "./common.ts";
 * const u = lcgFloats(3, 1, (u) => u);
 * if (!u.every((v) => v >= 0 && v < 1)) throw new Error(`${u}`);
 * ```
 */
export function lcgFloats(n: number, seed: number, map: (u: number) => number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = map(s / 2 ** 32);
  }
  return out;
}

/**
 * Seeded values uniform in [−scale, scale) from {@linkcode lcgFloats}.
 *
 * @param n how many values
 * @param seed the LCG's first state
 * @param scale the half width (default 0.5: values in [−0.5, 0.5))
 * @returns the values
 *
 * @example
 * ```ts
 * import { benchRandom } from "./common.ts";
 * if (benchRandom(4, 7, 0.1).some((v) => Math.abs(v) > 0.1)) throw new Error("out of range");
 * ```
 */
export function benchRandom(n: number, seed: number, scale = 0.5): Float32Array {
  return lcgFloats(n, seed, (u) => (u - 0.5) * 2 * scale);
}

/**
 * Parses `Deno.args` with `options` and `-h, --help`; on `--help` prints `usage` and exits 0.
 *
 * @param usage the text `--help` prints
 * @param options `node:util` parseArgs options (`help` is added)
 * @returns the parsed values
 */
export function benchArgs<const O extends ParseArgsOptionsConfig>(usage: string, options: O) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { ...options, help: { type: "boolean", short: "h" } } as const,
  });
  if ((values as { help?: boolean }).help) {
    console.log(usage);
    Deno.exit(0);
  }
  return values;
}

/**
 * Acquires the GPU and prints the `adapter: …` line a benchmark starts with.
 *
 * @returns the device
 */
export async function benchGpu(): Promise<Gpu> {
  const gpu = await acquireGpu();
  console.log(`adapter: ${describeAdapter(gpu.adapter)}`);
  return gpu;
}

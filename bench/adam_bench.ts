/**
 * Optimizer benchmark: validates one Adam step and the gradient norm
 * against the float64 reference, then times the update (28 bytes per
 * parameter: p, g, m, v read; p, m, v written), the gradient-norm
 * reduction (4 bytes per parameter), the whole optimizer step, and the
 * weight-average update (12 bytes per parameter).
 * Run alone with `deno run -A bench/adam_bench.ts`.
 *
 * @module
 */

import { createBuffer, type Gpu, readFloat32, submitDispatches } from "../src/gpu/mod.ts";
import { adamOptimizer } from "../src/ops/adam.ts";
import { adamStepRef } from "../src/ops/adam_ref.ts";
import { parameterAverage } from "../src/ops/average.ts";
import { averageStepRef } from "../src/ops/average_ref.ts";
import { gradNormRef } from "../src/ops/grad_norm_ref.ts";
import { type KernelBenchResult, kernelTable, timeDispatches } from "./report.ts";
import { assertClose } from "../tests/assert_close.ts";
import { benchGpu, benchRandom } from "./common.ts";

/**
 * Benchmarks the Adam update and the gradient norm at the given parameter counts.
 *
 * @param gpu the device
 * @param sizes parameter counts P (default 1M and 5M floats)
 * @returns four results per size: update, grad norm, whole step, weight average
 */
export async function benchAdam(
  gpu: Gpu,
  sizes = [1 << 20, 5 * (1 << 20)],
): Promise<KernelBenchResult[]> {
  const results: KernelBenchResult[] = [];
  for (const size of sizes) {
    const p0 = benchRandom(size, 1);
    const g = benchRandom(size, 2);
    const buffers = {
      params: createBuffer(gpu, "params", p0),
      grads: createBuffer(gpu, "grads", g),
      m: createBuffer(gpu, "m", size * 4),
      v: createBuffer(gpu, "v", size * 4),
    };
    const adam = await adamOptimizer(gpu, buffers, { size });
    const hyper = { lr: 1e-3, weightDecay: 0.01, maxNorm: 5 };
    adam.setStep(1, hyper);
    submitDispatches(gpu, adam.dispatches);
    const ref = {
      params: Float64Array.from(p0),
      m: new Float64Array(size),
      v: new Float64Array(size),
    };
    adamStepRef(ref, g, hyper, 1);
    assertClose(await readFloat32(gpu, buffers.params, size), ref.params, {
      atol: 1e-6,
      rtol: 0,
      name: `adam P=${size} params`,
    });
    const stats = await adam.readStats();
    assertClose([stats.gradNorm], [gradNormRef(g)], {
      atol: 0,
      rtol: 1e-5,
      name: `adam P=${size} gradient norm`,
    });
    const [partial, finish, update] = adam.dispatches;
    const reps = Math.max(4, Math.round(5e8 / (28 * size)));
    const label = `P=${(size / (1 << 20)).toFixed(0)}M`;
    const timed: [string, typeof adam.dispatches, number][] = [
      ["adam update", [update], 28],
      ["grad norm", [partial, finish], 4],
      ["adam step (norm + update)", adam.dispatches, 32],
    ];
    for (const [op, dispatches, bytes] of timed) {
      const ms = await timeDispatches(gpu, dispatches, adam.stats, reps);
      results.push({ op, config: label, ms, gbps: bytes * size / ms / 1e6, validated: true });
    }
    // The weight average: 12 bytes per parameter (p, average read; average written).
    const average = createBuffer(gpu, "average", g);
    const avg = await parameterAverage(gpu, { params: buffers.params, average }, { size });
    avg.setWeight(0.25);
    const p1 = await readFloat32(gpu, buffers.params, size);
    submitDispatches(gpu, [avg.update]);
    const expected = Float64Array.from(g);
    averageStepRef(expected, p1, 0.25);
    assertClose(await readFloat32(gpu, average, size), expected, {
      atol: 1e-6,
      rtol: 0,
      name: `average P=${size}`,
    });
    const ms = await timeDispatches(gpu, [avg.update], average, reps);
    results.push({
      op: "weight average update",
      config: label,
      ms,
      gbps: 12 * size / ms / 1e6,
      validated: true,
    });
    average.destroy();
    for (const b of Object.values(buffers)) b.destroy();
  }
  return results;
}

if (import.meta.main) {
  const gpu = await benchGpu();
  console.log(kernelTable(await benchAdam(gpu)));
}

/**
 * Matmul benchmark: validates each variant against the float64 reference,
 * then times it. Run alone with `deno run -A bench/matmul_bench.ts`.
 *
 * @module
 */

import { createBuffer, type Gpu, readFloat32, submitDispatches } from "../src/gpu/mod.ts";
import { matmulForward, type MatmulVariant, vec4Applies } from "../src/ops/matmul.ts";
import { matmulRef } from "../src/ops/matmul_ref.ts";
import { type KernelBenchResult, kernelTable, timeDispatches } from "./report.ts";
import { assertClose } from "../tests/assert_close.ts";
import { benchGpu, benchRandom } from "./common.ts";

/**
 * Benchmarks the matmul variants at the given square sizes.
 *
 * @param gpu the device
 * @param sizes matrix sizes (default 256 and 512)
 * @returns one result per variant and size
 */
export async function benchMatmul(gpu: Gpu, sizes = [256, 512]): Promise<KernelBenchResult[]> {
  const results: KernelBenchResult[] = [];
  for (const n of sizes) {
    const a = benchRandom(n * n, 1);
    const b = benchRandom(n * n, 2);
    const [bufA, bufB] = [createBuffer(gpu, "a", a), createBuffer(gpu, "b", b)];
    const bufC = createBuffer(gpu, "c", n * n * 4);
    const dims = { m: n, n, k: n };
    const expected = matmulRef(a, b, dims);
    for (const variant of ["scalar", "vec4"] as MatmulVariant[]) {
      if (variant === "vec4" && !vec4Applies(dims)) continue;
      const mm = await matmulForward(gpu, { a: bufA, b: bufB, c: bufC }, { ...dims, variant });
      submitDispatches(gpu, mm.dispatches);
      assertClose(await readFloat32(gpu, bufC, n * n), expected, {
        atol: 1e-3,
        rtol: 0,
        name: `matmul ${variant} ${n}³`,
        shape: [n, n],
      });
      const reps = Math.max(2, Math.round(2e8 / n ** 3));
      const ms = await timeDispatches(gpu, mm.dispatches, bufC, reps);
      results.push({
        op: "matmul",
        config: `${n}×${n}×${n} ${variant}`,
        ms,
        gflops: 2 * n ** 3 / ms / 1e6,
        validated: true,
      });
    }
    for (const buffer of [bufA, bufB, bufC]) buffer.destroy();
  }
  return results;
}

if (import.meta.main) {
  const gpu = await benchGpu();
  console.log(kernelTable(await benchMatmul(gpu)));
}

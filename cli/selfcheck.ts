/**
 * GPU self-check: prints the adapter, runs a 256³ matmul on the GPU against
 * its float64 reference, and reports the error and GFLOP/s. Exits 1 when no
 * adapter is found or the result is wrong, 2 on a bad flag.
 *
 * Usage: `deno run -A cli/selfcheck.ts [--size N]`
 *
 * @module
 */

import {
  acquireGpu,
  createBuffer,
  describeAdapter,
  matmulForward,
  readFloat32,
  submitDispatches,
} from "../mod.ts";
import { EXIT, flagHelp, parseFlags, runCommand } from "./flags.ts";

/** The flags of `cli/selfcheck.ts`. */
export const FLAGS = {
  size: { kind: "int", min: 1, max: 4096, default: 256, help: "matrix size N" },
  help: { kind: "boolean", short: "h", help: "show this help" },
} as const;

const USAGE = `Usage: deno run -A cli/selfcheck.ts [--size N]

Checks that WebGPU works here: prints the adapter, multiplies two N×N
matrices on the GPU, compares with a float64 CPU reference, and prints the
largest error and the GFLOP/s. Exit status 1 on failure.

${flagHelp(FLAGS)}`;

/**
 * Runs the self-check.
 *
 * @param args command-line arguments
 * @returns 0 when the GPU's result matches the reference, 1 when it does not
 * @throws {Error} when no adapter is found (`runCommand` prints it as one line)
 */
export async function main(args: string[]): Promise<number> {
  const { size: n, help } = parseFlags(args, FLAGS).values;
  if (help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const gpu = await acquireGpu();
  console.log(`adapter: ${describeAdapter(gpu.adapter)}`);
  const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: n * n }, (_, i) => Math.cos(i * 0.7));
  const c = createBuffer(gpu, "c", n * n * 4);
  const mm = await matmulForward(
    gpu,
    { a: createBuffer(gpu, "a", a), b: createBuffer(gpu, "b", b), c },
    { m: n, n, k: n },
  );
  submitDispatches(gpu, mm.dispatches);
  const got = await readFloat32(gpu, c, n * n);
  // The float64 product, by plain loops.
  const expected = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < n; p++) {
      for (let j = 0; j < n; j++) expected[i * n + j] += a[i * n + p] * b[p * n + j];
    }
  }
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
  const reps = Math.max(1, Math.round(1e8 / n ** 3));
  const start = performance.now();
  submitDispatches(gpu, Array(reps).fill(mm.dispatches[0]));
  await readFloat32(gpu, c, 1);
  const ms = (performance.now() - start) / reps;
  const ok = worst <= 1e-5 * n;
  console.log(
    `matmul ${n}×${n}×${n} (${mm.variant}): max |gpu − float64| = ${worst.toExponential(2)} ` +
      `${ok ? "(ok)" : "(WRONG)"}, ${(2 * n ** 3 / ms / 1e6).toFixed(2)} GFLOP/s`,
  );
  return ok ? EXIT.ok : EXIT.error;
}

if (import.meta.main) Deno.exit(await runCommand("cli/selfcheck.ts", main, Deno.args));

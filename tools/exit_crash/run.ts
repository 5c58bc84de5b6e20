/**
 * The exit-crash reduction's WebGPU calls under `deno run`, for comparison
 * with `deno test -A tools/exit_crash/` (see exit_crash_test.ts).
 *
 * @module
 */

import { gpuWork } from "./work.ts";

await gpuWork();

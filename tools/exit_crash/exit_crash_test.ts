/**
 * The crash at exit of `deno test` on Mesa's Vulkan driver, reduced to
 * WebGPU calls alone (no code of this project). See README, Development:
 *
 *   for i in $(seq 300); do deno test -A tools/exit_crash/ >/dev/null 2>&1 || echo $?; done
 *
 * prints 134 (SIGABRT) or 139 (SIGSEGV) for the runs that died after
 * reporting "ok | 1 passed | 0 failed"; the same calls under `deno run -A
 * tools/exit_crash/run.ts` exit 0.
 *
 * @module
 */

import { gpuWork } from "./work.ts";

Deno.test("a compute shader, 20 submits, 20 mapAsync reads", gpuWork);

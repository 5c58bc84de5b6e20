/**
 * CRF-head benchmark: the CRF loss (NLL + gradient, forward-backward),
 * Viterbi decoding and the softmax cross-entropy head, at B = 32 and 256,
 * T = 40, K = 9 and 17. Each configuration is first validated against the
 * float64 reference, then timed. Run alone with
 * `deno run -A bench/crf_bench.ts`.
 *
 * @module
 */

import {
  createBuffer,
  type Gpu,
  readFloat32,
  readInt32,
  submitDispatches,
} from "../src/gpu/mod.ts";
import { crfLoss } from "../src/ops/crf.ts";
import { crfNllRef } from "../src/ops/crf_ref.ts";
import { softmaxXentLoss } from "../src/ops/softmax_xent.ts";
import { softmaxXentRef } from "../src/ops/softmax_xent_ref.ts";
import { viterbiDecode } from "../src/ops/viterbi.ts";
import { viterbiRef } from "../src/ops/viterbi_ref.ts";
import { type KernelBenchResult, markdownTable, timeDispatches } from "./report.ts";
import { assertClose } from "../tests/assert_close.ts";
import { benchGpu, benchRandom } from "./common.ts";

/** A kernel result with the throughput that matters for a sequence head. */
export interface SequenceBenchResult extends KernelBenchResult {
  /** Real (unpadded) tokens per second. */
  tokensPerSecond: number;
}

/**
 * Benchmarks the CRF loss, Viterbi and the softmax head.
 *
 * @param gpu the device
 * @param options batch sizes (default 32, 256), tag counts (default 9, 17), padded length (default 40)
 * @returns one result per op and configuration
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../src/gpu/mod.ts";
 * import { benchCrf } from "./crf_bench.ts";
 * const results = await benchCrf(await acquireGpu(), { batches: [2], tags: [3], time: 4 });
 * if (results.length !== 3 || !results.every((r) => r.validated)) throw new Error("bench failed");
 * ```
 */
export async function benchCrf(
  gpu: Gpu,
  options: { batches?: number[]; tags?: number[]; time?: number } = {},
): Promise<SequenceBenchResult[]> {
  const T = options.time ?? 40;
  const results: SequenceBenchResult[] = [];
  for (const K of options.tags ?? [9, 17]) {
    for (const B of options.batches ?? [32, 256]) {
      const shape = { batch: B, time: T, tags: K };
      // Lengths between T/2 and T, as in a length-bucketed batch.
      const lengths = Int32Array.from(benchRandom(B, 5), (v) => Math.round(T * (0.75 + v / 2)));
      lengths[0] = T;
      const tokens = lengths.reduce((a, v) => a + v, 0);
      const tagIds = Int32Array.from(benchRandom(B * T, 6), (v) => Math.floor((v + 0.5) * K) % K);
      const host = {
        emissions: benchRandom(B * T * K, 1, 3),
        tags: tagIds,
        lengths,
        transitions: benchRandom(K * K, 2, 1),
        start: benchRandom(K, 3, 1),
        end: benchRandom(K, 4, 1),
      };
      const f32 = (label: string, n: number) => createBuffer(gpu, label, n * 4);
      const buf = {
        emissions: createBuffer(gpu, "emissions", host.emissions),
        tags: createBuffer(gpu, "tags", host.tags),
        lengths: createBuffer(gpu, "lengths", host.lengths),
        transitions: createBuffer(gpu, "transitions", host.transitions),
        start: createBuffer(gpu, "start", host.start),
        end: createBuffer(gpu, "end", host.end),
        nll: f32("nll", B),
        dEmissions: f32("dEmissions", B * T * K),
        dTransitions: f32("dTransitions", K * K),
        dStart: f32("dStart", K),
        dEnd: f32("dEnd", K),
        loss: f32("loss", 1),
        path: f32("path", B * T),
        score: f32("score", B),
      };
      const config = `B=${B} T=${T} K=${K}`;
      const reps = Math.max(3, Math.round(4e6 / (B * T * K * K)));
      const record = (op: string, ms: number) =>
        results.push({ op, config, ms, validated: true, tokensPerSecond: tokens / ms * 1000 });

      const crf = await crfLoss(gpu, buf, { ...shape, lossScale: 1 / B });
      submitDispatches(gpu, crf.dispatches);
      assertClose(await readFloat32(gpu, buf.nll, B), crfNllRef(host, shape), {
        atol: 1e-3 * T,
        rtol: 0,
        name: `crf ${config} NLL`,
      });
      record("crf loss+grad", await timeDispatches(gpu, crf.dispatches, buf.loss, reps));

      const vit = await viterbiDecode(gpu, buf, shape);
      submitDispatches(gpu, vit.dispatches);
      const ref = viterbiRef(host, shape);
      const path = await readInt32(gpu, buf.path, B * T);
      // Near-ties may legitimately differ in f32; demand the same score and nearly all tags.
      const differ = path.reduce((a, v, i) => a + (v !== ref.paths[i] ? 1 : 0), 0);
      if (differ > B * T * 1e-3) {
        throw new Error(`viterbi ${config} is wrong: ${differ} tags differ`);
      }
      assertClose(await readFloat32(gpu, buf.score, B), ref.scores, {
        atol: 1e-3 * T,
        rtol: 0,
        name: `viterbi ${config} score`,
      });
      record("viterbi", await timeDispatches(gpu, vit.dispatches, buf.score, reps));

      const xent = await softmaxXentLoss(gpu, buf, { ...shape, lossScale: 1 });
      submitDispatches(gpu, xent.dispatches);
      const before = (await readFloat32(gpu, buf.loss, 1))[0];
      submitDispatches(gpu, xent.dispatches);
      const added = (await readFloat32(gpu, buf.loss, 1))[0] - before;
      const want = softmaxXentRef(host, shape).reduce((a, v) => a + v, 0);
      assertClose([added], [want], { atol: 1e-2, rtol: 1e-4, name: `softmax xent ${config} loss` });
      record("softmax xent loss+grad", await timeDispatches(gpu, xent.dispatches, buf.loss, reps));
      for (const b of Object.values(buf)) b.destroy();
    }
  }
  return results;
}

if (import.meta.main) {
  const gpu = await benchGpu();
  const results = await benchCrf(gpu);
  console.log(
    markdownTable(
      ["op", "config", "ms", "tokens/s", "validated"],
      results.map((r) => [
        r.op,
        r.config,
        r.ms.toFixed(3),
        Math.round(r.tokensPerSecond).toLocaleString("en-US"),
        r.validated ? "yes" : "NO",
      ]),
    ),
  );
  console.log(JSON.stringify(results));
}

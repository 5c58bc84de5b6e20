import assert from "node:assert/strict";
import {
  acquireGpu,
  createBuffer,
  type Gpu,
  readFloat32,
  readInt32,
  submitDispatches,
} from "../src/gpu/mod.ts";
import type { CrfBatch, CrfShape } from "../src/ops/crf_ref.ts";
import { createTransitionMask, viterbiDecode } from "../src/ops/viterbi.ts";
import { nBestRef, type TransitionMask, viterbiRef } from "../src/ops/viterbi_ref.ts";
import { assertClose, randomArray } from "./assert_close.ts";
import {
  allPaths,
  destroyAll,
  ENUMERATION_SHAPES,
  pathScore,
  randomCrfBatch,
  SEQUENCE_CASES,
  uploadBatch,
} from "./fixtures.ts";

/** A random batch without gold tags (emissions, lengths and CRF parameters). */
function randomBatch(seed: number, shape: CrfShape, lengths: number[]): CrfBatch {
  const { tags: _, ...batch } = randomCrfBatch(seed, shape, lengths);
  return batch;
}

/** IOB2 over `types` entity types: tag 0 = O, 1 + 2x = B-x, 2 + 2x = I-x. I-x only after B-x or I-x. */
function iob2Mask(types: number): TransitionMask {
  const K = 1 + 2 * types;
  const isI = (k: number) => k > 0 && k % 2 === 0;
  const transitions = new Array<number>(K * K).fill(1);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      if (isI(j) && !(i === j || i === j - 1)) transitions[i * K + j] = 0;
    }
  }
  return {
    transitions,
    start: Array.from({ length: K }, (_, k) => isI(k) ? 0 : 1),
    end: new Array<number>(K).fill(1),
  };
}

/** A mask forbidding a random third of the transitions, one start and one end tag. */
function randomMask(seed: number, K: number): TransitionMask {
  const r = randomArray(seed, K * K + 2, 0, 1);
  const transitions = Array.from(r.subarray(0, K * K), (v) => v < 0.33 ? 0 : 1);
  const start = new Array<number>(K).fill(1);
  const end = new Array<number>(K).fill(1);
  start[Math.floor(r[K * K] * K)] = 0;
  end[Math.floor(r[K * K + 1] * K)] = 0;
  return { transitions, start, end };
}

Deno.test("Viterbi and k-best references equal enumeration of every path, with and without a mask", () => {
  for (const [K, T] of ENUMERATION_SHAPES) {
    const shape = { batch: 3, time: T, tags: K };
    const lengths = [T, Math.max(1, T - 2), 0];
    const batch = randomBatch(K * 7 + T, shape, lengths);
    for (const mask of [undefined, randomMask(K + T, K)]) {
      const got = viterbiRef({ ...batch, allowed: mask }, shape);
      for (let b = 0; b < 3; b++) {
        const n = lengths[b];
        const scored = [...allPaths(n, K)]
          .map((p) => ({ path: p, score: pathScore(batch, shape, b, p, mask) }))
          .filter((x) => x.score > -Infinity)
          .sort((x, y) => y.score - x.score);
        const tag = `K=${K} T=${T} b=${b} mask=${Boolean(mask)}`;
        const path = Array.from(got.paths.subarray(b * T, (b + 1) * T));
        if (n === 0) {
          assert.deepEqual(path, new Array(T).fill(-1), tag);
          continue;
        }
        if (scored.length === 0) continue;
        assert.deepEqual(path.slice(0, n), scored[0].path, `best path ${tag}`);
        assert.deepEqual(path.slice(n), new Array(T - n).fill(-1), `padding ${tag}`);
        assert.ok(Math.abs(got.scores[b] - scored[0].score) < 1e-12, `score ${tag}`);
        const emissions = Float32Array.from(batch.emissions).slice(b * T * K, (b * T + n) * K);
        const best = nBestRef({ ...batch, emissions, allowed: mask }, { tags: K, k: 5 });
        assert.equal(best.length, Math.min(5, scored.length), `k-best count ${tag}`);
        best.forEach((x, r) => {
          assert.ok(Math.abs(x.score - scored[r].score) < 1e-12, `k-best score ${r} ${tag}`);
          assert.ok(Math.abs(pathScore(batch, shape, b, x.path, mask) - x.score) < 1e-12);
        });
        assert.equal(new Set(best.map((x) => x.path.join())).size, best.length, "distinct paths");
      }
    }
  }
});

interface Decoded {
  path: Int32Array;
  score: Float32Array;
}

async function runViterbi(
  gpu: Gpu,
  batch: CrfBatch,
  shape: CrfShape,
  mask?: TransitionMask,
  stepsPerDispatch?: number,
): Promise<Decoded> {
  const { batch: B, time: T, tags: K } = shape;
  const buf = {
    ...uploadBatch(gpu, batch),
    allowed: mask ? createTransitionMask(gpu, mask, K) : undefined,
    path: createBuffer(gpu, "path", new Int32Array(B * T).fill(55)),
    score: createBuffer(gpu, "score", new Float32Array(B).fill(55)),
  };
  const op = await viterbiDecode(gpu, buf, { ...shape, stepsPerDispatch });
  submitDispatches(gpu, op.dispatches);
  const out = {
    path: await readInt32(gpu, buf.path, B * T),
    score: await readFloat32(gpu, buf.score, B),
  };
  op.destroy();
  destroyAll(buf);
  return out;
}

function compare(
  got: Decoded,
  batch: CrfBatch,
  shape: CrfShape,
  mask: TransitionMask | undefined,
  tag: string,
) {
  const ref = viterbiRef({ ...batch, allowed: mask }, shape);
  assert.deepEqual(Array.from(got.path), Array.from(ref.paths), `path ${tag}`);
  const long = Math.max(1, ...Array.from(batch.lengths));
  assertClose(got.score, ref.scores, { atol: 1e-5 * long, name: `score ${tag}` });
}

Deno.test("Viterbi on the GPU equals the reference (K=3, 9; B=1, 5; T=1, 7; padding; masks)", async () => {
  const gpu = await acquireGpu();
  let seed = 40;
  for (const K of [3, 9]) {
    for (const [B, T, lengths] of SEQUENCE_CASES) {
      const shape = { batch: B, time: T, tags: K };
      const batch = randomBatch(seed++, shape, lengths);
      for (const mask of [undefined, K === 9 ? iob2Mask(4) : randomMask(seed, K)]) {
        const got = await runViterbi(gpu, batch, shape, mask);
        compare(got, batch, shape, mask, `K=${K} B=${B} T=${T} mask=${Boolean(mask)}`);
      }
    }
  }
});

Deno.test("constrained Viterbi never outputs a forbidden transition, even when emissions push for one", async () => {
  const gpu = await acquireGpu();
  const mask = iob2Mask(4);
  const K = 9;
  const shape = { batch: 6, time: 20, tags: K };
  const batch = randomBatch(5, shape, [20, 13, 1, 7, 20, 2]);
  // Make I-tags (even ids) the most attractive emissions everywhere.
  const emissions = Float32Array.from(batch.emissions);
  for (let i = 0; i < emissions.length; i++) if (i % K > 0 && (i % K) % 2 === 0) emissions[i] += 3;
  const pushed = { ...batch, emissions };
  const got = await runViterbi(gpu, pushed, shape, mask);
  compare(got, pushed, shape, mask, "pushed IOB2");
  for (let b = 0; b < 6; b++) {
    const n = pushed.lengths[b];
    const path = got.path.subarray(b * 20, b * 20 + n);
    assert.ok(mask.start[path[0]], `sentence ${b} starts with forbidden tag ${path[0]}`);
    for (let t = 1; t < n; t++) {
      assert.ok(mask.transitions[path[t - 1] * K + path[t]], `forbidden ${path[t - 1]}→${path[t]}`);
    }
  }
  // Unconstrained, the same emissions do produce forbidden transitions: the test can fail.
  const free = await runViterbi(gpu, pushed, shape);
  const violations = Array.from(free.path).filter((y, i) =>
    y > 0 && y % 2 === 0 && (i % 20 === 0 || !mask.transitions[free.path[i - 1] * K + y])
  );
  assert.ok(violations.length > 0);
});

Deno.test("Viterbi on long sentences (T=150) is right: no loop-iteration trap", async () => {
  const gpu = await acquireGpu();
  for (const K of [9, 17]) {
    const shape = { batch: 3, time: 150, tags: K };
    const batch = randomBatch(90 + K, shape, [150, 41, 149]);
    compare(await runViterbi(gpu, batch, shape), batch, shape, undefined, `T=150 K=${K}`);
  }
});

Deno.test("Viterbi on T=1000 (forced time split) and T=4000 (split on fallback adapters) equals the reference", async () => {
  const gpu = await acquireGpu();
  const shape = { batch: 3, time: 1000, tags: 9 };
  const batch = randomBatch(1000, shape, [1000, 0, 377]);
  const mask = iob2Mask(4);
  compare(await runViterbi(gpu, batch, shape, mask, 300), batch, shape, mask, "T=1000 mask");
  compare(await runViterbi(gpu, batch, shape), batch, shape, undefined, "T=1000");
  // T=4000: f32 scores near 10⁴ make near-ties that float64 breaks differently, so the check is
  // that each GPU path scores (in float64) within f32 rounding of the best path, and that
  // other range sizes give the same result bit for bit.
  const long = { batch: 2, time: 4000, tags: 17 };
  const lengths = [4000, 2500];
  const big = randomBatch(4000, long, lengths);
  const got = await runViterbi(gpu, big, long);
  const ref = viterbiRef(big, long);
  for (const [b, n] of lengths.entries()) {
    const path = Array.from(got.path.subarray(b * 4000, b * 4000 + n));
    const score = pathScore(big, long, b, path);
    assert.ok(
      Math.abs(score - ref.scores[b]) < 0.05,
      `path score ${score} vs best ${ref.scores[b]}`,
    );
    assert.ok(Math.abs(got.score[b] - ref.scores[b]) < 0.05, `score ${got.score[b]}`);
    assert.ok(got.path.subarray(b * 4000 + n, (b + 1) * 4000).every((v) => v === -1), "padding");
  }
  assert.deepEqual(await runViterbi(gpu, big, long, undefined, 1000), got, "1000 steps per range");
});

Deno.test("Viterbi split into time ranges equals the whole-sentence kernel bit for bit", async () => {
  const gpu = await acquireGpu();
  const shape = { batch: 7, time: 40, tags: 9 };
  const batch = randomBatch(41, shape, [40, 3, 0, 39, 17, 1, 21]);
  for (const mask of [undefined, iob2Mask(4)]) {
    const whole = await runViterbi(gpu, batch, shape, mask);
    for (const steps of [1, 7, 39]) {
      const split = await runViterbi(gpu, batch, shape, mask, steps);
      const tag = `${steps} steps per dispatch, mask=${Boolean(mask)}`;
      assert.deepEqual(split.path, whole.path, `path with ${tag}`);
      assert.deepEqual(split.score, whole.score, `score with ${tag}`);
    }
    compare(whole, batch, shape, mask, `T=40 mask=${Boolean(mask)}`);
  }
});

Deno.test("Viterbi: a padded batch equals its sentences one by one; resize grows scratch", async () => {
  const gpu = await acquireGpu();
  const K = 5;
  const shape = { batch: 4, time: 9, tags: K };
  const lengths = [9, 3, 1, 6];
  const batch = randomBatch(8, shape, lengths);
  const whole = await runViterbi(gpu, batch, shape);
  for (let b = 0; b < 4; b++) {
    const n = lengths[b];
    const one = {
      ...batch,
      emissions: Float32Array.from(batch.emissions).slice(b * 9 * K, (b * 9 + n) * K),
      lengths: [n],
    };
    const alone = await runViterbi(gpu, one, { batch: 1, time: n, tags: K });
    assert.deepEqual(Array.from(alone.path), Array.from(whole.path.subarray(b * 9, b * 9 + n)));
    assert.equal(alone.score[0], whole.score[b]);
  }
  // Built for one short sentence, resized to the whole batch.
  const buf = {
    ...uploadBatch(gpu, batch),
    path: createBuffer(gpu, "path", 4 * 9 * 4),
    score: createBuffer(gpu, "score", 4 * 4),
  };
  const op = await viterbiDecode(gpu, buf, { batch: 1, time: 2, tags: K });
  op.resize(shape);
  submitDispatches(gpu, op.dispatches);
  assert.deepEqual(await readInt32(gpu, buf.path, 36), whole.path);
  await assert.rejects(viterbiDecode(gpu, buf, { batch: 1, time: 9, tags: 33 }), /1 to 32 tags/);
  destroyAll(buf);
});

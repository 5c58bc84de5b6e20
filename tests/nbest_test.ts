import assert from "node:assert/strict";
import { nBest } from "../src/api/nbest.ts";
import { mulberry32 } from "../src/data/random.ts";
import { transitionMask } from "../src/data/schemes.ts";
import { nBestRef } from "../src/ops/viterbi_ref.ts";
import { allPaths, pathScore } from "./fixtures.ts";

/** A random CRF lattice of one sentence: n tokens, K tags. */
function randomLattice(seed: number, n: number, K: number) {
  const random = mulberry32(seed);
  const values = (count: number) => Float32Array.from({ length: count }, () => 4 * random() - 2);
  return {
    emissions: values(n * K),
    transitions: values(K * K),
    start: values(K),
    end: values(K),
  };
}

Deno.test("nBest equals brute-force enumeration of every path (scores and order)", () => {
  const tags = ["O", "B-PER", "I-PER"];
  const mask = transitionMask(tags, "IOB2");
  for (const [n, K, k] of [[1, 3, 2], [2, 3, 9], [3, 3, 5], [4, 3, 40], [5, 3, 7]]) {
    for (const allowed of [undefined, mask]) {
      const lattice = { ...randomLattice(10 * n + k, n, K), allowed };
      const batch = { ...lattice, lengths: Int32Array.of(n) };
      const every = [...allPaths(n, K)]
        .map((path) => ({
          path,
          score: pathScore(batch, { batch: 1, time: n, tags: K }, 0, path, allowed),
        }))
        .filter((p) => p.score > -Infinity)
        .sort((a, b) => b.score - a.score);
      const got = nBest(lattice, { tags: K, k });
      const what = `n ${n}, K ${K}, k ${k}, ${allowed ? "masked" : "free"}`;
      assert.equal(got.length, Math.min(k, every.length), what);
      for (let r = 0; r < got.length; r++) {
        assert.ok(
          Math.abs(got[r].score - every[r].score) < 1e-9,
          `${what}: rank ${r} scores ${got[r].score}, enumeration ${every[r].score}`,
        );
        const own = pathScore(batch, { batch: 1, time: n, tags: K }, 0, got[r].path, allowed);
        assert.ok(
          Math.abs(own - got[r].score) < 1e-9,
          `${what}: rank ${r} path and score disagree`,
        );
      }
      assert.equal(new Set(got.map((p) => p.path.join())).size, got.length, `${what}: duplicates`);
    }
  }
});

Deno.test("nBest equals the float64 reference nBestRef, ties included", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const random = mulberry32(seed);
    const n = 1 + Math.floor(random() * 12);
    const K = 2 + Math.floor(random() * 6);
    const k = 1 + Math.floor(random() * 10);
    const lattice = randomLattice(seed, n, K);
    // Every third case: integer scores, so many paths tie.
    if (seed % 3 === 0) {
      for (const a of [lattice.emissions, lattice.transitions, lattice.start, lattice.end]) {
        a.forEach((v, i) => a[i] = Math.round(v));
      }
    }
    const allowed = seed % 2 === 0
      ? {
        transitions: Uint8Array.from({ length: K * K }, () => random() < 0.7 ? 1 : 0),
        start: Uint8Array.from({ length: K }, () => random() < 0.7 ? 1 : 0),
        end: Uint8Array.from({ length: K }, () => random() < 0.7 ? 1 : 0),
      }
      : undefined;
    const got = nBest({ ...lattice, allowed }, { tags: K, k });
    const want = nBestRef({ ...lattice, allowed }, { tags: K, k });
    assert.deepEqual(got, want, `seed ${seed}: n ${n}, K ${K}, k ${k}`);
  }
});

Deno.test("nBest: an empty sentence has no paths; a fully forbidden one neither", () => {
  assert.deepEqual(nBest({ ...randomLattice(1, 0, 3) }, { tags: 3, k: 2 }), []);
  const lattice = randomLattice(2, 3, 2);
  const none = { transitions: [1, 1, 1, 1], start: [0, 0], end: [1, 1] };
  assert.deepEqual(nBest({ ...lattice, allowed: none }, { tags: 2, k: 2 }), []);
});

Deno.test("nBest rejects bad sizes with messages naming them", () => {
  const lattice = randomLattice(3, 2, 3);
  assert.throws(() => nBest(lattice, { tags: 3, k: 0 }), /k to be a positive integer, found 0/);
  assert.throws(() => nBest(lattice, { tags: 4, k: 1 }), /n × 4 values, found 6/);
});

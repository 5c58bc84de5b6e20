/**
 * Benchmarks of the input-side ops: embedding gather and gradient scatter
 * (GB/s), the character CNN forward and backward (ms), dropout and fill
 * (GB/s). Each kernel is validated against its reference before it is
 * timed. Run alone with `deno run -A bench/embedding_bench.ts`.
 *
 * @module
 */

import {
  createBuffer,
  type Dispatch,
  type Gpu,
  readFloat32,
  readInt32,
  submitDispatches,
} from "../src/gpu/mod.ts";
import { embeddingBackward, embeddingForward, groupTokenIds } from "../src/ops/embedding.ts";
import { embeddingBackwardRef, embeddingForwardRef } from "../src/ops/embedding_ref.ts";
import { charCnnBackward, charCnnForward, groupCharIds } from "../src/ops/char_cnn.ts";
import { charCnnBackwardRef, charCnnForwardRef } from "../src/ops/char_cnn_ref.ts";
import { dropoutForward } from "../src/ops/dropout.ts";
import { dropoutMaskRef } from "../src/ops/dropout_ref.ts";
import { fillBuffer } from "../src/ops/fill.ts";
import { type KernelBenchResult, kernelTable, timeDispatches } from "./report.ts";
import { assertClose } from "../tests/assert_close.ts";
import { benchGpu, lcgFloats } from "./common.ts";

/** Seeded values uniform in [lo, hi). */
const random = (n: number, seed: number, lo = -0.5, hi = 0.5) =>
  lcgFloats(n, seed, (u) => lo + (hi - lo) * u);

/** Zipf-like word ids in [1, V): a few very frequent words, a long tail (as in text). */
function zipfIds(n: number, vocab: number, seed: number): Int32Array {
  const u = random(n, seed, 0, 1);
  return Int32Array.from(u, (x) => Math.min(vocab - 1, Math.floor(Math.exp(x * Math.log(vocab)))));
}

/** The GPU's values against the reference: |got − expected| ≤ tol·(1 + |expected|). */
function check(name: string, got: ArrayLike<number>, expected: ArrayLike<number>, tol: number) {
  assertClose(got, expected, { atol: tol, rtol: tol, name });
}

/**
 * Mean ms per run of `dispatches`, with enough reps that the ≈ 11 ms
 * submit→readback floor is spread thin (≥ ~250 ms per timed submit), best of 3.
 */
async function timeSteady(gpu: Gpu, dispatches: readonly Dispatch[], sync: GPUBuffer) {
  const first = await timeDispatches(gpu, dispatches, sync, 3);
  const reps = Math.min(200, Math.max(3, Math.ceil(250 / first)));
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    best = Math.min(best, await timeDispatches(gpu, dispatches, sync, reps));
  }
  return best;
}

/** Character CNN shapes: the original measurement's and the default model's. */
const CHAR_CONFIGS = [
  { chars: 12, charDim: 30, filters: 50, charVocab: 90 },
  { chars: 16, charDim: 32, filters: 48, charVocab: 90 },
] as const;

/** Validates then times the character CNN forward and backward (words of 1..Lc characters). */
async function charCnnCase(
  gpu: Gpu,
  B: number,
  T: number,
  lengths: Int32Array,
  c: (typeof CHAR_CONFIGS)[number],
): Promise<KernelBenchResult[]> {
  const results: KernelBenchResult[] = [];
  const rows = B * T;
  const Lc = c.chars, Dc = c.charDim, F = c.filters, C = c.charVocab;
  let ms: number;
  const cdims = { batch: B, time: T, chars: Lc, charDim: Dc, filters: F, charVocab: C };
  const charLengths = Int32Array.from(random(rows, 5, 1, Lc + 1), Math.floor);
  const charIds = Int32Array.from(
    random(rows * Lc, 6, 1, C),
    (v, p) => p % Lc < charLengths[Math.floor(p / Lc)] ? Math.floor(v) : 0,
  );
  const x = {
    table: random(C * Dc, 7),
    weight: random(F * Dc * 3, 8),
    bias: random(F, 9),
    charIds,
    charLengths,
    lengths,
  };
  const cg = groupCharIds(charIds, charLengths, lengths, cdims);
  const dOut = random(rows * F, 10);
  const cb = {
    charIds: createBuffer(gpu, "char ids", charIds),
    charLengths: createBuffer(gpu, "char lengths", charLengths),
    lengths: createBuffer(gpu, "lengths", lengths),
    table: createBuffer(gpu, "char table", x.table),
    weight: createBuffer(gpu, "conv weight", x.weight),
    bias: createBuffer(gpu, "conv bias", x.bias),
    out: createBuffer(gpu, "features", rows * F * 4),
    argmax: createBuffer(gpu, "argmax", rows * F * 4),
    dOut: createBuffer(gpu, "dfeatures", dOut),
    uniqueIds: createBuffer(gpu, "cu", cg.uniqueIds),
    offsets: createBuffer(gpu, "co", cg.offsets),
    positions: createBuffer(gpu, "cp", cg.positions),
    dTable: createBuffer(gpu, "dchar table", C * Dc * 4),
    dWeight: createBuffer(gpu, "dconv weight", F * Dc * 12),
    dBias: createBuffer(gpu, "dconv bias", F * 4),
  };
  const fwd = await charCnnForward(gpu, cb, cdims);
  const bwd = await charCnnBackward(gpu, cb, { ...cdims, uniqueCount: cg.uniqueIds.length });
  submitDispatches(gpu, [...fwd.dispatches, ...bwd.dispatches]);
  const ref = charCnnForwardRef(x, cdims);
  check("char cnn forward", await readFloat32(gpu, cb.out, rows * F), ref.out, 1e-4);
  const argmax = await readInt32(gpu, cb.argmax, rows * F);
  const g = charCnnBackwardRef(x, dOut, cdims);
  check("char cnn argmax", argmax, ref.argmax, 0);
  for (const name of ["dWeight", "dBias", "dTable"] as const) {
    const want = g[name];
    check(`char cnn ${name}`, await readFloat32(gpu, cb[name], want.length), want, 1e-4);
  }
  const flops = 2 * rows * F * Dc * 3 * (Lc + 1) / 2; // mean word length ≈ (Lc + 1) / 2
  ms = await timeSteady(gpu, fwd.dispatches, cb.out);
  results.push({
    op: "char_cnn",
    config: `forward B=${B} T=${T} Lc=${Lc} Dc=${Dc} F=${F}`,
    ms,
    gflops: flops / ms / 1e6,
    validated: true,
  });
  ms = await timeSteady(gpu, bwd.dispatches, cb.dBias);
  results.push({
    op: "char_cnn",
    config: `backward B=${B} T=${T} Lc=${Lc} Dc=${Dc} F=${F}`,
    ms,
    validated: true,
  });
  for (const [i, d] of bwd.dispatches.entries()) {
    ms = await timeSteady(gpu, [d], cb.dBias);
    results.push({
      op: "char_cnn",
      config: `  ${i + 1}. ${d.label} B=${B}`,
      ms,
      validated: true,
    });
  }
  for (const b of Object.values(cb)) b.destroy();
  return results;
}

/**
 * Benchmarks embedding gather/scatter (V = 20k, E = 100, T = 40), the
 * character CNN (Dc = 30, F = 50, Lc = 12) and dropout/fill, at each batch size.
 *
 * @param gpu the device
 * @param batches batch sizes (default 32 and 256)
 * @returns one result per kernel and batch size
 */
export async function benchEmbedding(gpu: Gpu, batches = [32, 256]): Promise<KernelBenchResult[]> {
  const results: KernelBenchResult[] = [];
  const T = 40, E = 100, V = 20000;
  const table = random(V * E, 1);
  const tableBuf = createBuffer(gpu, "word table", table);
  const dTableBuf = createBuffer(gpu, "word dtable", V * E * 4);
  for (const B of batches) {
    const rows = B * T;
    const lengths = new Int32Array(B).fill(T);
    const ids = zipfIds(rows, V, 2 + B);
    const dims = { batch: B, time: T, dim: E, vocab: V };
    const groups = groupTokenIds(ids, lengths, T);
    const dX = random(rows * E, 3);
    const buf = {
      table: tableBuf,
      ids: createBuffer(gpu, "ids", ids),
      lengths: createBuffer(gpu, "lengths", lengths),
      out: createBuffer(gpu, "x", rows * E * 4),
      dOut: createBuffer(gpu, "dx", dX),
      uniqueIds: createBuffer(gpu, "u", groups.uniqueIds),
      offsets: createBuffer(gpu, "o", groups.offsets),
      positions: createBuffer(gpu, "p", groups.positions),
    };

    // Gather: read the ids and the rows, write the block.
    const gather = await embeddingForward(gpu, buf, dims);
    submitDispatches(gpu, gather.dispatches);
    const out = await readFloat32(gpu, buf.out, rows * E);
    check("embedding gather", out, embeddingForwardRef(table, ids, lengths, dims), 0);
    let ms = await timeDispatches(gpu, gather.dispatches, buf.out, 20);
    results.push({
      op: "embedding",
      config: `gather B=${B} T=${T} E=${E} V=${V}`,
      ms,
      gbps: (rows * (2 * E + 1) * 4) / ms / 1e6,
      validated: true,
    });

    // Scatter: read dX once and each touched table row twice (+=).
    const zero = await fillBuffer(gpu, { buffer: dTableBuf }, { value: 0 });
    const scatter = await embeddingBackward(gpu, { ...buf, dTable: dTableBuf }, {
      uniqueCount: groups.uniqueIds.length,
      dim: E,
      vocab: V,
    });
    submitDispatches(gpu, [...zero.dispatches, ...scatter.dispatches]);
    const dTable = await readFloat32(gpu, dTableBuf, V * E);
    check("embedding scatter", dTable, embeddingBackwardRef(dX, ids, lengths, dims), 1e-5);
    ms = await timeDispatches(gpu, scatter.dispatches, dTableBuf, 20);
    const U = groups.uniqueIds.length;
    results.push({
      op: "embedding",
      config: `scatter B=${B} T=${T} E=${E} V=${V} (U=${U})`,
      ms,
      gbps: (rows * (E + 1) + U * (2 * E + 2)) * 4 / ms / 1e6,
      validated: true,
    });
    ms = await timeDispatches(gpu, zero.dispatches, dTableBuf, 20);
    results.push({
      op: "fill",
      config: `zero (V, E) = ${V}×${E}`,
      ms,
      gbps: V * E * 4 / ms / 1e6,
      validated: dTable.length === V * E,
    });

    // Dropout on the (B·T, E) input, out of place: read + write.
    const drop = await dropoutForward(gpu, { x: buf.dOut, y: buf.out }, {
      n: rows * E,
      p: 0.5,
      seed: 1,
    });
    submitDispatches(gpu, drop.dispatches);
    const y = await readFloat32(gpu, buf.out, rows * E);
    const mask = dropoutMaskRef(rows * E, { p: 0.5, seed: 1, step: 0 });
    // Kept or dropped, where the input is not 0 (a kept 0 reads as dropped).
    const kept = Uint8Array.from(y, (v, i) => dX[i] === 0 ? mask[i] : v === 0 ? 0 : 1);
    check("dropout mask", kept, mask, 0);
    ms = await timeDispatches(gpu, drop.dispatches, buf.out, 20);
    results.push({
      op: "dropout",
      config: `p=0.5 n=B·T·E=${rows * E}`,
      ms,
      gbps: rows * E * 8 / ms / 1e6,
      validated: true,
    });

    for (const c of CHAR_CONFIGS) results.push(...await charCnnCase(gpu, B, T, lengths, c));
    for (const b of Object.values(buf)) if (b !== tableBuf) b.destroy();
  }
  tableBuf.destroy();
  dTableBuf.destroy();
  return results;
}

/**
 * Benchmarks only the character CNN (both shapes of `CHAR_CONFIGS`, T = 40,
 * full sentences) at each batch size.
 *
 * @param gpu the device
 * @param batches batch sizes (default 32 and 256)
 * @returns one result per direction (and backward dispatch), shape and batch size
 */
export async function benchCharCnn(gpu: Gpu, batches = [32, 256]): Promise<KernelBenchResult[]> {
  const results: KernelBenchResult[] = [];
  const T = 40;
  for (const B of batches) {
    const lengths = new Int32Array(B).fill(T);
    for (const c of CHAR_CONFIGS) results.push(...await charCnnCase(gpu, B, T, lengths, c));
  }
  return results;
}

if (import.meta.main) {
  const gpu = await benchGpu();
  // `--char`: the character CNN only.
  const results = Deno.args.includes("--char")
    ? await benchCharCnn(gpu)
    : await benchEmbedding(gpu);
  console.log(kernelTable(results));
}

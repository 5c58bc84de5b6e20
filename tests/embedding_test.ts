import assert from "node:assert/strict";
import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../src/gpu/mod.ts";
import {
  embeddingBackward,
  embeddingForward,
  groupIds,
  groupTokenIds,
  MAX_GROUP_SIZE,
} from "../src/ops/embedding.ts";
import { embeddingBackwardRef, embeddingForwardRef } from "../src/ops/embedding_ref.ts";
import { encodeSentences, makeBatches } from "../src/data/batch.ts";
import { Vocabulary } from "../src/data/vocab.ts";
import { assertClose, numericGradient, randomArray } from "./assert_close.ts";
import { randomIds, sumProduct } from "./fixtures.ts";

Deno.test("embedding reference backward equals finite differences of sum(out·dout)", () => {
  const dims = { batch: 2, time: 3, dim: 3, vocab: 4 };
  const table = randomArray(1, 12);
  const ids = new Int32Array([1, 3, 1, 2, 2, 0]);
  const lengths = new Int32Array([3, 2]);
  const dOut = randomArray(2, 18);
  const numeric = numericGradient(
    (t) => sumProduct(embeddingForwardRef(t, ids, lengths, dims), dOut),
    table,
  );
  assertClose(embeddingBackwardRef(dOut, ids, lengths, dims), numeric, { atol: 1e-8 });
});

Deno.test("groupIds groups like the batcher's WordGroups and checks group sizes", () => {
  const words = new Vocabulary(["a", "b", "c"]);
  const tags = new Vocabulary(["O"], { specials: false });
  const sentences = [["a", "b", "a"], ["c"], ["b", "b", "zz", "a"], []].map((tokens) => ({
    tokens,
    tags: tokens.map(() => "O"),
  }));
  for (const batch of makeBatches(encodeSentences(sentences, { words, tags }), { batchSize: 3 })) {
    const g = groupTokenIds(batch.wordIds, batch.lengths, batch.maxLength);
    assert.deepEqual(g, batch.wordGroups);
  }
  const empty = groupIds(new Int32Array(0));
  assert.deepEqual([...empty.offsets], [0]);
  assert.throws(() => groupIds(new Int32Array(MAX_GROUP_SIZE + 1)), /at most/);
});

Deno.test("embedding forward and backward on the GPU equal the reference", async () => {
  const gpu = await acquireGpu();
  const cases = [
    { batch: 1, time: 1, dim: 1, vocab: 2, lengths: [1], stride: 1, offset: 0 },
    { batch: 5, time: 7, dim: 3, vocab: 6, lengths: [7, 0, 3, 1, 5], stride: 11, offset: 5 },
    { batch: 5, time: 7, dim: 8, vocab: 4, lengths: [2, 7, 7, 4, 6], stride: 13, offset: 1 },
    // Long sentences (llvmpipe's loop trap) and a frequent id (a big group).
    { batch: 3, time: 150, dim: 5, vocab: 3, lengths: [150, 149, 77], stride: 9, offset: 4 },
  ];
  let seed = 100;
  for (const c of cases) {
    const rows = c.batch * c.time;
    const dims = { batch: c.batch, time: c.time, dim: c.dim, vocab: c.vocab };
    const tag = `B=${c.batch} T=${c.time} D=${c.dim} stride=${c.stride} offset=${c.offset}`;
    const table = randomArray(seed++, c.vocab * c.dim);
    const ids = randomIds(seed++, rows, c.vocab);
    if (rows > 2) ids[rows - 1] = c.vocab + 3; // out of range: zeros (if not padding)
    const lengths = Int32Array.from(c.lengths);
    const sentinel = new Float32Array(rows * c.stride).fill(7);
    const dX = randomArray(seed++, rows * c.stride);
    const g = groupTokenIds(ids, lengths, c.time);
    const buf = {
      table: createBuffer(gpu, "table", table),
      ids: createBuffer(gpu, "ids", ids),
      lengths: createBuffer(gpu, "lengths", lengths),
      out: createBuffer(gpu, "x", sentinel),
      dX: createBuffer(gpu, "dx", dX),
      uniqueIds: createBuffer(gpu, "u", g.uniqueIds),
      offsets: createBuffer(gpu, "o", g.offsets),
      positions: createBuffer(gpu, "p", g.positions),
      dTable: createBuffer(gpu, "dtable", new Float32Array(c.vocab * c.dim).fill(0.5)),
    };
    const layout = { rowStride: c.stride, columnOffset: c.offset };
    submitDispatches(gpu, [
      ...(await embeddingForward(gpu, buf, { ...dims, ...layout })).dispatches,
      ...(await embeddingBackward(gpu, { ...buf, dOut: buf.dX }, {
        uniqueCount: g.uniqueIds.length,
        dim: c.dim,
        vocab: c.vocab,
        ...layout,
      })).dispatches,
    ]);
    const out = await readFloat32(gpu, buf.out, rows * c.stride);
    const block = new Float32Array(rows * c.dim);
    const dBlock = new Float32Array(rows * c.dim);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < c.stride; j++) {
        const inside = j >= c.offset && j < c.offset + c.dim;
        if (inside) block[r * c.dim + j - c.offset] = out[r * c.stride + j];
        if (inside) dBlock[r * c.dim + j - c.offset] = dX[r * c.stride + j];
        else assert.equal(out[r * c.stride + j], 7, `${tag}: column ${j} of row ${r} was touched`);
      }
    }
    assertClose(block, embeddingForwardRef(table, ids, lengths, dims), {
      atol: 0,
      name: `out ${tag}`,
      shape: [rows, c.dim],
    });
    const exact = embeddingBackwardRef(dBlock, ids, lengths, dims);
    const expected = exact.map((v) => v + 0.5);
    assertClose(await readFloat32(gpu, buf.dTable, c.vocab * c.dim), expected, {
      atol: 1e-5 * Math.sqrt(rows),
      rtol: 1e-5,
      name: `dtable ${tag}`,
      shape: [c.vocab, c.dim],
    });
    // Overwrite mode: the batch's rows get the gradient itself, other rows keep the 0.5.
    const stale = createBuffer(gpu, "dtable", new Float32Array(c.vocab * c.dim).fill(0.5));
    submitDispatches(gpu, [
      ...(await embeddingBackward(gpu, { ...buf, dOut: buf.dX, dTable: stale }, {
        uniqueCount: g.uniqueIds.length,
        dim: c.dim,
        vocab: c.vocab,
        ...layout,
        overwrite: true,
      })).dispatches,
    ]);
    const inBatch = new Set([...g.uniqueIds].filter((id) => id >= 0 && id < c.vocab));
    const overwritten = exact.map((v, i) => inBatch.has(Math.floor(i / c.dim)) ? v : 0.5);
    assertClose(await readFloat32(gpu, stale, c.vocab * c.dim), overwritten, {
      atol: 1e-5 * Math.sqrt(rows),
      rtol: 1e-5,
      name: `dtable (overwrite) ${tag}`,
      shape: [c.vocab, c.dim],
    });
  }
});

Deno.test("embedding resize reuses the dispatch for a smaller batch, and B·T = 0 is fine", async () => {
  const gpu = await acquireGpu();
  const table = randomArray(1, 4 * 3);
  const buf = {
    table: createBuffer(gpu, "table", table),
    ids: createBuffer(gpu, "ids", new Int32Array([3, 1, 2, 2, 0, 0])),
    lengths: createBuffer(gpu, "lengths", new Int32Array([2, 1, 3])),
  };
  const out = createBuffer(gpu, "x", new Float32Array(18).fill(7));
  const fwd = await embeddingForward(gpu, { ...buf, out }, { batch: 3, time: 2, dim: 3, vocab: 4 });
  fwd.resize({ batch: 2, time: 1 }); // rows 0 and 1: ids 3 and 1, lengths 2 and 1
  submitDispatches(gpu, fwd.dispatches);
  const got = await readFloat32(gpu, out, 18);
  assertClose(got.subarray(0, 6), [...table.subarray(9, 12), ...table.subarray(3, 6)], {
    atol: 0,
  });
  assert.ok(got.subarray(6).every((v) => v === 7), "rows past the new shape were written");
  fwd.resize({ batch: 0, time: 0 });
  submitDispatches(gpu, fwd.dispatches);
  await readFloat32(gpu, out, 1);
  await assert.rejects(
    () =>
      embeddingForward(gpu, { ...buf, out }, { batch: 1, time: 1, dim: 3, vocab: 4, rowStride: 2 }),
    /rowStride/,
  );
});

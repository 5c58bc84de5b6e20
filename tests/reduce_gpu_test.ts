import assert from "node:assert/strict";
import { acquireGpu, type Gpu } from "../src/gpu/device.ts";
import { createBuffer, readFloat32 } from "../src/gpu/buffers.ts";
import { type Dispatch, submitDispatches } from "../src/gpu/kernel.ts";
import { chunksFor, columnSumSplit, outerSumSplit, splitPlan } from "../src/ops/reduce_gpu.ts";
import { columnSumRef, outerSumRef } from "../src/ops/reduce_gpu_ref.ts";
import { assertClose, randomArray } from "./assert_close.ts";

/**
 * Runs a split-K op (in `=` mode, built for `maxRows` rows) four times and checks that every
 * run writes the bits of the first; then that zero rows write zeros and one row more than
 * `maxRows` is refused.
 */
async function checkRunsAndRows(
  gpu: Gpu,
  op: { dispatches: Dispatch[]; resize(shape: { rows: number }): void },
  out: GPUBuffer,
  maxRows: number,
  what: string,
): Promise<void> {
  submitDispatches(gpu, op.dispatches);
  const first = await readFloat32(gpu, out);
  for (let i = 0; i < 3; i++) {
    submitDispatches(gpu, op.dispatches);
    assert.deepEqual(await readFloat32(gpu, out), first, `run ${i + 2} differs from the first`);
  }
  op.resize({ rows: 0 });
  submitDispatches(gpu, op.dispatches);
  assert.ok((await readFloat32(gpu, out)).every((v) => v === 0), `no rows: ${what} are 0`);
  const refused = new RegExp(`expected 0…${maxRows} rows, got ${maxRows + 1}`);
  assert.throws(() => op.resize({ rows: maxRows + 1 }), refused);
}

Deno.test("splitPlan covers every row once, in at most maxChunks chunks", () => {
  for (const rows of [0, 1, 127, 128, 129, 480, 4000, 100_000]) {
    for (const most of [1, 2, 16]) {
      const { chunks, rowsPerChunk } = splitPlan(rows, most);
      const tag = `rows=${rows} maxChunks=${most}: ${chunks}×${rowsPerChunk}`;
      assert.ok(chunks <= most, tag);
      assert.ok(chunks * rowsPerChunk >= rows, tag);
      if (rows > 0) assert.ok((chunks - 1) * rowsPerChunk < rows, `${tag}: an empty chunk`);
      // The partial-sum buffer sized for the largest M holds every smaller M's chunks.
      assert.ok(chunks <= chunksFor(100_000, most), tag);
    }
  }
  assert.throws(() => splitPlan(-1), /non-negative integer row count, got -1/);
});

Deno.test("column sums by split-K equal the float64 reference", async () => {
  const gpu = await acquireGpu();
  const n = 7; // not a multiple of 4
  for (const [m, maxChunks] of [[1, 16], [129, 16], [1000, 16], [1000, 3], [5000, 1]]) {
    const data = randomArray(m, m * n);
    const x = createBuffer(gpu, "x", data);
    const start = randomArray(m + 1, n);
    const out = createBuffer(gpu, "out", start);
    const out2 = createBuffer(gpu, "out2", start);
    const op = await columnSumSplit(gpu, { x, out, out2 }, { maxRows: m, columns: n, maxChunks });
    assert.equal(op.plan.chunks, splitPlan(m, maxChunks).chunks);
    submitDispatches(gpu, op.dispatches);
    const ref = columnSumRef(data, m, n);
    const expected = Float64Array.from(ref, (v, j) => v + start[j]);
    const tag = `M=${m} chunks=${op.plan.chunks}`;
    assertClose(await readFloat32(gpu, out), expected, { atol: 1e-4, rtol: 1e-5, name: tag });
    assertClose(await readFloat32(gpu, out2), expected, { atol: 1e-4, name: `out2 ${tag}` });
    // `=` mode, resized to fewer rows: only the first rows count.
    const set = await columnSumSplit(gpu, { x, out }, {
      maxRows: m,
      columns: n,
      accumulate: false,
      maxChunks,
    });
    const fewer = Math.ceil(m / 2);
    set.resize({ rows: fewer });
    submitDispatches(gpu, set.dispatches);
    assertClose(await readFloat32(gpu, out), columnSumRef(data, fewer, n), {
      atol: 1e-4,
      rtol: 1e-5,
      name: `= after resize to ${fewer} rows`,
    });
    for (const o of [op, set]) o.destroy();
    for (const b of [x, out, out2]) b.destroy();
  }
});

Deno.test("column sums by split-K are bitwise deterministic, and zero rows give zero", async () => {
  const gpu = await acquireGpu();
  const m = 3000, n = 33;
  const x = createBuffer(gpu, "x", randomArray(5, m * n, -1e3, 1e3));
  const out = createBuffer(gpu, "out", n * 4);
  const op = await columnSumSplit(gpu, { x, out }, { maxRows: m, columns: n, accumulate: false });
  await checkRunsAndRows(gpu, op, out, m, "sums");
  await assert.rejects(
    () => columnSumSplit(gpu, { x, out }, { maxRows: m, columns: 40 }),
    /expected buffer x to hold at least 480000 bytes, found 396000/,
  );
  op.destroy();
  for (const b of [x, out]) b.destroy();
});

Deno.test("the outer-sum reference is xᵀ·y, checked on a hand-computed (2, 1) case", () => {
  // x (3, 2), y (3, 1): out[i, 0] = Σ_r x[r, i] · y[r, 0].
  const out = outerSumRef([1, 2, 3, 4, 5, 6], [1, -1, 2], { m: 3, p: 2, q: 1 });
  assert.deepEqual([...out], [1 - 3 + 10, 2 - 4 + 12]);
});

Deno.test("xᵀ·y over rows by split-K (outer_partial + combine) equals the float64 reference", async () => {
  const gpu = await acquireGpu();
  // P·Q = 9·20 = 180 (one workgroup), 5·70 = 350 (two, the last partly idle).
  const cases = [[1, 9, 20, 16], [129, 9, 20, 16], [1000, 5, 70, 16], [1000, 9, 20, 3], [
    700,
    3,
    7,
    1,
  ]];
  for (const [m, p, q, maxChunks] of cases) {
    const xs = randomArray(m, m * p);
    const ys = randomArray(m + 7, m * q);
    const start = randomArray(m + 1, p * q);
    const x = createBuffer(gpu, "x", xs);
    const y = createBuffer(gpu, "y", ys);
    const out = createBuffer(gpu, "out", start);
    const op = await outerSumSplit(gpu, { x, y, out }, {
      maxRows: m,
      left: p,
      right: q,
      maxChunks,
    });
    assert.equal(op.plan.chunks, splitPlan(m, maxChunks).chunks);
    submitDispatches(gpu, op.dispatches);
    const ref = outerSumRef(xs, ys, { m, p, q });
    const tag = `M=${m} P=${p} Q=${q} chunks=${op.plan.chunks}`;
    const tol = { atol: 1e-5 * Math.sqrt(m), rtol: 1e-5 };
    assertClose(await readFloat32(gpu, out), Float64Array.from(ref, (v, i) => v + start[i]), {
      ...tol,
      name: `+= ${tag}`,
      shape: [p, q],
    });
    // `=` mode, resized to fewer rows: only the first rows count.
    const set = await outerSumSplit(gpu, { x, y, out }, {
      maxRows: m,
      left: p,
      right: q,
      accumulate: false,
      maxChunks,
    });
    const fewer = Math.ceil(m / 3);
    set.resize({ rows: fewer });
    submitDispatches(gpu, set.dispatches);
    assertClose(await readFloat32(gpu, out), outerSumRef(xs, ys, { m: fewer, p, q }), {
      ...tol,
      name: `= after resize to ${fewer} rows, ${tag}`,
      shape: [p, q],
    });
    for (const o of [op, set]) o.destroy();
    for (const b of [x, y, out]) b.destroy();
  }
});

Deno.test("xᵀ·y by split-K is bitwise deterministic; zero rows give zero; inputs validated", async () => {
  const gpu = await acquireGpu();
  const m = 3000, p = 9, q = 40;
  const x = createBuffer(gpu, "x", randomArray(8, m * p, -1e3, 1e3));
  const y = createBuffer(gpu, "y", randomArray(9, m * q, -1e3, 1e3));
  const out = createBuffer(gpu, "out", p * q * 4);
  const op = await outerSumSplit(gpu, { x, y, out }, {
    maxRows: m,
    left: p,
    right: q,
    accumulate: false,
  });
  assert.equal(op.plan.chunks, 16);
  await checkRunsAndRows(gpu, op, out, m, "products");
  await assert.rejects(
    () => outerSumSplit(gpu, { x, y, out }, { maxRows: m, left: p, right: 41 }),
    /expected buffer y to hold at least 492000 bytes, found 480000/,
  );
  await assert.rejects(
    () => outerSumSplit(gpu, { x, y, out }, { maxRows: m, left: 0, right: q }),
    /expected left to be a positive integer, got 0/,
  );
  op.destroy();
  for (const b of [x, y, out]) b.destroy();
});

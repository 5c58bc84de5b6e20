import assert from "node:assert/strict";
import { acquireGpu } from "../src/gpu/device.ts";
import { createBuffer, readFloat32 } from "../src/gpu/buffers.ts";
import { submitDispatches } from "../src/gpu/kernel.ts";
import { chunksFor, columnSumSplit, splitPlan } from "../src/ops/reduce_gpu.ts";
import { columnSumRef } from "../src/ops/reduce_gpu_ref.ts";
import { assertClose, randomArray } from "./assert_close.ts";

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
  submitDispatches(gpu, op.dispatches);
  const first = await readFloat32(gpu, out);
  for (let i = 0; i < 3; i++) {
    submitDispatches(gpu, op.dispatches);
    assert.deepEqual(await readFloat32(gpu, out), first, `run ${i + 2} differs from the first`);
  }
  op.resize({ rows: 0 });
  submitDispatches(gpu, op.dispatches);
  assert.ok((await readFloat32(gpu, out)).every((v) => v === 0), "no rows: sums are 0");
  assert.throws(() => op.resize({ rows: m + 1 }), /expected 0…3000 rows, got 3001/);
  await assert.rejects(
    () => columnSumSplit(gpu, { x, out }, { maxRows: m, columns: 40 }),
    /expected buffer x to hold at least 480000 bytes, found 396000/,
  );
  op.destroy();
  for (const b of [x, out]) b.destroy();
});

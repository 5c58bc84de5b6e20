import assert from "node:assert/strict";
import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../src/gpu/mod.ts";
import { parameterAverage } from "../src/ops/average.ts";
import { averageStepRef } from "../src/ops/average_ref.ts";
import { assertClose, randomArray } from "./assert_close.ts";

Deno.test("averaging reference: every-k updates match per-step decay on a constant", () => {
  // With constant parameters, k steps of decay d equal one update of weight 1 − d^k.
  const perStep = Float64Array.of(0);
  for (let i = 0; i < 6; i++) averageStepRef(perStep, [1], 1 - 0.9);
  const grouped = Float64Array.of(0);
  for (let i = 0; i < 2; i++) averageStepRef(grouped, [1], 1 - 0.9 ** 3);
  assertClose(grouped, perStep, { atol: 1e-15, name: "average" });
  assertClose(perStep, [1 - 0.9 ** 6], { atol: 1e-15, name: "closed form" });
});

Deno.test("averaging update equals the float64 reference; swap exchanges and undoes", async () => {
  const gpu = await acquireGpu();
  // 4 floats, one workgroup's worth, and a size needing several workgroups with a ragged end.
  for (const size of [4, 1028, 64 * 2 * 4 * 3 + 12]) {
    const p = randomArray(11 + size, size);
    const a0 = randomArray(7 + size, size);
    const params = createBuffer(gpu, "params", p);
    const average = createBuffer(gpu, "average", a0);
    const avg = await parameterAverage(gpu, { params, average }, { size });
    const expected = Float64Array.from(a0);
    for (const weight of [0.3, 0.01, 1]) {
      avg.setWeight(weight);
      submitDispatches(gpu, [avg.update]);
      averageStepRef(expected, p, weight);
    }
    assertClose(await readFloat32(gpu, average, size), expected, {
      atol: 1e-6,
      name: `average (P=${size})`,
    });
    assert.deepEqual([...await readFloat32(gpu, params, size)], [...p], "params untouched");
    // The last weight was 1: the average now equals the parameters; set a distinct one to swap.
    avg.setWeight(0.5);
    submitDispatches(gpu, [avg.update]);
    const before = await readFloat32(gpu, average, size);
    submitDispatches(gpu, [avg.swap]);
    assert.deepEqual([...await readFloat32(gpu, params, size)], [...before], "params ← average");
    assert.deepEqual([...await readFloat32(gpu, average, size)], [...p], "average ← params");
    submitDispatches(gpu, [avg.swap]);
    assert.deepEqual([...await readFloat32(gpu, params, size)], [...p], "swapped back");
  }
});

Deno.test("averaging rejects sizes and weights it cannot use", async () => {
  const gpu = await acquireGpu();
  const b = createBuffer(gpu, "b", 64);
  await assert.rejects(
    parameterAverage(gpu, { params: b, average: b }, { size: 6 }),
    /multiple of 4/,
  );
  await assert.rejects(
    parameterAverage(gpu, { params: b, average: b }, { size: 32 }),
    /expected ≥ 32/,
  );
  const avg = await parameterAverage(gpu, { params: b, average: createBuffer(gpu, "a", 64) }, {
    size: 16,
  });
  assert.throws(() => avg.setWeight(1.5), /weight must be in \[0, 1\]/);
});

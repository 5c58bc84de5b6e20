import assert from "node:assert/strict";
import {
  acquireGpu,
  createBuffer,
  type Gpu,
  readFloat32,
  readInt32,
  submitDispatches,
} from "../src/gpu/mod.ts";
import type { CrfShape } from "../src/ops/crf_ref.ts";
import { resetLoss, softmaxPredict, softmaxXentLoss } from "../src/ops/softmax_xent.ts";
import {
  type SoftmaxBatch,
  softmaxPredictRef,
  softmaxXentBackwardRef,
  softmaxXentRef,
} from "../src/ops/softmax_xent_ref.ts";
import { assertClose, numericGradient, randomArray } from "./assert_close.ts";
import {
  destroyAll,
  randomSoftmaxBatch as randomBatch,
  SEQUENCE_CASES,
  uploadBatch,
} from "./fixtures.ts";

Deno.test("softmax cross-entropy reference backward equals finite differences of Σ loss·dLoss", () => {
  const shape = { batch: 3, time: 4, tags: 5 };
  const batch = randomBatch(3, shape, [4, 1, 0]);
  const dLoss = randomArray(9, 12);
  const d = softmaxXentBackwardRef(batch, shape, dLoss);
  const f = (x: Float64Array) =>
    softmaxXentRef({ ...batch, emissions: x }, shape).reduce((a, v, i) => a + v * dLoss[i], 0);
  assertClose(d, numericGradient(f, batch.emissions), {
    atol: 1e-7,
    rtol: 1e-6,
    name: "dEmissions",
  });
});

async function runLoss(gpu: Gpu, batch: Required<SoftmaxBatch>, shape: CrfShape, scale: number) {
  const { batch: B, time: T, tags: K } = shape;
  const buf = {
    ...uploadBatch(gpu, batch),
    dEmissions: createBuffer(gpu, "dEmissions", new Float32Array(B * T * K).fill(9)),
    tokenLoss: createBuffer(gpu, "tokenLoss", new Float32Array(B * T).fill(9)),
    loss: createBuffer(gpu, "loss", new Float32Array([0.25])),
  };
  const op = await softmaxXentLoss(gpu, buf, { ...shape, lossScale: scale });
  submitDispatches(gpu, op.dispatches);
  const out = {
    dEmissions: await readFloat32(gpu, buf.dEmissions, B * T * K),
    tokenLoss: await readFloat32(gpu, buf.tokenLoss, B * T),
    loss: (await readFloat32(gpu, buf.loss, 1))[0] - 0.25,
  };
  destroyAll(buf);
  return out;
}

Deno.test("softmax cross-entropy on the GPU equals the reference (K=3, 9; B=1, 5; T=1, 7; padding)", async () => {
  const gpu = await acquireGpu();
  let seed = 20;
  for (const K of [3, 9]) {
    for (
      const [B, T, lengths] of [
        ...SEQUENCE_CASES,
        [3, 150, [150, 3, 149]] as [number, number, number[]],
      ]
    ) {
      const shape = { batch: B, time: T, tags: K };
      const batch = randomBatch(seed++, shape, lengths);
      const tokens = lengths.reduce((a, v) => a + v, 0);
      const scale = 1 / tokens;
      const got = await runLoss(gpu, batch, shape, scale);
      const tag = `K=${K} B=${B} T=${T}`;
      const loss = softmaxXentRef(batch, shape);
      assertClose(got.tokenLoss, loss, { name: `token loss ${tag}`, shape: [B, T] });
      assertClose(
        got.dEmissions,
        softmaxXentBackwardRef(batch, shape, new Array(B * T).fill(scale)),
        { atol: 1e-6, name: `dEmissions ${tag}`, shape: [B, T, K] },
      );
      assertClose([got.loss], [loss.reduce((a, v) => a + v, 0) * scale], { name: `loss ${tag}` });
    }
  }
});

Deno.test("softmax loss: resize grows scratch, setLossScale and resetLoss work, runs are bit-identical", async () => {
  const gpu = await acquireGpu();
  const shape = { batch: 40, time: 9, tags: 4 };
  const lengths = Array.from({ length: 40 }, (_, b) => b % 10);
  const batch = randomBatch(4, shape, lengths);
  const buf = {
    ...uploadBatch(gpu, batch),
    dEmissions: createBuffer(gpu, "dEmissions", 40 * 9 * 4 * 4),
    loss: createBuffer(gpu, "loss", 4),
  };
  const op = await softmaxXentLoss(gpu, buf, { batch: 1, time: 1, tags: 4 });
  op.resize(shape);
  op.setLossScale(2);
  submitDispatches(gpu, op.dispatches);
  const total = softmaxXentRef(batch, shape).reduce((a, v) => a + v, 0);
  const first = await readFloat32(gpu, buf.loss, 1);
  assertClose(first, [2 * total], { rtol: 1e-5, name: "loss after resize" });
  submitDispatches(gpu, op.dispatches);
  assert.equal((await readFloat32(gpu, buf.loss, 1))[0], first[0] * 2, "second step adds the same");
  resetLoss(gpu, buf.loss);
  op.setLossScale(1);
  submitDispatches(gpu, op.dispatches);
  assertClose(await readFloat32(gpu, buf.loss, 1), [total], { rtol: 1e-5, name: "after reset" });
  destroyAll(buf);
});

Deno.test("softmax prediction on the GPU equals the reference argmax and probabilities", async () => {
  const gpu = await acquireGpu();
  let seed = 60;
  for (
    const [K, B, T, lengths] of [[3, 1, 1, [1]], [9, 5, 7, [7, 1, 4, 0, 6]]] as [
      number,
      number,
      number,
      number[],
    ][]
  ) {
    const shape = { batch: B, time: T, tags: K };
    const batch = randomBatch(seed++, shape, lengths);
    const { tags: _, ...inputs } = batch;
    const buf = {
      ...uploadBatch(gpu, inputs),
      prediction: createBuffer(gpu, "prediction", new Int32Array(B * T).fill(5)),
      probabilities: createBuffer(gpu, "probabilities", new Float32Array(B * T * K).fill(5)),
    };
    submitDispatches(gpu, (await softmaxPredict(gpu, buf, shape)).dispatches);
    const ref = softmaxPredictRef(batch, shape);
    assert.deepEqual(await readInt32(gpu, buf.prediction, B * T), ref.prediction);
    assertClose(await readFloat32(gpu, buf.probabilities, B * T * K), ref.probabilities, {
      atol: 1e-6,
      name: `probabilities K=${K}`,
    });
    destroyAll(buf);
  }
});

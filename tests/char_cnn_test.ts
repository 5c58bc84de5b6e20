import assert from "node:assert/strict";
import {
  acquireGpu,
  createBuffer,
  readFloat32,
  readInt32,
  submitDispatches,
} from "../src/gpu/mod.ts";
import { charCnnBackward, charCnnForward, groupCharIds } from "../src/ops/char_cnn.ts";
import {
  charCnnBackwardRef,
  charCnnForwardRef,
  type CharCnnRefDims,
  type CharCnnRefInputs,
} from "../src/ops/char_cnn_ref.ts";
import { assertClose, numericGradient, randomArray } from "./assert_close.ts";
import { sumProduct } from "./fixtures.ts";

/** A random batch: words of 0..Lc characters (ids 1..C−1, 0 = pad past the word). */
function randomBatch(seed: number, dims: CharCnnRefDims, lengths: number[]): CharCnnRefInputs {
  const rows = dims.batch * dims.time;
  const charLengths = Int32Array.from(
    randomArray(seed, rows, 0, dims.chars + 1),
    (v, r) => r % dims.time < lengths[Math.floor(r / dims.time)] ? Math.floor(v) : 0,
  );
  const ids = randomArray(seed + 1, rows * dims.chars, 1, dims.charVocab);
  const charIds = Int32Array.from(
    ids,
    (v, p) => p % dims.chars < charLengths[Math.floor(p / dims.chars)] ? Math.floor(v) : 0,
  );
  return {
    table: randomArray(seed + 2, dims.charVocab * dims.charDim),
    weight: randomArray(seed + 3, dims.filters * dims.charDim * 3),
    bias: randomArray(seed + 4, dims.filters),
    charIds,
    charLengths,
    lengths: Int32Array.from(lengths),
  };
}

Deno.test("char CNN reference backward equals finite differences of sum(out·dout)", () => {
  const dims = { batch: 2, time: 3, chars: 5, charDim: 3, filters: 4, charVocab: 6 };
  const x = randomBatch(1, dims, [3, 2]);
  const dOut = randomArray(9, dims.batch * dims.time * dims.filters);
  const g = charCnnBackwardRef(x, dOut, dims);
  const loss = (over: Partial<CharCnnRefInputs>) =>
    sumProduct(charCnnForwardRef({ ...x, ...over }, dims).out, dOut);
  assertClose(g.dTable, numericGradient((table) => loss({ table }), x.table), {
    atol: 1e-7,
    name: "dtable",
  });
  assertClose(g.dWeight, numericGradient((weight) => loss({ weight }), x.weight), {
    atol: 1e-7,
    name: "dweight",
  });
  assertClose(g.dBias, numericGradient((bias) => loss({ bias }), x.bias), {
    atol: 1e-7,
    name: "dbias",
  });
  // The gradient is not trivially zero: every parameter kind moved.
  for (const v of [g.dTable, g.dWeight, g.dBias]) assert.ok(v.some((e) => Math.abs(e) > 1e-3));
});

Deno.test("char CNN forward and backward on the GPU equal the reference", async () => {
  const gpu = await acquireGpu();
  const cases = [
    { batch: 1, time: 1, chars: 1, charDim: 1, filters: 1, charVocab: 2, lengths: [1], stride: 1 },
    {
      batch: 5,
      time: 7,
      chars: 6,
      charDim: 5,
      filters: 9,
      charVocab: 11,
      lengths: [7, 0, 3, 1, 5],
    },
    { batch: 3, time: 4, chars: 20, charDim: 30, filters: 50, charVocab: 40, lengths: [4, 2, 3] },
    // Long sentences (llvmpipe's loop trap) and the longest words the kernels allow.
    // (B·T = 750 > 512: several tokens per invocation in the projected forward.)
    {
      batch: 5,
      time: 150,
      chars: 64,
      charDim: 7,
      filters: 3,
      charVocab: 9,
      lengths: [150, 97, 150, 3, 120],
    },
    // The default model's shape (multiples of 4).
    { batch: 3, time: 5, chars: 16, charDim: 32, filters: 48, charVocab: 30, lengths: [5, 1, 4] },
    // A vocabulary past the projected forward's limit: the default picks the direct one.
    { batch: 2, time: 3, chars: 5, charDim: 3, filters: 6, charVocab: 1100, lengths: [3, 2] },
  ];
  let seed = 20;
  const variants = [undefined, "direct"] as const;
  for (const [c, variant] of cases.flatMap((c) => variants.map((v) => [c, v] as const))) {
    const dims: CharCnnRefDims = c;
    const rows = c.batch * c.time;
    const stride = c.stride ?? c.filters + 5;
    const offset = stride - c.filters - (c.stride ? 0 : 2);
    const tag = `B=${c.batch} T=${c.time} Lc=${c.chars} Dc=${c.charDim} F=${c.filters} ${
      variant ?? "default"
    }`;
    const x = randomBatch(seed, dims, c.lengths);
    seed += 10;
    // An unknown id past the vocabulary embeds as a zero vector.
    if (x.charLengths[0] > 0) (x.charIds as Int32Array)[0] = c.charVocab + 2;
    const dX = randomArray(seed++, rows * stride);
    const dOut = new Float64Array(rows * c.filters);
    for (let r = 0; r < rows; r++) {
      for (let f = 0; f < c.filters; f++) dOut[r * c.filters + f] = dX[r * stride + offset + f];
    }
    const groups = groupCharIds(x.charIds, x.charLengths, x.lengths, c);
    const f32 = (a: ArrayLike<number>) => Float32Array.from(a);
    const buf = {
      charIds: createBuffer(gpu, "char ids", Int32Array.from(x.charIds)),
      charLengths: createBuffer(gpu, "char lengths", Int32Array.from(x.charLengths)),
      lengths: createBuffer(gpu, "lengths", Int32Array.from(x.lengths)),
      table: createBuffer(gpu, "table", f32(x.table)),
      weight: createBuffer(gpu, "weight", f32(x.weight)),
      bias: createBuffer(gpu, "bias", f32(x.bias)),
      out: createBuffer(gpu, "x", new Float32Array(rows * stride).fill(7)),
      argmax: createBuffer(gpu, "argmax", rows * c.filters * 4),
      dOut: createBuffer(gpu, "dx", dX),
      uniqueIds: createBuffer(gpu, "u", groups.uniqueIds),
      offsets: createBuffer(gpu, "o", groups.offsets),
      positions: createBuffer(gpu, "p", groups.positions),
      dTable: createBuffer(gpu, "dtable", new Float32Array(c.charVocab * c.charDim).fill(0.5)),
      dWeight: createBuffer(gpu, "dweight", new Float32Array(c.filters * c.charDim * 3).fill(0.5)),
      dBias: createBuffer(gpu, "dbias", new Float32Array(c.filters).fill(0.5)),
    };
    const gpuDims = { ...dims, rowStride: stride, columnOffset: offset };
    submitDispatches(gpu, [
      ...(await charCnnForward(gpu, buf, { ...gpuDims, variant })).dispatches,
      ...(await charCnnBackward(gpu, buf, {
        ...gpuDims,
        uniqueCount: groups.uniqueIds.length,
      })).dispatches,
    ]);
    const ref = charCnnForwardRef(x, dims);
    const out = await readFloat32(gpu, buf.out, rows * stride);
    const block = new Float32Array(rows * c.filters);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < stride; j++) {
        const f = j - offset;
        if (f >= 0 && f < c.filters) block[r * c.filters + f] = out[r * stride + j];
        else assert.equal(out[r * stride + j], 7, `${tag}: column ${j} of row ${r} was touched`);
      }
    }
    const tol = { atol: 2e-5 * Math.sqrt(c.charDim), rtol: 1e-5 };
    assertClose(block, ref.out, { ...tol, name: `out ${tag}`, shape: [rows, c.filters] });
    assert.deepEqual(
      [...await readInt32(gpu, buf.argmax, rows * c.filters)],
      [...ref.argmax],
      `argmax ${tag}`,
    );
    const g = charCnnBackwardRef(x, dOut, dims);
    const gtol = { atol: 2e-5 * Math.sqrt(rows), rtol: 1e-4 };
    assertClose(
      await readFloat32(gpu, buf.dTable, c.charVocab * c.charDim),
      g.dTable.map((v) => v + 0.5),
      { ...gtol, name: `dtable ${tag}`, shape: [c.charVocab, c.charDim] },
    );
    assertClose(
      await readFloat32(gpu, buf.dWeight, c.filters * c.charDim * 3),
      g.dWeight.map((v) => v + 0.5),
      { ...gtol, name: `dweight ${tag}`, shape: [c.filters, c.charDim, 3] },
    );
    assertClose(await readFloat32(gpu, buf.dBias, c.filters), g.dBias.map((v) => v + 0.5), {
      ...gtol,
      name: `dbias ${tag}`,
    });
  }
});

Deno.test("char CNN resize: a built graph serves a smaller batch; limits are enforced", async () => {
  const gpu = await acquireGpu();
  const big = { batch: 4, time: 6, chars: 8, charDim: 5, filters: 6, charVocab: 7 };
  const small = { ...big, batch: 3, time: 2, chars: 5 };
  const x = randomBatch(77, small, [2, 1, 2]);
  const rowsBig = big.batch * big.time;
  const groups = groupCharIds(x.charIds, x.charLengths, x.lengths, small);
  const cap = (n: number) => new Int32Array(n);
  const buf = {
    charIds: createBuffer(gpu, "char ids", cap(rowsBig * big.chars)),
    charLengths: createBuffer(gpu, "char lengths", cap(rowsBig)),
    lengths: createBuffer(gpu, "lengths", cap(big.batch)),
    table: createBuffer(gpu, "table", Float32Array.from(x.table)),
    weight: createBuffer(gpu, "weight", Float32Array.from(x.weight)),
    bias: createBuffer(gpu, "bias", Float32Array.from(x.bias)),
    out: createBuffer(gpu, "x", rowsBig * big.filters * 4),
    argmax: createBuffer(gpu, "argmax", rowsBig * big.filters * 4),
    dOut: createBuffer(gpu, "dx", randomArray(5, rowsBig * big.filters)),
    uniqueIds: createBuffer(gpu, "u", cap(64)),
    offsets: createBuffer(gpu, "o", cap(65)),
    positions: createBuffer(gpu, "p", cap(rowsBig * big.chars)),
    dTable: createBuffer(gpu, "dtable", big.charVocab * big.charDim * 4),
    dWeight: createBuffer(gpu, "dweight", big.filters * big.charDim * 12),
    dBias: createBuffer(gpu, "dbias", big.filters * 4),
  };
  const fwd = await charCnnForward(gpu, buf, big);
  const bwd = await charCnnBackward(gpu, buf, { ...big, uniqueCount: 64 });
  for (
    const [target, data] of [
      [buf.charIds, x.charIds],
      [buf.charLengths, x.charLengths],
      [buf.lengths, x.lengths],
      [buf.uniqueIds, groups.uniqueIds],
      [buf.offsets, groups.offsets],
      [buf.positions, groups.positions],
    ] as const
  ) gpu.queue.writeBuffer(target, 0, Int32Array.from(data));
  fwd.resize(small);
  bwd.resize({ ...small, uniqueCount: groups.uniqueIds.length });
  submitDispatches(gpu, [...fwd.dispatches, ...bwd.dispatches]);
  const rows = small.batch * small.time;
  const ref = charCnnForwardRef(x, small);
  assertClose(await readFloat32(gpu, buf.out, rows * small.filters), ref.out, {
    atol: 1e-5,
    name: "out after resize",
  });
  const dOut = (await readFloat32(gpu, buf.dOut)).subarray(0, rows * small.filters);
  const g = charCnnBackwardRef(x, dOut, small);
  assertClose(await readFloat32(gpu, buf.dWeight, g.dWeight.length), g.dWeight, {
    atol: 1e-5,
    name: "dweight after resize",
  });
  assertClose(await readFloat32(gpu, buf.dTable, g.dTable.length), g.dTable, {
    atol: 1e-5,
    name: "dtable after resize",
  });
  assert.throws(() => bwd.resize({ ...big, chars: 9, uniqueCount: 1 }), /capacity/);
  assert.throws(() => fwd.resize({ ...big, chars: 65 }), /chars/);
  await assert.rejects(() => charCnnForward(gpu, buf, { ...big, filters: 300 }), /filters/);
  await assert.rejects(
    () => charCnnForward(gpu, buf, { ...big, charVocab: 1025, variant: "projected" }),
    /charVocab/,
  );
  // The scratch is sized for the build's distinct ids (≤ its positions, in slices of 4,096).
  assert.throws(() => bwd.resize({ ...big, uniqueCount: 4097 }), /uniqueCount/);
});

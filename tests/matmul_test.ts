import assert from "node:assert/strict";
import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../src/gpu/mod.ts";
import { matmulBackward, matmulForward, vec4Applies } from "../src/ops/matmul.ts";
import { matmulBackwardRef, type MatmulDims, matmulRef } from "../src/ops/matmul_ref.ts";
import { assertClose, numericGradient, randomArray } from "./assert_close.ts";
import { sumProduct } from "./fixtures.ts";

const shapes: [number, number, number][] = [[1, 1, 1], [7, 13, 5], [64, 100, 400], [12, 8, 4], [
  68,
  36,
  20,
]];
const transposes = [[false, false], [true, false], [false, true], [true, true]];

Deno.test("matmul reference backward equals finite differences of sum(C·dC)", () => {
  for (const [transA, transB] of transposes) {
    const dims: MatmulDims = { m: 3, n: 4, k: 5, transA, transB };
    const a = randomArray(1, 15);
    const b = randomArray(2, 20);
    const bias = randomArray(3, 4);
    const dC = randomArray(4, 12);
    const g = matmulBackwardRef(a, b, dC, dims);
    const tag = `transA=${transA} transB=${transB}`;
    assertClose(g.dA, numericGradient((x) => sumProduct(matmulRef(x, b, dims, bias), dC), a), {
      name: `dA ${tag}`,
      atol: 1e-7,
    });
    assertClose(g.dB, numericGradient((x) => sumProduct(matmulRef(a, x, dims, bias), dC), b), {
      name: `dB ${tag}`,
      atol: 1e-7,
    });
    assertClose(g.dBias, numericGradient((x) => sumProduct(matmulRef(a, b, dims, x), dC), bias), {
      name: `dbias ${tag}`,
      atol: 1e-7,
    });
  }
});

Deno.test("matmul forward and backward on the GPU equal the float64 reference", async () => {
  const gpu = await acquireGpu();
  let seed = 10;
  for (const [m, n, k] of shapes) {
    for (const [transA, transB] of transposes) {
      for (const variant of ["scalar", "vec4"] as const) {
        const dims: MatmulDims = { m, n, k, transA, transB };
        if (variant === "vec4" && !vec4Applies(dims)) continue;
        const tag = `${variant} ${m}×${n}×${k} transA=${transA} transB=${transB}`;
        const a = randomArray(seed++, m * k);
        const b = randomArray(seed++, k * n);
        const bias = randomArray(seed++, n);
        const dC = randomArray(seed++, m * n);
        const buf = {
          a: createBuffer(gpu, "a", a),
          b: createBuffer(gpu, "b", b),
          bias: createBuffer(gpu, "bias", bias),
          dC: createBuffer(gpu, "dC", dC),
          c: createBuffer(gpu, "c", m * n * 4),
          dA: createBuffer(gpu, "dA", m * k * 4),
          dB: createBuffer(gpu, "dB", k * n * 4),
          dBias: createBuffer(gpu, "dBias", n * 4),
        };
        submitDispatches(gpu, [
          ...(await matmulForward(gpu, buf, { ...dims, variant })).dispatches,
          // The backward's shapes differ from the forward's: auto picks vec4 where they allow it.
          ...(await matmulBackward(gpu, buf, {
            ...dims,
            ...(variant === "scalar" ? { variant } : {}),
          }))
            .dispatches,
        ]);
        const ref = matmulBackwardRef(a, b, dC, dims);
        const tol = { atol: 1e-5 * Math.sqrt(k), rtol: 1e-4 };
        assertClose(await readFloat32(gpu, buf.c, m * n), matmulRef(a, b, dims, bias), {
          ...tol,
          name: `C ${tag}`,
          shape: [m, n],
        });
        assertClose(await readFloat32(gpu, buf.dA, m * k), ref.dA, { ...tol, name: `dA ${tag}` });
        assertClose(await readFloat32(gpu, buf.dB, k * n), ref.dB, { ...tol, name: `dB ${tag}` });
        assertClose(await readFloat32(gpu, buf.dBias, n), ref.dBias, {
          atol: 1e-5 * Math.sqrt(m),
          name: `dbias ${tag}`,
        });
        for (const buffer of Object.values(buf)) buffer.destroy();
      }
    }
  }
});

Deno.test("matmul picks the vec4 kernel for aligned shapes and the scalar one otherwise", async () => {
  const gpu = await acquireGpu();
  const [a, b, c] = [64, 64, 64].map((n) => createBuffer(gpu, "x", n * 4));
  const mm = await matmulForward(gpu, { a, b, c }, { m: 4, n: 4, k: 4 });
  assert.equal(mm.variant, "vec4");
  mm.resize({ m: 4, n: 4, k: 3 });
  assert.equal(mm.variant, "scalar");
  assert.deepEqual(mm.dispatches[0].workgroups, [1, 1, 1]);
});

Deno.test("matmul accumulates with += and resizes for a new row count", async () => {
  const gpu = await acquireGpu();
  const a = randomArray(1, 9 * 6);
  const b = randomArray(2, 6 * 5);
  const c0 = randomArray(3, 9 * 5);
  const bufA = createBuffer(gpu, "a", a);
  const bufB = createBuffer(gpu, "b", b);
  const bufC = createBuffer(gpu, "c", c0);
  const mm = await matmulForward(gpu, { a: bufA, b: bufB, c: bufC }, {
    m: 9,
    n: 5,
    k: 6,
    accumulate: true,
  });
  mm.resize({ m: 4, n: 5, k: 6 }); // only the first 4 rows
  submitDispatches(gpu, mm.dispatches);
  const expected = Float64Array.from(c0);
  const product = matmulRef(a, b, { m: 4, n: 5, k: 6 });
  for (let i = 0; i < product.length; i++) expected[i] += product[i];
  assertClose(await readFloat32(gpu, bufC, 45), expected, { name: "C += A·B (4 of 9 rows)" });
});

Deno.test("matmul backward with splitK (dB, dbias over the rows by split-K) equals the reference", async () => {
  const gpu = await acquireGpu();
  let seed = 100;
  // m = 300 rows: 3 chunks of 100; = and += into the gradients; B stored both ways.
  for (const transB of [false, true]) {
    for (const accumulate of [false, true]) {
      const dims: MatmulDims = { m: 300, n: 9, k: 20, transB };
      const { m, n, k } = dims;
      const tag = `transB=${transB} accumulate=${accumulate}`;
      const [a, b, dC] = [m * k, k * n, m * n].map((len) => randomArray(seed++, len));
      const [dA0, dB0, dBias0] = [m * k, k * n, n].map((len) => randomArray(seed++, len));
      const buf = {
        a: createBuffer(gpu, "a", a),
        b: createBuffer(gpu, "b", b),
        dC: createBuffer(gpu, "dC", dC),
        dA: createBuffer(gpu, "dA", dA0),
        dB: createBuffer(gpu, "dB", dB0),
        dBias: createBuffer(gpu, "dBias", dBias0),
      };
      const back = await matmulBackward(gpu, buf, { ...dims, accumulate, splitK: true });
      const kernels = back.dispatches.map((d) => d.label);
      assert.deepEqual(kernels.slice(1), [
        "matmul dB partial",
        "matmul dB combine",
        "matmul dbias partial",
        "matmul dbias combine",
      ]);
      submitDispatches(gpu, back.dispatches);
      const ref = matmulBackwardRef(a, b, dC, dims);
      const plus = (r: Float64Array, start: Float32Array) =>
        accumulate ? Float64Array.from(r, (v, i) => v + start[i]) : r;
      const tol = { atol: 1e-5 * Math.sqrt(m), rtol: 1e-4 };
      assertClose(await readFloat32(gpu, buf.dA), plus(ref.dA, dA0), { ...tol, name: `dA ${tag}` });
      const dB = await readFloat32(gpu, buf.dB);
      assertClose(dB, plus(ref.dB, dB0), { ...tol, name: `dB ${tag}` });
      assertClose(await readFloat32(gpu, buf.dBias), plus(ref.dBias, dBias0), {
        ...tol,
        name: `dbias ${tag}`,
      });
      if (!accumulate) {
        // The same inputs give the same bits; fewer rows count only the first ones.
        submitDispatches(gpu, back.dispatches);
        assert.deepEqual(await readFloat32(gpu, buf.dB), dB, `dB ${tag}: a second run differs`);
        back.resize({ m: 7, n, k });
        submitDispatches(gpu, back.dispatches);
        const few = matmulBackwardRef(a.subarray(0, 7 * k), b, dC.subarray(0, 7 * n), {
          ...dims,
          m: 7,
        });
        assertClose(await readFloat32(gpu, buf.dB), few.dB, { ...tol, name: `dB 7 rows ${tag}` });
        assertClose(await readFloat32(gpu, buf.dBias), few.dBias, { ...tol, name: `dbias 7 rows` });
        assert.throws(
          () => back.resize({ m: 7, n: 8, k }),
          /resize m only; expected n = 9, k = 20/,
        );
      }
      for (const buffer of Object.values(buf)) buffer.destroy();
    }
  }
  await assert.rejects(
    () => {
      const x = createBuffer(gpu, "x", 64);
      return matmulBackward(gpu, { a: x, b: x, dC: x, dB: x }, {
        m: 2,
        n: 2,
        k: 2,
        transA: true,
        splitK: true,
      });
    },
    /split-K gradients need A untransposed/,
  );
});

/**
 * Test helpers shared by every op's test: the GPU-vs-reference comparison,
 * seeded random tensors, and central finite differences.
 *
 * @module
 */

/** Tolerances and the tensor's name for {@linkcode assertClose}. */
export interface CloseOptions {
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance (default 1e-4). */
  rtol?: number;
  /** Tensor name for the failure message. */
  name?: string;
  /** Shape, to print multi-dimensional indices (default: flat). */
  shape?: number[];
}

function unravel(index: number, shape?: number[]): string {
  if (!shape || shape.length < 2) return `[${index}]`;
  const out: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    out.unshift(index % shape[d]);
    index = Math.floor(index / shape[d]);
  }
  return `[${out.join(", ")}]`;
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise. A NaN
 * on either side is a mismatch (NaN against NaN too: a NaN in a reference
 * is a bug to find, not a value to match); infinities pass only against
 * the same infinity. On failure the message names the tensor, the count
 * and first few mismatching indices, and the largest error.
 *
 * @param actual values under test (e.g. read back from the GPU)
 * @param expected reference values (e.g. float64)
 * @param options tolerances, name, shape
 *
 * @example
 * ```ts
 * import { assertClose } from "./assert_close.ts";
 * assertClose([1, 2.000001], [1, 2], { name: "x" });
 * ```
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  options: CloseOptions = {},
): void {
  const { atol = 1e-5, rtol = 1e-4, name = "tensor", shape } = options;
  if (actual.length !== expected.length) {
    throw new Error(`${name}: expected ${expected.length} values, got ${actual.length}`);
  }
  const bad: number[] = [];
  let worst = -1;
  let worstError = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const error = Math.abs(a - e);
    // NaN never passes (not even against NaN); an infinity passes only against itself
    // (else −∞ vs +∞ would pass: ∞ ≤ atol + rtol·∞).
    const ok = a === e || (Number.isFinite(error) && error <= atol + rtol * Math.abs(e));
    if (!ok) {
      bad.push(i);
      if (!(error <= worstError)) {
        worstError = error;
        worst = i;
      }
    }
  }
  if (bad.length === 0) return;
  const first = bad.slice(0, 5).map((i) =>
    `${unravel(i, shape)}: got ${actual[i]}, expected ${expected[i]}`
  );
  throw new Error(
    `${name}: ${bad.length} of ${actual.length} values differ beyond atol=${atol} rtol=${rtol}.\n` +
      `  first: ${first.join("; ")}\n` +
      `  largest error ${worstError} at ${unravel(worst, shape)}`,
  );
}

/**
 * Seeded uniform random values in [lo, hi) (mulberry32), reproducible per seed.
 *
 * @param seed the seed
 * @param length how many
 * @param lo lower bound (default −1)
 * @param hi upper bound (default 1)
 * @returns the values
 *
 * @example
 * ```ts
 * import { randomArray } from "./assert_close.ts";
 * if (randomArray(1, 3).join() !== randomArray(1, 3).join()) throw new Error("not seeded");
 * ```
 */
export function randomArray(seed: number, length: number, lo = -1, hi = 1): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/**
 * Central finite-difference gradient of a scalar function at `x`:
 * (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h for each i.
 *
 * @param f the scalar function (float64)
 * @param x the point (not modified)
 * @param h the step (default 1e-6)
 * @returns the numerical gradient
 *
 * @example
 * ```ts
 * import { numericGradient } from "./assert_close.ts";
 * const g = numericGradient((v) => v[0] * v[0], [3]);
 * if (Math.abs(g[0] - 6) > 1e-6) throw new Error("wrong");
 * ```
 */
export function numericGradient(
  f: (x: Float64Array) => number,
  x: ArrayLike<number>,
  h = 1e-6,
): Float64Array {
  const point = Float64Array.from(x);
  const grad = new Float64Array(point.length);
  for (let i = 0; i < point.length; i++) {
    const saved = point[i];
    point[i] = saved + h;
    const up = f(point);
    point[i] = saved - h;
    const down = f(point);
    point[i] = saved;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

/**
 * Float64 reference for the bidirectional LSTM layer, written from the
 * LSTM equations with plain loops (torch.nn.LSTM semantics, gate order
 * i, f, g, o). For tests and benchmarks only.
 *
 * For each direction d and each real token of sentence b (forward: t = 0,
 * 1, …, len−1; reverse: t = len−1, …, 0), with h and c starting at zero:
 *
 *   z = W_ih[d]·x_t + b_ih[d] + W_hh[d]·h_prev + b_hh[d]        (4H)
 *   i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o)
 *   c = f⊙c_prev + i⊙g,  h = o⊙tanh(c)
 *
 * and h_out[b, t] = [h_forward | h_reverse]; padding positions are zero.
 *
 * @module
 */

/** Dimensions of one BiLSTM layer applied to a padded batch. */
export interface BiLstmShape {
  /** B: sentences in the batch. */
  batch: number;
  /** T: padded length (rows per sentence). */
  time: number;
  /** E: input features per token. */
  inputSize: number;
  /** H: hidden units per direction. */
  hiddenSize: number;
}

/** The layer's parameters, both directions stacked [forward; reverse], PyTorch layout per direction. */
export interface BiLstmParams {
  /** (2·4H, E): weight_ih_l{k} rows then weight_ih_l{k}_reverse rows. */
  wIh: ArrayLike<number>;
  /** (2, 4H, H): weight_hh_l{k} then weight_hh_l{k}_reverse. */
  wHh: ArrayLike<number>;
  /** (2·4H): bias_ih_l{k} then bias_ih_l{k}_reverse. */
  bIh: ArrayLike<number>;
  /** (2·4H): bias_hh_l{k} then bias_hh_l{k}_reverse. */
  bHh: ArrayLike<number>;
}

/** Gradients of a loss with respect to the layer's input and parameters. */
export interface BiLstmGrads {
  /** (B·T, E); zero at padding rows. */
  dX: Float64Array;
  /** (2·4H, E). */
  dWIh: Float64Array;
  /** (2, 4H, H). */
  dWHh: Float64Array;
  /** (2·4H). */
  dBIh: Float64Array;
  /** (2·4H); equal to dBIh since both biases enter z the same way. */
  dBHh: Float64Array;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** Token positions of sentence b in the order direction d visits them. */
function visitOrder(length: number, d: number): number[] {
  const ts = Array.from({ length }, (_, i) => i);
  return d === 0 ? ts : ts.reverse();
}

function clampLength(lengths: ArrayLike<number>, b: number, time: number): number {
  return Math.max(0, Math.min(time, lengths[b]));
}

/** Per-step values the backward pass needs, for one sentence and direction. */
interface Step {
  t: number;
  hPrev: Float64Array;
  cPrev: Float64Array;
  i: Float64Array;
  f: Float64Array;
  g: Float64Array;
  o: Float64Array;
  c: Float64Array;
}

function runDirection(
  x: ArrayLike<number>,
  p: BiLstmParams,
  shape: BiLstmShape,
  b: number,
  length: number,
  d: number,
): Step[] {
  const { time: T, inputSize: E, hiddenSize: H } = shape;
  let h: Float64Array = new Float64Array(H);
  let c: Float64Array = new Float64Array(H);
  const steps: Step[] = [];
  for (const t of visitOrder(length, d)) {
    const z = new Float64Array(4 * H);
    for (let r = 0; r < 4 * H; r++) {
      let sum = p.bIh[d * 4 * H + r] + p.bHh[d * 4 * H + r];
      for (let e = 0; e < E; e++) sum += p.wIh[(d * 4 * H + r) * E + e] * x[(b * T + t) * E + e];
      for (let k = 0; k < H; k++) sum += p.wHh[(d * 4 * H + r) * H + k] * h[k];
      z[r] = sum;
    }
    const s: Step = {
      t,
      hPrev: h,
      cPrev: c,
      i: new Float64Array(H),
      f: new Float64Array(H),
      g: new Float64Array(H),
      o: new Float64Array(H),
      c: new Float64Array(H),
    };
    const hNext = new Float64Array(H);
    for (let j = 0; j < H; j++) {
      s.i[j] = sigmoid(z[j]);
      s.f[j] = sigmoid(z[H + j]);
      s.g[j] = Math.tanh(z[2 * H + j]);
      s.o[j] = sigmoid(z[3 * H + j]);
      s.c[j] = s.f[j] * c[j] + s.i[j] * s.g[j];
      hNext[j] = s.o[j] * Math.tanh(s.c[j]);
    }
    steps.push(s);
    h = hNext;
    c = s.c;
  }
  return steps;
}

/**
 * Forward pass of one BiLSTM layer.
 *
 * @param x input (B·T, E), batch-major (token (b, t) is row b·T + t)
 * @param lengths (B) real lengths; rows t ≥ lengths[b] are padding
 * @param params both directions' weights and biases
 * @param shape B, T, E, H
 * @returns h_out (B·T, 2H): [forward H | reverse H] per token, zero at padding
 *
 * @example
 * ```ts
 * import { biLstmRef } from "./lstm_ref.ts";
 * const shape = { batch: 1, time: 1, inputSize: 1, hiddenSize: 1 };
 * const zero = new Float64Array(8);
 * const h = biLstmRef([1], [1], { wIh: zero, wHh: zero, bIh: zero, bHh: zero }, shape);
 * // all-zero parameters: c = 0.5·0 = 0, so h = 0.5·tanh(0) = 0
 * if (h.length !== 2 || h[0] !== 0) throw new Error("wrong");
 * ```
 */
export function biLstmRef(
  x: ArrayLike<number>,
  lengths: ArrayLike<number>,
  params: BiLstmParams,
  shape: BiLstmShape,
): Float64Array {
  const { batch: B, time: T, hiddenSize: H } = shape;
  const out = new Float64Array(B * T * 2 * H);
  for (let b = 0; b < B; b++) {
    const length = clampLength(lengths, b, T);
    for (let d = 0; d < 2; d++) {
      for (const s of runDirection(x, params, shape, b, length, d)) {
        for (let j = 0; j < H; j++) {
          out[(b * T + s.t) * 2 * H + d * H + j] = s.o[j] * Math.tanh(s.c[j]);
        }
      }
    }
  }
  return out;
}

/**
 * Backward pass of {@linkcode biLstmRef} by backpropagation through time:
 * given dL/dh_out, the gradients of the input, weights and biases.
 *
 * Per step, in reverse visiting order, with dh = dh_out[t] + dh_next and
 * dc = dc_next + dh⊙o⊙(1 − tanh²c):
 * dz_o = dh⊙tanh(c)⊙o(1−o), dz_i = dc⊙g⊙i(1−i), dz_g = dc⊙i⊙(1−g²),
 * dz_f = dc⊙c_prev⊙f(1−f); then dh_next = W_hhᵀ·dz, dc_next = dc⊙f,
 * dx_t += W_ihᵀ·dz, dW_ih += dz·x_tᵀ, dW_hh += dz·h_prevᵀ, db += dz.
 *
 * @param x input (B·T, E)
 * @param lengths (B)
 * @param params weights and biases
 * @param shape B, T, E, H
 * @param dhOut upstream gradient (B·T, 2H); padding rows are ignored
 * @returns all gradients
 *
 * @example
 * ```ts
 * import { biLstmBackwardRef } from "./lstm_ref.ts";
 * const shape = { batch: 1, time: 2, inputSize: 1, hiddenSize: 1 };
 * const p = { wIh: [1, 1, 1, 1, 1, 1, 1, 1], wHh: new Float64Array(8), bIh: new Float64Array(8), bHh: new Float64Array(8) };
 * const g = biLstmBackwardRef([1, 5], [1], p, shape, [1, 1, 1, 1]);
 * if (g.dX[1] !== 0) throw new Error("padding must get no gradient");
 * ```
 */
export function biLstmBackwardRef(
  x: ArrayLike<number>,
  lengths: ArrayLike<number>,
  params: BiLstmParams,
  shape: BiLstmShape,
  dhOut: ArrayLike<number>,
): BiLstmGrads {
  const { batch: B, time: T, inputSize: E, hiddenSize: H } = shape;
  const dX = new Float64Array(B * T * E);
  const dWIh = new Float64Array(8 * H * E);
  const dWHh = new Float64Array(8 * H * H);
  const dB = new Float64Array(8 * H);
  for (let b = 0; b < B; b++) {
    const length = clampLength(lengths, b, T);
    for (let d = 0; d < 2; d++) {
      const steps = runDirection(x, params, shape, b, length, d);
      let dhNext: Float64Array = new Float64Array(H);
      let dcNext: Float64Array = new Float64Array(H);
      for (let n = steps.length - 1; n >= 0; n--) {
        const s = steps[n];
        const dz = new Float64Array(4 * H);
        const dcPrev = new Float64Array(H);
        for (let j = 0; j < H; j++) {
          const dh = dhOut[(b * T + s.t) * 2 * H + d * H + j] + dhNext[j];
          const tc = Math.tanh(s.c[j]);
          const dc = dcNext[j] + dh * s.o[j] * (1 - tc * tc);
          dz[j] = dc * s.g[j] * s.i[j] * (1 - s.i[j]);
          dz[H + j] = dc * s.cPrev[j] * s.f[j] * (1 - s.f[j]);
          dz[2 * H + j] = dc * s.i[j] * (1 - s.g[j] * s.g[j]);
          dz[3 * H + j] = dh * tc * s.o[j] * (1 - s.o[j]);
          dcPrev[j] = dc * s.f[j];
        }
        const dhPrev = new Float64Array(H);
        for (let r = 0; r < 4 * H; r++) {
          const row = d * 4 * H + r;
          dB[row] += dz[r];
          for (let k = 0; k < H; k++) {
            dWHh[row * H + k] += dz[r] * s.hPrev[k];
            dhPrev[k] += params.wHh[row * H + k] * dz[r];
          }
          for (let e = 0; e < E; e++) {
            dWIh[row * E + e] += dz[r] * x[(b * T + s.t) * E + e];
            dX[(b * T + s.t) * E + e] += params.wIh[row * E + e] * dz[r];
          }
        }
        dhNext = dhPrev;
        dcNext = dcPrev;
      }
    }
  }
  return { dX, dWIh, dWHh, dBIh: dB, dBHh: Float64Array.from(dB) };
}

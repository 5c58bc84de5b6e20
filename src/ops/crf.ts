/**
 * The CRF family on the GPU: the negative log-likelihood of a padded batch
 * and its gradient (emissions, transitions, start, end) by the
 * forward-backward algorithm in log space, and the per-token marginals
 * with log α / log β for inference. Kernel: `shaders/crf.wgsl`;
 * reference: `crf_ref.ts`. Also the CPU helper the Tagger uses for span
 * probabilities ({@linkcode spanProbability}) and the loss accumulator
 * shared with the softmax head.
 *
 * @module
 */

import { crf as crfWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import { writeBuffer } from "../gpu/buffers.ts";
import type { Allocator } from "../gpu/allocator.ts";
import { type Binding, type Dispatch, makeBindGroup, makeDispatch } from "../gpu/kernel.ts";
import {
  type CrfShape,
  type LossOp,
  opAllocator,
  type OpOptions,
  Scratch,
  sequenceKernel,
  type SequenceOp,
  type SequencePlan,
  sequencePlan,
  type SequenceShape,
} from "./common.ts";

export type { CrfShape, LossOp, SequenceOp, SequenceShape } from "./common.ts";
export { MAX_TAGS, sequenceLayout } from "./common.ts";

/** Buffers of {@linkcode crfLoss}. Shapes use B, T, K; all f32 unless noted. */
export interface CrfLossBuffers {
  /** (B, T, K) input scores, row b·T + t. */
  emissions: Binding;
  /** (B, T) i32 gold tags, in [0, K) where t < length. */
  tags: Binding;
  /** (B) i32 sentence lengths (0 ≤ length; clamped to T). */
  lengths: Binding;
  /** (K, K) [from, to]. */
  transitions: Binding;
  /** (K). */
  start: Binding;
  /** (K). */
  end: Binding;
  /** Output (B): NLL of each sentence, unscaled, written with `=`. */
  nll: Binding;
  /** Output (B, T, K): lossScale·dNLL/demissions, written with `=`, 0 at padding. */
  dEmissions: Binding;
  /** Output (K, K): accumulated with `+=`. */
  dTransitions: Binding;
  /** Output (K): accumulated with `+=`. */
  dStart: Binding;
  /** Output (K): accumulated with `+=`. */
  dEnd: Binding;
  /** Output (1): the loss accumulator, `+=` lossScale·Σ_b NLL_b (see {@linkcode resetLoss}). */
  loss: Binding;
}

/** Buffers of {@linkcode crfMarginals}. */
export interface CrfMarginalBuffers {
  /** (B, T, K) input scores. */
  emissions: Binding;
  /** (B) i32 lengths. */
  lengths: Binding;
  /** (K, K) [from, to]. */
  transitions: Binding;
  /** (K). */
  start: Binding;
  /** (K). */
  end: Binding;
  /** Output (B): log Z, `=` (0 for an empty sentence). */
  logZ: Binding;
  /** Output (B, T, K): p(yₜ = k | x), `=`, 0 at padding. */
  marginals: Binding;
  /** Output (B, T, K): log α (emission at t included), `=`, 0 at padding. */
  logAlpha: Binding;
  /** Output (B, T, K): log β (end score included), `=`, 0 at padding. */
  logBeta: Binding;
}

/** Options of the CRF builders: the shape B, T, K (K ≤ 32) and settings. */
export interface CrfOptions extends OpOptions, CrfShape {
  /** Factor on the loss and gradients (default 1); change it with `setLossScale`. */
  lossScale?: number;
  /** Sentences per workgroup (default ⌊64 / K⌋, at most B). */
  sentencesPerGroup?: number;
  /**
   * Time steps one dispatch covers at most (default: every step on real GPUs; on fallback
   * adapters as many as stay within llvmpipe's 65,535 loop iterations per invocation).
   * Longer batches run the split kernels, one dispatch per range of steps, with results
   * bit-identical to the whole-sentence kernel; a small value forces them (tests).
   */
  stepsPerDispatch?: number;
}

/** Loop iterations one invocation of the CRF kernels runs for this shape (llvmpipe stops at 65,535). */
function loopBudget(k: number, time: number): number {
  return time * (4 * k + 2) + k * k + 8 * k + 200;
}

/** The CRF's parameters as the kernels bind them: one range, and where start and end sit in it. */
export interface CrfParamsBinding {
  /** Transitions (K, K) at 0, start (K) at `startOffset`, end (K) at `endOffset` (floats). */
  binding: Binding;
  /** Float offset of start in the binding. */
  startOffset: number;
  /** Float offset of end in the binding. */
  endOffset: number;
  /** The dispatch that packs three separate buffers into `binding` (none when they share one). */
  pack: Dispatch | null;
}

/** A binding's buffer and byte range. */
function rangeOf(b: Binding): { buffer: GPUBuffer; offset: number; size: number } {
  if (b instanceof GPUBuffer) return { buffer: b, offset: 0, size: b.size };
  const offset = b.offset ?? 0;
  return { buffer: b.buffer, offset, size: b.size ?? b.buffer.size - offset };
}

/**
 * One binding for transitions, start and end: when the three are ranges of
 * one buffer in that order (the graph's flat parameters), the range that
 * covers them; otherwise a packed buffer of the op's and a `pack_params`
 * dispatch to run first (three bindings would pass WebGPU's default 8
 * storage buffers per stage in the CRF kernels).
 *
 * @param gpu the device
 * @param mem the op's allocator
 * @param label the op, for messages
 * @param params transitions (K, K), start (K), end (K)
 * @param tags K
 * @returns the binding, the offsets and the pack dispatch if one is needed
 *
 * @example
 * ```ts
 * import { acquireGpu, Allocator, createBuffer } from "../gpu/mod.ts";
 * import { crfParamsBinding } from "./crf.ts";
 * const gpu = await acquireGpu();
 * const flat = createBuffer(gpu, "params", 1024);
 * const mem = new Allocator(gpu);
 * const p = await crfParamsBinding(gpu, mem, "crf", {
 *   transitions: { buffer: flat, offset: 0, size: 16 },
 *   start: { buffer: flat, offset: 256, size: 8 },
 *   end: { buffer: flat, offset: 512, size: 8 },
 * }, 2);
 * if (p.pack !== null || p.startOffset !== 64 || p.endOffset !== 128) throw new Error("not shared");
 * mem.destroy();
 * ```
 */
export async function crfParamsBinding(
  gpu: Gpu,
  mem: Allocator,
  label: string,
  params: { transitions: Binding; start: Binding; end: Binding },
  tags: number,
): Promise<CrfParamsBinding> {
  const [t, s, e] = [params.transitions, params.start, params.end].map(rangeOf);
  const shared = t.buffer === s.buffer && s.buffer === e.buffer && t.offset % 4 === 0 &&
    s.offset >= t.offset + tags * tags * 4 && e.offset >= s.offset + tags * 4 &&
    (s.offset - t.offset) % 4 === 0 && (e.offset - t.offset) % 4 === 0;
  if (shared) {
    return {
      binding: { buffer: t.buffer, offset: t.offset, size: e.offset + tags * 4 - t.offset },
      startOffset: (s.offset - t.offset) / 4,
      endOffset: (e.offset - t.offset) / 4,
      pack: null,
    };
  }
  const startOffset = tags * tags;
  const endOffset = startOffset + tags;
  const packed = mem.buffer(`${label} packed parameters`, (endOffset + tags) * 4);
  const pack = await makeDispatch(
    gpu,
    {
      label: `${label} pack parameters`,
      code: crfWgsl,
      entryPoint: "pack_params",
      constants: { K: tags, START_OFF: startOffset, END_OFF: endOffset },
    },
    [params.transitions, params.start, params.end, packed],
    [Math.ceil((endOffset + tags) / 64)],
  );
  return { binding: packed, startOffset, endOffset, pack };
}

/** The CRF kernels' pipeline constants for a plan and a parameter binding. */
function crfConstants(plan: SequencePlan, crf: CrfParamsBinding): Record<string, number> {
  const K = plan.tags;
  return {
    K,
    S: plan.s,
    WG: plan.wg,
    K4: Math.ceil(K / 4),
    START_OFF: crf.startOffset,
    END_OFF: crf.endOffset,
  };
}

/**
 * Builds the dispatches for the CRF loss of a padded batch: per-sentence
 * NLL_b = log Z_b − score_b(gold), and the gradient of
 * L = lossScale·Σ_b NLL_b. Two dispatches: the forward-backward kernel
 * (one workgroup per S sentences, time loop inside) writing per-sentence
 * partial sums, then a reduction that adds them, in a fixed order, into
 * dTransitions, dStart, dEnd and the loss accumulator (deterministic: no
 * float atomics). dEmissions and nll are written with `=`.
 *
 * @param gpu the device
 * @param buffers inputs and outputs, see {@linkcode CrfLossBuffers}
 * @param options B, T, K (K ≤ {@linkcode MAX_TAGS}); loss scale, sentences per workgroup,
 *   label, allocator
 * @returns the op: `dispatches`, `resize`, `setLossScale`, `destroy`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { crfLoss } from "./crf.ts";
 * const gpu = await acquireGpu();
 * const f32 = (n: number) => createBuffer(gpu, "f32", n * 4);
 * const b = {
 *   emissions: createBuffer(gpu, "em", new Float32Array([0, 0])), // B=1, T=1, K=2
 *   tags: createBuffer(gpu, "tags", new Int32Array([0])),
 *   lengths: createBuffer(gpu, "len", new Int32Array([1])),
 *   transitions: f32(4), start: f32(2), end: f32(2),
 *   nll: f32(1), dEmissions: f32(2), dTransitions: f32(4), dStart: f32(2), dEnd: f32(2), loss: f32(1),
 * };
 * const op = await crfLoss(gpu, b, { batch: 1, time: 1, tags: 2 });
 * submitDispatches(gpu, op.dispatches);
 * const nll = await readFloat32(gpu, b.nll, 1);
 * if (Math.abs(nll[0] - Math.log(2)) > 1e-6) throw new Error(String(nll[0]));
 * op.destroy();
 * ```
 */
export async function crfLoss(
  gpu: Gpu,
  buffers: CrfLossBuffers,
  options: CrfOptions,
): Promise<LossOp> {
  const label = options.label ?? "crf";
  const dims: CrfShape = options;
  const K = dims.tags;
  const plan = sequencePlan(gpu, label, options, (n) => loopBudget(K, n));
  const { split, groupsOf } = plan;
  const width = K * K + 2 * K + 1;
  let scale = options.lossScale ?? 1;
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} params`, [dims.batch, dims.time, groupsOf(dims.batch)]);
  params.setFloat(3, scale);
  // log α (B, T, K), and with split ranges the carry between them: (B, K) then (B).
  const alphaWords = (b: number, t: number) => b * t * K + (split.ranges ? b * K + b : 0);
  const alpha = new Scratch(mem, `${label} log alpha`, alphaWords(dims.batch, dims.time));
  const partials = new Scratch(mem, `${label} partials`, dims.batch * width);
  const crf = await crfParamsBinding(gpu, mem, label, buffers, K);
  const constants = crfConstants(plan, crf);
  const mainBindings = () => [
    params.buffer,
    buffers.emissions,
    buffers.lengths,
    crf.binding,
    alpha.buffer,
    buffers.nll,
    buffers.dEmissions,
    partials.buffer,
    buffers.tags,
  ];
  const reduceBindings = () => [
    params.buffer,
    partials.buffer,
    buffers.dTransitions,
    buffers.dStart,
    buffers.dEnd,
    buffers.loss,
  ];
  const main = await sequenceKernel(
    gpu,
    mem,
    plan,
    {
      label: `${label} forward-backward`,
      code: crfWgsl,
      entryPoint: "train",
      chunk: "train_chunk",
      constants,
    },
    mainBindings(),
    2,
  );
  const reduce = await makeDispatch(
    gpu,
    { label: `${label} reduce`, code: crfWgsl, entryPoint: "reduce", constants },
    reduceBindings(),
    [Math.ceil(width / 64)],
  );
  const resize = (next: SequenceShape) => {
    main.resize(next, next.batch * next.time * K);
    params.set([next.batch, next.time, groupsOf(next.batch)]);
    params.setFloat(3, scale);
    const grewA = alpha.ensure(alphaWords(next.batch, next.time));
    const grewP = partials.ensure(next.batch * width);
    if (grewA || grewP) {
      main.rebind(mainBindings());
      reduce.bindGroup = makeBindGroup(gpu, reduce.label, reduce.pipeline, reduceBindings());
    }
  };
  resize(dims);
  return {
    label,
    dispatches: [...(crf.pack ? [crf.pack] : []), ...main.dispatches, reduce],
    resize,
    setLossScale(next: number) {
      scale = next;
      params.setFloat(3, scale);
    },
    destroy: () => mem.destroy(),
  };
}

/**
 * Builds the dispatch for inference-time forward-backward: log Z, the
 * per-token marginals p(yₜ = k | x) (the Tagger's confidences), and log α /
 * log β, from which {@linkcode spanProbability} computes on the CPU the
 * probability that a span carries exactly one label. One dispatch.
 *
 * @param gpu the device
 * @param buffers inputs and outputs, see {@linkcode CrfMarginalBuffers}
 * @param options B, T, K; sentences per workgroup, label, allocator
 * @returns the op: `dispatches`, `resize`, `destroy`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { crfMarginals } from "./crf.ts";
 * const gpu = await acquireGpu();
 * const f32 = (n: number) => createBuffer(gpu, "f32", n * 4);
 * const b = {
 *   emissions: createBuffer(gpu, "em", new Float32Array([0, Math.log(3)])), // B=1, T=1, K=2
 *   lengths: createBuffer(gpu, "len", new Int32Array([1])),
 *   transitions: f32(4), start: f32(2), end: f32(2),
 *   logZ: f32(1), marginals: f32(2), logAlpha: f32(2), logBeta: f32(2),
 * };
 * submitDispatches(gpu, (await crfMarginals(gpu, b, { batch: 1, time: 1, tags: 2 })).dispatches);
 * const p = await readFloat32(gpu, b.marginals, 2);
 * if (Math.abs(p[1] - 0.75) > 1e-6) throw new Error(p.join());
 * ```
 */
export async function crfMarginals(
  gpu: Gpu,
  buffers: CrfMarginalBuffers,
  options: Omit<CrfOptions, "lossScale">,
): Promise<SequenceOp> {
  const label = options.label ?? "crf marginals";
  const dims: CrfShape = options;
  const K = dims.tags;
  const plan = sequencePlan(gpu, label, options, (n) => loopBudget(K, n));
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} params`, [
    dims.batch,
    dims.time,
    plan.groupsOf(dims.batch),
    0,
  ]);
  const crf = await crfParamsBinding(gpu, mem, label, buffers, K);
  const main = await sequenceKernel(gpu, mem, plan, {
    label,
    code: crfWgsl,
    entryPoint: "forward_backward",
    chunk: "forward_backward_chunk",
    constants: crfConstants(plan, crf),
  }, [
    params.buffer,
    buffers.emissions,
    buffers.lengths,
    crf.binding,
    buffers.logAlpha,
    buffers.logZ,
    buffers.marginals,
    buffers.logBeta,
  ], 2);
  const resize = (next: SequenceShape) => {
    main.resize(next, 0);
    params.set([next.batch, next.time, plan.groupsOf(next.batch), 0]);
  };
  resize(dims);
  return {
    label,
    dispatches: [...(crf.pack ? [crf.pack] : []), ...main.dispatches],
    resize,
    destroy: () => mem.destroy(),
  };
}

/**
 * Zeroes a loss accumulator (queued before the next submit, so the host
 * reads the summed loss only every N steps and then resets it).
 *
 * @param gpu the device
 * @param loss the (1) f32 accumulator
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32 } from "../gpu/mod.ts";
 * import { resetLoss } from "./crf.ts";
 * const gpu = await acquireGpu();
 * const loss = createBuffer(gpu, "loss", new Float32Array([3]));
 * resetLoss(gpu, loss);
 * if ((await readFloat32(gpu, loss, 1))[0] !== 0) throw new Error("not reset");
 * ```
 */
export function resetLoss(gpu: Gpu, loss: GPUBuffer): void {
  writeBuffer(gpu, loss, new Float32Array(1));
}

/** One sentence's forward-backward results, read back from {@linkcode crfMarginals}. */
export interface SentenceLattice {
  /** K. */
  tags: number;
  /** n, the sentence's length. */
  length: number;
  /** (≥ n, K) the sentence's emissions, row t. */
  emissions: ArrayLike<number>;
  /** (≥ n, K) log α. */
  logAlpha: ArrayLike<number>;
  /** (≥ n, K) log β. */
  logBeta: ArrayLike<number>;
  /** log Z. */
  logZ: number;
  /** (K, K) [from, to]. */
  transitions: ArrayLike<number>;
}

/**
 * The probability that tokens first … first + m − 1 carry exactly the tags
 * `tags` (length m) and token first + m (if any) does not carry a tag in
 * `excludeNext`:
 * exp(log α[first, y₀] + Σᵣ (trans[yᵣ₋₁, yᵣ] + em[first + r, yᵣ]) + tail − log Z),
 * where tail = log β at the span's last token, or, with an exclusion,
 * log Σ_{y ∉ excludeNext} exp(trans[last, y] + em[next, y] + log β[next, y]).
 * For a BIO entity "LOC" over tokens 3–4 use tags [B-LOC, I-LOC] and
 * excludeNext [I-LOC]: the confidence that exactly that span is a LOC.
 *
 * @param lattice one sentence's emissions, log α, log β, log Z and transitions
 * @param span first token, tag ids, and tags the following token must not have
 * @returns the probability in [0, 1]
 *
 * @example
 * ```ts
 * import { spanProbability } from "./crf.ts";
 * // One token, two tags, scores 0 and log 3: p(tag 1) = 3/4.
 * const p = spanProbability({
 *   tags: 2, length: 1, emissions: [0, Math.log(3)], logAlpha: [0, Math.log(3)],
 *   logBeta: [0, 0], logZ: Math.log(4), transitions: [0, 0, 0, 0],
 * }, { first: 0, tags: [1] });
 * if (Math.abs(p - 0.75) > 1e-12) throw new Error(String(p));
 * ```
 */
export function spanProbability(
  lattice: SentenceLattice,
  span: { first: number; tags: readonly number[]; excludeNext?: readonly number[] },
): number {
  const { tags: K, length: n, emissions, logAlpha, logBeta, transitions } = lattice;
  const { first, tags } = span;
  const m = tags.length;
  if (!Number.isInteger(first) || first < 0 || m === 0 || first + m > n) {
    throw new RangeError(
      `spanProbability: expected a non-empty span inside 0..${n}, got first ${first} and ${m} tags`,
    );
  }
  let score = logAlpha[first * K + tags[0]];
  for (let r = 1; r < m; r++) {
    score += transitions[tags[r - 1] * K + tags[r]] + emissions[(first + r) * K + tags[r]];
  }
  const last = first + m - 1;
  const y = tags[m - 1];
  const excluded = new Set(span.excludeNext ?? []);
  if (last + 1 >= n || excluded.size === 0) {
    score += logBeta[last * K + y];
  } else {
    let most = -Infinity;
    const terms: number[] = [];
    for (let j = 0; j < K; j++) {
      if (excluded.has(j)) continue;
      const v = transitions[y * K + j] + emissions[(last + 1) * K + j] +
        logBeta[(last + 1) * K + j];
      terms.push(v);
      most = Math.max(most, v);
    }
    if (most === -Infinity) return 0;
    score += most + Math.log(terms.reduce((s, v) => s + Math.exp(v - most), 0));
  }
  return Math.min(1, Math.exp(score - lattice.logZ));
}

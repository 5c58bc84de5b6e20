/**
 * What every op shares: the op contract ({@linkcode Op}), batch shapes of
 * sequence ops and the character CNN, the flat workgroup grid, the sentence-per-workgroup layout
 * of the CRF and Viterbi kernels and the split of their time loops into
 * ranges of steps, growable scratch buffers, the split of a flat reduction
 * into workgroups, and the flat parameter layout.
 *
 * The op contract: an op is a function `opName(gpu, buffers, options)`
 * whose buffers are {@linkcode Binding}s (a buffer or a byte range of one)
 * and whose options hold the shape, the settings and an optional
 * {@linkcode Allocator} to build into. It returns an {@linkcode Op}: the
 * dispatches to record in order, `resize(shape)` for the next batch
 * (uniform writes, and scratch that grows), and `destroy()`, which frees
 * every buffer and uniform block the op created.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { type Allocator, scopeOf } from "../gpu/allocator.ts";
import {
  type Binding,
  type Dispatch,
  type KernelSpec,
  makeBindGroup,
  makeDispatch,
} from "../gpu/kernel.ts";

/**
 * A built op: its dispatches, how to resize them for a batch, and how to
 * free what it allocated.
 *
 * @typeParam S the shape `resize` takes
 */
export interface Op<S = void> {
  /** Name used in errors and profiles. */
  readonly label: string;
  /** The launches, in order; record them into the step's pass. */
  readonly dispatches: Dispatch[];
  /**
   * Rewrites the shape uniforms and workgroup counts for the next submit
   * (and grows internal scratch if needed). The caller's buffers must be
   * large enough.
   *
   * @param shape the new shape
   */
  resize(shape: S): void;
  /** Frees every buffer and uniform block the op created (the caller's buffers stay). */
  destroy(): void;
}

/** Options every op takes. */
export interface OpOptions {
  /** Label for errors and profiles. */
  label?: string;
  /** The owner's allocator: the op builds into a scope of it (default: a root of its own). */
  allocator?: Allocator;
}

/** The per-batch part of a sequence shape: what changes from one batch to the next. */
export interface SequenceShape {
  /** Sentences B. */
  batch: number;
  /** Padded length T. */
  time: number;
}

/** The largest batch an op over padded sentences is built for; it is resized per batch. */
export interface SequenceCapacity {
  /** Largest B. */
  maxBatch: number;
  /** Largest T. */
  maxTime: number;
}

/** Sizes of a BiLSTM recurrence: the largest batch and the hidden units per direction. */
export interface RecurrenceSize extends SequenceCapacity {
  /** H: hidden units per direction (1 … 256). */
  hiddenSize: number;
}

/**
 * Throws unless a batch fits the capacity an op was built for (the resize
 * check of the LSTM ops).
 *
 * @param label the op's label, for the message
 * @param shape B and T of the next batch
 * @param capacity the largest B and T
 *
 * @example
 * ```ts
 * import { checkSequenceShape } from "./common.ts";
 * checkSequenceShape("lstm", { batch: 2, time: 7 }, { maxBatch: 4, maxTime: 7 });
 * let threw = false;
 * try {
 *   checkSequenceShape("lstm", { batch: 5, time: 7 }, { maxBatch: 4, maxTime: 7 });
 * } catch {
 *   threw = true;
 * }
 * if (!threw) throw new Error("B = 5 passes a capacity of 4");
 * ```
 */
export function checkSequenceShape(
  label: string,
  { batch, time }: SequenceShape,
  capacity: SequenceCapacity,
): void {
  if (!Number.isInteger(batch) || batch < 0 || batch > capacity.maxBatch) {
    throw new RangeError(
      `${label}: expected a batch of 0…${capacity.maxBatch} sentences, got ${batch}`,
    );
  }
  if (!Number.isInteger(time) || time < 0 || time > capacity.maxTime) {
    throw new RangeError(
      `${label}: expected a padded length of 0…${capacity.maxTime}, got ${time}`,
    );
  }
}

/**
 * Throws unless a size is an integer in 1…max (a boundary check of op options).
 *
 * @param label the op's label, for the message
 * @param name the option's name
 * @param value its value
 * @param max the largest value allowed (default none)
 *
 * @example
 * ```ts
 * import { checkPositiveInteger } from "./common.ts";
 * checkPositiveInteger("lstm", "hiddenSize", 100, 256);
 * let threw = false;
 * try {
 *   checkPositiveInteger("lstm", "hiddenSize", 0);
 * } catch {
 *   threw = true;
 * }
 * if (!threw) throw new Error("0 passes");
 * ```
 */
export function checkPositiveInteger(
  label: string,
  name: string,
  value: number,
  max = Infinity,
): void {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${label}: expected ${name} to be an integer in 1…${max}, got ${value}`);
  }
}

/**
 * Sizes of a character CNN over a (B, T) batch of words (width 3, PyTorch
 * Conv1d layout): the op and its float64 reference take the same ones.
 */
export interface CharCnnSize {
  /** B, sentences. */
  batch: number;
  /** T, padded sentence length; token row r = b·T + t. */
  time: number;
  /** Lc, characters stored per token (the batch's padded word length). */
  chars: number;
  /** Dc, character embedding width. */
  charDim: number;
  /** F, filters = output features. */
  filters: number;
  /** C, character vocabulary (ids outside [0, C) embed as zero vectors). */
  charVocab: number;
}

/** Batch shape of the sequence ops: B sentences padded to T steps, K tags. */
export interface CrfShape extends SequenceShape {
  /** Tags K. */
  tags: number;
}

/** An op over a padded batch of sentences. */
export type SequenceOp = Op<SequenceShape>;

/** An op that adds a scaled loss into a loss accumulator. */
export interface LossOp extends SequenceOp {
  /**
   * Sets the factor applied to the loss and every gradient (e.g. 1/B or
   * 1/tokens for this batch).
   *
   * @param scale the factor
   */
  setLossScale(scale: number): void;
}

/**
 * The allocator an op builds into (see {@linkcode scopeOf}).
 *
 * @param gpu the device
 * @param label the op's label
 * @param options the op's options (their `allocator`, if any)
 * @returns the op's own allocator, freed by its `destroy()`
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../gpu/mod.ts";
 * import { opAllocator } from "./common.ts";
 * const mem = opAllocator(await acquireGpu(), "op", {});
 * mem.destroy();
 * ```
 */
export function opAllocator(gpu: Gpu, label: string, options: OpOptions): Allocator {
  return scopeOf(gpu, label, options.allocator);
}

/**
 * Workgroup counts covering `invocations` flat invocations with workgroups
 * of `workgroupSize`: `[x, y, 1]` with x ≤ 65,535, so a kernel computes its
 * flat id as `(wid.y · nwg.x + wid.x) · workgroupSize + lid` (the last row
 * may overshoot; kernels bound-check).
 *
 * @param invocations how many invocations are needed (0 gives a skipped dispatch)
 * @param workgroupSize invocations per workgroup (default 64)
 * @returns the workgroup counts
 *
 * @example
 * ```ts
 * import { linearGrid } from "./common.ts";
 * if (linearGrid(100).join() !== "2,1,1") throw new Error("wrong grid");
 * if (linearGrid(64 * 70000)[1] !== 2) throw new Error("no second row");
 * ```
 */
export function linearGrid(invocations: number, workgroupSize = 64): [number, number, number] {
  const groups = Math.ceil(invocations / workgroupSize);
  if (groups === 0) return [0, 1, 1];
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x), 1];
}

/**
 * Bytes a binding covers.
 *
 * @param binding a buffer or a byte range of one
 * @returns its size in bytes
 *
 * @example
 * ```ts
 * import { bindingBytes } from "./common.ts";
 * const fake = { size: 64 } as GPUBuffer;
 * if (bindingBytes({ buffer: fake, offset: 16 }) !== 48) throw new Error("wrong size");
 * ```
 */
export function bindingBytes(binding: Binding): number {
  if (binding instanceof GPUBuffer || !("buffer" in binding)) return binding.size;
  return binding.size ?? binding.buffer.size - (binding.offset ?? 0);
}

/**
 * Throws unless each binding holds its count of 32-bit values (and at
 * least `minBytes`, e.g. 16 for a vec4 binding).
 *
 * @param label the op, for messages
 * @param sizes name → [binding, 32-bit values it must hold]
 * @param minBytes smallest size accepted for any binding (default 4)
 * @throws {RangeError} naming the binding, the bytes expected and found
 *
 * @example
 * ```ts
 * import { checkBindings } from "./common.ts";
 * checkBindings("op", { x: [{ size: 16 } as GPUBuffer, 4] });
 * ```
 */
export function checkBindings(
  label: string,
  sizes: Record<string, [Binding, number]>,
  minBytes = 4,
): void {
  for (const [name, [binding, count]] of Object.entries(sizes)) {
    const bytes = Math.max(minBytes, count * 4);
    if (bindingBytes(binding) < bytes) {
      throw new RangeError(
        `${label}: expected buffer ${name} to hold at least ${bytes} bytes, found ${
          bindingBytes(binding)
        }`,
      );
    }
  }
}

/** Largest K the sequence kernels take (workgroup arrays are sized for it). */
export const MAX_TAGS = 32;

/**
 * Checks a shape at the public boundary and returns the workgroup layout
 * shared by the CRF and Viterbi kernels: S sentences per workgroup, one
 * invocation per (sentence, tag), at most 64 invocations.
 *
 * @param label the op, for messages
 * @param dims the shape
 * @param perGroup sentences per workgroup requested (default ⌊64 / K⌋, at most B)
 * @returns S (sentences per workgroup) and WG = S·K (invocations)
 * @throws {RangeError} when K is outside 1..32 or B, T are not non-negative integers
 *
 * @example
 * ```ts
 * import { sequenceLayout } from "./common.ts";
 * const { s, wg } = sequenceLayout("crf", { batch: 32, time: 40, tags: 9 });
 * if (s !== 7 || wg !== 63) throw new Error(`${s} ${wg}`);
 * ```
 */
export function sequenceLayout(
  label: string,
  dims: CrfShape,
  perGroup?: number,
): { s: number; wg: number } {
  const { batch, time, tags } = dims;
  if (!Number.isInteger(tags) || tags < 1 || tags > MAX_TAGS) {
    throw new RangeError(`${label}: expected 1 to ${MAX_TAGS} tags, got ${tags}`);
  }
  for (const [name, v] of [["batch", batch], ["time", time]] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`${label}: expected a non-negative integer ${name}, got ${v}`);
    }
  }
  const most = Math.floor(64 / tags);
  const s = Math.max(1, Math.min(most, perGroup ?? Math.max(1, Math.min(most, batch))));
  return { s, wg: s * tags };
}

/** Mesa llvmpipe stops an invocation after this many loop iterations in total, silently. */
export const LOOP_LIMIT = 65_535;

/**
 * How a sequence op cuts its time loop: at most `steps` steps per dispatch,
 * and `ranges` split dispatches per phase built for the op's largest T (0:
 * the whole-sentence kernel only).
 */
export interface TimeSplit {
  /** Steps one dispatch may cover (Infinity: no limit). */
  steps: number;
  /** Ranges built (0 when the largest T fits one dispatch). */
  ranges: number;
}

/**
 * Plans the split of a sequence op's time loop (shared by the CRF and
 * Viterbi builders): where `requested` is given it wins, else on fallback
 * adapters the most steps whose loop count `perSteps(steps)` stays within
 * 65,535, elsewhere no limit.
 *
 * @param gpu the device
 * @param label the op, for messages
 * @param time the largest T the op is built for
 * @param perSteps loop iterations per invocation for a given number of steps
 * @param requested the caller's `stepsPerDispatch`, if any
 * @returns steps per dispatch and the number of ranges to build
 * @throws {RangeError} when `requested` is not a positive integer
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../gpu/mod.ts";
 * import { planTimeSplit } from "./common.ts";
 * const split = planTimeSplit(await acquireGpu(), "op", 10, (n) => n, 4);
 * if (split.steps !== 4 || split.ranges !== 3) throw new Error(JSON.stringify(split));
 * ```
 */
export function planTimeSplit(
  gpu: Gpu,
  label: string,
  time: number,
  perSteps: (steps: number) => number,
  requested?: number,
): TimeSplit {
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1)) {
    throw new RangeError(
      `${label}: expected stepsPerDispatch to be a positive integer, got ${requested}`,
    );
  }
  let steps = requested ?? Infinity;
  if (requested === undefined && gpu.adapter.isFallbackAdapter) {
    steps = 0;
    while (perSteps(steps + 1) <= LOOP_LIMIT) steps++;
    if (steps === 0) {
      throw new RangeError(`${label}: one step alone passes ${LOOP_LIMIT} loop iterations`);
    }
  }
  return { steps, ranges: time > steps ? Math.ceil(time / steps) : 0 };
}

/** A sequence op's layout and time split, worked out once at build time. */
export interface SequencePlan {
  /** The op, for messages. */
  label: string;
  /** K. */
  tags: number;
  /** S, sentences per workgroup. */
  s: number;
  /** WG = S·K, invocations per workgroup. */
  wg: number;
  /** How the time loop is cut. */
  split: TimeSplit;
  /** Workgroups for a batch of B sentences: ⌈B / S⌉. */
  groupsOf(batch: number): number;
}

/**
 * Checks a sequence op's shape and plans its workgroups and time split
 * (shared by the CRF and Viterbi builders).
 *
 * @param gpu the device
 * @param label the op, for messages
 * @param options B, T, K, and the caller's sentences per workgroup and steps per dispatch
 * @param perSteps loop iterations per invocation for a given number of steps
 * @returns the plan
 * @throws {RangeError} when the shape or a setting is out of range
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../gpu/mod.ts";
 * import { sequencePlan } from "./common.ts";
 * const plan = sequencePlan(await acquireGpu(), "op", { batch: 5, time: 10, tags: 9 }, (n) => n);
 * if (plan.s !== 5 || plan.groupsOf(11) !== 3) throw new Error(JSON.stringify(plan));
 * ```
 */
export function sequencePlan(
  gpu: Gpu,
  label: string,
  options: CrfShape & { sentencesPerGroup?: number; stepsPerDispatch?: number },
  perSteps: (steps: number) => number,
): SequencePlan {
  const { s, wg } = sequenceLayout(label, options, options.sentencesPerGroup);
  const split = planTimeSplit(gpu, label, options.time, perSteps, options.stepsPerDispatch);
  return { label, tags: options.tags, s, wg, split, groupsOf: (batch) => Math.ceil(batch / s) };
}

/**
 * Which ranges run for a padded length `time`: 0 when the whole-sentence
 * kernel does, else how many split ranges.
 *
 * @param label the op, for messages
 * @param split the op's plan
 * @param time T of the batch
 * @returns active ranges (0: the whole-sentence kernel)
 * @throws {RangeError} when T needs more ranges than were built
 */
export function activeRanges(label: string, split: TimeSplit, time: number): number {
  if (time <= split.steps) return 0;
  const needed = Math.ceil(time / split.steps);
  if (needed > split.ranges) {
    throw new RangeError(
      `${label}: built for sentences of at most ${
        Math.max(split.ranges, 1) * split.steps
      } steps on this adapter, got ${time}; build the op with time ≥ ${time}`,
    );
  }
  return needed;
}

/** The split kernels' dispatches of a sequence op (see {@linkcode rangeDispatches}). */
export interface RangeDispatches {
  /** Phase 0's ranges in increasing time, then (two phases) phase 1's in decreasing time. */
  dispatches: Dispatch[];
  /**
   * Sets the ranges for a batch: the first `active` run with `groups` workgroups, the rest
   * are skipped; `carry` goes to the third word of every range's uniform.
   */
  resize(active: number, groups: number, carry: number): void;
  /** Rebuilds the bind groups (after a scratch buffer grew). */
  rebind(bindings: Binding[]): void;
}

/**
 * Builds the split dispatches of a sequence kernel: per phase and range a
 * dispatch of `spec` whose last binding is its own uniform block
 * (t0, t1, carry, phase), appended to `bindings`.
 *
 * @param gpu the device
 * @param mem the op's allocator
 * @param spec the `_chunk` entry point
 * @param bindings the entry's bindings before the range uniform
 * @param split steps per range and how many ranges
 * @param phases 1 (a forward sweep) or 2 (forward, then backward in reverse order)
 * @returns the dispatches, skipped until {@linkcode RangeDispatches.resize}
 */
async function rangeDispatches(
  gpu: Gpu,
  mem: Allocator,
  spec: KernelSpec,
  bindings: Binding[],
  split: TimeSplit,
  phases: 1 | 2,
): Promise<RangeDispatches> {
  const order: [number, number][] = [];
  for (let r = 0; r < split.ranges; r++) order.push([0, r]);
  if (phases === 2) { for (let r = split.ranges - 1; r >= 0; r--) order.push([1, r]); }
  const blocks = order.map(([phase, r]) =>
    mem.uniform(`${spec.label} range ${r} phase ${phase}`, [
      r * split.steps,
      (r + 1) * split.steps,
      0,
      phase,
    ])
  );
  const dispatches: Dispatch[] = [];
  for (const [i, [phase, r]] of order.entries()) {
    const d = await makeDispatch(gpu, {
      ...spec,
      label: `${spec.label} ${phase ? "backward" : "forward"} range ${r}`,
    }, [
      ...bindings,
      blocks[i].buffer,
    ], [0]);
    dispatches.push(d);
  }
  return {
    dispatches,
    resize(active, groups, carry) {
      order.forEach(([phase, r], i) => {
        blocks[i].set([r * split.steps, (r + 1) * split.steps, carry, phase]);
        dispatches[i].workgroups = [r < active ? groups : 0, 1, 1];
      });
    },
    rebind(next) {
      for (const [i, d] of dispatches.entries()) {
        d.bindGroup = makeBindGroup(gpu, d.label, d.pipeline, [...next, blocks[i].buffer]);
      }
    },
  };
}

/** A sequence kernel's whole-sentence dispatch and, where T is split, its range dispatches. */
export interface SequenceKernel {
  /** The whole-sentence dispatch, then the ranges (see {@linkcode RangeDispatches}). */
  dispatches: Dispatch[];
  /**
   * Checks a batch's shape and sets the workgroups: the whole-sentence kernel where T fits
   * one dispatch, else the ranges T needs; `carry` goes to the ranges' uniforms.
   */
  resize(next: SequenceShape, carry: number): void;
  /** Rebuilds the bind groups (after a scratch buffer grew). */
  rebind(bindings: Binding[]): void;
}

/**
 * Builds a sequence kernel for a plan: `spec`'s entry point over whole
 * sentences, and where the plan splits T the `chunk` entry point once per
 * phase and range (see {@linkcode rangeDispatches}).
 *
 * @param gpu the device
 * @param mem the op's allocator
 * @param plan the op's layout and split
 * @param spec the whole-sentence entry point, and `chunk`, the split one
 * @param bindings the entries' bindings (the ranges add their uniform)
 * @param phases 1 (a forward sweep) or 2 (forward, then backward)
 * @returns the dispatches, sized by {@linkcode SequenceKernel.resize}
 */
export async function sequenceKernel(
  gpu: Gpu,
  mem: Allocator,
  plan: SequencePlan,
  spec: KernelSpec & { chunk: string },
  bindings: Binding[],
  phases: 1 | 2,
): Promise<SequenceKernel> {
  const { chunk, ...whole } = spec;
  const main = await makeDispatch(gpu, whole, bindings, [0]);
  const ranges = plan.split.ranges
    ? await rangeDispatches(gpu, mem, { ...whole, entryPoint: chunk }, bindings, plan.split, phases)
    : null;
  return {
    dispatches: [main, ...(ranges?.dispatches ?? [])],
    resize(next, carry) {
      sequenceLayout(plan.label, { ...next, tags: plan.tags });
      const active = activeRanges(plan.label, plan.split, next.time);
      const groups = plan.groupsOf(next.batch);
      main.workgroups = [active ? 0 : groups, 1, 1];
      ranges?.resize(active, groups, carry);
    },
    rebind(next) {
      main.bindGroup = makeBindGroup(gpu, main.label, main.pipeline, next);
      ranges?.rebind(next);
    },
  };
}

/**
 * A storage buffer that grows on demand (an op's per-batch scratch),
 * allocated and freed through the op's allocator.
 *
 * @example
 * ```ts
 * import { acquireGpu, Allocator } from "../gpu/mod.ts";
 * import { Scratch } from "./common.ts";
 * const mem = new Allocator(await acquireGpu());
 * const scratch = new Scratch(mem, "partials", 4);
 * if (scratch.ensure(2) || !scratch.ensure(100)) throw new Error("wrong growth");
 * mem.destroy();
 * ```
 */
export class Scratch {
  /** The current buffer (replaced when it grows: rebind after `ensure` returns true). */
  buffer: GPUBuffer;

  /**
   * @param allocator the owner's allocator
   * @param label name for error messages
   * @param words 32-bit values to hold at first (at least 1)
   */
  constructor(readonly allocator: Allocator, readonly label: string, words: number) {
    this.buffer = allocator.buffer(label, Math.max(1, words) * 4);
  }

  /**
   * Ensures room for `words` 32-bit values.
   *
   * @param words values needed
   * @returns true when the buffer was replaced (bind groups must be rebuilt)
   */
  ensure(words: number): boolean {
    if (words * 4 <= this.buffer.size) return false;
    this.allocator.release(this.buffer);
    this.buffer = this.allocator.buffer(this.label, words * 4);
    return true;
  }
}

/** How a flat pass over `len` elements is split: each of `groups`·64 invocations takes `per`. */
export interface ReductionPlan {
  /** Elements (floats, or vec4s when `vec4`). */
  len: number;
  /** Elements per invocation. */
  per: number;
  /** Workgroups of 64 invocations. */
  groups: number;
  /** Whether the elements are vec4s (the float count was a multiple of 4). */
  vec4: boolean;
}

/**
 * Splits a flat pass over `n` floats (a reduction, or an element-wise
 * update) into workgroups of 64: `per` elements per invocation, raised
 * only as far as needed to keep the workgroup count ≤ `maxGroups`.
 *
 * @param n number of floats
 * @param options elements per invocation when small (default 8), most workgroups
 *   (default 2048), whether to count vec4s when n % 4 == 0 (default true)
 * @returns the plan
 *
 * @example
 * ```ts
 * import { flatPlan } from "./common.ts";
 * const plan = flatPlan(1_000_000);
 * if (!plan.vec4 || plan.groups * 64 * plan.per < 250_000) throw new Error("bad plan");
 * ```
 */
export function flatPlan(
  n: number,
  options: { per?: number; maxGroups?: number; vec4?: boolean } = {},
): ReductionPlan {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`flatPlan: expected a positive integer element count, got ${n}`);
  }
  const vec4 = (options.vec4 ?? true) && n % 4 === 0;
  const len = vec4 ? n / 4 : n;
  const maxGroups = options.maxGroups ?? 2048;
  let per = options.per ?? 8;
  if (Math.ceil(len / (64 * per)) > maxGroups) per = Math.ceil(len / (64 * maxGroups));
  return { len, per, groups: Math.ceil(len / (64 * per)), vec4 };
}

/** One tensor's place in the flat parameter buffer. */
export interface ParameterSlice {
  /** Tensor name, e.g. "lstm.weight_ih_l0". */
  name: string;
  /** Shape, row-major. */
  shape: number[];
  /** First float of the tensor in the flat buffer. */
  offset: number;
  /** Number of floats (the product of the shape). */
  size: number;
  /** Whether weight decay applies to it. */
  weightDecay: boolean;
}

/** Options for {@linkcode ParameterLayout}. */
export interface ParameterLayoutOptions {
  /**
   * Byte alignment of every tensor's offset (default 256, WebGPU's default
   * `minStorageBufferOffsetAlignment`, so each slice can be bound on its
   * own). A multiple of 16, so slices can be read as vec4.
   */
  alignment?: number;
}

/**
 * Assigns each named parameter tensor an aligned slice of one flat f32
 * buffer, so that a model allocates `params`, `grads`, `m` and `v` once and
 * one optimizer dispatch updates everything. The total size is a multiple
 * of 4 floats (the optimizer reads vec4s); gaps between slices are
 * padding, which stays 0 as long as its gradient does.
 *
 * Tensors with weight decay must be added before tensors without (decay
 * applies to the prefix [0, `decayEnd`)).
 *
 * @example
 * ```ts
 * import { ParameterLayout } from "./common.ts";
 * const layout = new ParameterLayout();
 * layout.add("out.weight", [9, 200]);
 * const bias = layout.add("out.bias", [9], { weightDecay: false });
 * if (bias.offset !== 1856 || layout.size !== 1868 || layout.decayEnd !== 1800) {
 *   throw new Error(JSON.stringify([bias.offset, layout.size, layout.decayEnd]));
 * }
 * ```
 */
export class ParameterLayout {
  readonly #slices: ParameterSlice[] = [];
  readonly #byName = new Map<string, ParameterSlice>();
  readonly #alignFloats: number;
  #end = 0;
  #decayEnd = 0;

  /** @param options alignment */
  constructor(options: ParameterLayoutOptions = {}) {
    const alignment = options.alignment ?? 256;
    if (!Number.isInteger(alignment) || alignment < 16 || alignment % 16 !== 0) {
      throw new RangeError(
        `ParameterLayout: alignment must be a positive multiple of 16 bytes, got ${alignment}`,
      );
    }
    this.#alignFloats = alignment / 4;
  }

  /**
   * Appends a tensor.
   *
   * @param name unique name
   * @param shape dimensions (non-negative integers; [] is a scalar)
   * @param options whether weight decay applies (default true)
   * @returns its slice
   */
  add(name: string, shape: number[], options: { weightDecay?: boolean } = {}): ParameterSlice {
    if (this.#byName.has(name)) throw new Error(`ParameterLayout: '${name}' was already added`);
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new RangeError(
        `ParameterLayout: '${name}' has an invalid shape [${shape.join(", ")}]`,
      );
    }
    const weightDecay = options.weightDecay ?? true;
    if (weightDecay && this.#slices.some((s) => !s.weightDecay)) {
      throw new Error(
        `ParameterLayout: '${name}' has weight decay but follows a tensor without; ` +
          "add the decayed tensors first",
      );
    }
    const align = this.#alignFloats;
    const offset = Math.ceil(this.#end / align) * align;
    const size = shape.reduce((a, b) => a * b, 1);
    const slice: ParameterSlice = { name, shape: [...shape], offset, size, weightDecay };
    this.#slices.push(slice);
    this.#byName.set(name, slice);
    this.#end = offset + size;
    if (weightDecay) this.#decayEnd = this.size;
    return slice;
  }

  /** Total floats P of each flat buffer: the end of the last tensor, rounded up to 4. */
  get size(): number {
    return Math.ceil(this.#end / 4) * 4;
  }

  /** Weight decay applies to floats [0, decayEnd); a multiple of 4. */
  get decayEnd(): number {
    return this.#decayEnd;
  }

  /** The slices, in order. */
  get slices(): readonly ParameterSlice[] {
    return this.#slices;
  }

  /**
   * The slice of a tensor.
   *
   * @param name the tensor's name
   * @returns its slice
   */
  get(name: string): ParameterSlice {
    const slice = this.#byName.get(name);
    if (!slice) throw new Error(`ParameterLayout: no tensor named '${name}'`);
    return slice;
  }

  /**
   * A binding of one tensor inside a flat buffer (params, grads, m or v),
   * for `makeDispatch`.
   *
   * @param buffer the flat buffer
   * @param name the tensor's name
   * @returns buffer, byte offset and byte size
   */
  binding(buffer: GPUBuffer, name: string): Binding {
    const slice = this.get(name);
    // A zero-sized binding is invalid: bind one aligned word instead.
    return { buffer, offset: slice.offset * 4, size: Math.max(slice.size, 4) * 4 };
  }

  /**
   * Copies named tensors into a new flat array (absent tensors and padding are 0).
   *
   * @param tensors values by name, each of its slice's size
   * @returns the flat array (P)
   */
  pack(tensors: Record<string, ArrayLike<number>>): Float32Array {
    const flat = new Float32Array(this.size);
    for (const [name, data] of Object.entries(tensors)) {
      const slice = this.get(name);
      if (data.length !== slice.size) {
        throw new RangeError(
          `ParameterLayout: '${name}' expects ${slice.size} values, got ${data.length}`,
        );
      }
      flat.set(data, slice.offset);
    }
    return flat;
  }

  /**
   * Views each tensor of a flat array (no copy).
   *
   * @param flat a flat array (P)
   * @returns views by name
   */
  unpack(flat: Float32Array): Record<string, Float32Array> {
    if (flat.length < this.size) {
      throw new RangeError(`ParameterLayout: expected ${this.size} floats, got ${flat.length}`);
    }
    const out: Record<string, Float32Array> = {};
    for (const s of this.#slices) out[s.name] = flat.subarray(s.offset, s.offset + s.size);
    return out;
  }
}

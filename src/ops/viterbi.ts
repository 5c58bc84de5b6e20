/**
 * Viterbi decoding on the GPU: the best tag path and its score per
 * sentence, honouring a mask of allowed transitions (e.g. no O → I-PER in
 * IOB2). Kernel: `shaders/viterbi.wgsl`; reference: `viterbi_ref.ts`.
 *
 * @module
 */

import { viterbi as viterbiWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import type { Allocator } from "../gpu/allocator.ts";
import { createBuffer, STORAGE_USAGE } from "../gpu/buffers.ts";
import type { Binding } from "../gpu/kernel.ts";
import {
  type CrfShape,
  opAllocator,
  type OpOptions,
  Scratch,
  sequenceKernel,
  type SequenceOp,
  sequencePlan,
  type SequenceShape,
} from "./common.ts";

/** Which transitions a decoder may use: 1 allowed, 0 forbidden. */
export interface TransitionMask {
  /** (K, K) [from, to]. */
  transitions: ArrayLike<number>;
  /** (K) tags a sentence may start with. */
  start: ArrayLike<number>;
  /** (K) tags a sentence may end with. */
  end: ArrayLike<number>;
}

/** Buffers of {@linkcode viterbiDecode}. */
export interface ViterbiBuffers {
  /** (B, T, K) f32 scores, row b·T + t. */
  emissions: Binding;
  /** (B) i32 lengths. */
  lengths: Binding;
  /** (K, K) f32 [from, to]. */
  transitions: Binding;
  /** (K) f32. */
  start: Binding;
  /** (K) f32. */
  end: Binding;
  /** (K·K + 2K) u32 packed mask from {@linkcode createTransitionMask}; omit to allow everything. */
  allowed?: Binding;
  /** Output (B, T) i32: the best path, written with `=`; −1 at padding. */
  path: Binding;
  /** Output (B) f32: its score, `=`; 0 for an empty sentence, ≤ −1e29 when every path is forbidden. */
  score: Binding;
}

/** 32-bit words of the kernel's uniform mask array: (32·32 + 2·32) rounded to vec4s. */
const MASK_WORDS = 272 * 4;

/**
 * Packs a transition mask as the kernel reads it: (K·K + 2K) u32,
 * [transitions (K, K) [from, to], start (K), end (K)], 1 allowed, 0 forbidden.
 *
 * @param mask the mask (any non-zero value allows)
 * @param tags K
 * @returns the packed words
 *
 * @example
 * ```ts
 * import { packTransitionMask } from "./viterbi.ts";
 * const words = packTransitionMask({ transitions: [1, 0, 1, 1], start: [1, 0], end: [1, 1] }, 2);
 * if (words.join() !== "1,0,1,1,1,0,1,1") throw new Error(words.join());
 * ```
 */
export function packTransitionMask(mask: TransitionMask, tags: number): Uint32Array {
  const k = tags;
  for (
    const [name, part, size] of [
      ["transitions", mask.transitions, k * k],
      ["start", mask.start, k],
      ["end", mask.end, k],
    ] as const
  ) {
    if (part.length !== size) {
      throw new RangeError(
        `packTransitionMask: expected ${size} ${name} entries, got ${part.length}`,
      );
    }
  }
  const out = new Uint32Array(k * k + 2 * k);
  for (let i = 0; i < k * k; i++) out[i] = mask.transitions[i] ? 1 : 0;
  for (let i = 0; i < k; i++) {
    out[k * k + i] = mask.start[i] ? 1 : 0;
    out[k * k + k + i] = mask.end[i] ? 1 : 0;
  }
  return out;
}

/**
 * Uploads a transition mask for {@linkcode viterbiDecode}.
 *
 * @param gpu the device
 * @param mask the mask, or undefined to allow every transition
 * @param tags K
 * @param allocator the owner (default: none; the caller frees the buffer with `destroyBuffer`)
 * @returns a (K·K + 2K) u32 buffer, padded to the 4,352 bytes the kernel's uniform array spans
 *
 * @example
 * ```ts
 * import { acquireGpu, readInt32 } from "../gpu/mod.ts";
 * import { createTransitionMask } from "./viterbi.ts";
 * const gpu = await acquireGpu();
 * const buffer = createTransitionMask(gpu, undefined, 2);
 * if ((await readInt32(gpu, buffer, 8)).join() !== "1,1,1,1,1,1,1,1") throw new Error("wrong");
 * ```
 */
export function createTransitionMask(
  gpu: Gpu,
  mask: TransitionMask | undefined,
  tags: number,
  allocator?: Allocator,
): GPUBuffer {
  const ones = (n: number) => new Array<number>(n).fill(1);
  const words = packTransitionMask(
    mask ?? { transitions: ones(tags * tags), start: ones(tags), end: ones(tags) },
    tags,
  );
  // Bound as a uniform array of 272 vec4u (K ≤ 32), so it is that long whatever K.
  const padded = new Uint32Array(MASK_WORDS);
  padded.set(words);
  const usage = STORAGE_USAGE | GPUBufferUsage.UNIFORM;
  return allocator
    ? allocator.buffer("transition mask", padded, usage)
    : createBuffer(gpu, "transition mask", padded, usage);
}

/**
 * Builds the dispatch for Viterbi decoding of a padded batch: one
 * dispatch, one workgroup per S sentences, time loop inside, backpointers
 * in an internal (B, T, K) i32 scratch buffer that grows on resize.
 *
 * @param gpu the device
 * @param buffers inputs and outputs, see {@linkcode ViterbiBuffers}
 * @param options B, T, K (K ≤ 32); sentences per workgroup (default ⌊64 / K⌋, at most B),
 *   label, allocator
 * @returns the op: `dispatches` (one), `resize`, `destroy`
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readInt32, submitDispatches } from "../gpu/mod.ts";
 * import { viterbiDecode } from "./viterbi.ts";
 * const gpu = await acquireGpu();
 * const f32 = (n: number) => createBuffer(gpu, "f32", n * 4);
 * const b = {
 *   emissions: createBuffer(gpu, "em", new Float32Array([0, 1, 5, 0])), // B=1, T=2, K=2
 *   lengths: createBuffer(gpu, "len", new Int32Array([2])),
 *   transitions: f32(4), start: f32(2), end: f32(2), path: f32(2), score: f32(1),
 * };
 * submitDispatches(gpu, (await viterbiDecode(gpu, b, { batch: 1, time: 2, tags: 2 })).dispatches);
 * if ((await readInt32(gpu, b.path, 2)).join() !== "1,0") throw new Error("wrong path");
 * ```
 */
export async function viterbiDecode(
  gpu: Gpu,
  buffers: ViterbiBuffers,
  options: CrfShape & OpOptions & { sentencesPerGroup?: number; stepsPerDispatch?: number },
): Promise<SequenceOp> {
  const label = options.label ?? "viterbi";
  const dims: CrfShape = options;
  const K = dims.tags;
  // Loop iterations per invocation for n steps (the recursion and the backtrack).
  const plan = sequencePlan(gpu, label, options, (n) => n * (K + 3) + K * K + 100);
  const { groupsOf } = plan;
  const mem = opAllocator(gpu, label, options);
  const params = mem.uniform(`${label} params`, [dims.batch, dims.time, groupsOf(dims.batch), 0]);
  const allowed = buffers.allowed ?? createTransitionMask(gpu, undefined, K, mem);
  // (B, T, K) backpointers, and with split ranges δ carried between them (B, K).
  const words = (b: number, t: number) => b * t * K + (plan.split.ranges ? b * K : 0);
  const backpointers = new Scratch(mem, `${label} backpointers`, words(dims.batch, dims.time));
  const bindings = () => [
    params.buffer,
    buffers.emissions,
    buffers.lengths,
    buffers.transitions,
    buffers.start,
    buffers.end,
    allowed,
    buffers.path,
    buffers.score,
    backpointers.buffer,
  ];
  const main = await sequenceKernel(
    gpu,
    mem,
    plan,
    {
      label,
      code: viterbiWgsl,
      chunk: "main_chunk",
      constants: { K, S: plan.s, WG: plan.wg, K4: Math.ceil(K / 4) },
    },
    bindings(),
    2,
  );
  const resize = (next: SequenceShape) => {
    main.resize(next, next.batch * next.time * K);
    params.set([next.batch, next.time, groupsOf(next.batch), 0]);
    if (backpointers.ensure(words(next.batch, next.time))) main.rebind(bindings());
  };
  resize(dims);
  return {
    label,
    dispatches: main.dispatches,
    resize,
    destroy: () => mem.destroy(),
  };
}

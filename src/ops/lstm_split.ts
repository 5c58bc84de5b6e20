/**
 * A BiLSTM layer whose per-row buffers would pass one storage binding, run
 * as groups of sentences. The saved activations of the whole batch — `pre`
 * and `gates` are (B·T, 8H) f32, 248 MiB at H = 256, B = 256, T = 124 —
 * do not fit WebGPU's 128 MiB per binding, so the layer is built as
 * several layers of {@linkcode createBiLstm}, each over a contiguous range
 * of sentences with its own saved buffers (each within the limit), its own
 * uniforms and bind groups. The caller's x, lengths, h_out, dh_out and dX
 * stay whole: each group binds the byte range of its sentences, which for
 * rows (b·T + t) starts at s₀·T rows and so moves with the padded length T;
 * per batch the ranges move and the dispatches are rebound
 * ({@linkcode rebindDispatches}, one bind group per distinct T, reused).
 * Groups start at multiples of 64 sentences, so every range starts on the
 * 256-byte storage offset alignment whatever T and the row width.
 *
 * Every group's kernels run in order inside the step's one pass: the
 * forward group by group, then the backward group by group. Weight and
 * bias gradients accumulate (`+=`) group after group in that fixed order:
 * deterministic, but summed in another order than one whole-batch
 * dispatch, so they equal the unsplit layer's within float32 rounding (h,
 * the gates, dz and dX are bit-identical: each is computed per sentence or
 * per row as before). The word table's gradient and lazy Adam see one step
 * as before: the batch is not split, only this layer's dispatches are.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { type Binding, rebindDispatches } from "../gpu/kernel.ts";
import { checkSequenceShape, opAllocator, type SequenceOp, type SequenceShape } from "./common.ts";
import type {
  BiLstm,
  BiLstmBuffers,
  BiLstmGradBuffers,
  BiLstmOptions,
  BiLstmSize,
} from "./lstm.ts";

/** Options of the split: the binding limit to fit (tests pretend a small one). */
export interface SplitOptions {
  /**
   * Bytes one storage binding may hold (default: the device's
   * `maxStorageBufferBindingSize`); a smaller value forces the split at small shapes.
   */
  maxBindingBytes?: number;
}

/**
 * Sentences per group so that every per-row buffer of a group fits one
 * binding: `[maxBatch]` when the whole batch fits (the layer is not split).
 * The widest buffers per sentence are the saved gates (T, 8·Hp) f32 (Hp = H
 * rounded up to 4), x and dX (T, E), and the backward's dz exchange
 * (≤ 128·Hp bytes). Groups hold a multiple of 64 sentences (of
 * `minStorageBufferOffsetAlignment / 4` in general), the last one the rest.
 *
 * @param gpu the device
 * @param size the layer's largest B and T, E and H
 * @param options the binding limit to fit
 * @returns sentences per group, summing to `maxBatch`
 * @throws {RangeError} when even one aligned group of sentences would not fit
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../gpu/mod.ts";
 * import { sentenceGroups } from "./lstm_split.ts";
 * const gpu = await acquireGpu();
 * const size = { maxBatch: 256, maxTime: 124, inputSize: 100, hiddenSize: 256 };
 * const groups = sentenceGroups(gpu, size, { maxBindingBytes: 2 ** 27 });
 * if (groups.join() !== "128,128") throw new Error(groups.join());
 * ```
 */
export function sentenceGroups(gpu: Gpu, size: BiLstmSize, options: SplitOptions = {}): number[] {
  const { maxBatch, maxTime, inputSize: E, hiddenSize: H } = size;
  const limit = options.maxBindingBytes ?? gpu.device.limits.maxStorageBufferBindingSize;
  if (!(limit > 0)) {
    throw new RangeError(`createBiLstm: expected maxBindingBytes to be positive, got ${limit}`);
  }
  const Hp = 4 * Math.ceil(H / 4);
  const perSentence = Math.max(maxTime * Math.max(8 * Hp, E) * 4, 128 * Hp);
  if (maxBatch * perSentence <= limit) return [maxBatch];
  const align = Math.max(1, gpu.device.limits.minStorageBufferOffsetAlignment / 4);
  const group = Math.floor(limit / perSentence / align) * align;
  if (group < 1) {
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    throw new RangeError(
      `createBiLstm: a group of ${align} sentences × ${maxTime} tokens at hidden size ${H} ` +
        `needs ${mib(align * perSentence)} MiB per saved buffer, more than the ` +
        `${mib(limit)} MiB storage binding limit; use shorter sentences`,
    );
  }
  const counts: number[] = [];
  for (let first = 0; first < maxBatch; first += group) {
    counts.push(Math.min(group, maxBatch - first));
  }
  return counts;
}

/** A caller's per-row buffer as a range that moves with T: rows s₀·T … of `width` f32. */
interface MovingRange {
  binding: { buffer: GPUBuffer; offset: number; size: number };
  base: number;
  rowBytes: number;
  first: number;
}

/** The byte range of sentences first … first + count − 1 of a (B·T, width) f32 buffer. */
function movingRange(
  binding: Binding,
  width: number,
  first: number,
  count: number,
  maxTime: number,
): MovingRange {
  const buffer = binding instanceof GPUBuffer ? binding : binding.buffer;
  const base = binding instanceof GPUBuffer ? 0 : binding.offset ?? 0;
  const rowBytes = width * 4;
  const size = count * maxTime * rowBytes;
  return {
    binding: { buffer, offset: base + first * maxTime * rowBytes, size },
    base,
    rowBytes,
    first,
  };
}

/** Moves a range to padded length `time` (rows of sentence s start at s·T). */
function moveRange(range: MovingRange, time: number): void {
  range.binding.offset = range.base + range.first * time * range.rowBytes;
}

/** The fixed range of a group's lengths, (count) i32 from sentence `first`. */
function lengthsRange(binding: Binding, first: number, count: number): Binding {
  const buffer = binding instanceof GPUBuffer ? binding : binding.buffer;
  const base = binding instanceof GPUBuffer ? 0 : binding.offset ?? 0;
  return { buffer, offset: base + first * 4, size: count * 4 };
}

/** One group: its layer, its sentences, the ranges its dispatches bind, its backwards. */
interface Group {
  layer: BiLstm;
  first: number;
  count: number;
  ranges: MovingRange[];
  backwards: SequenceOp[];
}

/** Builds an unsplit layer: `createBiLstm` (passed in, so the two modules do not import each other). */
export type LayerBuilder = (
  gpu: Gpu,
  buffers: BiLstmBuffers,
  options: BiLstmSize & BiLstmOptions,
) => Promise<BiLstm>;

/**
 * Builds the layer as one unsplit layer per group of `counts` sentences
 * (see the module doc). Called by `createBiLstm` when
 * {@linkcode sentenceGroups} returns more than one group.
 *
 * @param gpu the device
 * @param buffers the caller's input, parameters and output (whole batch)
 * @param options the layer's sizes and tuning, as for `createBiLstm`
 * @param counts sentences per group (from {@linkcode sentenceGroups})
 * @param build `createBiLstm`
 * @returns the layer; its `dispatches` are every group's forward in order
 */
export async function createSplitBiLstm(
  gpu: Gpu,
  buffers: BiLstmBuffers,
  options: BiLstmSize & BiLstmOptions,
  counts: number[],
  build: LayerBuilder,
): Promise<BiLstm> {
  const { maxBatch, maxTime, inputSize: E, hiddenSize: H } = options;
  const label = options.label ?? "lstm";
  const mem = opAllocator(gpu, label, options);
  const groups: Group[] = [];
  let first = 0;
  for (const count of counts) {
    const x = movingRange(buffers.x, E, first, count, maxTime);
    const hOut = movingRange(buffers.hOut, 2 * H, first, count, maxTime);
    const layer = await build(gpu, {
      ...buffers,
      x: x.binding,
      hOut: hOut.binding,
      lengths: lengthsRange(buffers.lengths, first, count),
    }, {
      ...options,
      maxBatch: count,
      label: `${label} sentences ${first}–${first + count - 1}`,
      allocator: mem,
    });
    groups.push({ layer, first, count, ranges: [x, hOut], backwards: [] });
    first += count;
  }
  let current: SequenceShape = { batch: maxBatch, time: maxTime };
  /** Moves every range to T, resizes each group to its share of the batch, rebinds. */
  const place = ({ batch, time }: SequenceShape) => {
    for (const g of groups) {
      for (const range of g.ranges) moveRange(range, time);
      g.layer.resize({ batch: Math.min(g.count, Math.max(0, batch - g.first)), time });
      rebindDispatches(gpu, g.layer.dispatches);
      for (const b of g.backwards) rebindDispatches(gpu, b.dispatches);
    }
  };
  const head = groups[0].layer;
  const layer: BiLstm = {
    label,
    dispatches: groups.flatMap((g) => g.layer.dispatches),
    saved: head.saved,
    sentenceQuads: head.sentenceQuads,
    uniformWeights: head.uniformWeights,
    profile: head.profile,
    groups: groups.map((g) => g.layer),
    resize(shape: SequenceShape) {
      checkSequenceShape(label, shape, options);
      current = { batch: shape.batch, time: shape.time };
      place(current);
    },
    async backward(grads: BiLstmGradBuffers, backwardOptions = {}) {
      const ops: SequenceOp[] = [];
      for (const g of groups) {
        const dhOut = movingRange(grads.dhOut, 2 * H, g.first, g.count, maxTime);
        const dX = grads.dX ? movingRange(grads.dX, E, g.first, g.count, maxTime) : null;
        g.ranges.push(dhOut, ...(dX ? [dX] : []));
        const op = await g.layer.backward({
          ...grads,
          dhOut: dhOut.binding,
          ...(dX ? { dX: dX.binding } : {}),
        }, backwardOptions);
        g.backwards.push(op);
        ops.push(op);
      }
      place(current);
      return {
        label: `${label} backward`,
        dispatches: ops.flatMap((op) => op.dispatches),
        resize: (shape: SequenceShape) => layer.resize(shape),
        destroy: () => {},
      };
    },
    destroy: () => mem.destroy(),
  };
  layer.resize(current);
  return layer;
}

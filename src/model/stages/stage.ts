/**
 * The stage contract of the graph: a stage is one piece of the model (the
 * input features, one BiLSTM layer, a head, the optimizer) that builds its
 * ops into the graph's allocator and contributes dispatches to the
 * training step (forward, then backward in reverse stage order) and to
 * inference, with one `resize` per batch and one `destroy`.
 *
 * Also the graph's per-batch input buffers and their upload.
 *
 * @module
 */

import type { Allocator } from "../../gpu/allocator.ts";
import { type Gpu, writeBuffer } from "../../gpu/mod.ts";
import type { Binding, Dispatch } from "../../gpu/kernel.ts";
import type { ParameterLayout } from "../../ops/common.ts";
import { groupCharIds } from "../../ops/char_cnn.ts";
import { groupTokenIds } from "../../ops/embedding.ts";
import type { Batch } from "../../data/batch.ts";
import type { ModelConfig } from "../config.ts";
import type { VocabularySizes } from "../parameters.ts";

/** The largest batch the graph's buffers hold. */
export interface GraphCapacity {
  /** Sentences per batch B. */
  maxBatch: number;
  /** Tokens per sentence T. */
  maxTime: number;
  /** Characters per word Lc (char CNN only). */
  maxChars: number;
}

/** Per-batch counts computed on the host at upload. */
export interface BatchExtras {
  /** Distinct casing ids of the batch. */
  casingGroups: number;
  /** Distinct character ids of the batch. */
  charGroups: number;
}

/** A (B·T, width) activation passed from one stage to the next, and its gradient. */
export interface Activation {
  /** (B·T, width) f32 values. */
  value: GPUBuffer;
  /** (B·T, width) f32 gradient, written by the next stage's backward (training only). */
  gradient: GPUBuffer | null;
  /** Features per token. */
  width: number;
  /**
   * The value is already the first BiLSTM layer's input projection x·W_ihᵀ + b_ih
   * (B·T, 8H), not x (inference graphs with the per-word table, `features.ts`).
   */
  projected?: boolean;
}

/** Inputs uploaded per batch (i32; the groupings are CSR, see `groupIds`). */
export interface InputBuffers {
  wordIds: GPUBuffer;
  casingIds: GPUBuffer;
  charIds: GPUBuffer;
  charLengths: GPUBuffer;
  lengths: GPUBuffer;
  tagIds: GPUBuffer;
  wordUnique: GPUBuffer;
  wordOffsets: GPUBuffer;
  wordPositions: GPUBuffer;
  casingUnique: GPUBuffer;
  casingOffsets: GPUBuffer;
  casingPositions: GPUBuffer;
  charUnique: GPUBuffer;
  charOffsets: GPUBuffer;
  charPositions: GPUBuffer;
}

/** What every stage builder gets: the device, the model, the flat buffers and the allocator. */
export interface StageContext {
  gpu: Gpu;
  config: ModelConfig;
  sizes: VocabularySizes;
  /** Capacity with `maxChars` already cut to the config's. */
  capacity: GraphCapacity;
  layout: ParameterLayout;
  params: GPUBuffer;
  /** The flat gradients (training only). */
  grads: GPUBuffer | null;
  inputs: InputBuffers;
  /** The graph's allocator: stages build into scopes of it. */
  allocator: Allocator;
  /** Whether the training step is built. */
  training: boolean;
  /** Seed of the initial weights and the dropout masks. */
  seed: number;
}

/** One piece of the graph. */
export interface Stage {
  /** Name used in errors. */
  readonly name: string;
  /** Training forward dispatches, in order. */
  readonly forward: Dispatch[];
  /** Training backward dispatches, in order (stages' backwards run in reverse stage order). */
  readonly backward: Dispatch[];
  /** Inference dispatches (no dropout), in order. */
  readonly infer: Dispatch[];
  /**
   * Resizes the stage's dispatches for a batch.
   *
   * @param batch the batch
   * @param extras per-batch counts from the upload
   * @param training whether the training dispatches run next (else inference)
   */
  resize(batch: Batch, extras: BatchExtras, training: boolean): void;
  /**
   * Sets the training step (new dropout masks); stages without dropout ignore it.
   *
   * @param step the 1-based step
   */
  setStep(step: number): void;
  /** Frees every buffer and uniform block the stage created. */
  destroy(): void;
}

/**
 * A tensor of the flat parameter (or gradient) buffer as a binding.
 *
 * @param ctx the stage context
 * @param buffer `params` or `grads`
 * @param name the tensor's name
 * @returns its binding
 */
export function slice(ctx: StageContext, buffer: GPUBuffer | null, name: string): Binding {
  if (!buffer) throw new Error(`Tensor '${name}': this graph has no gradients (training: false)`);
  return ctx.layout.binding(buffer, name);
}

/**
 * Allocates the per-batch input buffers for the largest batch.
 *
 * @param mem the graph's allocator
 * @param capacity the largest batch (maxChars already cut to the config's)
 * @returns the buffers
 */
export function createInputs(mem: Allocator, capacity: GraphCapacity): InputBuffers {
  const { maxBatch, maxTime, maxChars } = capacity;
  const rows = maxBatch * maxTime;
  const i32 = (label: string, n: number) => mem.buffer(label, Math.max(1, n) * 4);
  return {
    wordIds: i32("word ids", rows),
    casingIds: i32("casing ids", rows),
    charIds: i32("char ids", rows * maxChars),
    charLengths: i32("char lengths", rows),
    lengths: i32("lengths", maxBatch),
    tagIds: i32("tag ids", rows),
    wordUnique: i32("word groups ids", rows),
    wordOffsets: i32("word groups offsets", rows + 1),
    wordPositions: i32("word groups positions", rows),
    casingUnique: i32("casing groups ids", rows),
    casingOffsets: i32("casing groups offsets", rows + 1),
    casingPositions: i32("casing groups positions", rows),
    charUnique: i32("char groups ids", rows * maxChars),
    charOffsets: i32("char groups offsets", rows * maxChars + 1),
    charPositions: i32("char groups positions", rows * maxChars),
  };
}

/**
 * Uploads a batch's inputs (no readback); with `training`, also the tags
 * and the id groupings of the backward passes.
 *
 * @param ctx the stage context
 * @param batch the batch
 * @param training whether the training step runs next
 * @returns the per-batch group counts
 */
export function uploadBatch(ctx: StageContext, batch: Batch, training: boolean): BatchExtras {
  const { gpu, inputs, config, capacity } = ctx;
  const B = batch.size;
  const T = batch.maxLength;
  if (B > capacity.maxBatch || T > capacity.maxTime) {
    throw new RangeError(
      `Batch of ${B} sentences × ${T} tokens exceeds the graph's capacity ` +
        `${capacity.maxBatch} × ${capacity.maxTime}`,
    );
  }
  writeBuffer(gpu, inputs.wordIds, batch.wordIds);
  writeBuffer(gpu, inputs.lengths, batch.lengths);
  if (config.casingDim > 0) writeBuffer(gpu, inputs.casingIds, batch.casingIds);
  const cnn = config.charFeatures === "cnn";
  const Lc = charCount(batch, capacity.maxChars);
  const charIds = cnn ? trimChars(batch, Lc) : null;
  const charLengths = cnn ? batch.charLengths.map((n) => Math.min(n, Lc)) : null;
  if (cnn) {
    writeBuffer(gpu, inputs.charIds, charIds!);
    writeBuffer(gpu, inputs.charLengths, charLengths!);
  }
  const extras: BatchExtras = { casingGroups: 0, charGroups: 0 };
  if (!training) return extras;
  writeBuffer(gpu, inputs.tagIds, batch.tagIds);
  const wg = batch.wordGroups;
  writeBuffer(gpu, inputs.wordUnique, wg.uniqueIds);
  writeBuffer(gpu, inputs.wordOffsets, wg.offsets);
  writeBuffer(gpu, inputs.wordPositions, wg.positions);
  if (config.casingDim > 0) {
    const cg = groupTokenIds(batch.casingIds, batch.lengths, T);
    writeBuffer(gpu, inputs.casingUnique, cg.uniqueIds);
    writeBuffer(gpu, inputs.casingOffsets, cg.offsets);
    writeBuffer(gpu, inputs.casingPositions, cg.positions);
    extras.casingGroups = cg.uniqueIds.length;
  }
  if (cnn) {
    const chg = groupCharIds(charIds!, charLengths!, batch.lengths, { time: T, chars: Lc });
    writeBuffer(gpu, inputs.charUnique, chg.uniqueIds);
    writeBuffer(gpu, inputs.charOffsets, chg.offsets);
    writeBuffer(gpu, inputs.charPositions, chg.positions);
    extras.charGroups = chg.uniqueIds.length;
  }
  return extras;
}

/**
 * Characters per word the char CNN sees for this batch (at least 1).
 *
 * @param batch the batch
 * @param maxChars the graph's Lc
 * @returns Lc for this batch
 */
export function charCount(batch: Batch, maxChars: number): number {
  return Math.max(1, Math.min(batch.maxChars, maxChars));
}

/** The batch's char ids with each word cut to `Lc` characters. */
function trimChars(batch: Batch, Lc: number): Int32Array {
  if (Lc === batch.maxChars) return batch.charIds;
  const rows = batch.size * batch.maxLength;
  const out = new Int32Array(rows * Lc);
  for (let r = 0; r < rows; r++) {
    out.set(batch.charIds.subarray(r * batch.maxChars, r * batch.maxChars + Lc), r * Lc);
  }
  return out;
}

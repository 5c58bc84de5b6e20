/**
 * The optimizer stage: zeroes the gradients at the start of the step, and
 * after the backward runs the gradient norm, the Adam update (lazy for the
 * word embedding's rows) and, when asked, the weight average.
 *
 * @module
 */

import type { Dispatch } from "../../gpu/kernel.ts";
import { type AdamHyper, type AdamOptimizer, adamOptimizer } from "../../ops/adam.ts";
import { type ParameterAverage, parameterAverage } from "../../ops/average.ts";
import { fillBuffer } from "../../ops/fill.ts";
import type { StageContext } from "./stage.ts";

/** The optimizer's part of the step: before the forward and after the backward. */
export interface OptimizerStage {
  /** Dispatches at the start of the step (zero the gradients). */
  readonly zero: Dispatch[];
  /** Dispatches after the backward (gradient norm, Adam). */
  readonly update: Dispatch[];
  /** Adam, for its statistics. */
  readonly adam: AdamOptimizer;
  /** Adam's first and second moments (P) f32, for checkpoints. */
  readonly moments: { m: GPUBuffer; v: GPUBuffer };
  /** The running weight average and its swap. */
  readonly average: ParameterAverage;
  /** (P) f32 the average lives in while the live parameters are in `params`. */
  readonly averageBuffer: GPUBuffer;
  /**
   * Prepares the next step.
   *
   * @param step Adam's t
   * @param hyper optimizer settings
   * @param rowCount the batch's distinct word ids (lazy Adam rows)
   */
  setStep(step: number, hyper: AdamHyper, rowCount: number): void;
  /** Frees the stage's buffers. */
  destroy(): void;
}

/**
 * The word embedding's lazy-Adam table when it applies (a row length that
 * is a multiple of 4, first in the layout, and not the whole buffer): its
 * gradient rows are overwritten for the batch's words and never zeroed,
 * the optimizer touches only those rows, and the rest is zeroed per step.
 *
 * @param ctx the stage context
 * @returns the table's rows, row length and the first dense float, or null
 */
export function sparseWordTable(
  ctx: StageContext,
): { rows: number; dim: number; denseStart: number } | null {
  const table = ctx.layout.get("word_emb.weight");
  const denseStart = Math.ceil(table.size / 64) * 64;
  const applies = table.offset === 0 && ctx.config.wordDim % 4 === 0 &&
    denseStart < ctx.layout.size;
  return applies ? { rows: ctx.sizes.words, dim: ctx.config.wordDim, denseStart } : null;
}

/**
 * Builds the optimizer stage (training graphs only).
 *
 * @param ctx the stage context (with gradients)
 * @returns the stage
 */
export async function optimizerStage(ctx: StageContext): Promise<OptimizerStage> {
  const { gpu, layout, params, inputs } = ctx;
  const grads = ctx.grads!;
  const mem = ctx.allocator.scope("optimizer");
  const P = layout.size;
  const m = mem.buffer("adam m", P * 4);
  const v = mem.buffer("adam v", P * 4);
  const sparse = sparseWordTable(ctx);
  const denseStart = sparse?.denseStart ?? 0;
  const zero = await fillBuffer(gpu, { buffer: grads }, {
    value: 0,
    label: "zero gradients",
    offset: denseStart,
    count: P - denseStart,
    allocator: mem,
  });
  const adam = await adamOptimizer(gpu, { params, grads, m, v }, {
    size: P,
    decayEnd: layout.decayEnd,
    sparseTable: sparse
      ? { rows: sparse.rows, dim: sparse.dim, ids: inputs.wordUnique }
      : undefined,
    allocator: mem,
  });
  const averageBuffer = mem.buffer("parameter average", P * 4);
  const average = await parameterAverage(gpu, { params, average: averageBuffer }, {
    size: P,
    allocator: mem,
  });
  return {
    zero: zero.dispatches,
    update: adam.dispatches,
    adam,
    moments: { m, v },
    average,
    averageBuffer,
    setStep(step, hyper, rowCount) {
      if (sparse) adam.setRowCount(rowCount);
      adam.setStep(step, hyper);
    },
    destroy: () => mem.destroy(),
  };
}

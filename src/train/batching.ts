/**
 * Batch sizes that fit the GPU: the graph holds a B × T rectangle of token
 * rows, and its widest per-row buffer (the LSTM gates, 8H floats, unless the
 * input, the tags or the characters are wider) must fit one storage binding.
 * A long sentence makes T large, so B shrinks until B·T rows fit, in
 * training and in evaluation alike. On a software (fallback) adapter B·T
 * also stays within llvmpipe's 65,535 loop iterations per invocation,
 * which the kernels that loop over a batch's tokens run into
 * (src/ops/lstm.ts checks the same bound).
 *
 * @module
 */

import { inputDim, type ModelConfig } from "../model/config.ts";

/** Loop iterations llvmpipe runs per invocation before it silently stops one. */
export const SOFTWARE_LOOP_LIMIT = 65535;

/** What {@linkcode fitBatches} decided. */
export interface BatchFit {
  /** Sentences per training batch. */
  batchSize: number;
  /** Sentences per evaluation batch. */
  evalBatchSize: number;
  /** T, the longest sentence (tokens). */
  maxTime: number;
  /** Bytes of the widest per-row buffer at the chosen rectangle. */
  largestBuffer: number;
  /** Set when a batch size had to shrink: why, in one sentence. */
  note?: string;
}

/**
 * Bytes per token row of the graph's widest buffer: the LSTM gates (8H),
 * the LSTM input (E), its output (2H), emissions (K) and the characters
 * (maxChars ids, charFilters argmax indices), 4 bytes each.
 *
 * @param config the model
 * @param tags K, the number of tags
 * @returns bytes per (sentence, token) row
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveConfig } from "../model/config.ts";
 * assert.equal(bytesPerRow(resolveConfig({ hidden: 100 }), 9), 8 * 100 * 4);
 * ```
 */
export function bytesPerRow(config: ModelConfig, tags: number): number {
  const cnn = config.charFeatures === "cnn";
  return 4 * Math.max(
    8 * config.hidden,
    inputDim(config),
    2 * config.hidden,
    tags,
    cnn ? config.maxChars : 1,
    cnn ? config.charFilters : 1,
  );
}

/**
 * Shrinks the training and evaluation batch sizes (sentences) so that a
 * batch of the longest sentence fits `limit` bytes per buffer. Batches of the
 * asked size are kept whenever they fit, so runs without long sentences are
 * unchanged.
 *
 * @param asked the requested sentences per batch
 * @param maxTime T, the longest sentence in any split
 * @param rowBytes from {@linkcode bytesPerRow}
 * @param limit bytes one storage binding may hold
 * @param maxRows most B·T rows per batch (default no bound; {@linkcode SOFTWARE_LOOP_LIMIT} on a
 *   software adapter)
 * @returns the batch sizes and, when one shrank, a note saying why
 * @throws {RangeError} when even one sentence of `maxTime` tokens does not fit
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const fit = fitBatches({ batchSize: 32, evalBatchSize: 128 }, 1000, 3200, 128 * 2 ** 20);
 * assert.deepEqual([fit.batchSize, fit.evalBatchSize], [32, 41]);
 * ```
 */
export function fitBatches(
  asked: { batchSize: number; evalBatchSize: number },
  maxTime: number,
  rowBytes: number,
  limit: number,
  maxRows = Infinity,
): BatchFit {
  const byBytes = Math.floor(limit / (rowBytes * maxTime));
  const fits = Math.min(byBytes, Math.floor(maxRows / maxTime));
  if (maxTime > maxRows) {
    throw new RangeError(
      `A sentence of ${maxTime} tokens is longer than the ${maxRows} tokens a batch may hold ` +
        `on this adapter; split the longest sentences`,
    );
  }
  if (fits < 1) {
    throw new RangeError(
      `A sentence of ${maxTime} tokens needs ${rowBytes * maxTime} bytes per GPU buffer at this ` +
        `model size, more than the adapter's storage binding limit of ${limit} bytes; ` +
        `split the longest sentences or use a smaller hidden size`,
    );
  }
  const batchSize = Math.min(asked.batchSize, fits);
  const evalBatchSize = Math.min(asked.evalBatchSize, fits);
  const shrunk = batchSize < asked.batchSize || evalBatchSize < asked.evalBatchSize;
  return {
    batchSize,
    evalBatchSize,
    maxTime,
    largestBuffer: Math.max(batchSize, evalBatchSize) * maxTime * rowBytes,
    note: shrunk
      ? `the longest sentence has ${maxTime} tokens: batches hold at most ${fits} sentences ` +
        `(training ${batchSize}, evaluation ${evalBatchSize}) so that ` +
        (fits < byBytes
          ? `a batch stays within ${maxRows} tokens (the software adapter's loop limit)`
          : `each GPU buffer fits the ${(limit / 2 ** 20).toFixed(0)} MiB storage binding limit`)
      : undefined,
  };
}

/**
 * The events `trainModel` emits while it runs (a JSONL log, a chart in a
 * page, the CLI's lines all listen to them).
 *
 * @module
 */

import type { Coverage } from "../data/embeddings.ts";
import type { ModelConfig } from "../model/config.ts";
import type { CalibrationDecision } from "./calibrate.ts";

/** One epoch's result. */
export interface EpochEvent {
  type: "epoch";
  /** 1-based epoch. */
  epoch: number;
  /** Mean training loss per batch. */
  loss: number;
  /** Dev entity scores (fractions) of the evaluated (averaged) weights. */
  dev: { precision: number; recall: number; f1: number };
  /** Seconds of training steps. */
  seconds: number;
  /** Training tokens per second. */
  tokensPerSecond: number;
  /** Whether this epoch's weights are the best so far (and were saved). */
  best: boolean;
  /** The epoch's learning rate. */
  lr: number;
  /**
   * Present when a time budget or an interrupt cut the epoch short: the
   * batches run and the epoch's total. Such an epoch is evaluated but not
   * kept in the resumable history; a resume redoes it.
   */
  partial?: { batches: number; of: number };
}

/** Events emitted while training. */
export type TrainEvent =
  | {
    type: "start";
    adapter: string;
    sentences: number;
    tokens: number;
    parameters: number;
    config: ModelConfig;
    dispatchesPerStep: number;
    /** Sentences per training and evaluation batch after fitting the GPU's binding limit. */
    batchSize: number;
    evalBatchSize: number;
  }
  | { type: "loss"; epoch: number; step: number; loss: number; tokensPerSecond: number }
  | EpochEvent
  /** How much of the vocabulary the pretrained vectors cover. */
  | ({ type: "coverage" } & Coverage)
  /** Something the caller should know: unseen tags, an empty test set, smaller batches. */
  | { type: "warning"; message: string }
  | { type: "stop"; reason: string; epoch: number }
  /** The end-of-training temperature fit on dev and whether it was kept. */
  | ({ type: "calibration" } & CalibrationDecision)
  | { type: "test"; f1: number; precision: number; recall: number };

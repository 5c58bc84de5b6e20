/**
 * The training loop's options and their defaults, written once: the
 * trainer reads them from {@linkcode TRAIN_DEFAULTS}, and `cli/train.ts`
 * shows them in `--help` from the same object.
 *
 * @module
 */

import type { Embeddings } from "../data/embeddings.ts";
import type { TagScheme } from "../data/schemes.ts";
import type { ModelConfig } from "../model/config.ts";
import type { ProgressSink } from "./progress.ts";
import type { TrainEvent } from "./events.ts";

/** Defaults of the training loop (model sizes are in `DEFAULT_CONFIG`). */
export const TRAIN_DEFAULTS = Object.freeze({
  /** Most epochs. */
  epochs: 30,
  /** Sentences per training batch. */
  batchSize: 32,
  /** Sentences per evaluation batch (fewer when long sentences would not fit a GPU binding). */
  evalBatchSize: 128,
  /** Adam learning rate at epoch 1. */
  lr: 2e-3,
  /** The learning rate of epoch e is lr / (1 + lrDecay·(e − 1)). */
  lrDecay: 0.05,
  /** Global gradient-norm clip (0 disables). */
  clip: 5,
  /** AdamW's decoupled weight decay λ (0: plain Adam, as before it existed). */
  weightDecay: 0,
  /** Per-step decay of the weight average that is evaluated and kept (0: raw weights). */
  average: 0.999,
  /** Epochs without a better dev F1 before stopping (0: never stop early). */
  patience: 5,
  /** Seed of the weights, the shuffling and dropout. */
  seed: 1,
  /** Output tag scheme. */
  scheme: "IOB2" as TagScheme,
  /** Keep words seen at least this often in the training data. */
  minFrequency: 1,
  /** Lowercase words before lookup. */
  lowercase: true,
  /** Map digits to 0 before lookup. */
  normalizeDigits: true,
  /** Probability of feeding a word seen once as `<unk>`. */
  unkReplace: 0.5,
  /** Probability of feeding any word as `<unk>`. */
  wordDropout: 0.2,
  /** Steps between loss readbacks. */
  lossEvery: 50,
  /** After training, fit a temperature of span scores on dev; keep it if it lowers the dev ECE. */
  calibrate: true,
});

/** Options of `trainModel`; every field has a default ({@linkcode TRAIN_DEFAULTS}). */
export interface TrainOptions {
  /** Model sizes (defaults: `resolveConfig`); on resume or fine-tuning they must match the model. */
  config?: Partial<ModelConfig>;
  /** Most epochs. */
  epochs?: number;
  /** Sentences per batch. */
  batchSize?: number;
  /** Adam learning rate, decayed as lr / (1 + decay·(epoch − 1)). */
  lr?: number;
  /** Learning-rate decay per epoch. */
  lrDecay?: number;
  /** Global gradient-norm clip (0 disables). */
  clip?: number;
  /**
   * AdamW's decoupled weight decay λ (≥ 0; default 0): every step also
   * moves each parameter by −lr·λ·p, as `torch.optim.AdamW(model.parameters())`
   * does. Every tensor decays (biases, CRF transitions and embeddings
   * included, PyTorch's default); the word embedding's rows decay on the
   * steps whose batch holds their word (lazy Adam updates only those rows).
   * On resume the checkpoint's λ when this is left out.
   */
  weightDecay?: number;
  /**
   * Per-step decay of the exponential moving average of the weights that is
   * evaluated, kept and saved (Polyak averaging; 0 evaluates the raw weights).
   */
  average?: number;
  /** Epochs without a better dev F1 before stopping (0 never stops early). */
  patience?: number;
  /** Seed of the weights, the shuffling and dropout. */
  seed?: number;
  /** Output tag scheme. */
  scheme?: TagScheme;
  /**
   * Stop after this many seconds of training (> 0), checked after each step,
   * so at least one step runs; an epoch it cuts short is evaluated and marked
   * `partial`, and a resume redoes that epoch.
   */
  timeBudget?: number;
  /** Keep words seen at least this often in the training data. */
  minFrequency?: number;
  /**
   * Lowercase words before lookup ("JAPAN" in a headline finds "Japan"'s
   * embedding; case still reaches the model through the casing and
   * character features).
   */
  lowercase?: boolean;
  /** Map digits to 0. */
  normalizeDigits?: boolean;
  /** Pretrained word vectors (their dimension sets the word embedding size). */
  embeddings?: Embeddings;
  /**
   * Probability of replacing a word seen once in the training data by
   * `<unk>` each time it is fed, so the `<unk>` embedding learns what rare
   * words look like (Lample et al. 2016).
   */
  unkReplace?: number;
  /**
   * Probability of feeding any word as `<unk>`: word-level dropout, which
   * pushes the model to use the character and casing features.
   */
  wordDropout?: number;
  /** Read the loss back every this many steps. */
  lossEvery?: number;
  /** Sentences per batch at evaluation (capped so that long sentences fit the GPU). */
  evalBatchSize?: number;
  /**
   * Largest GPU buffer, in bytes, a batch may need (default and upper bound:
   * the device's `maxStorageBufferBindingSize`); batches are cut to fit it.
   */
  maxBindingBytes?: number;
  /** A checkpoint to resume (its bytes, from a `last` save). */
  resume?: Uint8Array;
  /** A model to fine-tune (its bytes): its vocabularies and weights are the start. */
  initFrom?: Uint8Array;
  /**
   * Called with model bytes: "best" after a dev improvement, "last" after
   * every epoch (with the optimizer state and the best weights, so a resume
   * restores both). After an epoch cut short, "last" holds the state at
   * that epoch's start, so a resume redoes it.
   */
  save?: (kind: "best" | "last", bytes: Uint8Array) => Promise<void> | void;
  /** Called for every event (for a JSONL log, a chart in a page). */
  onEvent?: (event: TrainEvent) => void;
  /** Where the progress bar goes (default: none). */
  progress?: ProgressSink;
  /** Stops training after the current step when aborted (Ctrl-C). */
  signal?: AbortSignal;
  /** Text describing the data, stored in the model's summary. */
  corpus?: string;
  /**
   * After training, tag the dev set once with the chosen model, fit a
   * temperature of its span scores (`fitTemperature`) and store it in the
   * model's `calibration` when it lowers the dev expected calibration error
   * (default true). The decision is in the result and the summary either way.
   * The weights never change.
   */
  calibrate?: boolean;
}

/** The loop's options with every default filled in and every value checked. */
export type ResolvedTrainOptions =
  & Omit<typeof TRAIN_DEFAULTS, "scheme">
  & { scheme: TagScheme; timeBudget?: number };

function check(name: string, ok: boolean, expected: string, value: unknown): void {
  if (!ok) throw new RangeError(`${name}: expected ${expected}, found ${value}`);
}

/**
 * Fills in the defaults of the loop's options and checks each value,
 * naming the bad one.
 *
 * @param options the caller's options
 * @returns the options with defaults
 * @throws {RangeError} naming the option, what was expected and what was found
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(resolveTrainOptions({}).epochs, TRAIN_DEFAULTS.epochs);
 * assert.throws(() => resolveTrainOptions({ unkReplace: 2 }), /unkReplace: expected a probability in \[0, 1\], found 2/);
 * ```
 */
export function resolveTrainOptions(options: TrainOptions): ResolvedTrainOptions {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...TRAIN_DEFAULTS, ...given } as ResolvedTrainOptions;
  const integer = (name: keyof ResolvedTrainOptions, min: number) => {
    const v = o[name] as number;
    check(name, Number.isInteger(v) && v >= min, `an integer ≥ ${min}`, v);
  };
  integer("epochs", 1);
  integer("batchSize", 1);
  integer("evalBatchSize", 1);
  integer("patience", 0);
  integer("minFrequency", 1);
  integer("lossEvery", 1);
  check("lr", o.lr > 0 && Number.isFinite(o.lr), "a number > 0", o.lr);
  check("lrDecay", o.lrDecay >= 0 && Number.isFinite(o.lrDecay), "a number ≥ 0", o.lrDecay);
  check("clip", o.clip >= 0, "a number ≥ 0", o.clip);
  check(
    "weightDecay",
    o.weightDecay >= 0 && Number.isFinite(o.weightDecay),
    "a number ≥ 0",
    o.weightDecay,
  );
  check("average", o.average >= 0 && o.average < 1, "a decay in [0, 1)", o.average);
  check(
    "unkReplace",
    o.unkReplace >= 0 && o.unkReplace <= 1,
    "a probability in [0, 1]",
    o.unkReplace,
  );
  check(
    "wordDropout",
    o.wordDropout >= 0 && o.wordDropout < 1,
    "a probability in [0, 1)",
    o.wordDropout,
  );
  check("calibrate", typeof o.calibrate === "boolean", "true or false", o.calibrate);
  if (o.timeBudget !== undefined) {
    check("timeBudget", o.timeBudget > 0, "a number of seconds > 0", o.timeBudget);
  }
  return o;
}

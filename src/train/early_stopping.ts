/**
 * Early stopping on a score that should go up (dev F1).
 *
 * @module
 */

/**
 * Tracks the best score and how many epochs have passed without a new best.
 *
 * @example
 * ```ts
 * import { EarlyStopping } from "./early_stopping.ts";
 * const stop = new EarlyStopping(2);
 * stop.observe(80); stop.observe(79); stop.observe(78);
 * if (!stop.shouldStop || stop.bestEpoch !== 1) throw new Error("wrong");
 * ```
 */
export class EarlyStopping {
  /** Best score seen (−∞ before the first). */
  best = -Infinity;
  /** 1-based epoch of the best score (0 before the first). */
  bestEpoch = 0;
  /** Epochs observed. */
  epoch = 0;

  /** @param patience epochs without improvement before stopping (0: never stop) */
  constructor(readonly patience: number) {}

  /**
   * Records one epoch's score.
   *
   * @param score the epoch's score
   * @returns true when it is a new best
   */
  observe(score: number): boolean {
    this.epoch++;
    if (score > this.best) {
      this.best = score;
      this.bestEpoch = this.epoch;
      return true;
    }
    return false;
  }

  /** True when `patience` epochs have passed since the best. */
  get shouldStop(): boolean {
    return this.patience > 0 && this.epoch - this.bestEpoch >= this.patience;
  }
}

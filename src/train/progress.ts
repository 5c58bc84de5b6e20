/**
 * Progress for long jobs: a bar with tokens/s and ETA on a terminal, plain
 * lines (at most every few seconds) when output is not a TTY.
 *
 * @module
 */

/** Where progress goes, and whether it is an interactive terminal. */
export interface ProgressSink {
  /** Writes text without a newline. */
  write(text: string): void;
  /** True for a terminal that understands carriage returns. */
  isTerminal: boolean;
}

/**
 * Formats seconds as `1h02m`, `3m05s` or `42s`.
 *
 * @param seconds duration
 * @returns the short form
 *
 * @example
 * ```ts
 * import { formatDuration } from "./progress.ts";
 * if (formatDuration(185) !== "3m05s") throw new Error(formatDuration(185));
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

/**
 * A progress bar over a known amount of work (e.g. tokens in an epoch).
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * let out = "";
 * const p = new Progress("epoch 1", 100, { write: (t) => out += t, isTerminal: false }, () => 0);
 * p.update(50);
 * p.done();
 * if (!out.includes("100/100")) throw new Error(out);
 * ```
 */
export class Progress {
  #start: number;
  #lastPrint = -Infinity;
  #done = 0;

  /**
   * @param label what is being done
   * @param total units of work
   * @param sink where to print (default: stderr)
   * @param now clock in milliseconds (for tests)
   * @param unit name of a unit of work, for the rate
   */
  constructor(
    readonly label: string,
    readonly total: number,
    readonly sink: ProgressSink = stderrSink(),
    readonly now: () => number = () => performance.now(),
    readonly unit = "tok",
  ) {
    this.#start = now();
  }

  /** Units per second so far. */
  get rate(): number {
    const seconds = (this.now() - this.#start) / 1000;
    return seconds > 0 ? this.#done / seconds : 0;
  }

  /** Seconds since the start. */
  get elapsed(): number {
    return (this.now() - this.#start) / 1000;
  }

  /**
   * Records progress and redraws (throttled).
   *
   * @param done units completed so far
   * @param extra text appended (e.g. the running loss)
   */
  update(done: number, extra = ""): void {
    this.#done = done;
    const t = this.now();
    const interval = this.sink.isTerminal ? 100 : 5000;
    if (t - this.#lastPrint < interval && done < this.total) return;
    this.#lastPrint = t;
    this.#draw(extra, false);
  }

  /**
   * Final line.
   *
   * @param extra text appended
   * @param completed units completed (default all; fewer when the work was cut short)
   */
  done(extra = "", completed = this.total): void {
    this.#done = completed;
    this.#draw(extra, true);
  }

  #draw(extra: string, final: boolean): void {
    const fraction = this.total > 0 ? Math.min(1, this.#done / this.total) : 1;
    const rate = this.rate;
    const eta = rate > 0 ? (this.total - this.#done) / rate : Infinity;
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const text = `${this.label} ${bar} ${this.#done}/${this.total} ` +
      `${Math.round(rate).toLocaleString("en-US")} ${this.unit}/s ` +
      (final ? `in ${formatDuration(this.elapsed)}` : `ETA ${formatDuration(eta)}`) +
      (extra ? ` ${extra}` : "");
    if (this.sink.isTerminal) this.sink.write(`\r\x1b[2K${text}${final ? "\n" : ""}`);
    else this.sink.write(text + "\n");
  }
}

/**
 * Progress to stderr, as a bar when stderr is a terminal.
 *
 * @returns the sink
 *
 * @example
 * ```ts
 * import { stderrSink } from "./progress.ts";
 * const sink = stderrSink();
 * if (typeof sink.isTerminal !== "boolean") throw new Error();
 * ```
 */
export function stderrSink(): ProgressSink {
  const encoder = new TextEncoder();
  return {
    write: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    isTerminal: Deno.stderr.isTerminal(),
  };
}

/**
 * Runs `deno test` with the arguments given and passes its output and exit
 * status through, with one exception, reported as such on stderr: the test
 * process dying of SIGABRT or SIGSEGV *after* it printed a final summary
 * with 0 failed.
 *
 * Why: `deno test` runs each test file on a thread of the runtime's blocking
 * pool and, once the summary is printed, exits while those threads are torn
 * down in the background (`shutdown_background`). When a thread drove Mesa's
 * Vulkan driver (llvmpipe here), that race now and then corrupts the heap
 * during exit: glibc aborts with "double free or corruption" or "corrupted
 * size vs. prev_size", or the process segfaults. tools/exit_crash/ (one
 * test file of WebGPU calls, nothing of this project) died this way in 16 of
 * 300 `deno test` runs, and the same calls under `deno run` in none. Every
 * result was reported before the crash, so it is not a test failure; any
 * other non-zero exit, a crash before the summary, or a summary with a
 * failure is passed through unchanged.
 *
 * Usage: `deno run -A tools/test.ts <deno test arguments>` (what `deno task
 * test` runs).
 *
 * @module
 */

/** The end of a `deno test` run: `ok | 661 passed (11 steps) | 0 failed (2m0s)`. */
const SUMMARY = /^(ok|FAILED) \| (\d+) passed.*\| (\d+) failed/;

/** Signals of the teardown crash (glibc's abort on heap corruption, or a segfault). */
const TEARDOWN_SIGNALS = new Set(["SIGABRT", "SIGSEGV"]);

/** What the last lines of a run's stdout say. */
export interface RunEnd {
  /** The final summary line, colours removed, when it is the last non-empty line. */
  summary: string | null;
  /** Tests passed and failed, from the summary. */
  passed: number;
  failed: number;
}

/**
 * Reads the end of a `deno test` run's stdout.
 *
 * @param tail the last few kilobytes of stdout
 * @returns the summary, when the output ends with one
 *
 * @example
 * ```ts
 * import { runEnd } from "./test.ts";
 * const end = runEnd("x ... ok\n\n\x1b[32mok\x1b[0m | 3 passed | 0 failed (1s)\n\n");
 * if (end.passed !== 3 || end.failed !== 0) throw new Error(JSON.stringify(end));
 * ```
 */
export function runEnd(tail: string): RunEnd {
  // deno-lint-ignore no-control-regex
  const lines = tail.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim())
    .filter((l) => l !== "");
  const last = lines.at(-1) ?? "";
  const m = last.match(SUMMARY);
  if (!m) return { summary: null, passed: 0, failed: 0 };
  return { summary: last, passed: Number(m[2]), failed: Number(m[3]) };
}

/**
 * Whether a finished run is the teardown crash: killed by SIGABRT or SIGSEGV
 * after a final summary with no failure.
 *
 * @param status the child's exit status
 * @param end what its stdout ended with
 * @returns true only for that case
 *
 * @example
 * ```ts
 * import { isTeardownCrash } from "./test.ts";
 * const end = { summary: "ok | 3 passed | 0 failed", passed: 3, failed: 0 };
 * if (!isTeardownCrash({ success: false, code: 134, signal: "SIGABRT" }, end)) throw new Error();
 * if (isTeardownCrash({ success: false, code: 1, signal: null }, end)) throw new Error();
 * ```
 */
export function isTeardownCrash(status: Deno.CommandStatus, end: RunEnd): boolean {
  return !status.success && status.signal !== null && TEARDOWN_SIGNALS.has(status.signal) &&
    end.summary !== null && end.summary.startsWith("ok") && end.failed === 0 && end.passed > 0;
}

/** Copies a stream to `out`, keeping its last `keep` bytes. */
async function pipe(
  stream: ReadableStream<Uint8Array>,
  out: { write(p: Uint8Array): Promise<number> },
  keep: number,
): Promise<Uint8Array> {
  let tail = new Uint8Array(0);
  for await (const chunk of stream) {
    for (let off = 0; off < chunk.length;) off += await out.write(chunk.subarray(off));
    const joined = new Uint8Array(tail.length + chunk.length);
    joined.set(tail);
    joined.set(chunk, tail.length);
    tail = joined.length > keep ? joined.slice(joined.length - keep) : joined;
  }
  return tail;
}

async function main(args: string[]): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", ...args],
    stdin: "inherit",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const [tail] = await Promise.all([
    pipe(child.stdout, Deno.stdout, 4096),
    pipe(child.stderr, Deno.stderr, 0),
  ]);
  const status = await child.status;
  if (status.success) return 0;
  const end = runEnd(new TextDecoder().decode(tail));
  if (isTeardownCrash(status, end)) {
    console.error(
      `tools/test.ts: every test passed (${end.passed}); the test process then died of ` +
        `${status.signal} while exiting (the runtime's background thread teardown with ` +
        `Mesa's Vulkan driver; see README, Development). Not a test failure.`,
    );
    return 0;
  }
  return status.code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

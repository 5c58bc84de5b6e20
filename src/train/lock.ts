/**
 * A lock file that keeps two training runs out of one output folder (Deno
 * only). The file holds the owner's process id and host; a lock whose
 * process is gone (a crash, `kill -9`) is stale and is taken over.
 *
 * @module
 */

/** The lock file's name inside the output folder. */
export const LOCK_FILE = "train.lock";

/** Who holds a lock. */
interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

/** A held lock; {@linkcode RunLock.release} removes the file. */
export interface RunLock {
  /** The lock file. */
  path: string;
  /** Removes the lock file (when it is still this process's). */
  release(): Promise<void>;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}

/** Whether process `pid` on this machine is alive (true when it cannot be told). */
async function processAlive(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === Deno.pid) return true;
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return true;
    try {
      await Deno.stat("/proc/self");
      return false; // /proc works here, and the process is not in it
    } catch {
      // No /proc (macOS, Windows): ask `kill -0`.
    }
  }
  try {
    const { success } = await new Deno.Command("kill", {
      args: ["-0", String(pid)],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return true;
  }
}

async function readOwner(path: string): Promise<LockOwner | null> {
  try {
    const owner = JSON.parse(await Deno.readTextFile(path));
    return typeof owner?.pid === "number" ? owner as LockOwner : null;
  } catch {
    return null;
  }
}

async function tryCreate(path: string): Promise<boolean> {
  const owner: LockOwner = { pid: Deno.pid, host: hostname(), started: new Date().toISOString() };
  try {
    await Deno.writeTextFile(path, JSON.stringify(owner) + "\n", { createNew: true });
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw e;
  }
}

/**
 * Takes the lock of output folder `dir` for this process: refuses when a
 * live run holds it, takes over a stale one (its process is gone).
 *
 * @param dir the output folder (it must exist)
 * @returns the held lock
 * @throws {Error} naming the folder and the running process when the lock is held,
 *   or the folder when the lock cannot be written
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const lock = await acquireRunLock(dir);
 * await assert.rejects(acquireRunLock(dir), /in use by another training run/);
 * await lock.release();
 * await (await acquireRunLock(dir)).release();
 * await Deno.remove(dir);
 * ```
 */
export async function acquireRunLock(dir: string): Promise<RunLock> {
  const path = `${dir}/${LOCK_FILE}`;
  const lock = {
    path,
    release: async () => {
      if ((await readOwner(path))?.pid === Deno.pid) await Deno.remove(path).catch(() => {});
    },
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      if (await tryCreate(path)) return lock;
    } catch (e) {
      throw new Error(`Cannot write to the output folder ${dir}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const owner = await readOwner(path);
    const otherHost = owner && owner.host !== "" && owner.host !== hostname();
    if (owner && (otherHost || await processAlive(owner.pid))) {
      throw new Error(
        `${dir} is in use by another training run (process ${owner.pid}` +
          `${otherHost ? ` on ${owner.host}` : ""}, started ${owner.started}): wait for it to ` +
          `end or choose another --out (if no such run is alive, delete ${path})`,
      );
    }
    // Stale: its process is gone (or the file is unreadable). Take it over.
    await Deno.remove(path).catch(() => {});
  }
  throw new Error(`${dir} is in use by another training run that just started (${path})`);
}

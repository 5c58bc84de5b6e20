/**
 * Deno-only file helpers for model artifacts: an atomic write (a crash
 * leaves the old file or the new one, never half of either) and
 * safetensors files by path. Kept apart from `safetensors.ts`, which must
 * stay browser-safe.
 *
 * @module
 */

import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
import type { Safetensors, TensorInput } from "./safetensors.ts";

function splitPath(path: string): { dir: string; base: string } {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return cut < 0
    ? { dir: ".", base: path }
    : { dir: path.slice(0, cut) || "/", base: path.slice(cut + 1) };
}

/**
 * Writes `bytes` to `path` atomically: into a temporary file in the same
 * directory (so the rename cannot cross file systems), flushed to disk,
 * then renamed over `path`. On failure the temporary file is removed and
 * `path` is untouched.
 *
 * @param path destination
 * @param bytes contents
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a.bin`, new Uint8Array([1, 2]));
 * if ((await Deno.readFile(`${dir}/a.bin`)).length !== 2) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const { dir, base } = splitPath(path);
  if (base === "") throw new Error(`Cannot write '${path}': the path names a directory`);
  const temp = `${dir}/.${base}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const file = await Deno.open(temp, { write: true, createNew: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw new Error(`Cannot write '${path}': ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Reads and validates a safetensors file.
 *
 * @param path the file
 * @returns its tensors and metadata
 * @throws {SafetensorsError} naming the path when the file is malformed
 *
 * @example
 * ```ts
 * import { readSafetensorsFile, writeSafetensorsFile } from "./files.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensorsFile(path, [{ name: "b", dtype: "F32", shape: [1], data: [2] }]);
 * if ((await readSafetensorsFile(path)).tensors.get("b")!.data[0] !== 2) throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function readSafetensorsFile(path: string): Promise<Safetensors> {
  return decodeSafetensors(await Deno.readFile(path), { source: path });
}

/**
 * Encodes tensors and metadata and writes them to `path` atomically.
 *
 * @param path the file
 * @param tensors the tensors
 * @param metadata the `__metadata__` string map
 *
 * @example
 * ```ts
 * import { writeSafetensorsFile } from "./files.ts";
 * const path = await Deno.makeTempFile();
 * await writeSafetensorsFile(path, [{ name: "x", dtype: "U8", shape: [2], data: [1, 2] }], {});
 * await Deno.remove(path);
 * ```
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: readonly TensorInput[],
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Names {@linkcode writeFileAtomic} gives its temporary files: `.<name>.<8 hex>.tmp`. */
const TEMP_NAME = /^\..+\.[0-9a-f]{8}\.tmp$/;

/**
 * Removes the temporary files that interrupted {@linkcode writeFileAtomic}
 * calls left in `dir` (hidden `.<name>.<8 hex>.tmp` files). Call it only
 * while no other process writes there (e.g. holding the folder's lock).
 *
 * @param dir the folder
 * @returns the names removed
 *
 * @example
 * ```ts
 * import { removeStaleTempFiles } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/.model.safetensors.0a1b2c3d.tmp`, "half");
 * await Deno.writeTextFile(`${dir}/keep.tmp`, "not ours");
 * const removed = await removeStaleTempFiles(dir);
 * if (removed.join() !== ".model.safetensors.0a1b2c3d.tmp") throw new Error(removed.join());
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !TEMP_NAME.test(entry.name)) continue;
    await Deno.remove(`${dir}/${entry.name}`);
    removed.push(entry.name);
  }
  return removed.sort();
}

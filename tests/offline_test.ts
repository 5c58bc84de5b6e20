/**
 * The GPU machines the benchmark runs on have no network: the CLIs and the
 * benchmark must start from an empty module cache with `deno run
 * --cached-only`, so nothing they import statically may be an `npm:` or
 * remote module (the TensorFlow.js peer is imported only when its part runs).
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const ENTRY_POINTS = [
  "cli/train.ts",
  "cli/tag.ts",
  "cli/eval.ts",
  "cli/seeds.ts",
  "cli/selfcheck.ts",
  "bench/main.ts",
];

async function runOffline(args: string[]): Promise<{ code: number; output: string }> {
  const denoDir = await Deno.makeTempDir({ prefix: "offline-deno-dir-" });
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--cached-only", ...args],
      cwd: ROOT.pathname,
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code, output: decode(stdout) + decode(stderr) };
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
}

Deno.test("every CLI and the benchmark start with --cached-only from an empty module cache", async () => {
  for (const entry of ENTRY_POINTS) {
    const { code, output } = await runOffline([entry, "--help"]);
    assert.equal(code, 0, `${entry} --help with an empty cache exited ${code}:\n${output}`);
    assert.match(output, /Usage/i, `${entry} printed no usage`);
  }
});

Deno.test("the GPU self-check runs with --cached-only from an empty module cache", async () => {
  const { code, output } = await runOffline(["cli/selfcheck.ts", "--size", "16"]);
  assert.equal(code, 0, output);
  assert.match(output, /adapter: /);
});

import assert from "node:assert/strict";
import * as shaders from "../shaders/mod.ts";
import { acquireGpu } from "../src/gpu/mod.ts";
import { serveDirectory } from "./serve.ts";
import { resolveWgsl, shaderIdent, shaderModuleText, shaderNames } from "../tools/wgsl_include.ts";

const root = new URL("../", import.meta.url);

/** A script that imports mod.ts from `from`, runs a 2×2 matmul and prints the product. */
function smokeScript(from: string): string {
  return `import * as ner from ${JSON.stringify(from)};
const gpu = await ner.acquireGpu();
const a = ner.createBuffer(gpu, "a", new Float32Array([1, 2, 3, 4]));
const b = ner.createBuffer(gpu, "b", new Float32Array([5, 6, 7, 8]));
const c = ner.createBuffer(gpu, "c", 16);
ner.submitDispatches(gpu, (await ner.matmulForward(gpu, { a, b, c }, { m: 2, n: 2, k: 2 })).dispatches);
console.log((await ner.readFloat32(gpu, c)).join(","));`;
}

async function runScript(source: string, extra: string[] = []): Promise<string> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/smoke.ts`;
  await Deno.writeTextFile(file, source);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", "--no-lock", ...extra, file],
    env: { DENO_DIR: `${dir}/deno_dir` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(dir, { recursive: true });
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `script failed:\n${err}`);
  return new TextDecoder().decode(stdout).trim();
}

Deno.test("shaders/mod.ts is in sync with shaders/*.wgsl, includes resolved, and each export compiles", async () => {
  const dir = new URL("shaders/", root);
  assert.equal(
    Deno.readTextFileSync(new URL("mod.ts", dir)),
    shaderModuleText(dir),
    "shaders/mod.ts is stale: run `deno task shaders`",
  );
  const names = shaderNames(dir);
  assert.deepEqual(Object.keys(shaders).sort(), names.map(shaderIdent).sort());
  const gpu = await acquireGpu();
  for (const name of names) {
    const source = (shaders as Record<string, string>)[shaderIdent(name)];
    assert.equal(source, resolveWgsl(name, dir), name);
    assert.ok(!source.includes("//#include"), `${name}: an include was left unresolved`);
    gpu.device.pushErrorScope("validation");
    const info = await gpu.device.createShaderModule({ label: name, code: source })
      .getCompilationInfo();
    const error = await gpu.device.popErrorScope();
    const errors = info.messages.filter((m) => m.type === "error");
    assert.equal(error, null, `${name}: ${error?.message}`);
    assert.deepEqual(errors, [], name);
  }
});

Deno.test("an include line is replaced by its snippet, nested includes too; a missing or circular one throws", async () => {
  const dir = await Deno.makeTempDir();
  const url = new URL(`file://${dir}/`);
  await Deno.mkdir(`${dir}/common`);
  await Deno.writeTextFile(
    `${dir}/a.wgsl`,
    'const A = 1;\n//#include "common/b.wgsl"\n\nconst D = 4;\n',
  );
  await Deno.writeTextFile(`${dir}/common/b.wgsl`, 'const B = 2;\n//#include "common/c.wgsl"\n');
  await Deno.writeTextFile(`${dir}/common/c.wgsl`, "const C = 3;\n");
  await Deno.writeTextFile(`${dir}/missing.wgsl`, '//#include "common/none.wgsl"\n');
  await Deno.writeTextFile(`${dir}/common/loop.wgsl`, '//#include "common/loop.wgsl"\n');
  try {
    assert.equal(
      resolveWgsl("a.wgsl", url),
      "const A = 1;\nconst B = 2;\nconst C = 3;\n\nconst D = 4;\n",
    );
    assert.deepEqual(shaderNames(url), ["a.wgsl", "missing.wgsl"]);
    assert.throws(
      () => resolveWgsl("missing.wgsl", url),
      /Cannot read shaders\/common\/none\.wgsl \(included from shaders\/missing\.wgsl\)/,
    );
    assert.throws(() => resolveWgsl("common/loop.wgsl", url), /it includes itself/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mod.ts runs kernels from a local checkout", async () => {
  assert.equal(await runScript(smokeScript(new URL("mod.ts", root).href)), "19,22,43,50");
});

Deno.test("mod.ts runs kernels when imported from an http:// URL", async () => {
  const server = serveDirectory(root);
  try {
    assert.equal(await runScript(smokeScript(`${server.url}mod.ts`)), "19,22,43,50");
  } finally {
    await server.close();
  }
});

Deno.test("mod.ts bundles for the browser with its shaders inside, and the bundle runs", async () => {
  const dir = await Deno.makeTempDir();
  const bundle = `${dir}/mod.js`;
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "-o",
      bundle,
      new URL("mod.ts", root).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const text = await Deno.readTextFile(bundle);
  assert.ok(text.includes("@compute"), "the bundle must contain the WGSL sources");
  // mod.ts re-exports trainModel, whose progress bar defaults to a stderr sink, so the bundle
  // holds a `Deno.stderr` inside a function a browser never calls. What matters is that
  // loading and running the bundle never touches Deno: run it with `Deno` made to throw.
  const guarded = `Object.defineProperty(globalThis, "Deno", {
  get() { throw new Error("the browser bundle touched Deno"); }, configurable: true });
` + smokeScript(`file://${bundle}`).replace(
    /^import \* as ner from (.*);$/m,
    "const ner = await import($1);",
  );
  assert.equal(await runScript(guarded), "19,22,43,50");
  await Deno.remove(dir, { recursive: true });
});

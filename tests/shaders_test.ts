import assert from "node:assert/strict";
import * as shaders from "../shaders/mod.ts";
import { acquireGpu } from "../src/gpu/mod.ts";
import { serveDirectory } from "./serve.ts";

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

Deno.test("shaders/mod.ts holds every .wgsl file verbatim, and each compiles", async () => {
  const gpu = await acquireGpu();
  const files = [...Deno.readDirSync(new URL("shaders/", root))]
    .filter((e) => e.name.endsWith(".wgsl"));
  assert.equal(Object.keys(shaders).length, files.length);
  for (const { name } of files) {
    const ident = name.replace(/\.wgsl$/, "").replace(/_(.)/g, (_, c) => c.toUpperCase());
    const source = (shaders as Record<string, string>)[ident];
    assert.equal(source, Deno.readTextFileSync(new URL(`shaders/${name}`, root)), name);
    gpu.device.pushErrorScope("validation");
    const info = await gpu.device.createShaderModule({ label: name, code: source })
      .getCompilationInfo();
    const error = await gpu.device.popErrorScope();
    const errors = info.messages.filter((m) => m.type === "error");
    assert.equal(error, null, `${name}: ${error?.message}`);
    assert.deepEqual(errors, [], name);
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

import assert from "node:assert/strict";
import {
  acquireGpu,
  Allocator,
  createBuffer,
  DeviceLostError,
  getPipeline,
  gpuMemory,
  GpuOperationError,
  makeDispatch,
  NoAdapterError,
  profileDispatches,
  readFloat32,
  submitDispatches,
} from "../src/gpu/mod.ts";

const addOne = {
  label: "add one",
  code: "@group(0) @binding(0) var<storage, read> src: array<f32>;\n" +
    "@group(0) @binding(1) var<storage, read_write> dst: array<f32>;\n" +
    "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {\n" +
    "  if (g.x < arrayLength(&dst)) { dst[g.x] = src[g.x] + 1.0; }\n}",
};

Deno.test("acquireGpu describes the adapter and shares one device", async () => {
  const gpu = await acquireGpu();
  assert.ok(gpu.adapter.description.length > 0);
  assert.equal(typeof gpu.adapter.isFallbackAdapter, "boolean");
  assert.equal(await acquireGpu(), gpu);
  assert.ok(gpu.device.limits.maxStorageBuffersPerShaderStage >= 8);
});

Deno.test("many dispatches run in order in one submit", async () => {
  const gpu = await acquireGpu();
  const a = createBuffer(gpu, "a", new Float32Array(100));
  const b = createBuffer(gpu, "b", 400);
  const ab = await makeDispatch(gpu, addOne, [a, b], [2]);
  const ba = await makeDispatch(gpu, addOne, [b, a], [2]);
  submitDispatches(gpu, [ab, ba, ab, ba, ab]); // a: 0 → 2 → 4; b = a + 1
  const out = await readFloat32(gpu, b);
  assert.ok(out.every((v) => v === 5), `expected all 5, got ${out.slice(0, 4)}`);
});

Deno.test("a shader that does not compile is reported with the kernel's name and line", async () => {
  const gpu = await acquireGpu();
  await assert.rejects(
    getPipeline(gpu, {
      label: "broken",
      code: "@compute @workgroup_size(1) fn main() { let x = ; }",
    }),
    (e: Error) =>
      e instanceof GpuOperationError && /broken/.test(e.message) && /line 1/.test(e.message),
  );
});

Deno.test("a validation error in a submit names the kernel that caused it", async () => {
  const gpu = await acquireGpu();
  const a = createBuffer(gpu, "a", 256);
  // Binding one buffer as both read-only and read-write is invalid.
  const bad = await makeDispatch(gpu, { ...addOne, label: "add one (aliased)" }, [a, a], [1]);
  const good = await makeDispatch(gpu, addOne, [a, createBuffer(gpu, "b", 256)], [1]);
  submitDispatches(gpu, [good, bad]);
  await assert.rejects(
    readFloat32(gpu, a),
    (e: Error) => e instanceof GpuOperationError && e.label === "add one (aliased)",
  );
  // The error is consumed: the device keeps working.
  submitDispatches(gpu, [good]);
  await readFloat32(gpu, a);
});

Deno.test("a lost device is reported clearly, and acquireGpu replaces it", async () => {
  const gpu = await acquireGpu({ fresh: true });
  gpu.destroy();
  await new Promise((r) => setTimeout(r, 10));
  assert.throws(
    () => gpu.check(),
    (e: Error) => e instanceof DeviceLostError && /lost/.test(e.message),
  );
  const again = await acquireGpu();
  assert.ok(!again.isLost);
});

Deno.test("NoAdapterError says what to install or enable for Deno and browsers", () => {
  const message = new NoAdapterError("test").message;
  for (
    const needle of ["Deno", "mesa", "--enable-unsafe-webgpu", "Firefox", "DENO_WEBGPU_BACKEND"]
  ) {
    assert.ok(message.includes(needle), `missing '${needle}' in: ${message}`);
  }
});

Deno.test("without an adapter, acquiring the GPU fails loudly with the fix", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { acquireGpu } from "${new URL("../mod.ts", import.meta.url)}";
      await acquireGpu();`,
    ],
    env: { DENO_WEBGPU_BACKEND: "" },
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stderr } = await child.output();
  assert.notEqual(code, 0);
  assert.match(new TextDecoder().decode(stderr), /No WebGPU adapter found/);
});

Deno.test("an allocator frees its buffers, uniform blocks and scopes, and gpuMemory follows", async () => {
  const gpu = await acquireGpu();
  const before = gpuMemory(gpu).liveBytes;
  const root = new Allocator(gpu, "graph");
  const a = root.buffer("a", 1000);
  const scope = root.scope("op");
  scope.uniform("dims", [1, 2, 3, 4, 5]);
  scope.placeholder();
  assert.equal(root.liveBytes, 1000 + 32 + 16);
  assert.equal(gpuMemory(gpu).liveBytes, before + 1000 + 32 + 16);
  root.release(a);
  assert.throws(() => root.release(a), /a resource it created/);
  scope.destroy();
  assert.equal(root.liveBytes, 0);
  root.scope("another").buffer("b", 64);
  root.destroy();
  assert.equal(gpuMemory(gpu).liveBytes, before);
  assert.throws(() => root.buffer("c", 4), /destroyed/);
});

Deno.test("profileDispatches returns one GPU time per dispatch when timestamps exist", async () => {
  const gpu = await acquireGpu();
  const d = await makeDispatch(gpu, addOne, [
    createBuffer(gpu, "a", 64),
    createBuffer(gpu, "b", 64),
  ], [
    1,
  ]);
  const timings = await profileDispatches(gpu, [d, d]);
  if (gpu.device.features.has("timestamp-query")) {
    assert.equal(timings?.length, 2);
    assert.ok(timings!.every((t) => t.label === "add one" && t.ns >= 0));
  } else {
    assert.equal(timings, null);
  }
});

/**
 * The WebGPU calls of the exit-crash reduction (tools/exit_crash/), shared by
 * its test file (run by `deno test`) and its script (run by `deno run`).
 *
 * @module
 */

/**
 * One compute shader, 20 submits and 20 `mapAsync` reads on a fresh device.
 *
 * @throws when the adapter is missing or a read is wrong
 */
export async function gpuWork(): Promise<void> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("no WebGPU adapter");
  const device = await adapter.requestDevice();
  const code = `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&x)) { x[g.x] = x[g.x] * 2.0 + 1.0; }
}`;
  const module = device.createShaderModule({ code });
  const pipeline = device.createComputePipeline({ layout: "auto", compute: { module } });
  const size = 4096 * 4;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
  const data = device.createBuffer({ size, usage });
  const read = device.createBuffer({
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const entries = [{ binding: 0, resource: { buffer: data } }];
  const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  for (let i = 0; i < 20; i++) {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(64);
    pass.end();
    encoder.copyBufferToBuffer(data, 0, read, 0, size);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const x = new Float32Array(read.getMappedRange());
    if (x[0] !== 2 ** (i + 1) - 1) throw new Error(`step ${i}: ${x[0]}`);
    read.unmap();
  }
}

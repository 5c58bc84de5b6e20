import assert from "node:assert/strict";
import { computeEntryPoints, entryResources } from "../src/gpu/wgsl_resources.ts";
import { lstmGpu, viterbi } from "../shaders/mod.ts";

const code = `
override S: u32 = 2u;
const WG: u32 = 64u;
struct P { x: u32, out: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>; // same slot, other entry
var<workgroup> big: array<vec4f, 4u * S * (WG / 2u)>;
var<workgroup> flag: u32;
fn helper(i: u32) -> f32 { return a[i]; } // reached through a call
@compute @workgroup_size(WG)
fn first(@builtin(global_invocation_id) gid: vec3u) {
  big[gid.x] = vec4f(helper(gid.x));
  out[gid.x] = big[0].x + f32(p.x);
}
@compute @workgroup_size(8, S, 1)
fn second(@builtin(global_invocation_id) gid: vec3u) {
  flag = 1u;
  let x = b[gid.x] + f32(p.out); // "x" and "out" here are a local and a member, not bindings
}
`;

Deno.test("entryResources counts what each entry point reaches, with overrides resolved", () => {
  assert.deepEqual(computeEntryPoints(code), ["first", "second"]);
  const first = entryResources({ label: "t", code, entryPoint: "first", constants: { S: 3 } });
  assert.equal(first.storageBuffers, 2);
  assert.equal(first.uniformBuffers, 1);
  assert.equal(first.workgroupBytes, 4 * 3 * 32 * 16);
  assert.equal(first.invocations, 64);
  const second = entryResources({ label: "t", code, entryPoint: "second", constants: { S: 3 } });
  assert.equal(second.storageBuffers, 1);
  assert.equal(second.workgroupBytes, 16); // one u32, rounded up to 16 bytes
  assert.deepEqual(second.workgroupSize, [8, 3, 1]);
  assert.throws(() => entryResources({ label: "t", code, entryPoint: "third" }), /third/);
});

Deno.test("entryResources on the project's kernels: viterbi binds 8, the gpu recurrence's h array", () => {
  const v = entryResources({ label: "viterbi", code: viterbi, constants: { K: 32, S: 2, WG: 64 } });
  assert.equal(v.storageBuffers, 8);
  assert.equal(v.uniformBuffers, 2);
  assert.equal(v.workgroupBytes, (256 + 128) * 16);
  assert.equal(v.invocations, 64);
  const constants = { H: 256, HP: 256, LANES: 256, S: 4 };
  const f = entryResources({ label: "lstm gpu", code: lstmGpu, constants });
  assert.equal(f.workgroupBytes, 2 * 4 * 256 / 4 * 16 + 16); // hs (2·S·HP/4 vec4) and group_max
  assert.equal(f.invocations, 256);
});

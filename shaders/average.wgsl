// average.wgsl — an exponential moving average of every parameter (Polyak
// averaging), kept beside the flat parameter buffer, and an in-place swap of
// the two so that evaluation can run on the averaged weights without a copy.
//
// Both buffers hold P floats (P % 4 == 0, the layout of ParameterLayout in
// src/ops/adam.ts) and are read as vec4s.
//
// entry `update`:  average = average + weight · (params − average)
//   @binding(0) dims:    uniform (len4 = P / 4, per, _, _) u32 then weight f32 at byte 16
//   @binding(1) params:  (P / 4) vec4f, read only
//   @binding(2) average: (P / 4) vec4f, updated in place
// entry `swap`:    (params, average) = (average, params)
//   @binding(0) dims, @binding(1) params (read_write), @binding(2) average
//   dispatch (both): (groups, 1, 1) workgroups of 64; workgroup w owns vec4s
//   [w·64·per, (w+1)·64·per), invocation i the vec4s w·64·per + k·64 + i, k < per
//   (per stays small: 2 up to 33M parameters, far below llvmpipe's 65,535-iteration trap).

const WG: u32 = 64u;

struct Dims {
  len4: u32,
  per: u32,
  pad0: u32,
  pad1: u32,
  weight: f32,
  pad2: f32,
  pad3: f32,
  pad4: f32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> params_in: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> params_rw: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> average: array<vec4f>;

@compute @workgroup_size(64)
fn update(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * WG * dims.per + lid;
  for (var k = 0u; k < dims.per; k++) {
    let i = base + k * WG;
    if (i >= dims.len4) { break; }
    let a = average[i];
    average[i] = a + dims.weight * (params_in[i] - a);
  }
}

@compute @workgroup_size(64)
fn swap(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * WG * dims.per + lid;
  for (var k = 0u; k < dims.per; k++) {
    let i = base + k * WG;
    if (i >= dims.len4) { break; }
    let p = params_rw[i];
    params_rw[i] = average[i];
    average[i] = p;
  }
}

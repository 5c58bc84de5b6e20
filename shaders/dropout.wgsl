// dropout.wgsl — inverted dropout with a counter-based RNG: no mask buffer.
//
//   key      = pcg(seed ^ pcg(step))                    (per launch, uniform)
//   bits(i)  = pcg(pcg(i) ^ key)                        (per element index i)
//   keep(i)  = bits(i) ≥ threshold,  threshold = round(p · 2³²) (host, clamped)
//   y[i]     = keep(i) ? x[i] · scale : 0 (exactly),  scale = 1 / (1 − p)   (host, as f32)
// pcg is the PCG RXS-M-XS 32-bit hash (Jarzynski & Olano, "Hash Functions for
// GPU Rendering", 2020). The backward is this same kernel applied to dY with
// the same (seed, step): the mask is recomputed, bit for bit, so nothing is
// stored between forward and backward. src/ops/dropout_ref.ts computes the
// same bits with Math.imul. Use a different seed per dropout site and a new
// step per training step.
//
// entry `main` (any n) and `main_vec4` (n % 4 == 0), out of place
//   @binding(0) params: uniform (n, seed, step, threshold, scale f32, _, _, _)
//   @binding(1) x:      (n) f32, or (n / 4) vec4f
//   @binding(2) y:      (n) f32, or (n / 4) vec4f, written with `=`
// entry `inplace` (any n) and `inplace_vec4` (n % 4 == 0)
//   @binding(0) params: as above
//   @binding(1) xy:     (n) f32, or (n / 4) vec4f, overwritten with y
//   dispatch: linear grid of workgroups of 64 (see linearGrid in src/ops/fill.ts);
//   flat invocation k owns elements 4k .. 4k + 3 (one vec4 in the vec4 entries).

struct Params {
  n: u32,
  seed: u32,
  step: u32,
  threshold: u32,
  scale: f32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> xy: array<f32>;
@group(0) @binding(1) var<storage, read_write> xy4: array<vec4f>;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn launch_key() -> u32 {
  return pcg(params.seed ^ pcg(params.step));
}

// x·scale where element i is kept, exactly 0 where dropped (even for x = ±Inf or NaN).
fn apply(v: f32, i: u32, key: u32) -> f32 {
  return select(0.0, v * params.scale, pcg(pcg(i) ^ key) >= params.threshold);
}

fn apply4(v: vec4f, i: u32, key: u32) -> vec4f {
  return vec4f(apply(v.x, i, key), apply(v.y, i + 1u, key), apply(v.z, i + 2u, key),
    apply(v.w, i + 3u, key));
}

//#include "common/flat_id.wgsl"

@compute @workgroup_size(64)
fn main(inv: Grid) {
  let key = launch_key();
  let first = flat_id(inv) * 4u;
  for (var j = 0u; j < 4u; j++) {
    let i = first + j;
    if (i < params.n) { y[i] = apply(x[i], i, key); }
  }
}

@compute @workgroup_size(64)
fn main_vec4(inv: Grid) {
  let k = flat_id(inv);
  if (k * 4u >= params.n) { return; }
  y4[k] = apply4(x4[k], k * 4u, launch_key());
}

@compute @workgroup_size(64)
fn inplace(inv: Grid) {
  let key = launch_key();
  let first = flat_id(inv) * 4u;
  for (var j = 0u; j < 4u; j++) {
    let i = first + j;
    if (i < params.n) { xy[i] = apply(xy[i], i, key); }
  }
}

@compute @workgroup_size(64)
fn inplace_vec4(inv: Grid) {
  let k = flat_id(inv);
  if (k * 4u >= params.n) { return; }
  xy4[k] = apply4(xy4[k], k * 4u, launch_key());
}

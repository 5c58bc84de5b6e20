// reduce_gpu.wgsl — deterministic split-K reductions over rows for the `gpu`
// kernel profile: column sums of an (M, N) matrix (bias gradients over
// B·T rows) computed as C chunks of CH rows, and the combination of C
// partial sums in a fixed order (chunk 0, 1, …, C−1), so that the result
// does not depend on scheduling. `combine` also finishes the partial sums
// of other split-K kernels (e.g. lstm_backward_gpu.wgsl `dwhh_partial`).
//
// entry `column_partial`: part[c, n] = Σ_{m = c·CH}^{min((c+1)·CH, M)−1} x[m, n]
//   @binding(0) rp:   uniform (M, N, CH, C) u32
//   @binding(1) x:    (M, N) f32, read
//   @binding(2) part: (C, N) f32, written with `=`
//   dispatch: (ceil(N / 256), C, 1) workgroups of 256; lane n of chunk c (wg.y) owns column n
//   of its chunk (neighbouring lanes read neighbouring addresses) and loops over CH rows.
//
// entry `outer_partial`: part[c, i·Q + j] = Σ_{m in chunk c} x[m, i] · y[m, j], a chunk of the
// matmul xᵀ·y whose inner dimension is the M rows (dW_out = dEmissionsᵀ·H over B·T tokens)
//   @binding(0) op:   uniform (M, N = P·Q, CH, C, P, Q, _, _) u32 (its first four are `rp`'s)
//   @binding(1) x:    (M, P) f32, read
//   @binding(2) part: (C, P·Q) f32, written with `=`
//   @binding(3) y:    (M, Q) f32, read
//   dispatch: (ceil(P·Q / 256), C, 1) workgroups of 256; lane n = i·Q + j of chunk c (wg.y) owns
//   out[i, j] of its chunk (neighbouring lanes read neighbouring y, one x per row of lanes) and
//   loops over CH rows in order.
//
// entry `combine`: out[n] (+)= Σ_{c = 0}^{C−1} part[c, n], in order
//   @binding(0) rp:   uniform (_, N, _, C) u32
//   @binding(1) src:  (C, N) f32 partial sums, read
//   @binding(2) out:  (N) f32, ACCUMULATED with `+=` (or `=` when ACCUMULATE is false)
//   dispatch: (min(G, 65535), ceil(G / 65535), 1) workgroups of 256, G = ceil(N / 256); one
//   lane per output element.
//
// entry `combine2`: the same sum into two outputs (dB_ih and dB_hh are equal)
//   @binding(0) rp, @binding(1) src, @binding(2) out as `combine`
//   @binding(3) out2: (N) f32, the same sum, `+=` (or `=`)

override ACCUMULATE: bool = true;

struct Split { m: u32, n: u32, ch: u32, chunks: u32 }
struct Outer { m: u32, n: u32, ch: u32, chunks: u32, p: u32, q: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> rp: Split;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;

@compute @workgroup_size(256)
fn column_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let n = gid.x;
  let c = wg.y;
  if (n >= rp.n) { return; }
  let lo = c * rp.ch;
  let hi = min(lo + rp.ch, rp.m);
  var sum = 0.0;
  for (var m = lo; m < hi; m++) { sum += x[m * rp.n + n]; }
  part[c * rp.n + n] = sum;
}

@group(0) @binding(0) var<uniform> op: Outer;
@group(0) @binding(3) var<storage, read> y: array<f32>;

@compute @workgroup_size(256)
fn outer_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let n = gid.x;
  let c = wg.y;
  if (n >= op.n) { return; }
  let i = n / op.q;
  let j = n - i * op.q;
  let lo = c * op.ch;
  let hi = min(lo + op.ch, op.m);
  var sum = 0.0;
  for (var m = lo; m < hi; m++) { sum += x[m * op.p + i] * y[m * op.q + j]; }
  part[c * op.n + n] = sum;
}

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> out2: array<f32>;

fn chunk_sum(n: u32) -> f32 {
  var sum = 0.0;
  for (var c = 0u; c < rp.chunks; c++) { sum += src[c * rp.n + n]; }
  return sum;
}

@compute @workgroup_size(256)
fn combine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.y * nwg.x * 256u + gid.x;
  if (n >= rp.n) { return; }
  let sum = chunk_sum(n);
  if (ACCUMULATE) { out[n] += sum; } else { out[n] = sum; }
}

@compute @workgroup_size(256)
fn combine2(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.y * nwg.x * 256u + gid.x;
  if (n >= rp.n) { return; }
  let sum = chunk_sum(n);
  if (ACCUMULATE) {
    out[n] += sum;
    out2[n] += sum;
  } else {
    out[n] = sum;
    out2[n] = sum;
  }
}

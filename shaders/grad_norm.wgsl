// grad_norm.wgsl — the global L2 norm of a flat gradient buffer: out[0] = sqrt(Σ_i g[i]²).
//
// Two dispatches, deterministic: a fixed partition of g, a fixed summation
// order per invocation and a fixed tree at the end; no atomics, so the same
// gradients give the same bits. The partial sums are per invocation, not per
// workgroup: a workgroup barrier costs more than the loads it would save on
// llvmpipe (measured 2–4× slower with a per-workgroup tree), so only the
// one-workgroup `finish` uses workgroup memory.
// The norm stays on the GPU (the Adam kernel reads it for clipping and the
// non-finite check); the host reads it only for occasional logging.
// Σ g² is accumulated in f32: a gradient whose squares overflow f32
// (|g| ≳ 1.8e19 in total) gives +Inf, which the optimizer treats like NaN.
//
// entry `partial` (scalar loads, any n) and `partial_vec4` (n % 4 == 0)
//   @binding(0) dims:     uniform (n, len, per, groups) u32: n floats; len = n, or n / 4 for
//                         vec4; each invocation reads `per` elements, a workgroup 64·per
//   @binding(1) g:        (n) f32, or (n / 4) vec4f
//   @binding(2) partials: (groups · 64) f32, written with `=`: Σ g² over one invocation's
//                         elements
//   dispatch: (groups, 1, 1) workgroups of 64; workgroup w owns the contiguous elements
//   [w·64·per, (w+1)·64·per); invocation i reads w·64·per + k·64 + i for k < per, so
//   neighbouring invocations read neighbouring elements. per is bounded by the host
//   (≤ 256 on a 128 MiB buffer) far below llvmpipe's 65,535-iteration trap.
//
// entry `partial_rows`: Σ g² over the rows of a table that a step touched (the
// word embedding's gradient with adam.wgsl's `sparse_rows`), appended to the
// dense partials so that `finish` sums both.
//   @binding(0) rdims:    uniform (count, dim4, first, _) u32: `count` rows of dim4 vec4s;
//                         partial sums are written from partials[first]
//   @binding(1) g4:       (rows · dim4) vec4f, the table's gradient (row r at r · dim4)
//   @binding(2) partials: written with `=` at [first, first + groups·64)
//   @binding(3) row_ids:  (≥ count) i32, distinct row ids (negative ids contribute 0)
//   dispatch: (groups, 1, 1), fixed whatever the count; invocation j of the grid
//   (N invocations) sums rows j, j + N, j + 2N, … < count, so at most
//   ceil(count / N)·dim4 loads each.
//
// entry `finish`
//   @binding(0) dims:     as above (`groups` counts the dense and the row partial groups)
//   @binding(1) partials: (groups · 64) f32
//   @binding(2) out:      (≥ 1) f32; out[0] = sqrt(Σ partials), written with `=`
//                         (other words of `out` are not touched)
//   dispatch: (1, 1, 1), one workgroup of 64; invocation i sums partials i, i + 64, …
//   (groups ≤ 2048, so ≤ 2048 iterations), then a tree in workgroup memory.

const WG: u32 = 64u;

struct Dims { n: u32, len: u32, per: u32, groups: u32 }
struct RowDims { count: u32, dim4: u32, first: u32, pad: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(0) var<uniform> rdims: RowDims;
@group(0) @binding(3) var<storage, read> row_ids: array<i32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> g4: array<vec4f>;
@group(0) @binding(1) var<storage, read> partials_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> tree: array<f32, WG>;

// Sums `value` over the workgroup (the tree in workgroup memory); all 64 invocations call it.
fn reduce_tree(lid: u32, value: f32) -> f32 {
  tree[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) { tree[lid] = tree[lid] + tree[lid + stride]; }
    workgroupBarrier();
  }
  return tree[0];
}

@compute @workgroup_size(64)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * WG * dims.per + lid;
  var acc = 0.0;
  for (var k = 0u; k < dims.per; k++) {
    let i = base + k * WG;
    if (i < dims.len) { let x = g[i]; acc = acc + x * x; }
  }
  partials[wid.x * WG + lid] = acc;
}

@compute @workgroup_size(64)
fn partial_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * WG * dims.per + lid;
  // Four independent lanes of sums: more accurate and no serial dependency.
  var acc = vec4f(0.0);
  for (var k = 0u; k < dims.per; k++) {
    let i = base + k * WG;
    if (i < dims.len) { let x = g4[i]; acc = acc + x * x; }
  }
  partials[wid.x * WG + lid] = (acc.x + acc.y) + (acc.z + acc.w);
}

@compute @workgroup_size(64)
fn partial_rows(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let j = wid.x * WG + lid;
  let stride = nwg.x * WG;
  var acc = vec4f(0.0);
  for (var r = j; r < rdims.count; r += stride) {
    let id = row_ids[r];
    if (id < 0) { continue; }
    let base = u32(id) * rdims.dim4;
    for (var c = 0u; c < rdims.dim4; c++) { let x = g4[base + c]; acc = acc + x * x; }
  }
  partials[rdims.first + j] = (acc.x + acc.y) + (acc.z + acc.w);
}

@compute @workgroup_size(64)
fn finish(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < dims.groups * WG; i += WG) { acc = acc + partials_in[i]; }
  let total = reduce_tree(lid, acc);
  if (lid == 0u) { out[0] = sqrt(total); }
}

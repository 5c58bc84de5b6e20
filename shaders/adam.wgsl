// adam.wgsl — one Adam / AdamW step over every parameter at once, with global
// gradient-norm clipping and the non-finite-gradient check folded in.
//
// All parameters live in one flat buffer (P floats, P % 4 == 0; tensors are
// slices, see ParameterLayout in src/ops/adam.ts), with grads, m and v beside
// it. The host precomputes, in float64, everything that depends on the step t
// (1-based, the host's counter), so the kernel has no pow():
//   step_size    = lr / (1 − β1^t)
//   one_minus_b1 = 1 − β1, one_minus_b2 = 1 − β2 (in f32, 1 − f32(0.999) is 1.3e-5 off)
//   inv_sqrt_bc2 = 1 / sqrt(1 − β2^t)
//   decay_mul    = 1 − lr·wd for AdamW (decoupled), else 1
//   l2           = wd for Adam with L2 regularisation, else 0
// Per element (PyTorch's Adam/AdamW):
//   c  = min(1, max_norm / (norm + 1e-6)) if max_norm > 0, else 1   (clip factor)
//   g  = c·grad + l2·p                       (l2 and decay only where index < decay_end)
//   m  = β1·m + (1 − β1)·g ;  v = β2·v + (1 − β2)·g²
//   p  = decay_mul·p − step_size · m / (sqrt(v)·inv_sqrt_bc2 + eps)
// When `norm` (written by grad_norm.wgsl's `finish` earlier in the same pass)
// is NaN or ±Inf, the step is skipped: params, m and v are left unchanged and
// stats.skipped is incremented, so one bad batch cannot poison the model and
// the host learns of it without a readback per step.
//
// entry `main` (the dense update)
//   @binding(0) hyper:  uniform Hyper (below)
//   @binding(1) params: (P / 4) vec4f, updated in place (`=`)
//   @binding(2) grads:  (P / 4) vec4f, read only (not scaled in place)
//   @binding(3) m:      (P / 4) vec4f, first moment, updated in place
//   @binding(4) v:      (P / 4) vec4f, second moment, updated in place
//   @binding(5) stats:  Stats (16 bytes): norm is read; invocation 0 of workgroup 0
//                       writes scale and increments skipped or applied (`+= 1`)
//   dispatch: (groups, 1, 1) workgroups of 64; workgroup w owns the contiguous vec4s
//   [w·64·per, (w+1)·64·per), invocation i the vec4s w·64·per + k·64 + i, k < per
//   (per is 2, or more only past 33M parameters: far below llvmpipe's 65,535-iteration trap).
//
// entry `sparse_rows` (lazy Adam for an embedding table): the same update, for
// the rows of a (rows, dim) table that this step's batch touched only, as
// TensorFlow's LazyAdam and PyTorch's SparseAdam do: the rows of words not in
// the batch keep their value and moments instead of drifting on stale momentum,
// and a step costs O(batch) instead of O(vocabulary). The table's gradient rows
// hold this step's values only for the listed ids (embedding.wgsl's overwrite).
// It reads `stats` (norm: the clip factor and the non-finite skip) and never
// writes it; `main`, on the rest of the parameters, counts the step.
//   @binding(0) hyper, @binding(1) params, @binding(2) grads, @binding(3) m, @binding(4) v,
//   @binding(5) stats: as for `main`, bound to the table's range (row r at vec4 r · dim4)
//   @binding(6) row_ids: (≥ count) i32, distinct ids of the batch (negative: skipped)
//   @binding(7) rdims:   uniform (count, dim4, decayed, _) u32; decayed = 1 applies the
//                        weight decay of `hyper` to the table
//   dispatch: linear grid of workgroups of 64 (src/ops/fill.ts linearGrid) over
//   count · dim4 invocations; invocation k owns vec4 k % dim4 of row row_ids[k / dim4].

const WG: u32 = 64u;

struct Hyper {
  step_size: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  one_minus_b1: f32,
  one_minus_b2: f32,
  inv_sqrt_bc2: f32,
  decay_mul: f32,
  l2: f32,
  max_norm: f32,
  len4: u32,        // P / 4
  decay_end4: u32,  // weight decay applies to vec4s [0, decay_end4)
  per: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

struct Stats {
  norm: f32,     // global gradient norm, from grad_norm.wgsl
  scale: f32,    // the clip factor applied at the last step (0 when skipped)
  skipped: u32,  // steps skipped for a non-finite norm
  applied: u32,  // steps applied
}

@group(0) @binding(0) var<uniform> hyper: Hyper;
@group(0) @binding(1) var<storage, read_write> params: array<vec4f>;
@group(0) @binding(2) var<storage, read> grads: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> m: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> v: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> stats: Stats;

struct RowDims { count: u32, dim4: u32, decayed: u32, pad: u32 }

@group(0) @binding(5) var<storage, read> stats_in: Stats;
@group(0) @binding(6) var<storage, read> row_ids: array<i32>;
@group(0) @binding(7) var<uniform> rdims: RowDims;

fn is_finite(x: f32) -> bool {
  // Exponent bits all ones means Inf or NaN; a bit test cannot be folded away
  // by fast-math the way `x != x` can.
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let norm = stats.norm;
  let finite = is_finite(norm);
  var scale = 1.0;
  if (hyper.max_norm > 0.0) { scale = min(1.0, hyper.max_norm / (norm + 1e-6)); }
  if (wid.x == 0u && lid == 0u) {
    if (finite) {
      stats.scale = scale;
      stats.applied = stats.applied + 1u;
    } else {
      stats.scale = 0.0;
      stats.skipped = stats.skipped + 1u;
    }
  }
  if (!finite) { return; }
  let b1 = hyper.beta1;
  let b2 = hyper.beta2;
  let base = wid.x * WG * hyper.per + lid;
  for (var k = 0u; k < hyper.per; k++) {
    let i = base + k * WG;
    if (i >= hyper.len4) { break; }
    let decayed = i < hyper.decay_end4;
    let p = params[i];
    let g = scale * grads[i] + select(0.0, hyper.l2, decayed) * p;
    let mi = b1 * m[i] + hyper.one_minus_b1 * g;
    let vi = b2 * v[i] + hyper.one_minus_b2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    let denom = sqrt(vi) * hyper.inv_sqrt_bc2 + hyper.eps;
    params[i] = select(1.0, hyper.decay_mul, decayed) * p - hyper.step_size * mi / denom;
  }
}

@compute @workgroup_size(64)
fn sparse_rows(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let k = (wid.y * nwg.x + wid.x) * WG + lid;
  if (k >= rdims.count * rdims.dim4) { return; }
  let norm = stats_in.norm;
  if (!is_finite(norm)) { return; }
  var scale = 1.0;
  if (hyper.max_norm > 0.0) { scale = min(1.0, hyper.max_norm / (norm + 1e-6)); }
  let id = row_ids[k / rdims.dim4];
  if (id < 0) { return; }
  let i = u32(id) * rdims.dim4 + k % rdims.dim4;
  let decayed = rdims.decayed != 0u;
  let p = params[i];
  let g = scale * grads[i] + select(0.0, hyper.l2, decayed) * p;
  let mi = hyper.beta1 * m[i] + hyper.one_minus_b1 * g;
  let vi = hyper.beta2 * v[i] + hyper.one_minus_b2 * (g * g);
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) * hyper.inv_sqrt_bc2 + hyper.eps;
  params[i] = select(1.0, hyper.decay_mul, decayed) * p - hyper.step_size * mi / denom;
}

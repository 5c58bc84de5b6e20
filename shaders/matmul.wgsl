// matmul.wgsl — C = op(A)·op(B) (+ bias), and the column sum used for bias gradients.
//
// op(A) is A (M, K) or, with TRANS_A, Aᵀ where A is stored (K, M); likewise
// op(B) is B (K, N) or, with TRANS_B, Bᵀ where B is stored (N, K). All
// row-major f32. The two gradients of C = A·B are this same kernel:
// dA = dC·Bᵀ (TRANS_B) and dB = Aᵀ·dC (TRANS_A).
//
// entry `main`
//   @binding(0) dims: uniform (M, N, K, _) u32
//   @binding(1) a:    (M, K) or (K, M) f32
//   @binding(2) b:    (K, N) or (N, K) f32
//   @binding(3) c:    (M, N) f32, written with `=`, or `+=` when ACCUMULATE
//   @binding(4) bias: (N) f32, added when HAS_BIAS (bind any buffer otherwise)
//   dispatch: (ceil(N / 32), ceil(M / 32), 1) workgroups of 8×8; each
//   invocation owns a 4×4 block of C. Register blocking beats shared-memory
//   tiles on CPU adapters, where a workgroup runs on one thread and memory
//   loads dominate: 8 loads feed 16 multiply-adds here.
//
// entry `colsum`
//   @binding(0) dims: uniform (M, N, _, _) u32
//   @binding(1) x:    (M, N) f32
//   @binding(2) out:  (N) f32, written with `=`, or `+=` when ACCUMULATE
//   dispatch: (ceil(N / 64), 1, 1); one invocation owns one column.

//#include "common/matmul_dims.wgsl"
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn load_a(row: u32, k: u32) -> f32 {
  if (TRANS_A) { return a[k * dims.m + row]; }
  return a[row * dims.k + k];
}

fn load_b(k: u32, col: u32) -> f32 {
  if (TRANS_B) { return b[col * dims.k + k]; }
  return b[k * dims.n + col];
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= dims.m || col0 >= dims.n) { return; }
  // Rows and columns past the edge read a valid neighbour and are not stored.
  let r = min(vec4u(row0, row0 + 1u, row0 + 2u, row0 + 3u), vec4u(dims.m - 1u));
  let cc = min(vec4u(col0, col0 + 1u, col0 + 2u, col0 + 3u), vec4u(dims.n - 1u));
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k = 0u; k < dims.k; k++) {
    let bk = vec4f(load_b(k, cc.x), load_b(k, cc.y), load_b(k, cc.z), load_b(k, cc.w));
    acc0 += load_a(r.x, k) * bk;
    acc1 += load_a(r.y, k) * bk;
    acc2 += load_a(r.z, k) * bk;
    acc3 += load_a(r.w, k) * bk;
  }
  var bias4 = vec4f(0.0);
  if (HAS_BIAS) { bias4 = vec4f(bias[cc.x], bias[cc.y], bias[cc.z], bias[cc.w]); }
  let rows = array<vec4f, 4>(acc0 + bias4, acc1 + bias4, acc2 + bias4, acc3 + bias4);
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= dims.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + j;
      if (col >= dims.n) { break; }
      let index = row * dims.n + col;
      if (ACCUMULATE) { c[index] += rows[i][j]; } else { c[index] = rows[i][j]; }
    }
  }
}

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn colsum(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  if (col >= dims.n) { return; }
  var sum = 0.0;
  for (var row = 0u; row < dims.m; row++) { sum += x[row * dims.n + col]; }
  if (ACCUMULATE) { out[col] += sum; } else { out[col] = sum; }
}

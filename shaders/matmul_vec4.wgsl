// matmul_vec4.wgsl — C = op(A)·op(B) (+ bias) with vec4 loads and an 8×8
// register block per invocation; the fast variant of matmul.wgsl for
// aligned shapes. Same bindings and semantics as matmul.wgsl `main`.
//
// Requires (checked by src/ops/matmul.ts before choosing this variant):
// N % 4 == 0, and the contiguous dimension of each input a multiple of 4:
// K for A (M, K) or M for Aᵀ stored (K, M); N for B (K, N) or K for Bᵀ
// stored (N, K). Also K % 4 == 0 (the k loop steps by 4).
//
//   @binding(0) dims: uniform (M, N, K, _) u32
//   @binding(1) a:    (M, K) or (K, M) f32, read as vec4
//   @binding(2) b:    (K, N) or (N, K) f32, read as vec4
//   @binding(3) c:    (M, N) f32 as vec4, written with `=`, or `+=` when ACCUMULATE
//   @binding(4) bias: (N) f32 as vec4, added when HAS_BIAS
//   dispatch: (ceil(N / 64), ceil(M / 64), 1) workgroups of 8×8; each
//   invocation owns an 8×8 block of C as four 4×4 matrices.
//
// Each 4×4 product is a mat4x4 multiply arranged so that column i of the
// accumulator is row i of C: acc += MB·MA where MA's column i is a row of
// op(A) over four k, and MB's column kk is a row of op(B) over four columns.
// On CPU adapters this gives 16 vec4 loads per 256 multiply-adds.

//#include "common/matmul_dims.wgsl"
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4f>;
@group(0) @binding(4) var<storage, read> bias: array<vec4f>;

// MA for rows row0..row0+3 and k4*4..k4*4+3: column i is op(A)[row0 + i, 4k4 .. 4k4+3].
fn load_a(row0: u32, k4: u32) -> mat4x4f {
  let m = dims.m;
  if (TRANS_A) {
    // Stored (K, M): a vec4 holds four rows at one k.
    let m4 = m / 4u;
    let r4 = min(row0, m - 4u) / 4u;
    return transpose(mat4x4f(
      a[(4u * k4) * m4 + r4],
      a[(4u * k4 + 1u) * m4 + r4],
      a[(4u * k4 + 2u) * m4 + r4],
      a[(4u * k4 + 3u) * m4 + r4],
    ));
  }
  let k4n = dims.k / 4u;
  return mat4x4f(
    a[min(row0, m - 1u) * k4n + k4],
    a[min(row0 + 1u, m - 1u) * k4n + k4],
    a[min(row0 + 2u, m - 1u) * k4n + k4],
    a[min(row0 + 3u, m - 1u) * k4n + k4],
  );
}

// MB for k4*4..+3 and columns col4*4..+3: column kk is op(B)[4k4 + kk, 4col4 .. 4col4+3].
fn load_b(k4: u32, col4: u32) -> mat4x4f {
  let n4 = dims.n / 4u;
  let cq = min(col4, n4 - 1u);
  if (TRANS_B) {
    // Stored (N, K): a vec4 holds four k at one column.
    let k4n = dims.k / 4u;
    return transpose(mat4x4f(
      b[(4u * cq) * k4n + k4],
      b[(4u * cq + 1u) * k4n + k4],
      b[(4u * cq + 2u) * k4n + k4],
      b[(4u * cq + 3u) * k4n + k4],
    ));
  }
  return mat4x4f(
    b[(4u * k4) * n4 + cq],
    b[(4u * k4 + 1u) * n4 + cq],
    b[(4u * k4 + 2u) * n4 + cq],
    b[(4u * k4 + 3u) * n4 + cq],
  );
}

fn store_block(acc: mat4x4f, row0: u32, col4: u32) {
  let n4 = dims.n / 4u;
  if (col4 >= n4) { return; }
  var add = vec4f(0.0);
  if (HAS_BIAS) { add = bias[col4]; }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= dims.m) { return; }
    if (ACCUMULATE) { c[row * n4 + col4] += acc[i] + add; } else { c[row * n4 + col4] = acc[i] + add; }
  }
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 8u;
  let col4 = gid.x * 2u;
  if (row0 >= dims.m || col4 * 4u >= dims.n) { return; }
  var acc00 = mat4x4f();
  var acc01 = mat4x4f();
  var acc10 = mat4x4f();
  var acc11 = mat4x4f();
  let k4n = dims.k / 4u;
  for (var k4 = 0u; k4 < k4n; k4++) {
    let a0 = load_a(row0, k4);
    let a1 = load_a(row0 + 4u, k4);
    let b0 = load_b(k4, col4);
    let b1 = load_b(k4, col4 + 1u);
    acc00 += b0 * a0;
    acc01 += b1 * a0;
    acc10 += b0 * a1;
    acc11 += b1 * a1;
  }
  store_block(acc00, row0, col4);
  store_block(acc01, row0, col4 + 1u);
  store_block(acc10, row0 + 4u, col4);
  store_block(acc11, row0 + 4u, col4 + 1u);
}

// Shared by lstm.wgsl (`pack`) and lstm_backward.wgsl (`pack_t`) (included, never compiled
// alone): the packing of W_hh into the vec4 blocks the fused recurrences read. Uses the
// including shader's overrides H, UB and WSTRIDE.

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;

// Writes vec4 n of the packed W_hh (transposed false, quads = UB) or W_hhᵀ (transposed true,
// quads = UBP): element (d, gate, ub, k4, kk) of (2, 4, quads, UB, 4) at
// (d·4 + gate)·WSTRIDE + (ub·UB + k4)·4 + kk holds, for u = 0..3, W_hh[d][gate·H + 4ub + u]
// [4k4 + kk] (transposed: W_hh[d][gate·H + 4k4 + kk][4ub + u]), zero beyond H.
fn pack_vec4(n: u32, quads: u32, transposed: bool) {
  if (n >= 2u * 4u * quads * UB * 4u) { return; }
  let kk = n % 4u;
  let k4 = (n / 4u) % UB;
  let ub = (n / (4u * UB)) % quads;
  let gate = (n / (4u * UB * quads)) % 4u;
  let d = n / (16u * UB * quads);
  var v = vec4f(0.0);
  for (var u = 0u; u < 4u; u++) {
    var j = 4u * ub + u; // row of W_hh[d] within the gate
    var k = 4u * k4 + kk; // column
    if (transposed) {
      j = 4u * k4 + kk;
      k = 4u * ub + u;
    }
    if (j < H && k < H) { v[u] = src[((d * 4u + gate) * H + j) * H + k]; }
  }
  dst[(d * 4u + gate) * WSTRIDE + (ub * UB + k4) * 4u + kk] = v;
}

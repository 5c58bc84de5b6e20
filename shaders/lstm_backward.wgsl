// lstm_backward.wgsl — backward of the bidirectional LSTM recurrence
// (lstm.wgsl): the sequential part only. The fused reverse-time kernel
// turns dL/dh_out into the pre-activation gate gradients dz (B·T, 8H);
// the rest are matmuls over all time steps done by src/ops/lstm.ts
// (dX = dz·W_ih, dW_ih += dzᵀ·x, bias sums) plus `dwhh` here.
//
// Per real step, in reverse visiting order (direction 0: t = len−1 … 0;
// direction 1: t = 0 … len−1), with dh = dh_out[t] + W_hhᵀ·dz_next and
// dc = dc_next + dh⊙o⊙(1 − tanh²c):
//   dz_i = dc⊙g⊙i(1−i), dz_f = dc⊙c_prev⊙f(1−f), dz_g = dc⊙i⊙(1−g²),
//   dz_o = dh⊙tanh(c)⊙o(1−o);  dc_next = dc⊙f.
// Hp = 4·UB = H rounded up to a multiple of 4.
//
// entry `main`
//   @binding(0) params:  uniform (B, T, G = sentence groups, _) u32
//   @binding(1) dh_out:  (B·T, 2H) f32, read (padding rows ignored)
//   @binding(2) gates:   (B·T, 8H) f32, activations i f g o saved by the forward, read
//   @binding(3) cell:    (B·T, 2H) f32, c saved by the forward, read
//   @binding(4) whh_t:   packed W_hh (2, UB, 4·UB, 4) vec4f from `pack_t`, read
//   @binding(5) lengths: (B) i32, read
//   @binding(6) dgates:  (B·T, 8H) f32, dz, written with `=` (zero at padding rows)
//   dispatch: (G, 2, 1) workgroups of (UB, QY, 1), G = ceil(B / (4·QY)), workgroup y is
//   the direction, sentence groups interleaved as in lstm.wgsl. Invocation (ub, q) owns
//   units 4ub … 4ub+3 (all four gates) of sentences 4·(group·QY + q) … +3; dz of the
//   workgroup's sentences (4·QY, 4, Hp) lives in workgroup memory (16·QY·UB ≤ 1024 vec4).
//   Loop iterations per invocation ≈ maxlen·(4·UB + 40) + 4·T.
//
// entry `pack_t`
//   @binding(0) src: W_hh (2, 4H, H) f32, read
//   @binding(1) dst: (2, UB, 4·UB, 4) vec4f, `=`: element (d, ub, r4, rr) is
//       (W_hh[d][gate·H + j][4ub + u] for u = 0..3) where r = 4·r4 + rr, gate = r / Hp,
//       j = r mod Hp (zero when j ≥ H or 4ub + u ≥ H).
//   dispatch: (ceil(2·UB·4·UB·4 / 64), 1, 1); one invocation per vec4.
//
// entry `dwhh`: dW_hh[d] += Σ_n dz[n, d]ᵀ · h_prev[n, d] over all B·T rows
//   @binding(0) params:  uniform (B, T, _, _) u32
//   @binding(1) dz4:     (B·T, 8H) f32 read as vec4 (8H is a multiple of 4)
//   @binding(2) h_prev:  (B·T, 2, Hp) f32 as vec4, saved by the forward, read
//   @binding(3) dwhh:    (2, 4H, H) f32, ACCUMULATED with `+=`
//   dispatch: (ceil(UB / 8), ceil(ceil(4H / 8) / 8), 2) workgroups of 8×8; an invocation
//   owns 8 rows × 4 columns of one direction's dW_hh and loops over all B·T rows
//   (B·T ≤ 65,535 on llvmpipe, checked by the builder). Padding rows have dz = 0.

override H: u32 = 1u;
override UB: u32 = 1u;
override QY: u32 = 1u;

struct Params { batch: u32, time: u32, groups: u32, pad: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dh_out: array<f32>;
@group(0) @binding(2) var<storage, read> gates: array<f32>;
@group(0) @binding(3) var<storage, read> cell: array<f32>;
@group(0) @binding(4) var<storage, read> whh_t: array<vec4f>;
@group(0) @binding(5) var<storage, read> lengths: array<i32>;
@group(0) @binding(6) var<storage, read_write> dgates: array<f32>;

var<workgroup> dzs: array<vec4f, 1024>;
var<workgroup> group_max: u32;

fn tanh4(v: vec4f) -> vec4f {
  return tanh(clamp(v, vec4f(-15.0), vec4f(15.0)));
}

fn load_gates(base: u32, j0: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var u = 0u; u < 4u; u++) {
    if (j0 + u < H) { v[u] = gates[base + j0 + u]; }
  }
  return v;
}

fn load_cell(base: u32, j0: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var u = 0u; u < 4u; u++) {
    if (j0 + u < H) { v[u] = cell[base + j0 + u]; }
  }
  return v;
}

fn load_dh(base: u32, j0: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var u = 0u; u < 4u; u++) {
    if (j0 + u < H) { v[u] = dh_out[base + j0 + u]; }
  }
  return v;
}

fn store_dz(base: u32, j0: u32, v: vec4f) {
  for (var u = 0u; u < 4u; u++) {
    if (j0 + u < H) { dgates[base + j0 + u] = v[u]; }
  }
}

fn sentence_group(x: u32, groups: u32) -> u32 {
  if ((x & 1u) == 0u) { return x / 2u; }
  return groups - 1u - x / 2u;
}

fn weights(index: u32) -> mat4x4f {
  return mat4x4f(whh_t[index], whh_t[index + 1u], whh_t[index + 2u], whh_t[index + 3u]);
}

@compute @workgroup_size(UB, QY, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let B = params.batch;
  let T = params.time;
  let dir = wg.y;
  let ub = lid.x;
  let q = lid.y;
  let j0 = 4u * ub;
  let b0 = (sentence_group(wg.x, params.groups) * QY + q) * 4u;
  let R4 = 4u * UB; // vec4s of dz per sentence

  var len = vec4u(0u);
  for (var s = 0u; s < 4u; s++) {
    if (b0 + s < B) { len[s] = u32(clamp(lengths[b0 + s], 0, i32(T))); }
  }
  for (var s = 0u; s < 4u; s++) {
    for (var gate = 0u; gate < 4u; gate++) { dzs[(4u * q + s) * R4 + gate * UB + ub] = vec4f(0.0); }
  }
  if (ub == 0u && q == 0u) {
    var longest = 0u;
    let first = sentence_group(wg.x, params.groups) * QY * 4u;
    for (var s = first; s < min(first + 4u * QY, B); s++) {
      longest = max(longest, u32(clamp(lengths[s], 0, i32(T))));
    }
    group_max = longest;
  }
  let steps = workgroupUniformLoad(&group_max);

  let w_base = (dir * UB + ub) * R4 * 4u;
  let d_base = 4u * q * R4;
  var dc = mat4x4f(); // column s: dc_next of units j0…j0+3 for sentence b0+s

  for (var n = 0u; n < steps; n++) {
    let step = steps - 1u - n;
    // dh from the recurrence: column s = W_hhᵀ·dz_next for my units of sentence s.
    var dh = mat4x4f();
    for (var r4 = 0u; r4 < R4; r4++) {
      let dm = mat4x4f(dzs[d_base + r4], dzs[d_base + R4 + r4], dzs[d_base + 2u * R4 + r4],
        dzs[d_base + 3u * R4 + r4]);
      dh += weights(w_base + 4u * r4) * dm;
    }
    workgroupBarrier(); // everyone has read dz_next
    for (var s = 0u; s < 4u; s++) {
      if (step < len[s]) {
        var t = step;
        var t_prev = step - 1u; // the step visited before this one (unused at step 0)
        if (dir == 1u) {
          t = len[s] - 1u - step;
          t_prev = t + 1u;
        }
        let row = (b0 + s) * T + t;
        let z = row * 8u * H + dir * 4u * H;
        let i = load_gates(z, j0);
        let f = load_gates(z + H, j0);
        let g = load_gates(z + 2u * H, j0);
        let o = load_gates(z + 3u * H, j0);
        let c_t = load_cell(row * 2u * H + dir * H, j0);
        var c_prev = vec4f(0.0);
        if (step > 0u) { c_prev = load_cell(((b0 + s) * T + t_prev) * 2u * H + dir * H, j0); }
        let dh_t = load_dh(row * 2u * H + dir * H, j0) + dh[s];
        let tc = tanh4(c_t);
        let dct = dc[s] + dh_t * o * (1.0 - tc * tc);
        let dz_i = dct * g * i * (1.0 - i);
        let dz_f = dct * c_prev * f * (1.0 - f);
        let dz_g = dct * i * (1.0 - g * g);
        let dz_o = dh_t * tc * o * (1.0 - o);
        dc[s] = dct * f;
        store_dz(z, j0, dz_i);
        store_dz(z + H, j0, dz_f);
        store_dz(z + 2u * H, j0, dz_g);
        store_dz(z + 3u * H, j0, dz_o);
        let at = (4u * q + s) * R4 + ub;
        dzs[at] = dz_i;
        dzs[at + UB] = dz_f;
        dzs[at + 2u * UB] = dz_g;
        dzs[at + 3u * UB] = dz_o;
      }
    }
    workgroupBarrier(); // dz of this step is complete
  }

  // Padding rows get dz = 0, so the matmuls over all B·T rows ignore them.
  for (var s = 0u; s < 4u; s++) {
    let b = b0 + s;
    if (b >= B) { break; }
    for (var t = len[s]; t < T; t++) {
      let z = (b * T + t) * 8u * H + dir * 4u * H;
      for (var gate = 0u; gate < 4u; gate++) { store_dz(z + gate * H, j0, vec4f(0.0)); }
    }
  }
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;

@compute @workgroup_size(64)
fn pack_t(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  if (n >= 2u * UB * 4u * UB * 4u) { return; }
  let r = n % (16u * UB); // 4·r4 + rr
  let ub = (n / (16u * UB)) % UB;
  let d = n / (16u * UB * UB);
  let gate = r / (4u * UB);
  let j = r % (4u * UB);
  var v = vec4f(0.0);
  for (var u = 0u; u < 4u; u++) {
    let k = 4u * ub + u;
    if (j < H && k < H) { v[u] = src[((d * 4u + gate) * H + j) * H + k]; }
  }
  dst[n] = v;
}

@group(0) @binding(1) var<storage, read> dz4: array<vec4f>;
@group(0) @binding(2) var<storage, read> h_prev: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> dwhh: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn dwhh_main(@builtin(global_invocation_id) gid: vec3u) {
  let k4 = gid.x;
  let r0 = 8u * gid.y;
  let d = gid.z;
  if (k4 >= UB || r0 >= 4u * H) { return; }
  let rows = params.batch * params.time;
  let has_second = r0 + 4u < 4u * H;
  var acc0 = mat4x4f(); // column kk: rows r0…r0+3 times h[4k4 + kk]
  var acc1 = mat4x4f(); // rows r0+4…r0+7
  for (var n = 0u; n < rows; n++) {
    let h = h_prev[(n * 2u + d) * UB + k4];
    let zi = n * 2u * H + d * H + r0 / 4u;
    let z0 = dz4[zi];
    acc0 += mat4x4f(z0 * h.x, z0 * h.y, z0 * h.z, z0 * h.w);
    if (has_second) {
      let z1 = dz4[zi + 1u];
      acc1 += mat4x4f(z1 * h.x, z1 * h.y, z1 * h.z, z1 * h.w);
    }
  }
  for (var kk = 0u; kk < 4u; kk++) {
    let k = 4u * k4 + kk;
    if (k >= H) { break; }
    for (var rr = 0u; rr < 8u; rr++) {
      let r = r0 + rr;
      if (r >= 4u * H) { break; }
      let at = (d * 4u * H + r) * H + k;
      if (rr < 4u) { dwhh[at] += acc0[kk][rr]; } else { dwhh[at] += acc1[kk][rr - 4u]; }
    }
  }
}

// lstm.wgsl — the fused recurrence of a bidirectional LSTM layer (forward
// pass), and the packing of W_hh into the layout it reads.
//
// The input projection of all time steps is a matmul done before this
// kernel (src/ops/lstm.ts): pre = x·W_ihᵀ + b_ih, (B·T, 8H), columns
// [forward i f g o | reverse i f g o], H each. This kernel adds
// W_hh·h_prev + b_hh, applies the nonlinearities and the cell update, with
// the whole time loop inside and both directions in one dispatch:
//   z = pre[b, t, d] + W_hh[d]·h_prev + b_hh[d]
//   i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o); c = f⊙c_prev + i⊙g; h = o⊙tanh(c)
// Direction 0 visits t = 0 … len−1, direction 1 visits t = len−1 … 0
// (each sentence's reverse pass starts at its own last real token), both
// from zero state. Hp = 4·UB = H rounded up to a multiple of 4.
//
// entry `main`
//   @binding(0) params:  uniform (B, T, G = sentence groups, _) u32
//   @binding(1) pre:     (B·T, 8H) f32, read
//   @binding(2) whh:     packed W_hh (2, 4, UB, UB, 4) vec4f, from `pack`, read
//   @binding(3) bhh:     (8H) f32, read
//   @binding(4) lengths: (B) i32, read
//   @binding(5) h_out:   (B·T, 2H) f32, written with `=` (zero at padding rows)
//   @binding(6) gates:   (B·T, 8H) f32, activations i f g o saved for backward, `=` at real rows
//   @binding(7) cell:    (B·T, 2H) f32, c saved for backward, `=` at real rows
//   @binding(8) h_prev:  (B·T, 2, Hp) f32 as vec4, h before each step (the dW_hh operand), `=`
//   dispatch: (G, 2, 1) workgroups of (UB, QY, 1), G = ceil(B / (4·QY)); workgroup y is
//   the direction. Invocation (ub, q) owns hidden units 4ub … 4ub+3 (all four gates) of
//   the four sentences 4·(group·QY + q) … +3. h_prev of the workgroup's sentences lives in
//   workgroup memory; two barriers per step. Workgroup x is mapped to sentence groups
//   alternately from both ends (0, G−1, 1, G−2, …) so that contiguous blocks of
//   workgroups mix long and short sentences of a length-sorted batch.
//   Loop iterations per invocation ≈ maxlen·(UB + 40) + 4·T: bounded for llvmpipe's
//   65,535 limit (checked by the builder).
//
// entry `pack`
//   @binding(0) src:     W_hh (2, 4H, H) f32, PyTorch layout, read
//   @binding(1) dst:     (2, 4, UB, UB, 4) vec4f, `=`: element (d, gate, ub, k4, kk) is
//                        (W_hh[d][gate·H + 4ub + u][4k4 + kk] for u = 0..3), zero beyond H,
//                        so that mat4x4f(4 consecutive vec4) · mat4x4f(h of 4 sentences)
//                        gives z for 4 units × 4 sentences.
//   dispatch: (ceil(2·4·UB·UB·4 / 64), 1, 1); one invocation per vec4.

override H: u32 = 1u;
override UB: u32 = 1u;
override QY: u32 = 1u;

struct Params { batch: u32, time: u32, groups: u32, pad: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read> whh: array<vec4f>;
@group(0) @binding(3) var<storage, read> bhh: array<f32>;
@group(0) @binding(4) var<storage, read> lengths: array<i32>;
@group(0) @binding(5) var<storage, read_write> h_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> gates: array<f32>;
@group(0) @binding(7) var<storage, read_write> cell: array<f32>;
@group(0) @binding(8) var<storage, read_write> h_prev: array<vec4f>;

// h of the workgroup's 4·QY sentences, (4·QY, UB) vec4; 16 KiB, the portable limit.
var<workgroup> hs: array<vec4f, 1024>;
var<workgroup> group_max: u32;

fn sigmoid4(v: vec4f) -> vec4f {
  return 1.0 / (1.0 + exp(-clamp(v, vec4f(-30.0), vec4f(30.0))));
}

// tanh clamped: some GL drivers compute tanh through exp and return NaN for large inputs.
fn tanh4(v: vec4f) -> vec4f {
  return tanh(clamp(v, vec4f(-15.0), vec4f(15.0)));
}

// Four consecutive floats of `pre` for units j0 … j0+3 (zero beyond H).
fn load_pre(base: u32, j0: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var u = 0u; u < 4u; u++) {
    if (j0 + u < H) { v[u] = pre[base + j0 + u]; }
  }
  return v;
}

fn load_bias(base: u32, j0: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var u = 0u; u < 4u; u++) {
    if (j0 + u < H) { v[u] = bhh[base + j0 + u]; }
  }
  return v;
}

fn store_gates(base: u32, j0: u32, v: vec4f) {
  for (var u = 0u; u < 4u; u++) {
    if (j0 + u < H) { gates[base + j0 + u] = v[u]; }
  }
}

fn store_cell(base: u32, j0: u32, v: vec4f) {
  for (var u = 0u; u < 4u; u++) {
    if (j0 + u < H) { cell[base + j0 + u] = v[u]; }
  }
}

fn store_h(base: u32, j0: u32, v: vec4f) {
  for (var u = 0u; u < 4u; u++) {
    if (j0 + u < H) { h_out[base + j0 + u] = v[u]; }
  }
}

fn sentence_group(x: u32, groups: u32) -> u32 {
  if ((x & 1u) == 0u) { return x / 2u; }
  return groups - 1u - x / 2u;
}

fn weights(index: u32) -> mat4x4f {
  return mat4x4f(whh[index], whh[index + 1u], whh[index + 2u], whh[index + 3u]);
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

  var len = vec4u(0u);
  for (var s = 0u; s < 4u; s++) {
    if (b0 + s < B) { len[s] = u32(clamp(lengths[b0 + s], 0, i32(T))); }
  }
  for (var s = 0u; s < 4u; s++) { hs[(4u * q + s) * UB + ub] = vec4f(0.0); }
  if (ub == 0u && q == 0u) {
    // The longest sentence of the workgroup sets the step count (uniform for the barriers).
    var longest = 0u;
    let first = sentence_group(wg.x, params.groups) * QY * 4u;
    for (var s = first; s < min(first + 4u * QY, B); s++) {
      longest = max(longest, u32(clamp(lengths[s], 0, i32(T))));
    }
    group_max = longest;
  }
  let steps = workgroupUniformLoad(&group_max);

  let gate_col = dir * 4u * H; // this direction's first column in pre / gates / bhh
  let b_i = load_bias(gate_col, j0);
  let b_f = load_bias(gate_col + H, j0);
  let b_g = load_bias(gate_col + 2u * H, j0);
  let b_o = load_bias(gate_col + 3u * H, j0);
  let w_base = dir * 4u * UB * UB * 4u + ub * UB * 4u;
  let w_gate = UB * UB * 4u;
  var c = mat4x4f(); // column s: c of units j0…j0+3 for sentence b0+s

  for (var step = 0u; step < steps; step++) {
    // z for 4 units × 4 sentences per gate: column s of acc = units of sentence s.
    var acc_i = mat4x4f();
    var acc_f = mat4x4f();
    var acc_g = mat4x4f();
    var acc_o = mat4x4f();
    let h_base = 4u * q * UB;
    for (var k4 = 0u; k4 < UB; k4++) {
      let hm = mat4x4f(hs[h_base + k4], hs[h_base + UB + k4], hs[h_base + 2u * UB + k4],
        hs[h_base + 3u * UB + k4]);
      let w = w_base + k4 * 4u;
      acc_i += weights(w) * hm;
      acc_f += weights(w + w_gate) * hm;
      acc_g += weights(w + 2u * w_gate) * hm;
      acc_o += weights(w + 3u * w_gate) * hm;
    }
    var h_new = array<vec4f, 4>();
    for (var s = 0u; s < 4u; s++) {
      if (step < len[s]) {
        let b = b0 + s;
        var t = step;
        if (dir == 1u) { t = len[s] - 1u - step; }
        let row = b * T + t;
        h_prev[(row * 2u + dir) * UB + ub] = hs[(4u * q + s) * UB + ub];
        let z = row * 8u * H + gate_col;
        let i = sigmoid4(acc_i[s] + load_pre(z, j0) + b_i);
        let f = sigmoid4(acc_f[s] + load_pre(z + H, j0) + b_f);
        let g = tanh4(acc_g[s] + load_pre(z + 2u * H, j0) + b_g);
        let o = sigmoid4(acc_o[s] + load_pre(z + 3u * H, j0) + b_o);
        let c_new = f * c[s] + i * g;
        c[s] = c_new;
        h_new[s] = o * tanh4(c_new);
        store_gates(z, j0, i);
        store_gates(z + H, j0, f);
        store_gates(z + 2u * H, j0, g);
        store_gates(z + 3u * H, j0, o);
        store_cell(row * 2u * H + dir * H, j0, c_new);
        store_h(row * 2u * H + dir * H, j0, h_new[s]);
      }
    }
    workgroupBarrier(); // everyone has read h_{t−1}
    for (var s = 0u; s < 4u; s++) {
      // Units beyond H stay zero: their weights, pre and bias are zero, so g = 0 and c = 0.
      if (step < len[s]) { hs[(4u * q + s) * UB + ub] = h_new[s]; }
    }
    workgroupBarrier(); // h_t is complete
  }

  // Padding rows: h_out (read by the next layer) and h_prev (a matmul operand) are zero.
  for (var s = 0u; s < 4u; s++) {
    let b = b0 + s;
    if (b >= B) { break; }
    for (var t = len[s]; t < T; t++) {
      let row = b * T + t;
      store_h(row * 2u * H + dir * H, j0, vec4f(0.0));
      h_prev[(row * 2u + dir) * UB + ub] = vec4f(0.0);
    }
  }
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;

@compute @workgroup_size(64)
fn pack(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  if (n >= 2u * 4u * UB * UB * 4u) { return; }
  let kk = n % 4u;
  let k4 = (n / 4u) % UB;
  let ub = (n / (4u * UB)) % UB;
  let gate = (n / (4u * UB * UB)) % 4u;
  let d = n / (16u * UB * UB);
  let k = 4u * k4 + kk;
  var v = vec4f(0.0);
  for (var u = 0u; u < 4u; u++) {
    let j = 4u * ub + u;
    if (j < H && k < H) { v[u] = src[((d * 4u + gate) * H + j) * H + k]; }
  }
  dst[n] = v;
}

// lstm_infer.wgsl — the fused recurrence of a bidirectional LSTM layer for INFERENCE only
// (the cpu kernel profile): the same maths as lstm.wgsl's `main`, but nothing is saved for
// a backward pass (no gates, cell states or h_prev), h_{t−1} always lives in workgroup
// memory, and the weights come packed by lstm.wgsl's `pack` entry (same layout).
//   z = pre[b, t, d] + W_hh[d]·h_prev + b_hh[d]
//   i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o); c = f⊙c_prev + i⊙g; h = o⊙tanh(c)
// Direction 0 visits t = 0 … len−1, direction 1 visits t = len−1 … 0, both from zero state.
//
// entry `main`
//   @binding(0)  params:  uniform (B, T, G = sentence groups, _) u32
//   @binding(1)  pre:     (B·T, 8H) f32, read: x·W_ihᵀ + b_ih, [forward i f g o | reverse i f g o]
//   @binding(2)  whh:     packed W_hh (2, 4, WSTRIDE) vec4f from lstm.wgsl `pack`, read
//                         (storage path; any 16 bytes with USE_UNIFORM)
//   @binding(3)  bhh:     (8H) f32, read
//   @binding(4)  lengths: (B) i32, read
//   @binding(5)  h_out:   (B·T, 2H) f32, written with `=` (zero at padding rows)
//   @binding(6…13) u_{i,f,g,o}{0,1}: uniform (4096) vec4f, the packed W_hh, one (direction,
//                         gate) block of 64 KiB each (USE_UNIFORM: H ≤ 128, since one block
//                         holds 4·UB·UB vec4 = Hp·Hp floats ≤ 16,384; otherwise any 64 KiB
//                         uniform buffer)
//   dispatch: (G, 2, 1) workgroups of (UB, QY, 1), G = ceil(B / (8·QY)); workgroup y is the
//   direction. Invocation (ub, q) owns hidden units 4ub … 4ub+3 (all four gates) of the eight
//   sentences 8·(group·QY + q) … +7: each W_hh vec4 load feeds 8 sentences, each h load 16
//   multiply-adds. h of the workgroup's 8·QY sentences is double-buffered in workgroup memory
//   (2·8·QY·UB vec4 ≤ 16 KiB): one barrier per step. Sentence groups are taken alternately
//   from both ends (0, G−1, 1, G−2, …) so that the contiguous blocks of workgroups llvmpipe
//   gives each CPU thread mix long and short sentences of a length-sorted batch.
//   Loop iterations per invocation ≈ maxlen·UB + 8·T + 16 (checked by src/ops/lstm_infer.ts
//   against llvmpipe's 65,535).

override H: u32 = 1u;
override UB: u32 = 1u;
override QY: u32 = 1u;
override USE_UNIFORM: bool = false;
// vec4s between consecutive (direction, gate) blocks of the packed W_hh (lstm.wgsl `pack`).
override WSTRIDE: u32 = 4u;
// vec4s of workgroup memory for h: 16·QY·UB (sized per layer: llvmpipe's compile time grows
// with a workgroup array's declared size).
override SHARED: u32 = 16u;

struct Params { batch: u32, time: u32, groups: u32, pad: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read> whh: array<vec4f>;
@group(0) @binding(3) var<storage, read> bhh: array<f32>;
@group(0) @binding(4) var<storage, read> lengths: array<i32>;
@group(0) @binding(5) var<storage, read_write> h_out: array<f32>;
@group(0) @binding(6) var<uniform> u_i0: array<vec4f, 4096>;
@group(0) @binding(7) var<uniform> u_f0: array<vec4f, 4096>;
@group(0) @binding(8) var<uniform> u_g0: array<vec4f, 4096>;
@group(0) @binding(9) var<uniform> u_o0: array<vec4f, 4096>;
@group(0) @binding(10) var<uniform> u_i1: array<vec4f, 4096>;
@group(0) @binding(11) var<uniform> u_f1: array<vec4f, 4096>;
@group(0) @binding(12) var<uniform> u_g1: array<vec4f, 4096>;
@group(0) @binding(13) var<uniform> u_o1: array<vec4f, 4096>;

// h of the workgroup's 8·QY sentences, two parities: (2, 8·QY, UB) vec4.
var<workgroup> hs: array<vec4f, SHARED>;
var<workgroup> group_max: u32;

//#include "common/lstm_units.wgsl"
//#include "common/lstm_forward.wgsl"

// h of 8 sentences at unit quad k4, as two 4×4 blocks (columns are sentences).
fn h_quads(hb: u32, k4: u32) -> array<mat4x4f, 2> {
  return array<mat4x4f, 2>(
    mat4x4f(hs[hb + k4], hs[hb + UB + k4], hs[hb + 2u * UB + k4], hs[hb + 3u * UB + k4]),
    mat4x4f(hs[hb + 4u * UB + k4], hs[hb + 5u * UB + k4], hs[hb + 6u * UB + k4],
      hs[hb + 7u * UB + k4]),
  );
}

// What cell_step needs besides the sentence: fixed per invocation, or per step.
struct Ctx {
  b0: u32, T: u32, dir: u32, j0: u32, ub: u32, gate_col: u32, step: u32, hw: u32,
  bias: mat4x4f, // columns: b_hh of gates i, f, g, o for units j0…j0+3
}

// One step of sentence b0 + s (len its length): zr holds W_hh·h_{t−1} of gates i, f, g, o
// (columns) for units j0…j0+3; returns the new c (unchanged past the sentence's end).
fn cell_step(ctx: Ctx, s: u32, len: u32, zr: mat4x4f, c: vec4f) -> vec4f {
  if (ctx.step >= len) { return c; }
  var t = ctx.step;
  if (ctx.dir == 1u) { t = len - 1u - ctx.step; }
  let row = (ctx.b0 + s) * ctx.T + t;
  let zb = row * 8u * H + ctx.gate_col;
  let j0 = ctx.j0;
  let i = sigmoid4(zr[0] + load_pre(zb, j0) + ctx.bias[0]);
  let f = sigmoid4(zr[1] + load_pre(zb + H, j0) + ctx.bias[1]);
  let g = tanh4(zr[2] + load_pre(zb + 2u * H, j0) + ctx.bias[2]);
  let o = sigmoid4(zr[3] + load_pre(zb + 3u * H, j0) + ctx.bias[3]);
  // Units beyond H stay zero: their weights, pre and bias are zero, so g = 0 and c = 0.
  let c_new = f * c + i * g;
  let h_new = o * tanh4(c_new);
  hs[ctx.hw + s * UB + ctx.ub] = h_new;
  store_h(row * 2u * H + ctx.dir * H, j0, h_new);
  return c_new;
}

@compute @workgroup_size(UB, QY, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let B = params.batch;
  let T = params.time;
  let dir = wg.y;
  let ub = lid.x;
  let q = lid.y;
  let j0 = 4u * ub;
  let first = sentence_group(wg.x, params.groups) * QY * 8u; // the workgroup's first sentence
  let b0 = first + 8u * q; // this invocation's first sentence
  let S = 8u * QY; // sentences per workgroup

  var len: array<u32, 8>;
  for (var s = 0u; s < 8u; s++) {
    len[s] = 0u;
    if (b0 + s < B) { len[s] = u32(clamp(lengths[b0 + s], 0, i32(T))); }
    hs[(8u * q + s) * UB + ub] = vec4f(0.0);
    hs[(S + 8u * q + s) * UB + ub] = vec4f(0.0);
  }
  if (ub == 0u && q == 0u) {
    // The longest sentence of the workgroup sets the step count (uniform for the barriers).
    var longest = 0u;
    for (var s = first; s < min(first + S, B); s++) {
      longest = max(longest, u32(clamp(lengths[s], 0, i32(T))));
    }
    group_max = longest;
  }
  let steps = workgroupUniformLoad(&group_max); // also makes the zeroed h visible

  let gate_col = dir * 4u * H; // this direction's first column in pre and bhh
  var ctx: Ctx;
  ctx.b0 = b0;
  ctx.T = T;
  ctx.dir = dir;
  ctx.j0 = j0;
  ctx.ub = ub;
  ctx.gate_col = gate_col;
  ctx.bias = mat4x4f(load_bias(gate_col, j0), load_bias(gate_col + H, j0),
    load_bias(gate_col + 2u * H, j0), load_bias(gate_col + 3u * H, j0));
  let w_own = ub * UB * 4u; // this invocation's units within a (direction, gate) block
  // c of units j0…j0+3, one vec4 per sentence (separate variables: llvmpipe turns a
  // dynamically indexed private array into per-lane memory accesses).
  var c0 = vec4f(0.0);
  var c1 = vec4f(0.0);
  var c2 = vec4f(0.0);
  var c3 = vec4f(0.0);
  var c4 = vec4f(0.0);
  var c5 = vec4f(0.0);
  var c6 = vec4f(0.0);
  var c7 = vec4f(0.0);

  for (var step = 0u; step < steps; step++) {
    let parity = step & 1u;
    ctx.step = step;
    let hb = (parity * S + 8u * q) * UB; // read h_{t−1} here
    ctx.hw = ((1u - parity) * S + 8u * q) * UB; // write h_t there
    var z: Z;
    if (USE_UNIFORM) {
      if (dir == 0u) { z = zrec_uniform0(w_own, hb); } else { z = zrec_uniform1(w_own, hb); }
    } else {
      z = zrec_storage(dir * 4u * WSTRIDE + w_own, hb);
    }
    // Written out per sentence so that every index into z and c is a constant.
    c0 = cell_step(ctx, 0u, len[0], mat4x4f(z.i0[0], z.f0[0], z.g0[0], z.o0[0]), c0);
    c1 = cell_step(ctx, 1u, len[1], mat4x4f(z.i0[1], z.f0[1], z.g0[1], z.o0[1]), c1);
    c2 = cell_step(ctx, 2u, len[2], mat4x4f(z.i0[2], z.f0[2], z.g0[2], z.o0[2]), c2);
    c3 = cell_step(ctx, 3u, len[3], mat4x4f(z.i0[3], z.f0[3], z.g0[3], z.o0[3]), c3);
    c4 = cell_step(ctx, 4u, len[4], mat4x4f(z.i1[0], z.f1[0], z.g1[0], z.o1[0]), c4);
    c5 = cell_step(ctx, 5u, len[5], mat4x4f(z.i1[1], z.f1[1], z.g1[1], z.o1[1]), c5);
    c6 = cell_step(ctx, 6u, len[6], mat4x4f(z.i1[2], z.f1[2], z.g1[2], z.o1[2]), c6);
    c7 = cell_step(ctx, 7u, len[7], mat4x4f(z.i1[3], z.f1[3], z.g1[3], z.o1[3]), c7);
    // One barrier per step: h_t is complete, and nobody reads the h_{t−1} half any more
    // (it is overwritten with h_{t+1} only after this barrier).
    workgroupBarrier();
  }

  // Padding rows of h_out (read by the next layer) are zero.
  for (var s = 0u; s < 8u; s++) {
    let b = b0 + s;
    if (b >= B) { break; }
    for (var t = len[s]; t < T; t++) {
      store_h((b * T + t) * 2u * H + dir * H, j0, vec4f(0.0));
    }
  }
}

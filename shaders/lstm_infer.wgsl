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

// H, UB, QY, USE_UNIFORM, WSTRIDE (as lstm.wgsl `pack` packed W_hh), Params and params:
//#include "common/lstm_units.wgsl"
// vec4s of workgroup memory for h: 16·QY·UB (sized per layer: llvmpipe's compile time grows
// with a workgroup array's declared size).
override SHARED: u32 = 16u;

// Bindings 1…5 (pre, whh, bhh, lengths, h_out): common/lstm_forward.wgsl.
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

//#include "common/lstm_uniform.wgsl"
//#include "common/lstm_forward.wgsl"

// h of 8 sentences at unit quad k4, as two 4×4 blocks (columns are sentences).
fn h_quads(hb: u32, k4: u32) -> array<mat4x4f, 2> {
  return array<mat4x4f, 2>(
    mat4x4f(hs[hb + k4], hs[hb + UB + k4], hs[hb + 2u * UB + k4], hs[hb + 3u * UB + k4]),
    mat4x4f(hs[hb + 4u * UB + k4], hs[hb + 5u * UB + k4], hs[hb + 6u * UB + k4],
      hs[hb + 7u * UB + k4]),
  );
}

// One step of sentence b0 + s (len its length): zr holds W_hh·h_{t−1} of gates i, f, g, o
// (columns) for units j0…j0+3; returns the new c (unchanged past the sentence's end).
fn cell_step(ctx: Ctx, s: u32, len: u32, zr: mat4x4f, c: vec4f) -> vec4f {
  if (ctx.step >= len) { return c; }
  let row = step_token(ctx, s, len);
  let n = lstm_cell(ctx, row, zr, c);
  hs[ctx.hw + s * UB + ctx.ub] = n.h;
  store_h(row * 2u * H + ctx.dir * H, ctx.j0, n.h);
  return n.c;
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
    if (b0 + s < B) { len[s] = sentence_len(b0 + s); }
    hs[(8u * q + s) * UB + ub] = vec4f(0.0);
    hs[(S + 8u * q + s) * UB + ub] = vec4f(0.0);
  }
  let steps = group_steps(ub == 0u && q == 0u, first, S); // also makes the zeroed h visible

  var ctx = forward_ctx(b0, T, dir, ub);
  let w_own = ub * UB * 4u; // this invocation's units within a (direction, gate) block
  var c: Cells;

  for (var step = 0u; step < steps; step++) {
    let parity = step & 1u;
    ctx.step = step;
    ctx.hb = (parity * S + 8u * q) * UB; // read h_{t−1} here
    ctx.hw = ((1u - parity) * S + 8u * q) * UB; // write h_t there
    let z = zrec(dir, w_own, ctx.hb);
    c = cells_step(ctx, len, z, c);
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

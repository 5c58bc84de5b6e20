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
//   @binding(0)  params:  uniform (B, T, G = sentence groups, _) u32
//   @binding(1)  pre:     (B·T, 8H) f32, read
//   @binding(2)  whh:     packed W_hh (2, 4, WSTRIDE) vec4f from `pack`, read (storage path)
//   @binding(3)  bhh:     (8H) f32, read
//   @binding(4)  lengths: (B) i32, read
//   @binding(5)  h_out:   (B·T, 2H) f32, written with `=` (zero at padding rows)
//   @binding(6)  gates:   (B·T, 2, 4, Hp) f32 as vec4, activations i f g o per direction saved
//                         for backward, `=` at real rows (units beyond H hold i=f=o=0.5, g=0)
//   @binding(7)  cell:    (B·T, 2, Hp) f32 as vec4, c saved for backward, `=` at real rows
//   @binding(8)  h_prev:  (B·T, 2, Hp) f32 as vec4, h before each step (the dW_hh operand),
//                         `=` (zero at padding rows)
//   @binding(9…16) u_{i,f,g,o}{0,1}: uniform (4096) vec4f, the same packed W_hh, one
//                         (direction, gate) block of 64 KiB each (USE_UNIFORM, H ≤ 128;
//                         otherwise bind any 64 KiB uniform buffer)
//   (in h_prev from HSCR_OFF) hscr:    (2, G, 2, 8·QY, UB) vec4f scratch [direction, workgroup, parity], h of
//                         the workgroup's sentences when H_SCRATCH (each workgroup's own region,
//                         written and read between storageBarriers); any 16 bytes otherwise
//   dispatch: (G, 2, 1) workgroups of (UB, QY, 1), G = ceil(B / (8·QY)); workgroup y is the
//   direction. Invocation (ub, q) owns hidden units 4ub … 4ub+3 (all four gates) of the
//   eight sentences 8·(group·QY + q) … +7, so each W_hh load feeds 8 sentences and each h
//   load 16 rows (CPU adapters are bound by loads). h of the workgroup's sentences lives in
//   workgroup memory, or in `hscr` with H_SCRATCH, double-buffered: one barrier per step.
//   Workgroup x is mapped to sentence groups alternately from both ends (0, G−1, 1, G−2,
//   …) so that contiguous blocks of workgroups (one CPU thread each on llvmpipe) mix long
//   and short sentences of a length-sorted batch. Loop iterations per invocation ≈ maxlen·(UB + 12) + 8·T, far
//   under llvmpipe's 65,535 for T ≤ 150 (small loops are written out for that reason).
//   Where that would pass 65,535, the builder compiles `main` with SPLIT and runs it once
//   per range of RANGE steps, params.pad = the range, ranges in order (steps
//   [pad·RANGE, (pad+1)·RANGE) of the workgroup's longest sentence, with the same
//   arithmetic as one dispatch: bit-identical results). A range that does not start the
//   sweep takes each live sentence's c from `cell` and h from `h_out` at the previous
//   step's token (the values one dispatch keeps in registers and the exchange), and writes
//   the padding rows of its own steps only.
//
// entry `pack`
//   @binding(0) src: W_hh (2, 4H, H) f32, PyTorch layout, read
//   @binding(1) dst: (2, 4, WSTRIDE) vec4f, `=`: element (d, gate, ub, k4, kk) at
//       (d·4 + gate)·WSTRIDE + (ub·UB + k4)·4 + kk is (W_hh[d][gate·H + 4ub + u][4k4 + kk]
//       for u = 0..3), zero beyond H, so that mat4x4f(4 consecutive vec4) · mat4x4f(h of 4
//       sentences) gives z for 4 units × 4 sentences. WSTRIDE = 4096 for the uniform path
//       (one 64 KiB binding per block), UB·UB·4 otherwise.
//   dispatch: (ceil(2·4·UB·UB·4 / 64), 1, 1); one invocation per vec4.

// H, UB, QY, USE_UNIFORM, WSTRIDE (UB·UB·4 without USE_UNIFORM), Params and params:
//#include "common/lstm_units.wgsl"
// One range of RANGE steps per dispatch (range params.pad), state carried in cell and h_out.
override SPLIT: bool = false;
override RANGE: u32 = 1u;

// Bindings 1…5 (pre, whh, bhh, lengths, h_out): common/lstm_forward.wgsl.
@group(0) @binding(6) var<storage, read_write> gates: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> cell: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> h_prev: array<vec4f>;
// The same packed W_hh, one (direction, gate) block per binding, when USE_UNIFORM: on CPU
// adapters a uniform load costs about a third of a storage load.
@group(0) @binding(9) var<uniform> u_i0: array<vec4f, 4096>;
@group(0) @binding(10) var<uniform> u_f0: array<vec4f, 4096>;
@group(0) @binding(11) var<uniform> u_g0: array<vec4f, 4096>;
@group(0) @binding(12) var<uniform> u_o0: array<vec4f, 4096>;
@group(0) @binding(13) var<uniform> u_i1: array<vec4f, 4096>;
@group(0) @binding(14) var<uniform> u_f1: array<vec4f, 4096>;
@group(0) @binding(15) var<uniform> u_g1: array<vec4f, 4096>;
@group(0) @binding(16) var<uniform> u_o1: array<vec4f, 4096>;

// vec4s of workgroup memory for h: 16·QY·UB (sized per layer: llvmpipe's compile time grows
// with the square of a workgroup array's declared size); 1 with H_SCRATCH.
override SHARED: u32 = 16u;
// Keep h in the workgroup's own region of `hscr` instead of workgroup memory (large H: a
// 16 KiB workgroup array takes llvmpipe ≈ 20 s to compile, paid by every cold CI run).
override H_SCRATCH: bool = false;

// h of the workgroup's 8·QY sentences, double-buffered: (2, 8·QY, UB) vec4 (≤ 16 KiB).
var<workgroup> hs: array<vec4f, SHARED>;
// The h exchange lives in h_prev's tail, from vec4 HSCR_OFF (one binding fewer: WebGPU's
// default 8 storage buffers per stage).
override HSCR_OFF: u32 = 0u;

fn hget(i: u32) -> vec4f {
  if (H_SCRATCH) { return h_prev[HSCR_OFF + i]; }
  return hs[i];
}

fn hset(i: u32, v: vec4f) {
  if (H_SCRATCH) { h_prev[HSCR_OFF + i] = v; } else { hs[i] = v; }
}

// Everyone has written h_t and nobody reads h_{t−1} any more.
fn step_barrier() {
  if (H_SCRATCH) { storageBarrier(); } else { workgroupBarrier(); }
}

//#include "common/lstm_uniform.wgsl"
//#include "common/lstm_forward.wgsl"

// h_out[base + j0 … j0+3], zero beyond H (the h one dispatch keeps in the exchange).
fn load_h(base: u32, j0: u32) -> vec4f {
  let r = unit_rows(base, j0);
  let v = vec4f(h_out[r.x], h_out[r.y], h_out[r.z], h_out[r.w]);
  return select(vec4f(0.0), v, vec4u(j0, j0 + 1u, j0 + 2u, j0 + 3u) < vec4u(H));
}

// The token a sentence of length len visited at step lo − 1 (lo < len) in direction dir.
fn prev_token(dir: u32, len: u32, lo: u32) -> u32 {
  if (dir == 0u) { return lo - 1u; }
  return len - lo;
}

// c of sentence b (length len) after step lo − 1, from the saved cell state; 0 unless live.
fn carry_c(b: u32, T: u32, dir: u32, ub: u32, len: u32, lo: u32) -> vec4f {
  if (lo == 0u || lo >= len) { return vec4f(0.0); }
  return cell[((b * T + prev_token(dir, len, lo)) * 2u + dir) * UB + ub];
}

fn h_quads(hb: u32, k4: u32) -> array<mat4x4f, 2> {
  return array<mat4x4f, 2>(
    mat4x4f(hget(hb + k4), hget(hb + UB + k4), hget(hb + 2u * UB + k4), hget(hb + 3u * UB + k4)),
    mat4x4f(hget(hb + 4u * UB + k4), hget(hb + 5u * UB + k4), hget(hb + 6u * UB + k4),
      hget(hb + 7u * UB + k4)),
  );
}

// One step of sentence b0 + s (len its length): zr holds W_hh·h_{t−1} of gates i, f, g, o
// (columns) for units j0…j0+3; returns the new c (unchanged past the sentence's end).
fn cell_step(ctx: Ctx, s: u32, len: u32, zr: mat4x4f, c: vec4f) -> vec4f {
  if (ctx.step >= len) { return c; }
  let row = step_token(ctx, s, len);
  let slot = row * 2u + ctx.dir; // (row, direction) in h_prev, gates and cell
  h_prev[slot * UB + ctx.ub] = hget(ctx.hb + s * UB + ctx.ub);
  let n = lstm_cell(ctx, row, zr, c);
  hset(ctx.hw + s * UB + ctx.ub, n.h);
  let ga = slot * 4u * UB + ctx.ub;
  gates[ga] = n.i;
  gates[ga + UB] = n.f;
  gates[ga + 2u * UB] = n.g;
  gates[ga + 3u * UB] = n.o;
  cell[slot * UB + ctx.ub] = n.c;
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
  var region = 0u; // this workgroup's h in hscr
  if (H_SCRATCH) { region = (dir * params.groups + wg.x) * 2u * S * UB; }

  // SPLIT: this dispatch runs steps from lo_raw (clamped to the workgroup's steps below).
  var lo_raw = 0u;
  if (SPLIT) { lo_raw = params.pad * RANGE; }
  var len: array<u32, 8>;
  for (var s = 0u; s < 8u; s++) {
    len[s] = 0u;
    if (b0 + s < B) { len[s] = sentence_len(b0 + s); }
    if (lo_raw == 0u) {
      hset(region + (8u * q + s) * UB + ub, vec4f(0.0));
      hset(region + (S + 8u * q + s) * UB + ub, vec4f(0.0));
    } else {
      // h after step lo_raw − 1 into the parity step lo_raw reads (zero unless live).
      var h = vec4f(0.0);
      if (lo_raw < len[s]) {
        let row = (b0 + s) * T + prev_token(dir, len[s], lo_raw);
        h = load_h(row * 2u * H + dir * H, j0);
      }
      hset(region + ((lo_raw & 1u) * S + 8u * q + s) * UB + ub, h);
    }
  }
  let steps = group_steps(ub == 0u && q == 0u, first, S);
  if (H_SCRATCH) { storageBarrier(); } // the zeroed (or carried) h is visible
  // Steps [lo, hi) run here: all of them, or (SPLIT) range params.pad.
  var lo = 0u;
  var hi = steps;
  if (SPLIT) {
    lo = min(lo_raw, steps);
    hi = min(lo + RANGE, steps);
  }

  let w_own = ub * UB * 4u; // this invocation's units within a (direction, gate) block
  var ctx = forward_ctx(b0, T, dir, ub);
  var c: Cells;
  if (SPLIT && lo > 0u) {
    c.c0 = carry_c(b0, T, dir, ub, len[0], lo);
    c.c1 = carry_c(b0 + 1u, T, dir, ub, len[1], lo);
    c.c2 = carry_c(b0 + 2u, T, dir, ub, len[2], lo);
    c.c3 = carry_c(b0 + 3u, T, dir, ub, len[3], lo);
    c.c4 = carry_c(b0 + 4u, T, dir, ub, len[4], lo);
    c.c5 = carry_c(b0 + 5u, T, dir, ub, len[5], lo);
    c.c6 = carry_c(b0 + 6u, T, dir, ub, len[6], lo);
    c.c7 = carry_c(b0 + 7u, T, dir, ub, len[7], lo);
  }

  for (var step = lo; step < hi; step++) {
    let parity = step & 1u;
    ctx.step = step;
    ctx.hb = region + (parity * S + 8u * q) * UB; // read h_{t−1} here
    ctx.hw = region + ((1u - parity) * S + 8u * q) * UB; // write h_t there
    let z = zrec(dir, w_own, ctx.hb);
    c = cells_step(ctx, len, z, c);
    // One barrier per step: h_t is complete, and nobody reads the h_{t−1} buffer any more
    // (it is overwritten with h_{t+1} only after this barrier).
    step_barrier();
  }

  // Padding rows: h_out (read by the next layer) and h_prev (a matmul operand) are zero
  // (SPLIT: the rows of this range's steps, t in [pad·RANGE, (pad+1)·RANGE)).
  var t_lo = 0u;
  var t_hi = T;
  if (SPLIT) {
    t_lo = lo_raw;
    t_hi = min(t_lo + RANGE, T);
  }
  for (var s = 0u; s < 8u; s++) {
    let b = b0 + s;
    if (b >= B) { break; }
    for (var t = max(len[s], t_lo); t < t_hi; t++) {
      let row = b * T + t;
      store_h(row * 2u * H + dir * H, j0, vec4f(0.0));
      h_prev[(row * 2u + dir) * UB + ub] = vec4f(0.0);
    }
  }
}

//#include "common/lstm_pack.wgsl"

@compute @workgroup_size(64)
fn pack(@builtin(global_invocation_id) gid: vec3u) {
  pack_vec4(gid.x, UB, false);
}

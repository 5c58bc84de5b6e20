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
//   @binding(0)  params:  uniform (B, T, G = sentence groups, _) u32
//   @binding(1)  dh_out:  (B·T, 2H) f32, read (padding rows ignored)
//   @binding(2)  gates:   (B·T, 2, 4, Hp) f32 as vec4, activations i f g o saved by the forward
//   @binding(3)  cell:    (B·T, 2, Hp) f32 as vec4, c saved by the forward, read
//   @binding(4)  whh_t:   packed W_hhᵀ (2, 4, WSTRIDE) vec4f from `pack_t`, read (storage path)
//   @binding(5)  lengths: (B) i32, read
//   @binding(6)  dgates:  (B·T, 8H) f32, dz, written with `=` (zero at padding rows)
//   @binding(7…14) u_{i,f,g,o}{0,1}: uniform (4096) vec4f, the same packed W_hhᵀ, one
//                         (direction, gate) block each (USE_UNIFORM, H ≤ 128)
//   @binding(15) dzs:     (2, G, 2, 8·QY, 4, UB) vec4f scratch [direction, workgroup, parity]:
//                         dz of the workgroup's sentences, each workgroup's own region,
//                         written and read between storageBarriers
//   dispatch: (G, 2, 1) workgroups of (UV, QY, 1), UV = ceil(UB / 4), G = ceil(B / (8·QY)),
//   workgroup y is the direction, sentence groups interleaved as in lstm.wgsl. Invocation
//   (v, q) owns unit quads 4v … 4v+3 (< UB), i.e. units 16v … 16v+15 (all four gates), of
//   sentences 8·(group·QY + q) … +7, so each dz load feeds 16 units and each W_hhᵀ load 8
//   sentences. dz of the workgroup's sentences goes through `dzs`, double-buffered: one
//   barrier per step (not workgroup memory: llvmpipe compiled the 32 KiB array of H = 256 in
//   ≈ 100 s). The step loop runs over the workgroup's longest sentence.
//   Loop iterations per invocation ≈ T·(4·UB + 16) + 8·T. Where that would pass llvmpipe's
//   65,535, the builder compiles `main` with SPLIT and runs it once per range of RANGE
//   steps, params.pad = the range, ranges from the last down (steps
//   [pad·RANGE, (pad+1)·RANGE) of the workgroup's longest sentence, in the same order with
//   the same arithmetic as one dispatch: bit-identical results). dz_next stays in `dzs`
//   between dispatches and dc_next goes to its tail from vec4 DC_OFF:
//   (2, G, 8·QY, 4·UV) vec4f [direction, workgroup, sentence, unit quad].
//
// entry `pack_t`
//   @binding(0) src: W_hh (2, 4H, H) f32, read
//   @binding(1) dst: (2, 4, WSTRIDE) vec4f, `=`: element (d, gate, ub, r4, rr) at
//       (d·4 + gate)·WSTRIDE + (ub·UB + r4)·4 + rr is (W_hh[d][gate·H + 4r4 + rr][4ub + u]
//       for u = 0..3), zero beyond H, ub < UBP = 4·UV: mat4x4f(4 consecutive vec4) ·
//       mat4x4f(dz of 4 sentences) gives W_hhᵀ·dz for 4 units × 4 sentences.
//   dispatch: (ceil(2·4·UBP·UB·4 / 64), 1, 1); one invocation per vec4.
//
// entry `dwhh`: dW_hh[d] += Σ_n dz[n, d]ᵀ · h_prev[n, d] over all B·T rows
//   @binding(0) params:  uniform (B, T, _, _) u32
//   @binding(1) dz4:     (B·T, 8H) f32 read as vec4 (8H is a multiple of 4)
//   @binding(2) h_prev:  (B·T, 2, Hp) f32 as vec4, saved by the forward, read
//   @binding(3) dwhh:    (2, 4H, H) f32, ACCUMULATED with `+=`
//   dispatch: (ceil(UB / 8), ceil(ceil(4H / 8) / 8), 2) workgroups of 8×8; an invocation
//   owns 8 rows × 4 columns of one direction's dW_hh and loops over all B·T rows
//   (B·T ≤ 65,535 on llvmpipe, checked by the builder). Padding rows have dz = 0.

// H, UB, QY, USE_UNIFORM, WSTRIDE (see `pack_t`), Params and params:
//#include "common/lstm_units.wgsl"
// Invocations per sentence row of `main`: ceil(UB / 4), each owning four unit quads.
override UV: u32 = 1u;
// Unit quads in the packed W_hhᵀ: 4·UV (zero quads beyond UB).
override UBP: u32 = 1u;
// One range of RANGE steps per dispatch (range params.pad), dc_next carried in dzs from DC_OFF.
override SPLIT: bool = false;
override RANGE: u32 = 1u;
override DC_OFF: u32 = 0u;

@group(0) @binding(1) var<storage, read> dh_out: array<f32>;
@group(0) @binding(2) var<storage, read> gates: array<vec4f>;
@group(0) @binding(3) var<storage, read> cell: array<vec4f>;
@group(0) @binding(4) var<storage, read> whh_t: array<vec4f>;
@group(0) @binding(5) var<storage, read> lengths: array<i32>;
@group(0) @binding(6) var<storage, read_write> dgates: array<f32>;
@group(0) @binding(7) var<uniform> u_i0: array<vec4f, 4096>;
@group(0) @binding(8) var<uniform> u_f0: array<vec4f, 4096>;
@group(0) @binding(9) var<uniform> u_g0: array<vec4f, 4096>;
@group(0) @binding(10) var<uniform> u_o0: array<vec4f, 4096>;
@group(0) @binding(11) var<uniform> u_i1: array<vec4f, 4096>;
@group(0) @binding(12) var<uniform> u_f1: array<vec4f, 4096>;
@group(0) @binding(13) var<uniform> u_g1: array<vec4f, 4096>;
@group(0) @binding(14) var<uniform> u_o1: array<vec4f, 4096>;

// dz of the workgroup's 8·QY sentences, double-buffered, in the workgroup's own region of a
// storage scratch: (2, 8·QY, 4, UB) vec4 per workgroup. Workgroup memory would be simpler,
// but llvmpipe's compile time grows with the square of a workgroup array's declared size
// (≈ 100 s for 32 KiB at H = 256), and a cold shader cache is paid by every CI run.
@group(0) @binding(15) var<storage, read_write> dzs: array<vec4f>;

//#include "common/lstm_uniform.wgsl"

fn load_dh(base: u32, j0: u32) -> vec4f {
  let r = unit_rows(base, j0);
  return vec4f(dh_out[r.x], dh_out[r.y], dh_out[r.z], dh_out[r.w]) * unit_mask(j0);
}

fn store_dz(base: u32, j0: u32, v: vec4f) {
  dgates[base + j0] = v.x;
  if (j0 + 1u < H) { dgates[base + j0 + 1u] = v.y; }
  if (j0 + 2u < H) { dgates[base + j0 + 2u] = v.z; }
  if (j0 + 3u < H) { dgates[base + j0 + 3u] = v.w; }
}

// W_hhᵀ·dz_next for 16 units × 8 sentences: a, b, c, d for the unit quads ua … ua+3;
// column s of x0 is sentence s, of x1 sentence 4+s.
struct DH {
  a0: mat4x4f, a1: mat4x4f, b0: mat4x4f, b1: mat4x4f,
  c0: mat4x4f, c1: mat4x4f, d0: mat4x4f, d1: mat4x4f,
}

// dz of gate `gate`, rows 4·r4 … 4·r4+3 of that gate, for the two sentence quads at db.
fn dz_quads(db: u32, gate: u32, r4: u32) -> array<mat4x4f, 2> {
  let a = db + gate * UB + r4;
  let S = 4u * UB; // vec4s per sentence
  return array<mat4x4f, 2>(
    mat4x4f(dzs[a], dzs[a + S], dzs[a + 2u * S], dzs[a + 3u * S]),
    mat4x4f(dzs[a + 4u * S], dzs[a + 5u * S], dzs[a + 6u * S], dzs[a + 7u * S]),
  );
}

// Each dz load feeds 16 units and each W_hhᵀ load 8 sentences: on llvmpipe the dz loads
// (storage) cost most, W_hhᵀ from uniform buffers much less.
fn acc(dh: ptr<function, DH>, w: array<mat4x4f, 4>, dq: array<mat4x4f, 2>) {
  (*dh).a0 += w[0] * dq[0];
  (*dh).a1 += w[0] * dq[1];
  (*dh).b0 += w[1] * dq[0];
  (*dh).b1 += w[1] * dq[1];
  (*dh).c0 += w[2] * dq[0];
  (*dh).c1 += w[2] * dq[1];
  (*dh).d0 += w[3] * dq[0];
  (*dh).d1 += w[3] * dq[1];
}

fn wt(i: u32) -> mat4x4f {
  return mat4x4f(whh_t[i], whh_t[i + 1u], whh_t[i + 2u], whh_t[i + 3u]);
}

fn dh_storage(wb: u32, db: u32) -> DH {
  var dh: DH;
  for (var gate = 0u; gate < 4u; gate++) {
    for (var r4 = 0u; r4 < UB; r4++) {
      let w = wb + gate * WSTRIDE + 4u * r4;
      let q4 = 4u * UB; // vec4s between unit quads
      acc(&dh, array<mat4x4f, 4>(wt(w), wt(w + q4), wt(w + 2u * q4), wt(w + 3u * q4)),
        dz_quads(db, gate, r4));
    }
  }
  return dh;
}

// Gate `gate`'s part of W_hhᵀ·dz_next from the uniform blocks of direction d (constants, see
// common/lstm_uniform.wgsl), added to dh.
fn dh_gate_uniform(dh: ptr<function, DH>, d: u32, gate: u32, wb: u32, db: u32) {
  let q4 = 4u * UB; // vec4s between unit quads
  for (var r4 = 0u; r4 < UB; r4++) {
    let w = wb + 4u * r4;
    acc(dh, array<mat4x4f, 4>(u_mat(d, gate, w), u_mat(d, gate, w + q4),
      u_mat(d, gate, w + 2u * q4), u_mat(d, gate, w + 3u * q4)), dz_quads(db, gate, r4));
  }
}

fn dh_uniform(d: u32, wb: u32, db: u32) -> DH {
  var dh: DH;
  dh_gate_uniform(&dh, d, 0u, wb, db);
  dh_gate_uniform(&dh, d, 1u, wb, db);
  dh_gate_uniform(&dh, d, 2u, wb, db);
  dh_gate_uniform(&dh, d, 3u, wb, db);
  return dh;
}

// What cell_back needs besides the sentence.
struct Ctx { b0: u32, T: u32, dir: u32, step: u32, dw: u32 }

// One reverse step of sentence b0 + s (len its length) for units 4ub … 4ub+3: dhr is
// W_hhᵀ·dz_next, dc is dc_next; writes dz to dgates and the scratch, returns the new dc_next.
fn cell_back(ctx: Ctx, ub: u32, s: u32, len: u32, dhr: vec4f, dc: vec4f) -> vec4f {
  if (ctx.step >= len) { return dc; }
  let dir = ctx.dir;
  let j0 = 4u * ub;
  var t = ctx.step;
  var t_prev = ctx.step - 1u; // the step visited before this one (unused at step 0)
  if (dir == 1u) {
    t = len - 1u - ctx.step;
    t_prev = t + 1u;
  }
  let row = (ctx.b0 + s) * ctx.T + t;
  let z = row * 8u * H + dir * 4u * H;
  let ga = (row * 2u + dir) * 4u * UB + ub;
  let i = gates[ga];
  let f = gates[ga + UB];
  let g = gates[ga + 2u * UB];
  let o = gates[ga + 3u * UB];
  let c_t = cell[(row * 2u + dir) * UB + ub];
  var c_prev = vec4f(0.0);
  if (ctx.step > 0u) { c_prev = cell[(((ctx.b0 + s) * ctx.T + t_prev) * 2u + dir) * UB + ub]; }
  let dh_t = load_dh(row * 2u * H + dir * H, j0) + dhr;
  let tc = tanh4(c_t);
  let dct = dc + dh_t * o * (1.0 - tc * tc);
  let dz_i = dct * g * i * (1.0 - i);
  let dz_f = dct * c_prev * f * (1.0 - f);
  let dz_g = dct * i * (1.0 - g * g);
  let dz_o = dh_t * tc * o * (1.0 - o);
  store_dz(z, j0, dz_i);
  store_dz(z + H, j0, dz_f);
  store_dz(z + 2u * H, j0, dz_g);
  store_dz(z + 3u * H, j0, dz_o);
  let at = ctx.dw + s * 4u * UB + ub;
  dzs[at] = dz_i;
  dzs[at + UB] = dz_f;
  dzs[at + 2u * UB] = dz_g;
  dzs[at + 3u * UB] = dz_o;
  return dct * f;
}

// dc_next of sentences s0 … s0+3 (columns) for unit quad ua + u, from the carry at `at`.
fn dc_load(at: u32, s0: u32, u: u32) -> mat4x4f {
  let q4 = 4u * UV;
  return mat4x4f(dzs[at + s0 * q4 + u], dzs[at + (s0 + 1u) * q4 + u],
    dzs[at + (s0 + 2u) * q4 + u], dzs[at + (s0 + 3u) * q4 + u]);
}

fn dc_store(at: u32, s0: u32, u: u32, m: mat4x4f) {
  let q4 = 4u * UV;
  dzs[at + s0 * q4 + u] = m[0];
  dzs[at + (s0 + 1u) * q4 + u] = m[1];
  dzs[at + (s0 + 2u) * q4 + u] = m[2];
  dzs[at + (s0 + 3u) * q4 + u] = m[3];
}

@compute @workgroup_size(UV, QY, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let B = params.batch;
  let T = params.time;
  let dir = wg.y;
  let ua = 4u * lid.x; // this invocation's unit quads: ua … ua + nq − 1
  let nq = min(4u, UB - ua);
  let q = lid.y;
  let first = sentence_group(wg.x, params.groups) * QY * 8u;
  let b0 = first + 8u * q;
  let R4 = 4u * UB; // vec4s of dz per sentence
  let half = 8u * QY * R4; // vec4s of one parity of the workgroup's scratch region
  let region = (dir * params.groups + wg.x) * 2u * half;

  let steps = group_steps(lid.x == 0u && q == 0u, first, 8u * QY);
  // Steps [lo, hi) run here, from hi − 1 down: all of them, or (SPLIT) range params.pad.
  var lo = 0u;
  var hi = steps;
  if (SPLIT) {
    lo = min(params.pad * RANGE, steps);
    hi = min(lo + RANGE, steps);
  }
  let opening = hi == steps; // this dispatch starts the reverse sweep
  var len: array<u32, 8>;
  for (var s = 0u; s < 8u; s++) {
    len[s] = 0u;
    if (b0 + s < B) { len[s] = sentence_len(b0 + s); }
    // Both parities start at zero: dz_next of a sentence's first visited step is 0.
    for (var p = 0u; p < 2u; p++) {
      if (!opening) { break; }
      let a = region + p * half + (8u * q + s) * R4 + ua;
      for (var g = 0u; g < 4u; g++) {
        for (var u = 0u; u < nq; u++) { dzs[a + g * UB + u] = vec4f(0.0); }
      }
    }
  }
  storageBarrier(); // the zeroed scratch is visible

  let w_own = ua * UB * 4u; // this invocation's first unit quad within a (direction, gate) block
  var ctx: Ctx;
  ctx.b0 = b0;
  ctx.T = T;
  ctx.dir = dir;
  // dc_next, column s: units of quad ua + 0 … 3 (a … d), sentence s (x0) or 4+s (x1).
  var dca0 = mat4x4f();
  var dca1 = mat4x4f();
  var dcb0 = mat4x4f();
  var dcb1 = mat4x4f();
  var dcc0 = mat4x4f();
  var dcc1 = mat4x4f();
  var dcd0 = mat4x4f();
  var dcd1 = mat4x4f();
  let len_lo = vec4u(len[0], len[1], len[2], len[3]);
  let len_hi = vec4u(len[4], len[5], len[6], len[7]);
  let nk = 2u * nq;
  // dc_next of this invocation in the carry: sentence s (0…7), unit quad ua + u.
  let carry = DC_OFF + ((dir * params.groups + wg.x) * 8u * QY + 8u * q) * 4u * UV + ua;
  if (SPLIT && !opening) {
    dca0 = dc_load(carry, 0u, 0u);
    dca1 = dc_load(carry, 4u, 0u);
    dcb0 = dc_load(carry, 0u, 1u);
    dcb1 = dc_load(carry, 4u, 1u);
    dcc0 = dc_load(carry, 0u, 2u);
    dcc1 = dc_load(carry, 4u, 2u);
    dcd0 = dc_load(carry, 0u, 3u);
    dcd1 = dc_load(carry, 4u, 3u);
  }

  for (var n = steps - hi; n < steps - lo; n++) {
    let step = steps - 1u - n;
    // Double-buffered: read dz_next from one parity, write dz to the other; one barrier.
    let parity = n & 1u;
    let db = region + (1u - parity) * half + 8u * q * R4;
    ctx.step = step;
    ctx.dw = region + parity * half + 8u * q * R4;
    var dh: DH;
    if (USE_UNIFORM) {
      if (dir == 0u) { dh = dh_uniform(0u, w_own, db); } else { dh = dh_uniform(1u, w_own, db); }
    } else {
      dh = dh_storage(dir * 4u * WSTRIDE + w_own, db);
    }
    // k = 2·(quad − ua) + (second half of the sentences). The loop count is a runtime value
    // so that it is not unrolled (code size is llvmpipe's compile time); within it, every
    // index into dh and dc is a constant.
    for (var k = 0u; k < nk; k++) {
      let hi = (k & 1u) == 1u;
      let ubk = ua + k / 2u;
      let sb = select(0u, 4u, hi);
      let lv = select(len_lo, len_hi, hi);
      var dhm: mat4x4f;
      var dcm: mat4x4f;
      switch (k) {
        case 0u: { dhm = dh.a0; dcm = dca0; }
        case 1u: { dhm = dh.a1; dcm = dca1; }
        case 2u: { dhm = dh.b0; dcm = dcb0; }
        case 3u: { dhm = dh.b1; dcm = dcb1; }
        case 4u: { dhm = dh.c0; dcm = dcc0; }
        case 5u: { dhm = dh.c1; dcm = dcc1; }
        case 6u: { dhm = dh.d0; dcm = dcd0; }
        default: { dhm = dh.d1; dcm = dcd1; }
      }
      dcm[0] = cell_back(ctx, ubk, sb, lv.x, dhm[0], dcm[0]);
      dcm[1] = cell_back(ctx, ubk, sb + 1u, lv.y, dhm[1], dcm[1]);
      dcm[2] = cell_back(ctx, ubk, sb + 2u, lv.z, dhm[2], dcm[2]);
      dcm[3] = cell_back(ctx, ubk, sb + 3u, lv.w, dhm[3], dcm[3]);
      switch (k) {
        case 0u: { dca0 = dcm; }
        case 1u: { dca1 = dcm; }
        case 2u: { dcb0 = dcm; }
        case 3u: { dcb1 = dcm; }
        case 4u: { dcc0 = dcm; }
        case 5u: { dcc1 = dcm; }
        case 6u: { dcd0 = dcm; }
        default: { dcd1 = dcm; }
      }
    }
    // dz of this step is complete, and nobody reads dz_next's parity any more (it is
    // overwritten with the next step's dz only after this barrier).
    storageBarrier();
  }
  if (SPLIT && lo > 0u) {
    dc_store(carry, 0u, 0u, dca0);
    dc_store(carry, 4u, 0u, dca1);
    dc_store(carry, 0u, 1u, dcb0);
    dc_store(carry, 4u, 1u, dcb1);
    dc_store(carry, 0u, 2u, dcc0);
    dc_store(carry, 4u, 2u, dcc1);
    dc_store(carry, 0u, 3u, dcd0);
    dc_store(carry, 4u, 3u, dcd1);
  }

  // Padding rows get dz = 0, so the matmuls over all B·T rows ignore them (SPLIT: the rows
  // of this range's steps, t in [pad·RANGE, (pad+1)·RANGE)).
  var t_lo = 0u;
  var t_hi = T;
  if (SPLIT) {
    t_lo = params.pad * RANGE;
    t_hi = min(t_lo + RANGE, T);
  }
  for (var s = 0u; s < 8u; s++) {
    let b = b0 + s;
    if (b >= B) { break; }
    for (var t = max(len[s], t_lo); t < t_hi; t++) {
      let z = (b * T + t) * 8u * H + dir * 4u * H;
      for (var u = 0u; u < nq; u++) {
        let j0 = 4u * (ua + u);
        store_dz(z, j0, vec4f(0.0));
        store_dz(z + H, j0, vec4f(0.0));
        store_dz(z + 2u * H, j0, vec4f(0.0));
        store_dz(z + 3u * H, j0, vec4f(0.0));
      }
    }
  }
}

//#include "common/lstm_pack.wgsl"

@compute @workgroup_size(64)
fn pack_t(@builtin(global_invocation_id) gid: vec3u) {
  pack_vec4(gid.x, UBP, true);
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

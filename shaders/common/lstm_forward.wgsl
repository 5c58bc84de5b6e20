// Shared by lstm.wgsl and lstm_infer.wgsl (included, never compiled alone): the bindings
// both forward recurrences read and write, their loads, stores, cell update and W_hh·h
// products. Uses the including shader's overrides (common/lstm_units.wgsl), its h_quads
// and its cell_step, and u_mat from common/lstm_uniform.wgsl.

@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read> whh: array<vec4f>;
@group(0) @binding(3) var<storage, read> bhh: array<f32>;
@group(0) @binding(4) var<storage, read> lengths: array<i32>;
@group(0) @binding(5) var<storage, read_write> h_out: array<f32>;

fn sigmoid4(v: vec4f) -> vec4f {
  return 1.0 / (1.0 + exp(-clamp(v, vec4f(-30.0), vec4f(30.0))));
}

// pre[base + j0 … j0+3], zero beyond H (indices clamped so every read is in bounds).
fn load_pre(base: u32, j0: u32) -> vec4f {
  let r = unit_rows(base, j0);
  return vec4f(pre[r.x], pre[r.y], pre[r.z], pre[r.w]) * unit_mask(j0);
}

fn load_bias(base: u32, j0: u32) -> vec4f {
  let r = unit_rows(base, j0);
  return vec4f(bhh[r.x], bhh[r.y], bhh[r.z], bhh[r.w]) * unit_mask(j0);
}

fn store_h(base: u32, j0: u32, v: vec4f) {
  h_out[base + j0] = v.x;
  if (j0 + 1u < H) { h_out[base + j0 + 1u] = v.y; }
  if (j0 + 2u < H) { h_out[base + j0 + 2u] = v.z; }
  if (j0 + 3u < H) { h_out[base + j0 + 3u] = v.w; }
}

// What cell_step needs besides the sentence: fixed per invocation, or per step (step, and
// where h_{t−1} is read and h_t written).
struct Ctx {
  b0: u32, T: u32, dir: u32, j0: u32, ub: u32, gate_col: u32, step: u32, hb: u32, hw: u32,
  bias: mat4x4f, // columns: b_hh of gates i, f, g, o for units j0…j0+3
}

// The fixed part of the Ctx of the invocation that owns unit quad ub of sentences b0 … b0+7
// in direction dir.
fn forward_ctx(b0: u32, T: u32, dir: u32, ub: u32) -> Ctx {
  var ctx: Ctx;
  ctx.b0 = b0;
  ctx.T = T;
  ctx.dir = dir;
  ctx.j0 = 4u * ub;
  ctx.ub = ub;
  ctx.gate_col = dir * 4u * H; // this direction's first column in pre, gates and bhh
  let j0 = ctx.j0;
  let gc = ctx.gate_col;
  ctx.bias = mat4x4f(load_bias(gc, j0), load_bias(gc + H, j0), load_bias(gc + 2u * H, j0),
    load_bias(gc + 3u * H, j0));
  return ctx;
}

// The row (b·T + t) of sentence b0 + s (length len) that this step visits (step < len).
fn step_token(ctx: Ctx, s: u32, len: u32) -> u32 {
  var t = ctx.step;
  if (ctx.dir == 1u) { t = len - 1u - ctx.step; }
  return (ctx.b0 + s) * ctx.T + t;
}

struct Cell { i: vec4f, f: vec4f, g: vec4f, o: vec4f, c: vec4f, h: vec4f }

// The gates and the new c and h of units j0…j0+3 at token `row`: zr holds W_hh·h_{t−1} of
// gates i, f, g, o (columns), c is c_{t−1}.
fn lstm_cell(ctx: Ctx, row: u32, zr: mat4x4f, c: vec4f) -> Cell {
  let zb = row * 8u * H + ctx.gate_col;
  let j0 = ctx.j0;
  var n: Cell;
  n.i = sigmoid4(zr[0] + load_pre(zb, j0) + ctx.bias[0]);
  n.f = sigmoid4(zr[1] + load_pre(zb + H, j0) + ctx.bias[1]);
  n.g = tanh4(zr[2] + load_pre(zb + 2u * H, j0) + ctx.bias[2]);
  n.o = sigmoid4(zr[3] + load_pre(zb + 3u * H, j0) + ctx.bias[3]);
  // Units beyond H stay zero: their weights, pre and bias are zero, so g = 0 and c = 0.
  n.c = n.f * c + n.i * n.g;
  n.h = n.o * tanh4(n.c);
  return n;
}

// W_hh·h for 4 units × 8 sentences, per gate: column s of i0 is sentence s, of i1 sentence 4+s.
struct Z {
  i0: mat4x4f, f0: mat4x4f, g0: mat4x4f, o0: mat4x4f,
  i1: mat4x4f, f1: mat4x4f, g1: mat4x4f, o1: mat4x4f,
}

fn ws(i: u32) -> mat4x4f {
  return mat4x4f(whh[i], whh[i + 1u], whh[i + 2u], whh[i + 3u]);
}

// W_hh·h_{t−1} for 4 units × 8 sentences, from the four gates' 4×4 blocks w and h's hq.
fn z_acc(z: ptr<function, Z>, w: array<mat4x4f, 4>, hq: array<mat4x4f, 2>) {
  (*z).i0 += w[0] * hq[0];
  (*z).f0 += w[1] * hq[0];
  (*z).g0 += w[2] * hq[0];
  (*z).o0 += w[3] * hq[0];
  (*z).i1 += w[0] * hq[1];
  (*z).f1 += w[1] * hq[1];
  (*z).g1 += w[2] * hq[1];
  (*z).o1 += w[3] * hq[1];
}

// wb: first vec4 of this direction's gate-i block plus this invocation's units; hb: h base.
fn zrec_storage(wb: u32, hb: u32) -> Z {
  var z: Z;
  for (var k4 = 0u; k4 < UB; k4++) {
    let hq = h_quads(hb, k4);
    let w = wb + 4u * k4;
    z_acc(&z, array<mat4x4f, 4>(ws(w), ws(w + WSTRIDE), ws(w + 2u * WSTRIDE), ws(w + 3u * WSTRIDE)),
      hq);
  }
  return z;
}

// The same from the uniform blocks of direction d (a constant, see common/lstm_uniform.wgsl);
// wb: this invocation's units.
fn zrec_uniform(d: u32, wb: u32, hb: u32) -> Z {
  var z: Z;
  for (var k4 = 0u; k4 < UB; k4++) {
    let hq = h_quads(hb, k4);
    let w = wb + 4u * k4;
    z_acc(&z, array<mat4x4f, 4>(u_mat(d, 0u, w), u_mat(d, 1u, w), u_mat(d, 2u, w), u_mat(d, 3u, w)),
      hq);
  }
  return z;
}

// W_hh·h_{t−1} of direction dir: w_own is this invocation's units within a (direction, gate)
// block, hb the h base.
fn zrec(dir: u32, w_own: u32, hb: u32) -> Z {
  if (USE_UNIFORM) {
    if (dir == 0u) { return zrec_uniform(0u, w_own, hb); }
    return zrec_uniform(1u, w_own, hb);
  }
  return zrec_storage(dir * 4u * WSTRIDE + w_own, hb);
}

// c of units j0…j0+3, one vec4 per sentence (fields, not an array: llvmpipe turns a
// dynamically indexed private array into per-lane memory accesses).
struct Cells {
  c0: vec4f, c1: vec4f, c2: vec4f, c3: vec4f,
  c4: vec4f, c5: vec4f, c6: vec4f, c7: vec4f,
}

// One step of the invocation's eight sentences (lengths len) by cell_step, from W_hh·h_{t−1}
// in z; returns the new c. Written out per sentence so that every index into z and c is a
// constant.
fn cells_step(ctx: Ctx, len: array<u32, 8>, z: Z, c: Cells) -> Cells {
  var n: Cells;
  n.c0 = cell_step(ctx, 0u, len[0], mat4x4f(z.i0[0], z.f0[0], z.g0[0], z.o0[0]), c.c0);
  n.c1 = cell_step(ctx, 1u, len[1], mat4x4f(z.i0[1], z.f0[1], z.g0[1], z.o0[1]), c.c1);
  n.c2 = cell_step(ctx, 2u, len[2], mat4x4f(z.i0[2], z.f0[2], z.g0[2], z.o0[2]), c.c2);
  n.c3 = cell_step(ctx, 3u, len[3], mat4x4f(z.i0[3], z.f0[3], z.g0[3], z.o0[3]), c.c3);
  n.c4 = cell_step(ctx, 4u, len[4], mat4x4f(z.i1[0], z.f1[0], z.g1[0], z.o1[0]), c.c4);
  n.c5 = cell_step(ctx, 5u, len[5], mat4x4f(z.i1[1], z.f1[1], z.g1[1], z.o1[1]), c.c5);
  n.c6 = cell_step(ctx, 6u, len[6], mat4x4f(z.i1[2], z.f1[2], z.g1[2], z.o1[2]), c.c6);
  n.c7 = cell_step(ctx, 7u, len[7], mat4x4f(z.i1[3], z.f1[3], z.g1[3], z.o1[3]), c.c7);
  return n;
}

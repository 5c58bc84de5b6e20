// Shared by lstm.wgsl and lstm_infer.wgsl (included, never compiled alone): the forward
// recurrence's loads, stores and W_hh·h products. Uses the including shader's overrides H, UB,
// WSTRIDE, its bindings pre, bhh, h_out, whh and u_{i,f,g,o}{0,1}, its h_quads, and
// unit_mask from common/lstm_units.wgsl.

fn sigmoid4(v: vec4f) -> vec4f {
  return 1.0 / (1.0 + exp(-clamp(v, vec4f(-30.0), vec4f(30.0))));
}

// pre[base + j0 … j0+3], zero beyond H (indices clamped so every read is in bounds).
fn load_pre(base: u32, j0: u32) -> vec4f {
  let last = H - 1u;
  return vec4f(pre[base + min(j0, last)], pre[base + min(j0 + 1u, last)],
    pre[base + min(j0 + 2u, last)], pre[base + min(j0 + 3u, last)]) * unit_mask(j0);
}

fn load_bias(base: u32, j0: u32) -> vec4f {
  let last = H - 1u;
  return vec4f(bhh[base + min(j0, last)], bhh[base + min(j0 + 1u, last)],
    bhh[base + min(j0 + 2u, last)], bhh[base + min(j0 + 3u, last)]) * unit_mask(j0);
}

fn store_h(base: u32, j0: u32, v: vec4f) {
  h_out[base + j0] = v.x;
  if (j0 + 1u < H) { h_out[base + j0 + 1u] = v.y; }
  if (j0 + 2u < H) { h_out[base + j0 + 2u] = v.z; }
  if (j0 + 3u < H) { h_out[base + j0 + 3u] = v.w; }
}

// W_hh·h for 4 units × 8 sentences, per gate: column s of i0 is sentence s, of i1 sentence 4+s.
struct Z {
  i0: mat4x4f, f0: mat4x4f, g0: mat4x4f, o0: mat4x4f,
  i1: mat4x4f, f1: mat4x4f, g1: mat4x4f, o1: mat4x4f,
}

fn ws(i: u32) -> mat4x4f {
  return mat4x4f(whh[i], whh[i + 1u], whh[i + 2u], whh[i + 3u]);
}

// wb: first vec4 of this direction's gate-i block plus this invocation's units; hb: h base.
fn zrec_storage(wb: u32, hb: u32) -> Z {
  var z: Z;
  for (var k4 = 0u; k4 < UB; k4++) {
    let hq = h_quads(hb, k4);
    let w = wb + 4u * k4;
    let wi = ws(w);
    let wf = ws(w + WSTRIDE);
    let wg = ws(w + 2u * WSTRIDE);
    let wo = ws(w + 3u * WSTRIDE);
    z.i0 += wi * hq[0];
    z.f0 += wf * hq[0];
    z.g0 += wg * hq[0];
    z.o0 += wo * hq[0];
    z.i1 += wi * hq[1];
    z.f1 += wf * hq[1];
    z.g1 += wg * hq[1];
    z.o1 += wo * hq[1];
  }
  return z;
}

fn zrec_uniform0(wb: u32, hb: u32) -> Z {
  var z: Z;
  for (var k4 = 0u; k4 < UB; k4++) {
    let hq = h_quads(hb, k4);
    let w = wb + 4u * k4;
    let wi = mat4x4f(u_i0[w], u_i0[w + 1u], u_i0[w + 2u], u_i0[w + 3u]);
    let wf = mat4x4f(u_f0[w], u_f0[w + 1u], u_f0[w + 2u], u_f0[w + 3u]);
    let wg = mat4x4f(u_g0[w], u_g0[w + 1u], u_g0[w + 2u], u_g0[w + 3u]);
    let wo = mat4x4f(u_o0[w], u_o0[w + 1u], u_o0[w + 2u], u_o0[w + 3u]);
    z.i0 += wi * hq[0];
    z.f0 += wf * hq[0];
    z.g0 += wg * hq[0];
    z.o0 += wo * hq[0];
    z.i1 += wi * hq[1];
    z.f1 += wf * hq[1];
    z.g1 += wg * hq[1];
    z.o1 += wo * hq[1];
  }
  return z;
}

fn zrec_uniform1(wb: u32, hb: u32) -> Z {
  var z: Z;
  for (var k4 = 0u; k4 < UB; k4++) {
    let hq = h_quads(hb, k4);
    let w = wb + 4u * k4;
    let wi = mat4x4f(u_i1[w], u_i1[w + 1u], u_i1[w + 2u], u_i1[w + 3u]);
    let wf = mat4x4f(u_f1[w], u_f1[w + 1u], u_f1[w + 2u], u_f1[w + 3u]);
    let wg = mat4x4f(u_g1[w], u_g1[w + 1u], u_g1[w + 2u], u_g1[w + 3u]);
    let wo = mat4x4f(u_o1[w], u_o1[w + 1u], u_o1[w + 2u], u_o1[w + 3u]);
    z.i0 += wi * hq[0];
    z.f0 += wf * hq[0];
    z.g0 += wg * hq[0];
    z.o0 += wo * hq[0];
    z.i1 += wi * hq[1];
    z.f1 += wf * hq[1];
    z.g1 += wg * hq[1];
    z.o1 += wo * hq[1];
  }
  return z;
}

// Shared by lstm.wgsl, lstm_infer.wgsl and lstm_backward.wgsl (included, never compiled
// alone): reads of the packed W_hh (or W_hhᵀ) from the eight uniform bindings
// u_{i,f,g,o}{0,1} of the including shader, one (direction, gate) block each. Call with
// constant d and gate: once inlined, the switch folds to a load from one binding.

// vec4 i of block (d, gate).
fn u_vec(d: u32, gate: u32, i: u32) -> vec4f {
  switch (d * 4u + gate) {
    case 0u: { return u_i0[i]; }
    case 1u: { return u_f0[i]; }
    case 2u: { return u_g0[i]; }
    case 3u: { return u_o0[i]; }
    case 4u: { return u_i1[i]; }
    case 5u: { return u_f1[i]; }
    case 6u: { return u_g1[i]; }
    default: { return u_o1[i]; }
  }
}

// vec4s w … w+3 of block (d, gate) as the columns of a matrix.
fn u_mat(d: u32, gate: u32, w: u32) -> mat4x4f {
  return mat4x4f(u_vec(d, gate, w), u_vec(d, gate, w + 1u), u_vec(d, gate, w + 2u),
    u_vec(d, gate, w + 3u));
}

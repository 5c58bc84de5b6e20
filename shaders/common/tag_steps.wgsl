// Shared by crf.wgsl and viterbi.wgsl (included, never compiled alone): the transitions in
// workgroup memory and their reads. Uses the including shader's overrides K, K4 and S and its
// const MAX_K4.

var<workgroup> w_trans: array<vec4f, 256>;  // (K, K) transitions, flat
var<workgroup> w_step: array<vec4f, 128>;   // 2 × (S, K4) vec4: the previous step, double buffered

fn trans(i: u32, j: u32) -> f32 {
  let e = i * K + j;
  return w_trans[e >> 2u][e & 3u];
}

// First vec4 of sentence s's row in buffer `buf` (0 or 1) of w_step.
fn step_row(buf: u32, s: u32) -> u32 {
  return (buf * S + s) * K4;
}

// This invocation's column of transitions, for registers (padding lanes 0).
fn trans_column(k: u32) -> array<vec4f, MAX_K4> {
  var column: array<vec4f, MAX_K4>;
  for (var i = 0u; i < K; i++) { column[i >> 2u][i & 3u] = trans(i, k); }
  return column;
}

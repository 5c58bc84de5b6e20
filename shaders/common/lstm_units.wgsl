// Shared by lstm.wgsl, lstm_infer.wgsl and lstm_backward.wgsl (included, never compiled
// alone): the activation and unit helpers of the fused LSTM recurrences. Uses the including
// shader's override H (hidden units per direction).

// tanh clamped: some GL drivers compute tanh through exp and return NaN for large inputs.
fn tanh4(v: vec4f) -> vec4f {
  return tanh(clamp(v, vec4f(-15.0), vec4f(15.0)));
}

// Which of units j0 … j0+3 exist. The small loops are written out: llvmpipe counts every
// loop iteration against its limit.
fn unit_mask(j0: u32) -> vec4f {
  return select(vec4f(0.0), vec4f(1.0), vec4u(j0, j0 + 1u, j0 + 2u, j0 + 3u) < vec4u(H));
}

// Workgroup x's sentence group, taken alternately from both ends (0, G−1, 1, G−2, …).
fn sentence_group(x: u32, groups: u32) -> u32 {
  if ((x & 1u) == 0u) { return x / 2u; }
  return groups - 1u - x / 2u;
}

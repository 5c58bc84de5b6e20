// Shared by lstm.wgsl, lstm_infer.wgsl and lstm_backward.wgsl (included, never compiled
// alone): the overrides and uniform block of the fused LSTM recurrences, and their
// activation, unit and sentence helpers. Uses the including shader's lengths binding.

override H: u32 = 1u;
override UB: u32 = 1u;
override QY: u32 = 1u;
// Read W_hh from the eight uniform bindings (H ≤ 128) instead of the storage buffer.
override USE_UNIFORM: bool = false;
// vec4s between consecutive (direction, gate) blocks of the packed W_hh (or W_hhᵀ): 4096
// (64 KiB, one uniform binding each) with USE_UNIFORM, else the packed size.
override WSTRIDE: u32 = 4u;

struct Params { batch: u32, time: u32, groups: u32, pad: u32 }

@group(0) @binding(0) var<uniform> params: Params;

// tanh clamped: some GL drivers compute tanh through exp and return NaN for large inputs.
fn tanh4(v: vec4f) -> vec4f {
  return tanh(clamp(v, vec4f(-15.0), vec4f(15.0)));
}

// Which of units j0 … j0+3 exist. The small loops are written out: llvmpipe counts every
// loop iteration against its limit.
fn unit_mask(j0: u32) -> vec4f {
  return select(vec4f(0.0), vec4f(1.0), vec4u(j0, j0 + 1u, j0 + 2u, j0 + 3u) < vec4u(H));
}

// base + j0 … j0+3, clamped to base + H − 1 so that every read is in bounds.
fn unit_rows(base: u32, j0: u32) -> vec4u {
  return base + min(vec4u(j0, j0 + 1u, j0 + 2u, j0 + 3u), vec4u(H - 1u));
}

// Workgroup x's sentence group, taken alternately from both ends (0, G−1, 1, G−2, …).
fn sentence_group(x: u32, groups: u32) -> u32 {
  if ((x & 1u) == 0u) { return x / 2u; }
  return groups - 1u - x / 2u;
}

// The length of sentence b (< B), clamped to [0, T].
fn sentence_len(b: u32) -> u32 {
  return u32(clamp(lengths[b], 0, i32(params.time)));
}

var<workgroup> group_max: u32;

// The longest of the workgroup's sentences first … first+count−1 (those < B), found by the
// `leader` invocation: the step count, uniform for the barriers. Call in uniform control
// flow (it is a barrier).
fn group_steps(leader: bool, first: u32, count: u32) -> u32 {
  if (leader) {
    var longest = 0u;
    for (var s = first; s < min(first + count, params.batch); s++) {
      longest = max(longest, sentence_len(s));
    }
    group_max = longest;
  }
  return workgroupUniformLoad(&group_max);
}

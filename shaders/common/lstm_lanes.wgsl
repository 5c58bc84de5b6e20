// Shared by lstm_gpu.wgsl and lstm_backward_gpu.wgsl (included, never compiled alone): the
// overrides, the uniform block and the step helpers of the GPU-profile recurrences.

override H: u32 = 1u;
override HP: u32 = 4u;
override LANES: u32 = 32u;
// Sentences per workgroup (1 … 8).
override S: u32 = 1u;

struct Params { batch: u32, time: u32, pad0: u32, pad1: u32 }

// tanh clamped: some drivers compute tanh through exp and return NaN for large inputs.
fn tanh1(v: f32) -> f32 {
  return tanh(clamp(v, -15.0, 15.0));
}

// The visited position of step `step` of a sentence of length len in direction d.
fn position(d: u32, len: u32, step: u32) -> u32 {
  if (d == 0u) { return step; }
  return len - 1u - step;
}

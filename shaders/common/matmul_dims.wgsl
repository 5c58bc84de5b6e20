// Shared by matmul.wgsl and matmul_vec4.wgsl (included, never compiled alone): the
// overrides and the uniform block of C = op(A)·op(B) (+ bias), the same for both kernels.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;

struct Dims { m: u32, n: u32, k: u32, pad: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;

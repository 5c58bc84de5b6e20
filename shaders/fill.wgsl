// fill.wgsl — sets a range of a buffer to one 32-bit value: x[offset + i] = value
// for i < count. Used to zero gradient accumulators inside the step's single
// submit (the `+=` kernels need a cleared target), and to fill int buffers
// (the value is a bit pattern, so -1 as i32 or 1.5 as f32 both work).
//
// entry `main` (any offset and count)
//   @binding(0) dims: uniform (offset, count, value_bits, _) u32, in 32-bit words
//   @binding(1) x:    (≥ offset + count) u32, written with `=`
//   dispatch: linear grid of workgroups of 64 (x ≤ 65,535, y rows of x), flat
//   invocation i = (wid.y · nwg.x + wid.x) · 64 + lid owns words offset + 4i .. 4i + 3.
//
// entry `main_vec4` (offset % 4 == 0 and count % 4 == 0)
//   @binding(0) dims: uniform (offset / 4, count / 4, value_bits, _) u32, in vec4 units
//   @binding(1) x4:   (≥ (offset + count) / 4) vec4u, written with `=`
//   dispatch: as above; invocation i owns vec4s offset/4 + 4i .. 4i + 3 (one 64-byte
//   line per invocation: fewer invocations, full-width stores).

struct Dims { offset: u32, count: u32, value: u32, pad: u32 }

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> x4: array<vec4u>;

//#include "common/flat_id.wgsl"

@compute @workgroup_size(64)
fn main(inv: Grid) {
  let first = flat_id(inv) * 4u;
  for (var j = 0u; j < 4u; j++) {
    let i = first + j;
    if (i < dims.count) { x[dims.offset + i] = dims.value; }
  }
}

@compute @workgroup_size(64)
fn main_vec4(inv: Grid) {
  let first = flat_id(inv) * 4u;
  let v = vec4u(dims.value);
  for (var j = 0u; j < 4u; j++) {
    let i = first + j;
    if (i < dims.count) { x4[dims.offset + i] = v; }
  }
}

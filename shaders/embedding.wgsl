// embedding.wgsl — embedding lookup into a column block of a wider matrix, and
// its gradient as a deterministic segmented sum (no atomics).
//
// Forward: out[r, off + d] = table[ids[r], d] for token rows r = b·T + t with
// t < lengths[b], and 0 for padding rows (t ≥ lengths[b]) and out-of-range ids.
// Several blocks (word embedding, casing embedding, character features) write
// side by side into one (B·T, row_stride) input matrix, each at its own column
// offset, so the LSTM input needs no concatenation copy. Columns outside
// [off, off + D) are not touched.
//
// Backward: dtable[ids_u, d] += Σ_{p in group u} dout[p, off + d], over the
// CSR grouping built on the CPU when the batch is made (uniqueIds, offsets,
// positions: the rows where each distinct id occurs). Every (id, column) has
// one owner that adds its group in the stored order, so the result is
// deterministic. dtable is dense (V, D), accumulated with `+=` (the caller
// zeroes it each step, fill.wgsl), or, with `overwrite`, written with `=` in
// the batch's rows only: rows of ids not in the batch keep stale values, which
// an optimizer that updates only the batch's rows (adam.wgsl `sparse_rows`)
// never reads, and the table needs no zeroing.
//
// entry `forward`
//   @binding(0) dims:    uniform (rows B·T, time T, D, row_stride, col_offset, vocab V, _, _)
//   @binding(1) ids:     (B·T) i32
//   @binding(2) lengths: (B) i32
//   @binding(3) table:   (V, D) f32 (nn.Embedding layout)
//   @binding(4) out:     (B·T, row_stride) f32; columns [off, off + D) written with `=`
//   dispatch: linear grid of workgroups of 64 (src/ops/fill.ts linearGrid) over
//   B·T · ceil(D / 4) invocations; one owns 4 consecutive columns of one row
//   (consecutive invocations: the column quads of one row, so the id load is shared).
//
// entry `backward`
//   @binding(0) dims:       uniform (U, _, D, row_stride, col_offset, vocab V, overwrite, _)
//   @binding(1) unique_ids: (U) i32, the distinct ids
//   @binding(2) offsets:    (U + 1) i32, group u is positions[offsets[u] .. offsets[u + 1])
//   @binding(3) positions:  (N) i32, rows of dout (b·T + t for word tokens)
//   @binding(4) dout:       (rows, row_stride) f32, read at columns [off, off + D)
//   @binding(5) dtable:     (V, D) f32, accumulated with `+=` (overwrite 0) or the
//                           batch's rows written with `=` (overwrite 1)
//   dispatch: linear grid of workgroups of 64 over U · ceil(D / 4) invocations; one
//   owns 4 columns of one distinct id and loops over its group: a group must hold
//   fewer than 65,000 positions (llvmpipe's loop trap; checked by groupIds).

struct Dims {
  rows: u32,
  time: u32,
  dim: u32,
  row_stride: u32,
  col_offset: u32,
  vocab: u32,
  overwrite: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> lengths: array<i32>;
@group(0) @binding(3) var<storage, read> table: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@group(0) @binding(1) var<storage, read> unique_ids: array<i32>;
@group(0) @binding(2) var<storage, read> offsets: array<i32>;
@group(0) @binding(3) var<storage, read> positions: array<i32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read_write> dtable: array<f32>;

//#include "common/flat_id.wgsl"

@compute @workgroup_size(64)
fn forward(inv: Grid) {
  let quads = (dims.dim + 3u) / 4u;
  let k = flat_id(inv);
  let row = k / quads;
  if (row >= dims.rows) { return; }
  let d0 = (k % quads) * 4u;
  let b = row / dims.time;
  let t = row % dims.time;
  let id = ids[row];
  let real = i32(t) < lengths[b] && id >= 0 && u32(id) < dims.vocab;
  let src = select(0u, u32(id), real) * dims.dim;
  let dst = row * dims.row_stride + dims.col_offset;
  for (var j = 0u; j < 4u; j++) {
    let d = d0 + j;
    if (d < dims.dim) { out[dst + d] = select(0.0, table[src + d], real); }
  }
}

@compute @workgroup_size(64)
fn backward(inv: Grid) {
  let quads = (dims.dim + 3u) / 4u;
  let k = flat_id(inv);
  let u = k / quads;
  if (u >= dims.rows) { return; }
  let id = unique_ids[u];
  if (id < 0 || u32(id) >= dims.vocab) { return; }
  let d0 = (k % quads) * 4u;
  // Columns past D read column D − 1 (in bounds) and are not stored.
  let c = min(vec4u(d0, d0 + 1u, d0 + 2u, d0 + 3u), vec4u(dims.dim - 1u)) + dims.col_offset;
  var sum = vec4f(0.0);
  let end = offsets[u + 1u];
  for (var i = offsets[u]; i < end; i++) {
    let base = u32(positions[i]) * dims.row_stride;
    sum += vec4f(dout[base + c.x], dout[base + c.y], dout[base + c.z], dout[base + c.w]);
  }
  let dst = u32(id) * dims.dim;
  for (var j = 0u; j < 4u; j++) {
    let d = d0 + j;
    if (d < dims.dim) {
      dtable[dst + d] = select(dtable[dst + d] + sum[j], sum[j], dims.overwrite != 0u);
    }
  }
}

// char_cnn.wgsl — character features (Ma & Hovy 2016): character embedding,
// a width-3 convolution over each word's characters, max over positions.
//
// For token row r = b·T + t with L = min(char_lengths[r], Lc) characters
// e_0 .. e_{L−1} (e_i = table[char_ids[r, i]], ids outside [0, C) give zero
// vectors), zero-padded by one position on each side:
//   conv[j, f] = bias[f] + Σ_k Σ_d weight[f, d, k] · e_{j+k−1}[d],  j = 0 .. L−1
//   out[r, off + f] = max_j conv[j, f];  argmax[r, f] = the first j reaching it
// (PyTorch Conv1d(Dc, F, 3, padding=1) followed by a max over the word's real
// positions: pad characters past L never enter the max). No nonlinearity, as
// in Ma & Hovy; the LSTM that follows supplies it. Padding rows (t ≥ lengths[b])
// and empty words get out = 0 and argmax = −1 on all F filters.
//
// Backward (three entries, then the embedding scatter of embedding.wgsl):
//   dpos[r, i, d]   = Σ_f Σ_k [argmax[r, f] = i − k + 1] · dout[r, f] · weight[f, d, k]
//   dweight[f, d, k] += Σ_r dout[r, f] · e_{argmax[r, f] + k − 1}[d]
//   dbias[f]         += Σ_r dout[r, f]          (rows with argmax = −1 skipped)
// dweight and dbias are reduced deterministically: fixed token blocks write
// partial sums, a second entry adds the blocks in order. dtable += is the
// segmented sum of dpos over the CSR grouping of character positions r·Lc + i
// by character id (src/ops/char_cnn.ts groupCharIds), with embedding.wgsl.
//
// Limits (checked by the host): Lc ≤ 64, Dc ≤ 128, F ≤ 256 (workgroup and
// private arrays), which also bound every loop far below llvmpipe's 65,535.
//
// Shared uniform, all entries:
//   @binding(0) dims: (rows B·T, time T, chars Lc, char_dim Dc, filters F, vocab C,
//                      row_stride, col_offset, block_rows, blocks, _, _) u32
//
// entry `forward`
//   @binding(1) char_ids:     (B·T, Lc) i32, 0 = pad
//   @binding(2) char_lengths: (B·T) i32
//   @binding(3) lengths:      (B) i32
//   @binding(4) table:        (C, Dc) f32
//   @binding(5) weight:       (F, Dc, 3) f32 (Conv1d layout)
//   @binding(6) bias:         (F) f32
//   @binding(7) out:          (B·T, row_stride) f32; columns [off, off + F) written with `=`
//   @binding(8) argmax:       (B·T, F) i32, written with `=`
//   dispatch: (ceil(B·T / 64), ceil(F / 8), 1); a workgroup owns 64 tokens × 8 filters
//   (their weights staged in workgroup memory as vec4 over filters); one invocation
//   owns one token and the 8 filters, streaming its characters once: each e_i
//   feeds the three open outputs j = i + 1, i, i − 1.
//
// entry `backward_input`
//   @binding(1) argmax_in:  (B·T, F) i32
//   @binding(2) dout:       (B·T, row_stride) f32, read at columns [off, off + F)
//   @binding(3) weight_in:  (F, Dc, 3) f32
//   @binding(4) clen_in:    (B·T) i32, char lengths
//   @binding(5) lengths_in: (B) i32
//   @binding(6) dpos:       (B·T·Lc, Dc) f32, written with `=` at real characters only
//   dispatch: (ceil(B·T / 64), ceil(Dc / 4), 1); one invocation owns one token and 4 of
//   the Dc columns (the workgroup's weight columns staged in workgroup memory).
//
// entry `dweight_partial`
//   @binding(1..4) char_ids, char_lengths, lengths, table as in `forward`
//   @binding(5) argmax_w:  (B·T, F) i32
//   @binding(6) dout_w:    (B·T, row_stride) f32
//   @binding(7) partial_w: (blocks, F, Dc, 3) f32, written with `=`
//   @binding(8) partial_b: (blocks, F) f32, written with `=`
//   dispatch: (ceil(F · ceil(Dc / 4) / 64), blocks, 1); one invocation owns one filter ×
//   4 input columns × 3 taps over the token block [y·block_rows, (y + 1)·block_rows).
//
// entry `dweight_reduce`
//   @binding(1) partial_w_in: (blocks, F, Dc, 3) f32
//   @binding(2) partial_b_in: (blocks, F) f32
//   @binding(3) dweight:      (F, Dc, 3) f32, accumulated with `+=`
//   @binding(4) dbias:        (F) f32, accumulated with `+=`
//   dispatch: linear grid (src/ops/fill.ts linearGrid) over F·Dc·3 + F invocations; one
//   owns one output element and adds the blocks in order.

struct Dims {
  rows: u32,
  time: u32,
  chars: u32,
  char_dim: u32,
  filters: u32,
  vocab: u32,
  row_stride: u32,
  col_offset: u32,
  block_rows: u32,
  blocks: u32,
  pad0: u32,
  pad1: u32,
}

const MAX_LC: u32 = 64u;

@group(0) @binding(0) var<uniform> dims: Dims;

@group(0) @binding(1) var<storage, read> char_ids: array<i32>;
@group(0) @binding(2) var<storage, read> char_lengths: array<i32>;
@group(0) @binding(3) var<storage, read> lengths: array<i32>;
@group(0) @binding(4) var<storage, read> table: array<f32>;
@group(0) @binding(5) var<storage, read> weight: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> argmax: array<i32>;

@group(0) @binding(1) var<storage, read> argmax_in: array<i32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> weight_in: array<f32>;
@group(0) @binding(4) var<storage, read> clen_in: array<i32>;
@group(0) @binding(5) var<storage, read> lengths_in: array<i32>;
@group(0) @binding(6) var<storage, read_write> dpos: array<f32>;

@group(0) @binding(5) var<storage, read> argmax_w: array<i32>;
@group(0) @binding(6) var<storage, read> dout_w: array<f32>;
@group(0) @binding(7) var<storage, read_write> partial_w: array<f32>;
@group(0) @binding(8) var<storage, read_write> partial_b: array<f32>;

@group(0) @binding(1) var<storage, read> partial_w_in: array<f32>;
@group(0) @binding(2) var<storage, read> partial_b_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(4) var<storage, read_write> dbias: array<f32>;

// forward: (d, k, half) → weights of the workgroup's filters 4·half .. 4·half + 3, Dc ≤ 128.
// backward_input: (f, k) → weights of the workgroup's 4 input columns, F ≤ 256.
// Both 768 vec4 = 12 KiB (under the portable 16 KiB).
var<workgroup> wcache: array<vec4f, 768>;

fn char_count(r: u32) -> u32 {
  return u32(clamp(char_lengths[r], 0, i32(dims.chars)));
}

fn bias_at(f: u32) -> f32 {
  return select(0.0, bias[min(f, dims.filters - 1u)], f < dims.filters);
}

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let dc = dims.char_dim;
  let nf = dims.filters;
  let f0 = wid.y * 8u;
  for (var e = lid; e < dc * 24u; e += 64u) {
    let ff = e % 8u;
    let k = (e / 8u) % 3u;
    let d = e / 24u;
    let f = f0 + ff;
    var w = 0.0;
    if (f < nf) { w = weight[(f * dc + d) * 3u + k]; }
    wcache[(d * 3u + k) * 2u + ff / 4u][ff % 4u] = w;
  }
  workgroupBarrier();
  let r = wid.x * 64u + lid;
  if (r >= dims.rows) { return; }
  let real = i32(r % dims.time) < lengths[r / dims.time];
  var len = 0u;
  if (real) { len = char_count(r); }
  let bias0 = vec4f(bias_at(f0), bias_at(f0 + 1u), bias_at(f0 + 2u), bias_at(f0 + 3u));
  let bias1 = vec4f(bias_at(f0 + 4u), bias_at(f0 + 5u), bias_at(f0 + 6u), bias_at(f0 + 7u));
  // Open outputs while character i streams in: prev = j = i − 1, cur = j = i, next = j = i + 1.
  var prev0 = bias0;
  var prev1 = bias1;
  var cur0 = bias0;
  var cur1 = bias1;
  var next0 = bias0;
  var next1 = bias1;
  var best0 = vec4f(0.0);
  var best1 = vec4f(0.0);
  var arg0 = vec4i(-1);
  var arg1 = vec4i(-1);
  for (var i = 0u; i <= len; i++) {
    if (i < len) {
      let c = char_ids[r * dims.chars + i];
      let valid = c >= 0 && u32(c) < dims.vocab;
      let base = select(0u, u32(c), valid) * dc;
      let on = select(0.0, 1.0, valid);
      for (var d = 0u; d < dc; d++) {
        let x = table[base + d] * on;
        let w = d * 6u;
        next0 += x * wcache[w];
        next1 += x * wcache[w + 1u];
        cur0 += x * wcache[w + 2u];
        cur1 += x * wcache[w + 3u];
        prev0 += x * wcache[w + 4u];
        prev1 += x * wcache[w + 5u];
      }
    }
    // Output j = i − 1 has all three taps now (e_i = 0 when i = len): take the max.
    if (i >= 1u) {
      let j = i32(i) - 1;
      let first = vec4<bool>(j == 0);
      let m0 = (prev0 > best0) | first;
      let m1 = (prev1 > best1) | first;
      best0 = select(best0, prev0, m0);
      best1 = select(best1, prev1, m1);
      arg0 = select(arg0, vec4i(j), m0);
      arg1 = select(arg1, vec4i(j), m1);
    }
    prev0 = cur0;
    prev1 = cur1;
    cur0 = next0;
    cur1 = next1;
    next0 = bias0;
    next1 = bias1;
  }
  let bests = array<vec4f, 2>(best0, best1);
  let args = array<vec4i, 2>(arg0, arg1);
  let dst = r * dims.row_stride + dims.col_offset;
  for (var q = 0u; q < 8u; q++) {
    let f = f0 + q;
    if (f < nf) {
      out[dst + f] = bests[q / 4u][q % 4u];
      argmax[r * nf + f] = args[q / 4u][q % 4u];
    }
  }
}

@compute @workgroup_size(64)
fn backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let dc = dims.char_dim;
  let nf = dims.filters;
  let d0 = wid.y * 4u;
  for (var e = lid; e < nf * 12u; e += 64u) {
    let c = e % 4u;
    let k = (e / 4u) % 3u;
    let f = e / 12u;
    let d = d0 + c;
    var w = 0.0;
    if (d < dc) { w = weight_in[(f * dc + d) * 3u + k]; }
    wcache[f * 3u + k][c] = w;
  }
  workgroupBarrier();
  let r = wid.x * 64u + lid;
  if (r >= dims.rows) { return; }
  if (i32(r % dims.time) >= lengths_in[r / dims.time]) { return; }
  let len = u32(clamp(clen_in[r], 0, i32(dims.chars)));
  // acc[i + 1] is the gradient of character i; acc[0] and acc[len + 1] are the zero pads.
  var acc: array<vec4f, 66>;
  for (var i = 0u; i < len + 2u; i++) { acc[i] = vec4f(0.0); }
  for (var f = 0u; f < nf; f++) {
    let a = argmax_in[r * nf + f];
    if (a < 0) { continue; }
    let g = dout[r * dims.row_stride + dims.col_offset + f];
    let ua = u32(a);
    acc[ua] += g * wcache[f * 3u];
    acc[ua + 1u] += g * wcache[f * 3u + 1u];
    acc[ua + 2u] += g * wcache[f * 3u + 2u];
  }
  for (var i = 0u; i < len; i++) {
    let v = acc[i + 1u];
    let base = (r * dims.chars + i) * dc + d0;
    for (var c = 0u; c < 4u; c++) {
      if (d0 + c < dc) { dpos[base + c] = v[c]; }
    }
  }
}

fn table_row4(c: i32, cols: vec4u) -> vec4f {
  if (c < 0 || u32(c) >= dims.vocab) { return vec4f(0.0); }
  let base = u32(c) * dims.char_dim;
  return vec4f(table[base + cols.x], table[base + cols.y], table[base + cols.z], table[base + cols.w]);
}

@compute @workgroup_size(64)
fn dweight_partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let dc = dims.char_dim;
  let nf = dims.filters;
  let quads = (dc + 3u) / 4u;
  let k = wid.x * 64u + lid;
  let f = k / quads;
  if (f >= nf) { return; }
  let d0 = (k % quads) * 4u;
  // Columns past Dc read column Dc − 1 and are not stored.
  let cols = min(vec4u(d0, d0 + 1u, d0 + 2u, d0 + 3u), vec4u(dc - 1u));
  let r0 = wid.y * dims.block_rows;
  let r1 = min(dims.rows, r0 + dims.block_rows);
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var accb = 0.0;
  for (var r = r0; r < r1; r++) {
    if (i32(r % dims.time) >= lengths[r / dims.time]) { continue; }
    // −1 marks empty words (and padding rows, written by `forward`).
    let a = argmax_w[r * nf + f];
    if (a < 0) { continue; }
    let g = dout_w[r * dims.row_stride + dims.col_offset + f];
    accb += g;
    let row = i32(r * dims.chars);
    if (a >= 1) { acc0 += g * table_row4(char_ids[row + a - 1], cols); }
    acc1 += g * table_row4(char_ids[row + a], cols);
    if (u32(a) + 1u < char_count(r)) { acc2 += g * table_row4(char_ids[row + a + 1], cols); }
  }
  for (var c = 0u; c < 4u; c++) {
    let d = d0 + c;
    if (d < dc) {
      let base = ((wid.y * nf + f) * dc + d) * 3u;
      partial_w[base] = acc0[c];
      partial_w[base + 1u] = acc1[c];
      partial_w[base + 2u] = acc2[c];
    }
  }
  if (d0 == 0u) { partial_b[wid.y * nf + f] = accb; }
}

@compute @workgroup_size(64)
fn dweight_reduce(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let k = (wid.y * nwg.x + wid.x) * 64u + lid;
  let nw = dims.filters * dims.char_dim * 3u;
  if (k < nw) {
    var s = 0.0;
    for (var blk = 0u; blk < dims.blocks; blk++) { s += partial_w_in[blk * nw + k]; }
    dweight[k] += s;
  } else if (k < nw + dims.filters) {
    let f = k - nw;
    var s = 0.0;
    for (var blk = 0u; blk < dims.blocks; blk++) { s += partial_b_in[blk * dims.filters + f]; }
    dbias[f] += s;
  }
}

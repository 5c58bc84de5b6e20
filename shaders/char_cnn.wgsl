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
// Why it is fast: the embedding is a lookup, so the convolution factors through
// the vocabulary. With P[c, k, f] = Σ_d table[c, d] · weight[f, d, k] (C·3·F
// numbers, cheap for a character vocabulary),
//   conv[j, f] = bias[f] + P[c_{j−1}, 0, f] + P[c_j, 1, f] + P[c_{j+1}, 2, f]
// (a missing or unknown neighbour adds 0): three vector loads per position
// instead of 3·Dc multiply-adds. The backward factors the same way: with
//   G[c, k, f] = Σ_{real positions p = (r, i) with id c} dout[r, f]·[argmax[r, f] = i − k + 1]
// (the gradient reaching tap k of the filter's winning window through character c),
//   dweight[f, d, k] += Σ_c G[c, k, f] · table[c, d]
//   dtable[c, d]     += Σ_k Σ_f G[c, k, f] · weight[f, d, k]
//   dbias[f]         += Σ_r [argmax[r, f] ≥ 0] · dout[r, f]
// where c runs over the batch's distinct valid ids only (the CSR grouping of
// character positions by id, src/ops/char_cnn.ts groupCharIds). Every sum has one
// owner adding in a fixed order: deterministic, no atomics.
//
// Limits (checked by the host): Lc ≤ 64, Dc ≤ 128, F ≤ 256; `forward` takes C ≤ 1024
// (each workgroup projects the whole vocabulary), `forward_direct` any C. Every
// loop is bounded far below llvmpipe's 65,535 iterations: groups ≤ 65,000 positions
// (groupCharIds), weight slices ≤ 4,096 ids, bias blocks ≤ max(256, B·T / 64) rows.
//
// Shared uniform, all entries (Q4 = ceil(F / 4), the filter quads):
//   @binding(0) dims: (rows B·T, time T, chars Lc, char_dim Dc, filters F, vocab C,
//                      row_stride, col_offset, quads Q4, unique U, block_rows, blocks,
//                      slice, slices, per_invocation, bias_offset) u32
//   (`forward` reads `blocks` as its token blocks; the backward as its bias blocks.)
//
// entries `forward` and `forward_direct` (same bindings; at most 8 storage buffers, WebGPU's
// default per stage: weight and bias share one binding)
//   @binding(1) char_ids:     (B·T, Lc) i32, 0 = pad
//   @binding(2) char_lengths: (B·T) i32
//   @binding(3) lengths:      (B) i32
//   @binding(4) table:        (C, Dc) f32
//   @binding(5) conv_params:  weight (F, Dc, 3) f32 (Conv1d layout) at 0, bias (F) f32 at
//                             bias_offset: a range of the flat parameters that covers both,
//                             or the op's buffer packed by `pack_conv`
//   @binding(6) out:          (B·T, row_stride) f32; columns [off, off + F) written with `=`
//   @binding(7) argmax:       (B·T, F) i32, written with `=`
//   @binding(8) proj:         `forward` only: (Q4, blocks, C, 3) vec4f scratch, each
//                             workgroup's own region written then read (storageBarrier)
//   `forward` dispatch: (blocks, Q4, 1) workgroups of 256 (`blocks` token blocks, 2 unless
//   B·T > 16,384); a workgroup owns 4 filters and a block of tokens: it builds P for
//   the whole vocabulary and its 4 filters in its scratch region (one character per
//   invocation), then each invocation owns per_invocation = ceil(B·T / (256·blocks))
//   tokens (r = 256·per_invocation·block + 256·n + lid) for those 4 filters. Workgroup
//   memory is avoided on purpose: on llvmpipe (GL) a workgroup array's per-workgroup cost
//   grows with the square of its length (1,024 f32 ≈ 0.6 ms, 4,096 f32 ≈ 10 ms).
//   `forward_direct` dispatch: (ceil(B·T / 64), ceil(F / 8), 1) workgroups of 64; one
//   invocation owns one token and 8 filters and convolves directly (any C).
//
// entry `pack_conv` — the forward's `conv_params` binding from separate weight and bias buffers
//   @binding(1) weight_in: (F, Dc, 3) f32;  @binding(2) bias_in: (F) f32
//   @binding(3) packed:    (bias_offset + F) f32, written with `=` (weight, then bias)
//   dispatch: linear grid of 64 over bias_offset + F invocations; one per packed float.
//
// entry `grad_project` — G and the bias partials
//   @binding(1) unique_g:    (U) i32 distinct ids;  @binding(2) offsets_g: (U + 1) i32
//   @binding(3) positions_g: (N) i32 character positions r·Lc + i
//   @binding(4) argmax_g:    (B·T, F) i32;  @binding(5) dout_g: (B·T, row_stride) f32
//   @binding(6) gproj:       (C, 3, Q4) vec4f; rows of the batch's valid ids written with `=`
//   @binding(7) bias_part:   (blocks, Q4) vec4f, written with `=`
//   dispatch: linear grid of 64 over U·Q4 + blocks·Q4 invocations: the first U·Q4 own
//   (distinct id u, filter quad q) and loop over u's positions; the rest own
//   (token block, filter quad) of the bias sums.
//
// entry `grad_weight` — dweight partials over slices of distinct ids; weight repack
//   @binding(1) unique_w: (U) i32;  @binding(2) table_w: (C, Dc) f32
//   @binding(3) gproj_w:  (C, 3, Q4) vec4f;  @binding(4) weight_w: (F, Dc, 3) f32
//   @binding(5) wpart:    (slices, Dc, 3, Q4) vec4f, written with `=`
//   @binding(6) wt:       (Dc, 3, Q4) vec4f = weight transposed (zero past F), written with `=`
//   dispatch: linear grid of 64 over slices·Dc·Q4 + Dc·3·Q4 invocations: the first own
//   (slice s, column d, quad q) and loop over the slice's ids; the rest own one wt vec4.
//
// entry `grad_reduce`
//   @binding(1) wpart_in: (slices, Dc, 3, Q4) vec4f;  @binding(2) bias_part_in: (blocks, Q4) vec4f
//   @binding(3) dweight:  (F, Dc, 3) f32, accumulated with `+=`
//   @binding(4) dbias:    (F) f32, accumulated with `+=`
//   dispatch: linear grid of 64 over F·Dc·3 + F invocations; one owns one output
//   element and adds the slices (or blocks) in order.
//
// entry `grad_table`
//   @binding(1) unique_t: (U) i32;  @binding(2) gproj_t: (C, 3, Q4) vec4f
//   @binding(3) wt_t:     (Dc, 3, Q4) vec4f
//   @binding(4) dtable:   (C, Dc) f32, accumulated with `+=` at the batch's valid ids
//   dispatch: linear grid of 64 over U·Dc invocations; one owns (distinct id, column).

struct Dims {
  rows: u32,
  time: u32,
  chars: u32,
  char_dim: u32,
  filters: u32,
  vocab: u32,
  row_stride: u32,
  col_offset: u32,
  quads: u32,
  unique: u32,
  block_rows: u32,
  blocks: u32,
  slice: u32,
  slices: u32,
  per_invocation: u32,
  bias_offset: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;

@group(0) @binding(1) var<storage, read> char_ids: array<i32>;
@group(0) @binding(2) var<storage, read> char_lengths: array<i32>;
@group(0) @binding(3) var<storage, read> lengths: array<i32>;
@group(0) @binding(4) var<storage, read> table: array<f32>;
@group(0) @binding(5) var<storage, read> conv_params: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read_write> argmax: array<i32>;
@group(0) @binding(8) var<storage, read_write> proj: array<vec4f>;

@group(0) @binding(1) var<storage, read> weight_in: array<f32>;
@group(0) @binding(2) var<storage, read> bias_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> packed: array<f32>;

@group(0) @binding(1) var<storage, read> unique_g: array<i32>;
@group(0) @binding(2) var<storage, read> offsets_g: array<i32>;
@group(0) @binding(3) var<storage, read> positions_g: array<i32>;
@group(0) @binding(4) var<storage, read> argmax_g: array<i32>;
@group(0) @binding(5) var<storage, read> dout_g: array<f32>;
@group(0) @binding(6) var<storage, read_write> gproj: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> bias_part: array<vec4f>;

@group(0) @binding(1) var<storage, read> unique_w: array<i32>;
@group(0) @binding(2) var<storage, read> table_w: array<f32>;
@group(0) @binding(3) var<storage, read> gproj_w: array<vec4f>;
@group(0) @binding(4) var<storage, read> weight_w: array<f32>;
@group(0) @binding(5) var<storage, read_write> wpart: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> wt: array<vec4f>;

@group(0) @binding(1) var<storage, read> wpart_in: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias_part_in: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(4) var<storage, read_write> dbias: array<f32>;

@group(0) @binding(1) var<storage, read> unique_t: array<i32>;
@group(0) @binding(2) var<storage, read> gproj_t: array<vec4f>;
@group(0) @binding(3) var<storage, read> wt_t: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> dtable: array<f32>;

const WG: u32 = 256u;
// `forward_direct`: (d, k, half) → weights of the workgroup's 8 filters, Dc ≤ 128: 12 KiB.
var<workgroup> wcache: array<vec4f, 768>;

fn char_count(r: u32) -> u32 {
  return u32(clamp(char_lengths[r], 0, i32(dims.chars)));
}

fn bias_at(f: u32) -> f32 {
  return select(0.0, conv_params[dims.bias_offset + min(f, dims.filters - 1u)], f < dims.filters);
}

fn weight_at(f: u32, d: u32, k: u32) -> f32 {
  return select(0.0, conv_params[(min(f, dims.filters - 1u) * dims.char_dim + d) * 3u + k], f < dims.filters);
}

@compute @workgroup_size(64)
fn pack_conv(inv: Grid) {
  let e = flat_id(inv);
  let nw = dims.filters * dims.char_dim * 3u;
  if (e < nw) { packed[e] = weight_in[e]; }
  if (e >= dims.bias_offset && e < dims.bias_offset + dims.filters) {
    packed[e] = bias_in[e - dims.bias_offset];
  }
}

// P[c, k] for the workgroup's filters; 0 for ids outside [0, C) (also the −1 "no neighbour").
fn proj_row(base: u32, c: i32, k: u32) -> vec4f {
  let ok = c >= 0 && u32(c) < dims.vocab;
  return select(vec4f(0.0), proj[base + select(0u, u32(c), ok) * 3u + k], ok);
}

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let dc = dims.char_dim;
  let f0 = wid.y * 4u;
  // This workgroup's private region of the scratch (workgroup memory would be too
  // slow here: llvmpipe's cost of a workgroup array grows with its square).
  let base = (wid.y * dims.blocks + wid.x) * dims.vocab * 3u;
  // P for the whole vocabulary, one character (all three taps) per invocation: the
  // weight addresses are the same in every lane (uniform loads; only the table is gathered).
  for (var c = lid; c < dims.vocab; c += WG) {
    let row = c * dc;
    var acc0 = vec4f(0.0);
    var acc1 = vec4f(0.0);
    var acc2 = vec4f(0.0);
    for (var d = 0u; d < dc; d++) {
      let x = table[row + d];
      acc0 += x * vec4f(weight_at(f0, d, 0u), weight_at(f0 + 1u, d, 0u), weight_at(f0 + 2u, d, 0u), weight_at(f0 + 3u, d, 0u));
      acc1 += x * vec4f(weight_at(f0, d, 1u), weight_at(f0 + 1u, d, 1u), weight_at(f0 + 2u, d, 1u), weight_at(f0 + 3u, d, 1u));
      acc2 += x * vec4f(weight_at(f0, d, 2u), weight_at(f0 + 1u, d, 2u), weight_at(f0 + 2u, d, 2u), weight_at(f0 + 3u, d, 2u));
    }
    proj[base + c * 3u] = acc0;
    proj[base + c * 3u + 1u] = acc1;
    proj[base + c * 3u + 2u] = acc2;
  }
  storageBarrier();
  let bias4 = vec4f(bias_at(f0), bias_at(f0 + 1u), bias_at(f0 + 2u), bias_at(f0 + 3u));
  let r0 = wid.x * WG * dims.per_invocation + lid;
  for (var n = 0u; n < dims.per_invocation; n++) {
    let r = r0 + n * WG;
    if (r >= dims.rows) { break; }
    var len = 0u;
    if (i32(r % dims.time) < lengths[r / dims.time]) { len = char_count(r); }
    let ids = r * dims.chars;
    var best = vec4f(0.0);
    var arg = vec4i(-1);
    var before = vec4f(0.0); // P[c_{i−1}, 0]: the left neighbour's tap
    var cur = -1;
    if (len > 0u) { cur = char_ids[ids]; }
    for (var i = 0u; i < len; i++) {
      var next = -1;
      if (i + 1u < len) { next = char_ids[ids + i + 1u]; }
      let v = bias4 + before + proj_row(base, cur, 1u) + proj_row(base, next, 2u);
      let m = (v > best) | vec4<bool>(i == 0u);
      best = select(best, v, m);
      arg = select(arg, vec4i(i32(i)), m);
      before = proj_row(base, cur, 0u);
      cur = next;
    }
    let dst = r * dims.row_stride + dims.col_offset;
    for (var q = 0u; q < 4u; q++) {
      let f = f0 + q;
      if (f < dims.filters) {
        out[dst + f] = best[q];
        argmax[r * dims.filters + f] = arg[q];
      }
    }
  }
}

@compute @workgroup_size(64)
fn forward_direct(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let dc = dims.char_dim;
  let nf = dims.filters;
  let f0 = wid.y * 8u;
  for (var e = lid; e < dc * 24u; e += 64u) {
    let ff = e % 8u;
    let k = (e / 8u) % 3u;
    let d = e / 24u;
    wcache[(d * 3u + k) * 2u + ff / 4u][ff % 4u] = weight_at(f0 + ff, d, k);
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

//#include "common/flat_id.wgsl"

// Token r's argmax (−5, matching no position, where negative or past F) and dout for quad q.
struct QuadGrad {
  a: vec4i,
  g: vec4f,
}

fn quad_grad(r: u32, q: u32) -> QuadGrad {
  let nf = dims.filters;
  let f = vec4u(4u * q, 4u * q + 1u, 4u * q + 2u, 4u * q + 3u);
  let fc = min(f, vec4u(nf - 1u));
  let ab = r * nf;
  let a = vec4i(argmax_g[ab + fc.x], argmax_g[ab + fc.y], argmax_g[ab + fc.z], argmax_g[ab + fc.w]);
  let gb = r * dims.row_stride + dims.col_offset;
  let g = vec4f(dout_g[gb + fc.x], dout_g[gb + fc.y], dout_g[gb + fc.z], dout_g[gb + fc.w]);
  return QuadGrad(select(vec4i(-5), a, (f < vec4u(nf)) & (a >= vec4i(0))), g);
}

fn valid_id(id: i32) -> bool {
  return id >= 0 && u32(id) < dims.vocab;
}

@compute @workgroup_size(64)
fn grad_project(inv: Grid) {
  let nq = dims.quads;
  let k = flat_id(inv);
  let n1 = dims.unique * nq;
  if (k < n1) {
    let u = k / nq;
    let q = k % nq;
    let id = unique_g[u];
    if (!valid_id(id)) { return; }
    var g0 = vec4f(0.0);
    var g1 = vec4f(0.0);
    var g2 = vec4f(0.0);
    let end = offsets_g[u + 1u];
    for (var p = offsets_g[u]; p < end; p++) {
      let pos = u32(positions_g[p]);
      let i = i32(pos % dims.chars);
      let x = quad_grad(pos / dims.chars, q);
      // Position i is tap k of the window centred at i − k + 1.
      g0 += select(vec4f(0.0), x.g, x.a == vec4i(i + 1));
      g1 += select(vec4f(0.0), x.g, x.a == vec4i(i));
      g2 += select(vec4f(0.0), x.g, x.a == vec4i(i - 1));
    }
    let base = u32(id) * 3u * nq + q;
    gproj[base] = g0;
    gproj[base + nq] = g1;
    gproj[base + 2u * nq] = g2;
  } else if (k < n1 + dims.blocks * nq) {
    let blk = (k - n1) / nq;
    let q = (k - n1) % nq;
    let r0 = blk * dims.block_rows;
    let r1 = min(dims.rows, r0 + dims.block_rows);
    var acc = vec4f(0.0);
    for (var r = r0; r < r1; r++) {
      // −1 marks padding rows and empty words (written by the forward).
      let x = quad_grad(r, q);
      acc += select(vec4f(0.0), x.g, x.a >= vec4i(0));
    }
    bias_part[blk * nq + q] = acc;
  }
}

@compute @workgroup_size(64)
fn grad_weight(inv: Grid) {
  let nq = dims.quads;
  let dc = dims.char_dim;
  let k = flat_id(inv);
  let n1 = dims.slices * dc * nq;
  if (k < n1) {
    let q = k % nq;
    let d = (k / nq) % dc;
    let s = k / (nq * dc);
    var acc0 = vec4f(0.0);
    var acc1 = vec4f(0.0);
    var acc2 = vec4f(0.0);
    let u1 = min(dims.unique, (s + 1u) * dims.slice);
    for (var u = s * dims.slice; u < u1; u++) {
      let id = unique_w[u];
      if (!valid_id(id)) { continue; }
      let x = table_w[u32(id) * dc + d];
      let base = u32(id) * 3u * nq + q;
      acc0 += x * gproj_w[base];
      acc1 += x * gproj_w[base + nq];
      acc2 += x * gproj_w[base + 2u * nq];
    }
    let dst = (s * dc + d) * 3u * nq + q;
    wpart[dst] = acc0;
    wpart[dst + nq] = acc1;
    wpart[dst + 2u * nq] = acc2;
  } else if (k < n1 + dc * 3u * nq) {
    let e = k - n1;
    let q = e % nq;
    let dk = e / nq;
    let d = dk / 3u;
    let kk = dk % 3u;
    let nf = dims.filters;
    let f = vec4u(4u * q, 4u * q + 1u, 4u * q + 2u, 4u * q + 3u);
    let src = (min(f, vec4u(nf - 1u)) * dc + d) * 3u + kk;
    let w = vec4f(weight_w[src.x], weight_w[src.y], weight_w[src.z], weight_w[src.w]);
    wt[e] = select(vec4f(0.0), w, f < vec4u(nf));
  }
}

@compute @workgroup_size(64)
fn grad_reduce(inv: Grid) {
  let nq = dims.quads;
  let k = flat_id(inv);
  let per_filter = dims.char_dim * 3u;
  let nw = dims.filters * per_filter;
  if (k < nw) {
    let f = k / per_filter;
    let dk = k % per_filter;
    var s = 0.0;
    for (var sl = 0u; sl < dims.slices; sl++) {
      s += wpart_in[(sl * per_filter + dk) * nq + f / 4u][f % 4u];
    }
    dweight[k] += s;
  } else if (k < nw + dims.filters) {
    let f = k - nw;
    var s = 0.0;
    for (var blk = 0u; blk < dims.blocks; blk++) { s += bias_part_in[blk * nq + f / 4u][f % 4u]; }
    dbias[f] += s;
  }
}

@compute @workgroup_size(64)
fn grad_table(inv: Grid) {
  let nq = dims.quads;
  let dc = dims.char_dim;
  let k = flat_id(inv);
  let u = k / dc;
  if (u >= dims.unique) { return; }
  let id = unique_t[u];
  if (!valid_id(id)) { return; }
  let d = k % dc;
  let g = u32(id) * 3u * nq;
  let w = d * 3u * nq;
  var acc = vec4f(0.0);
  for (var q = 0u; q < nq; q++) {
    acc += gproj_t[g + q] * wt_t[w + q];
    acc += gproj_t[g + nq + q] * wt_t[w + nq + q];
    acc += gproj_t[g + 2u * nq + q] * wt_t[w + 2u * nq + q];
  }
  dtable[u32(id) * dc + d] += acc.x + acc.y + acc.z + acc.w;
}

// viterbi.wgsl — CRF decoding: the best tag path of each sentence by the
// Viterbi recursion with backpointers, honouring a mask of allowed
// transitions (a forbidden transition, start or end scores −1e30, so a path
// through one is chosen only when no allowed path exists).
//
//   δ[0, k] = start[k] + em[0, k]
//   δ[t, k] = em[t, k] + maxᵢ (δ[t−1, i] + trans[i, k]),  bp[t, k] = argmaxᵢ (lowest i on ties)
//   score = maxₖ (δ[n−1, k] + end[k]); then follow bp back from the best last tag.
//
// Layout: one workgroup owns S sentences, one invocation per (sentence s,
// tag k): WG = S·K invocations; workgroup g owns sentences b = g + s·G
// (G workgroups), interleaving long and short ones. The time loop runs
// inside with δ[t−1] in workgroup memory (double buffered, one barrier per
// step); the backtrack is done by the sentence's tag-0 invocation after a
// storage barrier. Per invocation about T·(K + 2) loop iterations.
//
// Overrides: K tags (≤ 32), S sentences per workgroup, WG = S·K (≤ 64),
// K4 = ceil(K / 4).
//
// entry `main`
//   @binding(0) params: uniform (B, T, G, _) u32
//   @binding(1) emissions:   (B, T, K) f32
//   @binding(2) lengths:     (B) i32
//   @binding(3) transitions: (K, K) f32 [from, to]
//   @binding(4) start:       (K) f32
//   @binding(5) end:         (K) f32
//   @binding(6) allowed:     uniform (K·K + 2K) u32 as 272 vec4u (K ≤ 32): [transitions (K, K) [from, to],
//                            start (K), end (K)], 1 allowed / 0 forbidden (a uniform keeps the storage
//                            bindings within WebGPU's default 8)
//   @binding(7) path:        (B, T) i32, written with `=`; −1 at padding
//   @binding(8) score:       (B) f32, `=`; 0 for an empty sentence
//   @binding(9) backpointers: (B, T, K) i32 scratch, `=`
//   dispatch: (G, 1, 1).

override K: u32 = 9u;
override S: u32 = 7u;
override WG: u32 = 63u;
override K4: u32 = 3u; // ceil(K / 4): the inner loop runs over vec4s of tags

const MAX_K4: u32 = 8u;
const FORBIDDEN: f32 = -1.0e30;
const PAD: f32 = -3.0e38; // the padding tags K..4·K4: below any path, even a forbidden one

struct Params { batch: u32, time: u32, groups: u32, pad: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> emissions: array<f32>;
@group(0) @binding(2) var<storage, read> lengths: array<i32>;
@group(0) @binding(3) var<storage, read> transitions: array<f32>;
@group(0) @binding(4) var<storage, read> start_scores: array<f32>;
@group(0) @binding(5) var<storage, read> end_scores: array<f32>;
@group(0) @binding(6) var<uniform> allowed: array<vec4u, 272>;
@group(0) @binding(7) var<storage, read_write> path: array<i32>;
@group(0) @binding(8) var<storage, read_write> score: array<f32>;
@group(0) @binding(9) var<storage, read_write> backpointers: array<i32>;

// Small vec4 arrays: llvmpipe's compile time grows steeply with workgroup array size.
var<workgroup> w_trans: array<vec4f, 256>;  // (K, K) masked transitions, flat
var<workgroup> w_step: array<vec4f, 128>;   // 2 × (S, K4) vec4: δ[t−1], double buffered

fn trans(i: u32, j: u32) -> f32 {
  let e = i * K + j;
  return w_trans[e >> 2u][e & 3u];
}

// First vec4 of sentence s's row in buffer `buf` (0 or 1) of w_step.
fn step_row(buf: u32, s: u32) -> u32 {
  return (buf * S + s) * K4;
}

fn masked(v: f32, index: u32) -> f32 {
  return select(FORBIDDEN, v, allowed[index / 4u][index % 4u] != 0u);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let g = wid.x;
  let s = lid / K;
  let k = lid % K;
  let b = g + s * params.groups;
  let live = b < params.batch;
  var n = 0u;
  if (live) { n = u32(clamp(lengths[b], 0, i32(params.time))); }
  // The longest sentence of the workgroup bounds the (uniform) time loop.
  var tmax = 0u;
  for (var i = 0u; i < S; i++) {
    let bi = g + i * params.groups;
    if (bi < params.batch) { tmax = max(tmax, u32(clamp(lengths[bi], 0, i32(params.time)))); }
  }
  for (var e = lid; e < 2u * S * K4; e += WG) { w_step[e] = vec4f(PAD); }
  for (var e = lid; e < K * K; e += WG) { w_trans[e >> 2u][e & 3u] = masked(transitions[e], e); }
  workgroupBarrier();
  // This invocation's column of transitions, in registers (padding lanes 0).
  var column: array<vec4f, MAX_K4>;
  for (var i = 0u; i < K; i++) { column[i >> 2u][i & 3u] = trans(i, k); }

  let base = b * params.time;
  for (var t = 0u; t < tmax; t++) {
    let cur = step_row(t & 1u, s);
    let prev = step_row(1u - (t & 1u), s);
    if (t < n) {
      let e = emissions[(base + t) * K + k];
      var delta = masked(start_scores[k], K * K + k) + e;
      if (t > 0u) {
        // Per lane l the best of tags l, l + 4, …, then the best lane (lowest tag on ties).
        var best4 = w_step[prev] + column[0];
        var arg4 = vec4u(0u, 1u, 2u, 3u);
        for (var c = 1u; c < K4; c++) {
          let v = w_step[prev + c] + column[c];
          let better = v > best4;
          best4 = select(best4, v, better);
          arg4 = select(arg4, vec4u(4u * c) + vec4u(0u, 1u, 2u, 3u), better);
        }
        var best = best4.x;
        var arg = arg4.x;
        for (var l = 1u; l < 4u; l++) {
          if (best4[l] > best || (best4[l] == best && arg4[l] < arg)) {
            best = best4[l];
            arg = arg4[l];
          }
        }
        delta = best + e;
        backpointers[(base + t) * K + k] = i32(arg);
      }
      w_step[cur + (k >> 2u)][k & 3u] = delta;
    }
    workgroupBarrier();
  }
  // Backpointers written by the other invocations must be visible to the backtrack.
  storageBarrier();
  if (!live) { return; }
  for (var t = n + k; t < params.time; t += K) { path[base + t] = -1; }
  if (k != 0u || n == 0u) {
    if (k == 0u) { score[b] = 0.0; }
    return;
  }
  let last = step_row((n - 1u) & 1u, s);
  var best = w_step[last][0] + masked(end_scores[0], K * K + K);
  var tag = 0u;
  for (var j = 1u; j < K; j++) {
    let v = w_step[last + (j >> 2u)][j & 3u] + masked(end_scores[j], K * K + K + j);
    if (v > best) { best = v; tag = j; }
  }
  score[b] = best;
  path[base + n - 1u] = i32(tag);
  for (var t = n - 1u; t > 0u; t--) {
    tag = u32(backpointers[(base + t) * K + tag]);
    path[base + t - 1u] = i32(tag);
  }
}

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
// storage barrier. Per invocation about T·(K + 2) loop iterations; where that
// would pass llvmpipe's 65,535, the builder runs `main_chunk` instead.
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
//
// entry `main_chunk` (as `main`, one dispatch per time range [t0, t1): long sentences on
// adapters that stop long loops; the same arithmetic in the same order, bit-identical results)
//   bindings 0–9 as `main`; backpointers holds, from span.z = B·T·K, δ of each sentence at
//   the last step done so far (B, K) f32 bit patterns: the scratch is (B·T·K + B·K) i32.
//   @binding(10) span: uniform (t0, t1, carry offset, phase) u32: phase 0 runs the recursion
//                for t in [t0, t1), ranges in increasing order; phase 1 the backtrack over
//                t in [t0, t1), ranges in decreasing order (path[t1 − 1] is already set).
//   dispatch: (G, 1, 1) per range and phase.

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
@group(0) @binding(10) var<uniform> span: vec4u;

// Small vec4 arrays: llvmpipe's compile time grows steeply with workgroup array size.
// w_trans holds the masked transitions, w_step δ[t−1].
//#include "common/tag_steps.wgsl"

fn masked(v: f32, index: u32) -> f32 {
  return select(FORBIDDEN, v, allowed[index / 4u][index % 4u] != 0u);
}

// The masked transitions go to workgroup memory.
fn transition_in(e: u32) -> f32 {
  return masked(transitions[e], e);
}

// Step t of the recursion (w_step's buffer 1 − t&1 holds δ[t−1]); then a barrier.
fn viterbi_step(q: Slot, column: array<vec4f, MAX_K4>, t: u32) {
  let k = q.k;
  let cur = step_row(t & 1u, q.s);
  let prev = step_row(1u - (t & 1u), q.s);
  if (t < q.n) {
    let e = emissions[(q.base + t) * K + k];
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
      backpointers[(q.base + t) * K + k] = i32(arg);
    }
    step_set(cur, k, delta);
  }
  workgroupBarrier();
}

struct End { score: f32, tag: u32 }

// The best last tag of sentence q (n > 0) from δ[n − 1] at w_step row `last`, and its score.
fn best_end(last: u32) -> End {
  var best = step_get(last, 0u) + masked(end_scores[0], K * K + K);
  var tag = 0u;
  for (var j = 1u; j < K; j++) {
    let v = step_get(last, j) + masked(end_scores[j], K * K + K + j);
    if (v > best) { best = v; tag = j; }
  }
  return End(best, tag);
}

// Follows the backpointers from tag `tag_in` at step `top` down to step t_low (≥ 1),
// writing path[t − 1] for t = top … t_low.
fn backtrack(q: Slot, tag_in: u32, top: u32, t_low: u32) {
  var tag = tag_in;
  for (var t = top; t >= t_low && t > 0u; t--) {
    tag = u32(backpointers[(q.base + t) * K + tag]);
    path[q.base + t - 1u] = i32(tag);
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let q = slot(lid, wid.x);
  let tmax = group_steps(wid.x);
  init_workgroup(lid);
  let column = trans_column(q.k);
  for (var t = 0u; t < tmax; t++) { viterbi_step(q, column, t); }
  // Backpointers written by the other invocations must be visible to the backtrack.
  storageBarrier();
  if (!q.live) { return; }
  for (var t = q.n + q.k; t < params.time; t += K) { path[q.base + t] = -1; }
  if (q.k != 0u || q.n == 0u) {
    if (q.k == 0u) { score[q.b] = 0.0; }
    return;
  }
  let end = best_end(step_row((q.n - 1u) & 1u, q.s));
  score[q.b] = end.score;
  path[q.base + q.n - 1u] = i32(end.tag);
  backtrack(q, end.tag, q.n - 1u, 1u);
}

// δ carried between the ranges of `main_chunk`, in backpointers' tail from span.z.
fn carry_at(b: u32, k: u32) -> u32 {
  return span.z + b * K + k;
}

@compute @workgroup_size(WG)
fn main_chunk(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let q = slot(lid, wid.x);
  let tmax = group_steps(wid.x);
  let t0 = span.x;
  let t1 = span.y;
  if (span.w == 0u) {
    init_workgroup(lid); // PAD is in place before the carry overwrites its lanes
    if (t0 > 0u && t0 - 1u < q.n) {
      let row = step_row(1u - (t0 & 1u), q.s);
      step_set(row, q.k, bitcast<f32>(backpointers[carry_at(q.b, q.k)]));
    }
    workgroupBarrier();
    let column = trans_column(q.k);
    for (var t = t0; t < min(t1, tmax); t++) { viterbi_step(q, column, t); }
    // δ at this sentence's last step so far, for the next range (and the backtrack).
    if (q.live && t0 < q.n) {
      let last = step_row((min(t1, q.n) - 1u) & 1u, q.s);
      backpointers[carry_at(q.b, q.k)] = bitcast<i32>(step_get(last, q.k));
    }
    return;
  }
  // Backtrack of range [t0, t1); the ranges run from the last one down.
  if (!q.live) { return; }
  for (var t = max(t0, q.n) + q.k; t < min(t1, params.time); t += K) { path[q.base + t] = -1; }
  if (q.k != 0u) { return; }
  if (q.n == 0u) {
    if (t0 == 0u) { score[q.b] = 0.0; }
    return;
  }
  let top = min(t1, q.n) - 1u;
  if (top < t0) { return; }
  var tag = 0u;
  if (t1 >= q.n) {
    // The range holds the last step: δ[n − 1] is the carry.
    var best = bitcast<f32>(backpointers[carry_at(q.b, 0u)]) + masked(end_scores[0], K * K + K);
    for (var j = 1u; j < K; j++) {
      let v = bitcast<f32>(backpointers[carry_at(q.b, j)]) + masked(end_scores[j], K * K + K + j);
      if (v > best) { best = v; tag = j; }
    }
    score[q.b] = best;
    path[q.base + q.n - 1u] = i32(tag);
  } else {
    tag = u32(path[q.base + top]);
  }
  backtrack(q, tag, top, max(t0, 1u));
}

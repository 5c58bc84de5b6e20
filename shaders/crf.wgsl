// crf.wgsl — linear-chain CRF: log-partition by the forward algorithm in log
// space, backward algorithm, node and pair marginals, the gold-path score,
// the negative log-likelihood and its gradient.
//
// Scores (pytorch-crf layout): score(y) = start[y0] + Σt em[t, yt]
//   + Σt≥1 trans[y(t−1), yt] + end[y(n−1)];  NLL_b = log Z_b − score_b(gold).
// log α[t, k] includes em[t, k]; log β[t, k] includes end (β[n−1, k] = end[k]).
// The gradient of NLL_b is (expected counts − gold counts): node marginals
// p(yt = k) for emissions, start and end; pair marginals
// p(y(t−1) = i, yt = j) = exp(α[t−1, i] + trans[i, j] + em[t, j] + β[t, j] − log Z)
// for transitions.
//
// Layout: one workgroup owns S sentences, one invocation per (sentence s,
// tag k): WG = S·K invocations. Workgroup g owns sentences b = g + s·G
// (G = number of workgroups), so with length-sorted batches every thread
// of a CPU adapter gets a mix of long and short sentences. The time loop
// runs inside, with the previous step held in workgroup memory (double
// buffered: one barrier per step). Per invocation about T·(4K + 2) loop
// iterations, fewer with the vec4 inner loops (llvmpipe stops an invocation
// silently after 65,535; the builders reject T beyond that).
// Workgroup memory is kept small and in vec4 arrays: llvmpipe's shader
// compile time grows steeply with workgroup array size (2048 f32: ~25 s).
//
// Overrides: K tags (≤ 32), S sentences per workgroup, WG = S·K (≤ 64),
// K4 = ceil(K / 4): the inner loops run over vec4s of tags; START_OFF and
// END_OFF, where start and end begin in the `crf` binding (floats).
//
// The CRF's parameters are one binding, `crf`: transitions (K, K) [from, to]
// at 0, start (K) at START_OFF, end (K) at END_OFF (the graph binds the range
// of the flat parameter buffer that holds the three; `pack_params` builds such
// a range from three separate buffers). One binding instead of three keeps
// every entry within WebGPU's default 8 storage buffers per stage.
//
// entry `train` (NLL and gradient)
//   @binding(0)  params: uniform (B, T, G, lossScale) u32, u32, u32, f32
//   @binding(1)  emissions:   (B, T, K) f32
//   @binding(2)  lengths:     (B) i32
//   @binding(3)  crf:         transitions (K, K) [from, to], start (K), end (K) f32, see above
//   @binding(4)  log_alpha:   (B, T, K) f32 scratch, written with `=`
//   @binding(5)  nll:         (B) f32, `=`, unscaled; 0 for an empty sentence
//   @binding(6)  d_emissions: (B, T, K) f32, `=`, lossScale·(p − onehot(gold)); 0 at padding
//   @binding(7)  partials:    (B, K·K + 2K + 1) f32, `=`: each sentence's unscaled
//                              [Σt pair marginals − gold pairs (K, K), dStart (K), dEnd (K), NLL]
//   @binding(8)  tags:        (B, T) i32 gold, in [0, K) where t < length
//   dispatch: (G, 1, 1).
//
// entry `forward_backward` (inference: confidences and span probabilities)
//   bindings 0–6 as `train`; log_alpha (B, T, K) is an output (`=`, 0 at padding)
//   @binding(5)  log_z:     (B) f32, `=` (0 for an empty sentence)
//   @binding(6)  marginals: (B, T, K) f32, `=`, p(yt = k | x); 0 at padding
//   @binding(7)  log_beta:  (B, T, K) f32, `=`, 0 at padding
//   dispatch: (G, 1, 1).
//
// entry `reduce` (deterministic sum of the sentences' partials; no float atomics)
//   @binding(0) params: as above
//   @binding(1) partials_in:   (B, K·K + 2K + 1) f32
//   @binding(2) d_transitions: (K, K) f32, accumulated with `+=` lossScale·Σb
//   @binding(3) d_start:       (K) f32, `+=`
//   @binding(4) d_end:         (K) f32, `+=`
//   @binding(5) loss_acc:      (1) f32, `+=` lossScale·Σb NLL_b
//   dispatch: (ceil((K·K + 2K + 1) / 64), 1, 1); one invocation owns one entry
//   and sums it over the B sentences in order.

override K: u32 = 9u;
override S: u32 = 7u;
override WG: u32 = 63u;
override K4: u32 = 3u; // ceil(K / 4): tags padded to whole vec4s in the inner loops
override START_OFF: u32 = 81u;
override END_OFF: u32 = 90u;

const MAX_K4: u32 = 8u;
const NEG_BIG: f32 = -3.0e38;
const PAD: f32 = -1.0e30; // score of the padding tags K..4·K4: exp(PAD − m) = 0

struct Params { batch: u32, time: u32, groups: u32, loss_scale: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> emissions: array<f32>;
@group(0) @binding(2) var<storage, read> lengths: array<i32>;
@group(0) @binding(3) var<storage, read> crf: array<f32>;
@group(0) @binding(4) var<storage, read_write> log_alpha: array<f32>;
// `train`
@group(0) @binding(5) var<storage, read_write> nll: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_emissions: array<f32>;
@group(0) @binding(7) var<storage, read_write> partials: array<f32>;
@group(0) @binding(8) var<storage, read> tags: array<i32>;
// `forward_backward`
@group(0) @binding(5) var<storage, read_write> log_z: array<f32>;
@group(0) @binding(6) var<storage, read_write> marginals: array<f32>;
@group(0) @binding(7) var<storage, read_write> log_beta: array<f32>;
// `reduce`
@group(0) @binding(1) var<storage, read> partials_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> d_transitions: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_start: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_end: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss_acc: array<f32>;

var<workgroup> w_trans: array<vec4f, 256>;  // (K, K) transitions, flat
var<workgroup> w_step: array<vec4f, 128>;   // 2 × (S, K4) vec4: the previous step, double buffered

fn trans(i: u32, j: u32) -> f32 {
  let e = i * K + j;
  return w_trans[e >> 2u][e & 3u];
}

// First vec4 of sentence s's row in buffer `buf` (0 or 1) of w_step.
fn step_row(buf: u32, s: u32) -> u32 {
  return (buf * S + s) * K4;
}

fn step_get(row: u32, k: u32) -> f32 {
  return w_step[row + (k >> 2u)][k & 3u];
}

fn step_set(row: u32, k: u32, v: f32) {
  w_step[row + (k >> 2u)][k & 3u] = v;
}

// Fills w_step with PAD (the padding tags keep it) and loads the transitions.
fn init_workgroup(lid: u32) {
  for (var e = lid; e < 2u * S * K4; e += WG) { w_step[e] = vec4f(PAD); }
  for (var e = lid; e < K * K; e += WG) { w_trans[e >> 2u][e & 3u] = crf[e]; }
}

fn hmax(v: vec4f) -> f32 {
  return max(max(v.x, v.y), max(v.z, v.w));
}

fn hsum(v: vec4f) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

// Where one sentence of the workgroup sits.
struct Slot { s: u32, k: u32, b: u32, n: u32, live: bool }

fn slot(lid: u32, g: u32) -> Slot {
  let s = lid / K;
  let b = g + s * params.groups;
  let live = b < params.batch;
  var n = 0u;
  if (live) { n = u32(clamp(lengths[b], 0, i32(params.time))); }
  return Slot(s, lid % K, b, n, live);
}

// The longest sentence of workgroup g: the (uniform) bound of its time loops.
fn group_steps(g: u32) -> u32 {
  var tmax = 0u;
  for (var i = 0u; i < S; i++) {
    let b = g + i * params.groups;
    if (b < params.batch) { tmax = max(tmax, u32(clamp(lengths[b], 0, i32(params.time)))); }
  }
  return tmax;
}

fn at(b: u32, t: u32, k: u32) -> u32 {
  return (b * params.time + t) * K + k;
}

// Forward algorithm: log α for t < n into `log_alpha`; returns log Z (0 when n = 0).
// Call in uniform control flow (it has barriers).
fn forward_sweep(q: Slot, tmax: u32) -> f32 {
  // This invocation's column of transitions, in registers for the whole loop
  // (padding lanes 0; the PAD scores they meet keep them out of every sum).
  var column: array<vec4f, MAX_K4>;
  for (var i = 0u; i < K; i++) { column[i >> 2u][i & 3u] = trans(i, q.k); }
  for (var t = 0u; t < tmax; t++) {
    let cur = step_row(t & 1u, q.s);
    let prev = step_row(1u - (t & 1u), q.s);
    if (t < q.n) {
      let e = emissions[at(q.b, t, q.k)];
      var alpha = crf[START_OFF + q.k] + e;
      if (t > 0u) {
        // log Σi exp(α[t−1, i] + trans[i, k]), shifted by the max; four tags per load.
        var mv = vec4f(NEG_BIG);
        for (var c = 0u; c < K4; c++) { mv = max(mv, w_step[prev + c] + column[c]); }
        let m = hmax(mv);
        var sv = vec4f(0.0);
        for (var c = 0u; c < K4; c++) { sv += exp(w_step[prev + c] + column[c] - m); }
        alpha = e + m + log(hsum(sv));
      }
      log_alpha[at(q.b, t, q.k)] = alpha;
      step_set(cur, q.k, alpha);
    }
    workgroupBarrier();
  }
  // Every invocation of the sentence computes the same log Z.
  var lz = 0.0;
  if (q.n > 0u) {
    let last = step_row((q.n - 1u) & 1u, q.s);
    var m = NEG_BIG;
    for (var j = 0u; j < K; j++) { m = max(m, step_get(last, j) + crf[END_OFF + j]); }
    var sum = 0.0;
    for (var j = 0u; j < K; j++) { sum += exp(step_get(last, j) + crf[END_OFF + j] - m); }
    lz = m + log(sum);
  }
  // The caller's next loop overwrites w_step.
  workgroupBarrier();
  return lz;
}

// Score of sentence q's gold path.
fn gold_score(q: Slot) -> f32 {
  var gold = 0.0;
  var y0 = 0u;
  for (var t = 0u; t < q.n; t++) {
    let y = u32(clamp(tags[q.b * params.time + t], 0, i32(K) - 1));
    gold += emissions[at(q.b, t, y)];
    if (t == 0u) { gold += crf[START_OFF + y]; } else { gold += trans(y0, y); }
    y0 = y;
  }
  if (q.n > 0u) { gold += crf[END_OFF + y0]; }
  return gold;
}

@compute @workgroup_size(WG)
fn train(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let q = slot(lid, wid.x);
  let tmax = group_steps(wid.x);
  init_workgroup(lid);
  workgroupBarrier();
  let lz = forward_sweep(q, tmax);

  // Backward algorithm. This invocation owns "from" tag i = q.k: β[t, i] and
  // row i of the pair marginals, summed over t in registers. w_step holds
  // em[t+1, j] + β[t+1, j].
  let scale = params.loss_scale;
  let i = q.k;
  var pair: array<vec4f, MAX_K4>;
  // Row i of the transitions, in registers for the whole loop.
  var from_i: array<vec4f, MAX_K4>;
  for (var j = 0u; j < K; j++) { from_i[j >> 2u][j & 3u] = trans(i, j); }
  var d_first = 0.0;
  var d_last = 0.0;
  for (var step = 0u; step < tmax; step++) {
    let cur = step_row(step & 1u, q.s);
    let prev = step_row(1u - (step & 1u), q.s);
    let t = tmax - 1u - step;
    if (t < q.n) {
      let alpha = log_alpha[at(q.b, t, i)];
      let y = tags[q.b * params.time + t];
      var beta = crf[END_OFF + i];
      if (t + 1u < q.n) {
        var mv = vec4f(NEG_BIG);
        for (var c = 0u; c < K4; c++) { mv = max(mv, from_i[c] + w_step[prev + c]); }
        let m = hmax(mv);
        // pair(i, j) = exp(α[t, i] + x_j − log Z) = exp(x_j − m)·exp(α[t, i] + m − log Z)
        let scale_pair = exp(alpha + m - lz);
        var sv = vec4f(0.0);
        for (var c = 0u; c < K4; c++) {
          let e = exp(from_i[c] + w_step[prev + c] - m);
          sv += e;
          pair[c] += e * scale_pair;
        }
        beta = m + log(hsum(sv));
        let y1 = tags[q.b * params.time + t + 1u];
        if (y == i32(i) && y1 >= 0 && y1 < i32(K)) { pair[u32(y1) >> 2u][u32(y1) & 3u] -= 1.0; }
      }
      let p = exp(alpha + beta - lz) - select(0.0, 1.0, y == i32(i));
      d_emissions[at(q.b, t, i)] = scale * p;
      if (t == 0u) { d_first = p; }
      if (t + 1u == q.n) { d_last = p; }
      step_set(cur, i, emissions[at(q.b, t, i)] + beta);
    }
    workgroupBarrier();
  }
  if (!q.live) { return; }
  for (var t = q.n; t < params.time; t++) { d_emissions[at(q.b, t, i)] = 0.0; }
  // This sentence's unscaled contributions; `reduce` sums them over sentences in order.
  let width = K * K + 2u * K + 1u;
  let base = q.b * width;
  for (var j = 0u; j < K; j++) { partials[base + i * K + j] = pair[j >> 2u][j & 3u]; }
  partials[base + K * K + i] = d_first;
  partials[base + K * K + K + i] = d_last;
  if (i == 0u) {
    var loss = 0.0;
    if (q.n > 0u) { loss = lz - gold_score(q); }
    nll[q.b] = loss;
    partials[base + width - 1u] = loss;
  }
}

@compute @workgroup_size(WG)
fn forward_backward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let q = slot(lid, wid.x);
  let tmax = group_steps(wid.x);
  init_workgroup(lid);
  workgroupBarrier();
  let lz = forward_sweep(q, tmax);
  let i = q.k;
  var from_i: array<vec4f, MAX_K4>;
  for (var j = 0u; j < K; j++) { from_i[j >> 2u][j & 3u] = trans(i, j); }
  for (var step = 0u; step < tmax; step++) {
    let cur = step_row(step & 1u, q.s);
    let prev = step_row(1u - (step & 1u), q.s);
    let t = tmax - 1u - step;
    if (t < q.n) {
      var beta = crf[END_OFF + i];
      if (t + 1u < q.n) {
        var mv = vec4f(NEG_BIG);
        for (var c = 0u; c < K4; c++) { mv = max(mv, from_i[c] + w_step[prev + c]); }
        let m = hmax(mv);
        var sv = vec4f(0.0);
        for (var c = 0u; c < K4; c++) { sv += exp(from_i[c] + w_step[prev + c] - m); }
        beta = m + log(hsum(sv));
      }
      log_beta[at(q.b, t, i)] = beta;
      marginals[at(q.b, t, i)] = exp(log_alpha[at(q.b, t, i)] + beta - lz);
      step_set(cur, i, emissions[at(q.b, t, i)] + beta);
    }
    workgroupBarrier();
  }
  if (!q.live) { return; }
  for (var t = q.n; t < params.time; t++) {
    log_alpha[at(q.b, t, i)] = 0.0;
    log_beta[at(q.b, t, i)] = 0.0;
    marginals[at(q.b, t, i)] = 0.0;
  }
  if (i == 0u) { log_z[q.b] = lz; }
}

@compute @workgroup_size(64)
fn reduce(@builtin(global_invocation_id) gid: vec3u) {
  let width = K * K + 2u * K + 1u;
  let e = gid.x;
  if (e >= width) { return; }
  var total = 0.0;
  for (var b = 0u; b < params.batch; b++) { total += partials_in[b * width + e]; }
  total *= params.loss_scale;
  if (e < K * K) { d_transitions[e] += total; }
  else if (e < K * K + K) { d_start[e - K * K] += total; }
  else if (e < K * K + 2u * K) { d_end[e - K * K - K] += total; }
  else { loss_acc[0] += total; }
}

// entry `pack_params`: packed = [transitions (K·K) | start (K) at START_OFF | end (K) at END_OFF]
//   @binding(0) trans_in: (K, K) f32;  @binding(1) start_in: (K) f32;  @binding(2) end_in: (K) f32
//   @binding(3) packed:   (END_OFF + K) f32, written with `=`
//   dispatch: (ceil((END_OFF + K) / 64), 1, 1) workgroups of 64; one invocation per packed float.
@group(0) @binding(0) var<storage, read> trans_in: array<f32>;
@group(0) @binding(1) var<storage, read> start_in: array<f32>;
@group(0) @binding(2) var<storage, read> end_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> packed: array<f32>;

@compute @workgroup_size(64)
fn pack_params(@builtin(global_invocation_id) gid: vec3u) {
  let e = gid.x;
  if (e < K * K) { packed[e] = trans_in[e]; }
  if (e >= START_OFF && e < START_OFF + K) { packed[e] = start_in[e - START_OFF]; }
  if (e >= END_OFF && e < END_OFF + K) { packed[e] = end_in[e - END_OFF]; }
}

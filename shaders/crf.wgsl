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
// silently after 65,535): where a shape would pass that, the builders run the
// `_chunk` entries instead, which cut the time loops into ranges [t0, t1),
// one dispatch each, with the same arithmetic in the same order (results
// bit-identical to the whole-sentence entries).
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
// entry `train_chunk` (as `train`, for long sentences: one dispatch per time range)
//   bindings 0–8 as `train`; log_alpha holds, from float span.z = B·T·K, the carry between
//   dispatches: em[t, k] + β[t, k] at the lowest t done so far (B, K), then the gold
//   score so far (B); the scratch is (B·T·K + B·K + B) floats. partials carries the pair
//   sums, dStart and dEnd between the backward ranges.
//   @binding(9)  span: uniform (t0, t1, carry offset, phase) u32: phase 0 runs the forward
//                algorithm (and the gold score) for t in [t0, t1), ranges in increasing
//                order; phase 1 the backward algorithm for t in [t0, t1), ranges in
//                decreasing order; the range with t0 = 0 writes nll and the final partials.
//   dispatch: (G, 1, 1) per range and phase.
//
// entry `forward_backward_chunk` (as `forward_backward`, one dispatch per time range)
//   bindings 0–7 as `forward_backward`;
//   @binding(8)  span_fb: uniform (t0, t1, _, phase) u32, as `span` of `train_chunk`.
//   The forward carry is log α[t0 − 1], the backward one em[t1] + log β[t1], both read back
//   from the outputs.
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

override START_OFF: u32 = 81u;
override END_OFF: u32 = 90u;

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
// `train_chunk`
@group(0) @binding(9) var<uniform> span: vec4u;
// `forward_backward_chunk`
@group(0) @binding(8) var<uniform> span_fb: vec4u;
// `reduce`
@group(0) @binding(1) var<storage, read> partials_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> d_transitions: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_start: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_end: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss_acc: array<f32>;

//#include "common/tag_steps.wgsl"

// The transitions sit at the start of the packed crf parameters.
fn transition_in(e: u32) -> f32 {
  return crf[e];
}

fn hmax(v: vec4f) -> f32 {
  return max(max(v.x, v.y), max(v.z, v.w));
}

fn hsum(v: vec4f) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

fn at(b: u32, t: u32, k: u32) -> u32 {
  return (b * params.time + t) * K + k;
}

// Row i of the transitions, for registers.
fn trans_row(i: u32) -> array<vec4f, MAX_K4> {
  var row: array<vec4f, MAX_K4>;
  for (var j = 0u; j < K; j++) { row[j >> 2u][j & 3u] = trans(i, j); }
  return row;
}

// Step t of the forward algorithm (w_step's buffer 1 − t&1 holds α[t−1]); then a barrier.
fn forward_step(q: Slot, column: array<vec4f, MAX_K4>, t: u32) {
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

// Forward algorithm: log α for t < n into `log_alpha`; returns log Z (0 when n = 0).
// Call in uniform control flow (it has barriers).
fn forward_sweep(q: Slot, tmax: u32) -> f32 {
  let column = trans_column(q.k);
  for (var t = 0u; t < tmax; t++) { forward_step(q, column, t); }
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

fn gold_tag(q: Slot, t: u32) -> u32 {
  return u32(clamp(tags[q.b * params.time + t], 0, i32(K) - 1));
}

// The gold path's score over t in [t0, t1) added to `gold` (the score up to t0).
fn gold_steps(q: Slot, t0: u32, t1: u32, gold_in: f32) -> f32 {
  var gold = gold_in;
  var y0 = 0u;
  if (t0 > 0u) { y0 = gold_tag(q, t0 - 1u); }
  for (var t = t0; t < t1; t++) {
    let y = gold_tag(q, t);
    gold += emissions[at(q.b, t, y)];
    if (t == 0u) { gold += crf[START_OFF + y]; } else { gold += trans(y0, y); }
    y0 = y;
  }
  return gold;
}

// Score of sentence q's gold path.
fn gold_score(q: Slot) -> f32 {
  var gold = gold_steps(q, 0u, q.n, 0.0);
  if (q.n > 0u) { gold += crf[END_OFF + gold_tag(q, q.n - 1u)]; }
  return gold;
}

// What `train` and `forward_backward` do before their backward sweeps: invocation lid's
// sentence in workgroup g, log Z by the forward algorithm over the workgroup's tmax steps and
// row q.k of the transitions (for registers). Call in uniform control flow. tmax stays out of
// the result: a value read from a struct that also holds per-invocation fields is not uniform
// to WGSL's uniformity analysis (Tint rejects the barriers of a loop bounded by it).
struct Forward { q: Slot, lz: f32, from_i: array<vec4f, MAX_K4> }

fn forward_pass(lid: u32, g: u32, tmax: u32) -> Forward {
  let q = slot(lid, g);
  init_workgroup(lid);
  let lz = forward_sweep(q, tmax);
  return Forward(q, lz, trans_row(q.k));
}

@compute @workgroup_size(WG)
fn train(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let tmax = group_steps(wid.x);
  let fw = forward_pass(lid, wid.x, tmax);
  let q = fw.q;
  let lz = fw.lz;
  // Backward algorithm. This invocation owns "from" tag i = q.k: β[t, i] and
  // row i of the pair marginals, summed over t in registers. w_step holds
  // em[t+1, j] + β[t+1, j].
  var acc: BackAcc;
  for (var step = 0u; step < tmax; step++) {
    let t = tmax - 1u - step;
    train_back_step(q, fw.from_i, lz, t, step_row(step & 1u, q.s),
      step_row(1u - (step & 1u), q.s), &acc);
  }
  if (!q.live) { return; }
  for (var t = q.n; t < params.time; t++) { d_emissions[at(q.b, t, q.k)] = 0.0; }
  var loss = 0.0;
  if (q.n > 0u) { loss = lz - gold_score(q); }
  write_partials(q, acc, loss);
}

// What the backward sweep of `train` sums over t for "from" tag i: row i of the pair
// marginals minus the gold pairs, dStart[i] and dEnd[i].
struct BackAcc { pair: array<vec4f, MAX_K4>, d_first: f32, d_last: f32 }

// Step t of `train`'s backward algorithm for "from" tag i = q.k: β[t, i] and row i of the
// pair marginals (summed into acc), dEmissions[t, i]. w_step at `prev` holds
// em[t+1, j] + β[t+1, j]; this writes em[t, i] + β[t, i] at `cur`; then a barrier.
fn train_back_step(q: Slot, from_i: array<vec4f, MAX_K4>, lz: f32, t: u32, cur: u32, prev: u32,
  acc: ptr<function, BackAcc>) {
  let i = q.k;
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
        (*acc).pair[c] += e * scale_pair;
      }
      beta = m + log(hsum(sv));
      let y1 = tags[q.b * params.time + t + 1u];
      if (y == i32(i) && y1 >= 0 && y1 < i32(K)) {
        (*acc).pair[u32(y1) >> 2u][u32(y1) & 3u] -= 1.0;
      }
    }
    let p = exp(alpha + beta - lz) - select(0.0, 1.0, y == i32(i));
    d_emissions[at(q.b, t, i)] = params.loss_scale * p;
    if (t == 0u) { (*acc).d_first = p; }
    if (t + 1u == q.n) { (*acc).d_last = p; }
    step_set(cur, i, emissions[at(q.b, t, i)] + beta);
  }
  workgroupBarrier();
}

// Where sentence b's unscaled contributions start in `partials`; `reduce` sums them over
// sentences in order.
fn partials_base(b: u32) -> u32 {
  return b * (K * K + 2u * K + 1u);
}

// Row q.k of sentence q's partials, and (tag-0 invocation) its NLL.
fn write_partials(q: Slot, acc: BackAcc, loss: f32) {
  let i = q.k;
  let base = partials_base(q.b);
  for (var j = 0u; j < K; j++) { partials[base + i * K + j] = acc.pair[j >> 2u][j & 3u]; }
  partials[base + K * K + i] = acc.d_first;
  partials[base + K * K + K + i] = acc.d_last;
  if (i == 0u) {
    nll[q.b] = loss;
    partials[base + K * K + 2u * K] = loss;
  }
}

@compute @workgroup_size(WG)
fn forward_backward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let tmax = group_steps(wid.x);
  let fw = forward_pass(lid, wid.x, tmax);
  let q = fw.q;
  let lz = fw.lz;
  for (var step = 0u; step < tmax; step++) {
    let t = tmax - 1u - step;
    marginal_back_step(q, fw.from_i, lz, t, step_row(step & 1u, q.s),
      step_row(1u - (step & 1u), q.s));
  }
  if (!q.live) { return; }
  for (var t = q.n; t < params.time; t++) { zero_lattice(q, t); }
  if (q.k == 0u) { log_z[q.b] = lz; }
}

// Step t of `forward_backward`'s backward algorithm for tag i = q.k: log β[t, i] and the
// marginal; w_step at `prev` holds em[t+1, j] + β[t+1, j], this writes em[t, i] + β[t, i]
// at `cur`; then a barrier.
fn marginal_back_step(q: Slot, from_i: array<vec4f, MAX_K4>, lz: f32, t: u32, cur: u32,
  prev: u32) {
  let i = q.k;
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

// Padding step t of sentence q, tag q.k: zero lattice outputs.
fn zero_lattice(q: Slot, t: u32) {
  log_alpha[at(q.b, t, q.k)] = 0.0;
  log_beta[at(q.b, t, q.k)] = 0.0;
  marginals[at(q.b, t, q.k)] = 0.0;
}

// log Z of sentence q from log α[n − 1] in storage (what forward_sweep computes from
// workgroup memory; the same values in the same order).
fn log_z_stored(q: Slot) -> f32 {
  var lz = 0.0;
  if (q.n > 0u) {
    var m = NEG_BIG;
    for (var j = 0u; j < K; j++) {
      m = max(m, log_alpha[at(q.b, q.n - 1u, j)] + crf[END_OFF + j]);
    }
    var sum = 0.0;
    for (var j = 0u; j < K; j++) {
      sum += exp(log_alpha[at(q.b, q.n - 1u, j)] + crf[END_OFF + j] - m);
    }
    lz = m + log(sum);
  }
  return lz;
}

// The forward algorithm for t in [t0, t1) (ranges in increasing order), from log α[t0 − 1]
// in storage. Call in uniform control flow.
fn forward_range(q: Slot, tmax: u32, t0: u32, t1: u32) {
  if (t0 > 0u && t0 - 1u < q.n) {
    step_set(step_row(1u - (t0 & 1u), q.s), q.k, log_alpha[at(q.b, t0 - 1u, q.k)]);
  }
  workgroupBarrier();
  let column = trans_column(q.k);
  for (var t = t0; t < min(t1, tmax); t++) { forward_step(q, column, t); }
}

// The carry of `train_chunk` in log_alpha's tail, from float span.z: (B, K) then (B).
fn carry_at(b: u32, k: u32) -> u32 {
  return span.z + b * K + k;
}

fn gold_carry_at(b: u32) -> u32 {
  return span.z + params.batch * K + b;
}

@compute @workgroup_size(WG)
fn train_chunk(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let q = slot(lid, wid.x);
  let tmax = group_steps(wid.x);
  let t0 = span.x;
  let t1 = span.y;
  init_workgroup(lid);
  if (span.w == 0u) {
    forward_range(q, tmax, t0, t1);
    // The gold score so far (the tag-0 invocation of each sentence).
    if (q.k == 0u && q.live && (t0 < q.n || t0 == 0u)) {
      var gold = 0.0;
      if (t0 > 0u) { gold = log_alpha[gold_carry_at(q.b)]; }
      gold = gold_steps(q, t0, min(t1, q.n), gold);
      if (q.n > 0u && t1 >= q.n) { gold += crf[END_OFF + gold_tag(q, q.n - 1u)]; }
      log_alpha[gold_carry_at(q.b)] = gold;
    }
    return;
  }
  // Backward, t from min(t1, tmax) − 1 down to t0; w_step's parity follows t.
  let top = min(t1, tmax);
  let first = t1 >= tmax; // this range starts the sweep
  let base = partials_base(q.b);
  var acc: BackAcc;
  if (!first && q.live) {
    for (var j = 0u; j < K; j++) { acc.pair[j >> 2u][j & 3u] = partials[base + q.k * K + j]; }
    acc.d_first = partials[base + K * K + q.k];
    acc.d_last = partials[base + K * K + K + q.k];
    if (top < q.n) { step_set(step_row(top & 1u, q.s), q.k, log_alpha[carry_at(q.b, q.k)]); }
  }
  workgroupBarrier();
  let lz = log_z_stored(q);
  let from_i = trans_row(q.k);
  for (var u = top; u > t0; u--) {
    let t = u - 1u;
    train_back_step(q, from_i, lz, t, step_row(t & 1u, q.s), step_row(1u - (t & 1u), q.s), &acc);
  }
  if (!q.live) { return; }
  for (var t = max(t0, q.n); t < min(t1, params.time); t++) { d_emissions[at(q.b, t, q.k)] = 0.0; }
  if (t0 == 0u) {
    var loss = 0.0;
    if (q.n > 0u) { loss = lz - log_alpha[gold_carry_at(q.b)]; }
    write_partials(q, acc, loss);
    return;
  }
  for (var j = 0u; j < K; j++) { partials[base + q.k * K + j] = acc.pair[j >> 2u][j & 3u]; }
  partials[base + K * K + q.k] = acc.d_first;
  partials[base + K * K + K + q.k] = acc.d_last;
  if (t0 < q.n) { log_alpha[carry_at(q.b, q.k)] = step_get(step_row(t0 & 1u, q.s), q.k); }
}

@compute @workgroup_size(WG)
fn forward_backward_chunk(@builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u) {
  let q = slot(lid, wid.x);
  let tmax = group_steps(wid.x);
  let t0 = span_fb.x;
  let t1 = span_fb.y;
  init_workgroup(lid);
  if (span_fb.w == 0u) {
    forward_range(q, tmax, t0, t1);
    return;
  }
  let top = min(t1, tmax);
  if (top < q.n) {
    step_set(step_row(top & 1u, q.s), q.k,
      emissions[at(q.b, top, q.k)] + log_beta[at(q.b, top, q.k)]);
  }
  workgroupBarrier();
  let lz = log_z_stored(q);
  let from_i = trans_row(q.k);
  for (var u = top; u > t0; u--) {
    let t = u - 1u;
    marginal_back_step(q, from_i, lz, t, step_row(t & 1u, q.s), step_row(1u - (t & 1u), q.s));
  }
  if (!q.live) { return; }
  for (var t = max(t0, q.n); t < min(t1, params.time); t++) { zero_lattice(q, t); }
  if (q.k == 0u && t0 == 0u) { log_z[q.b] = lz; }
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

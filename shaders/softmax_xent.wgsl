// softmax_xent.wgsl — the softmax cross-entropy head (the plain BiLSTM
// variant, no CRF): per-token loss −log softmax(em[b, t])[gold], masked at
// padding, its gradient, the loss sum, and argmax prediction for inference.
//
//   loss[b, t] = logΣⱼ exp(em[b, t, j]) − em[b, t, gold]      (t < length[b], else 0)
//   d_em[b, t, j] = lossScale·(softmax(em[b, t])ⱼ − [j = gold])
//
// Override: K tags (any K; one invocation loops over a row's K scores three times).
//
// entry `main` (loss and gradient)
//   @binding(0) params: uniform (B, T, _, lossScale) u32, u32, u32, f32
//   @binding(1) emissions:   (B, T, K) f32, row b·T + t
//   @binding(2) lengths:     (B) i32
//   @binding(3) tags:        (B, T) i32 gold, in [0, K) where t < length
//   @binding(4) d_emissions: (B, T, K) f32, written with `=`; 0 at padding
//   @binding(5) token_loss:  (B, T) f32, `=`, unscaled; 0 at padding
//   @binding(6) partials:    (ceil(B·T / 64)) f32, `=`: each workgroup's loss sum (fixed-order tree)
//   dispatch: (ceil(B·T / 64), 1, 1) workgroups of 64; one invocation owns one token row.
//
// entry `reduce` (deterministic: no float atomics)
//   @binding(0) params: as above
//   @binding(1) partials_in: (ceil(B·T / 64)) f32
//   @binding(2) loss_acc:    (1) f32, accumulated `+=` lossScale·Σ loss
//   dispatch: (1, 1, 1), 64 invocations: strided sums, then a fixed-order tree.
//
// entry `predict` (inference)
//   @binding(0) params: as above
//   @binding(1) emissions:     (B, T, K) f32
//   @binding(2) lengths:       (B) i32
//   @binding(3) prediction:    (B, T) i32, `=`: argmax tag (lowest id on ties); −1 at padding
//   @binding(4) probabilities: (B, T, K) f32, `=`: softmax; 0 at padding
//   dispatch: (ceil(B·T / 64), 1, 1); one invocation owns one token row.

override K: u32 = 9u;

struct Params { batch: u32, time: u32, pad: u32, loss_scale: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> emissions: array<f32>;
@group(0) @binding(2) var<storage, read> lengths: array<i32>;
// `main`
@group(0) @binding(3) var<storage, read> tags: array<i32>;
@group(0) @binding(4) var<storage, read_write> d_emissions: array<f32>;
@group(0) @binding(5) var<storage, read_write> token_loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;
// `reduce`
@group(0) @binding(1) var<storage, read> partials_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss_acc: array<f32>;
// `predict`
@group(0) @binding(3) var<storage, read_write> prediction: array<i32>;
@group(0) @binding(4) var<storage, read_write> probabilities: array<f32>;

var<workgroup> tree: array<f32, 64>;

// Whether token row `row` is a real token (not padding, not past the batch).
fn is_token(row: u32) -> bool {
  if (row >= params.batch * params.time) { return false; }
  return i32(row % params.time) < lengths[row / params.time];
}

// log Σⱼ exp(em[row, j]), shifted by the row's max.
fn log_sum_exp(row: u32) -> f32 {
  var m = emissions[row * K];
  for (var j = 1u; j < K; j++) { m = max(m, emissions[row * K + j]); }
  var sum = 0.0;
  for (var j = 0u; j < K; j++) { sum += exp(emissions[row * K + j] - m); }
  return m + log(sum);
}

// Sums tree[0..64) into tree[0] in a fixed order. Call in uniform control flow.
fn tree_sum(lid: u32) {
  for (var stride = 32u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { tree[lid] += tree[lid + stride]; }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let row = wid.x * 64u + lid;
  var loss = 0.0;
  if (row < params.batch * params.time) {
    if (is_token(row)) {
      let lse = log_sum_exp(row);
      let gold = u32(clamp(tags[row], 0, i32(K) - 1));
      loss = lse - emissions[row * K + gold];
      for (var j = 0u; j < K; j++) {
        let p = exp(emissions[row * K + j] - lse) - select(0.0, 1.0, j == gold);
        d_emissions[row * K + j] = params.loss_scale * p;
      }
    } else {
      for (var j = 0u; j < K; j++) { d_emissions[row * K + j] = 0.0; }
    }
    token_loss[row] = loss;
  }
  tree[lid] = loss;
  tree_sum(lid);
  if (lid == 0u) { partials[wid.x] = tree[0]; }
}

@compute @workgroup_size(64)
fn reduce(@builtin(local_invocation_index) lid: u32) {
  let count = (params.batch * params.time + 63u) / 64u;
  var sum = 0.0;
  for (var i = lid; i < count; i += 64u) { sum += partials_in[i]; }
  tree[lid] = sum;
  tree_sum(lid);
  if (lid == 0u) { loss_acc[0] += params.loss_scale * tree[0]; }
}

@compute @workgroup_size(64)
fn predict(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x;
  if (row >= params.batch * params.time) { return; }
  if (!is_token(row)) {
    prediction[row] = -1;
    for (var j = 0u; j < K; j++) { probabilities[row * K + j] = 0.0; }
    return;
  }
  let lse = log_sum_exp(row);
  var best = emissions[row * K];
  var arg = 0u;
  for (var j = 0u; j < K; j++) {
    let x = emissions[row * K + j];
    if (x > best) { best = x; arg = j; }
    probabilities[row * K + j] = exp(x - lse);
  }
  prediction[row] = i32(arg);
}

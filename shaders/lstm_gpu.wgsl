// lstm_gpu.wgsl — the fused recurrence of a bidirectional LSTM layer
// (forward pass) for the `gpu` kernel profile: many lanes per sentence
// group, one lane per hidden unit. Same inputs, outputs and layouts as
// lstm.wgsl (the `cpu` profile), so either can run in the graph.
//
// The input projection of all time steps is a matmul done before this
// kernel: pre = x·W_ihᵀ + b_ih, (B·T, 8H), columns [forward i f g o |
// reverse i f g o], H each. Per real step of each sentence:
//   z = pre[b, t, d] + W_hh[d]·h_prev + b_hh[d]
//   i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o); c = f⊙c_prev + i⊙g; h = o⊙tanh(c)
// Direction 0 visits t = 0 … len−1, direction 1 visits t = len−1 … 0, both
// from zero state. HP = H rounded up to a multiple of 4.
//
// entry `main`
//   @binding(0) params:  uniform (B, T, _, _) u32
//   @binding(1) pre:     (B·T, 8H) f32, read
//   @binding(2) wp:      (2, HP, 4, HP) f32 W_hh from `pack`, element (d, k, gate, j) =
//                        W_hh[d][gate·H + j][k] (zero beyond H), then (2, 4, HP) b_hh, read
//   @binding(3) lengths: (B) i32, read
//   @binding(4) h_out:   (B·T, 2H) f32, written with `=` (zero at padding rows)
//   @binding(5) gates:   (B·T, 2, 4, HP) f32, i f g o per direction saved for backward, `=` at
//                        real rows (units H … HP−1 hold i = f = o = 0.5, g = 0, as lstm.wgsl)
//   @binding(6) cell:    (B·T, 2, HP) f32, c saved for backward, `=` at real rows
//   @binding(7) h_prev:  (B·T, 2, HP) f32, h before each step (the dW_hh operand), `=` (zero at
//                        padding rows and beyond H)
//   workgroup:   hs (2, S, HP) f32 as vec4: h of the group's sentences, double-buffered
//                (2·S·HP·4 bytes ≤ 16 KiB, chosen by src/ops/lstm_gpu.ts)
//   dispatch: (ceil(B / S), 2, 1) workgroups of (LANES, 1, 1), LANES ≥ HP (a multiple of 32,
//   ≤ 256); workgroup y is the direction. Lane j owns hidden unit j (all four gates) of the
//   group's S sentences: per step it reads h_{t−1} of the S sentences from workgroup memory
//   (the same address in every lane: a broadcast), W_hh column j of the four gates from
//   storage (neighbouring lanes read neighbouring addresses), and the next step's pre row
//   before the barrier; one barrier per step. Lanes j ≥ HP only join the barriers.
//   Loop iterations per lane ≈ steps·(HP/4·(S + 1) + 3·S) + T·S (llvmpipe stops a lane
//   after 65,535: the builder checks the bound on fallback adapters).
//
// entry `pack`
//   @binding(0) src:  W_hh (2, 4H, H) f32, PyTorch layout, read
//   @binding(1) bsrc: b_hh (2·4H) f32, read
//   @binding(2) dst:  (2, HP, 4, HP) then (2, 4, HP) f32, `=` (the layout of `wp` above)
//   dispatch: (ceil(8·HP·HP + 8·HP) / 256), 1, 1) workgroups of 256; one invocation per float.

//#include "common/lstm_lanes.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read> wp: array<f32>;
@group(0) @binding(3) var<storage, read> lengths: array<i32>;
@group(0) @binding(4) var<storage, read_write> h_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> gates: array<f32>;
@group(0) @binding(6) var<storage, read_write> cell: array<f32>;
@group(0) @binding(7) var<storage, read_write> h_prev: array<f32>;

// (2, S, HP/4) vec4: [parity][sentence][unit quad].
var<workgroup> hs: array<vec4f, 2u * S * HP / 4u>;
var<workgroup> group_max: u32;

fn sigmoid4(v: vec4f) -> vec4f {
  return 1.0 / (1.0 + exp(-clamp(v, vec4f(-30.0), vec4f(30.0))));
}

// pre of gates i f g o for unit j of row `row` in direction d (zero for j ≥ H).
fn load_pre(row: u32, d: u32, j: u32) -> vec4f {
  let ju = min(j, H - 1u);
  let base = row * 8u * H + d * 4u * H + ju;
  let v = vec4f(pre[base], pre[base + H], pre[base + 2u * H], pre[base + 3u * H]);
  return select(vec4f(0.0), v, j < H);
}

@compute @workgroup_size(LANES, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let B = params.batch;
  let T = params.time;
  let d = wg.y;
  let j = lid.x;
  let first = wg.x * S; // the group's first sentence
  let ju = min(j, HP - 1u); // lanes beyond HP read unit HP−1 and write nothing
  let own = j < HP;

  var len: array<u32, 8>;
  for (var s = 0u; s < S; s++) {
    len[s] = 0u;
    if (first + s < B) { len[s] = u32(clamp(lengths[first + s], 0, i32(T))); }
  }
  for (var i = j; i < 2u * S * HP / 4u; i += LANES) { hs[i] = vec4f(0.0); }
  if (j == 0u) {
    var longest = 0u;
    for (var s = 0u; s < S; s++) { longest = max(longest, len[s]); }
    group_max = longest;
  }
  // Also the barrier after zeroing hs.
  let steps = workgroupUniformLoad(&group_max);

  let wd = d * HP * 4u * HP; // this direction's W_hh block
  let bo = 8u * HP * HP + d * 4u * HP + ju; // b_hh of unit j, gate i
  let bias = vec4f(wp[bo], wp[bo + HP], wp[bo + 2u * HP], wp[bo + 3u * HP]);
  let quad = ju / 4u;
  let lane4 = ju % 4u;
  var c: array<f32, 8>;
  var zin: array<vec4f, 8>; // pre + b_hh of this step, gates i f g o
  for (var s = 0u; s < S; s++) {
    c[s] = 0.0;
    zin[s] = bias;
    if (len[s] > 0u) { zin[s] += load_pre((first + s) * T + position(d, len[s], 0u), d, j); }
  }

  for (var step = 0u; step < steps; step++) {
    let hr = (step & 1u) * S * HP / 4u; // h_{t−1} here
    let hw = S * HP / 4u - hr; // h_t there
    // The next step's input, fetched now so that its latency hides behind this step.
    var ahead: array<vec4f, 8>;
    for (var s = 0u; s < S; s++) {
      ahead[s] = bias;
      if (step + 1u < len[s]) {
        ahead[s] += load_pre((first + s) * T + position(d, len[s], step + 1u), d, j);
      }
    }
    // W_hh·h_{t−1}: four gates × S sentences, four k per iteration.
    var acc: array<vec4f, 8>;
    for (var s = 0u; s < S; s++) { acc[s] = zin[s]; }
    for (var k4 = 0u; k4 < HP / 4u; k4++) {
      let w = wd + 4u * k4 * 4u * HP + ju; // (d, k = 4·k4, gate i, j)
      let g = 4u * HP; // floats between consecutive k
      let w0 = vec4f(wp[w], wp[w + HP], wp[w + 2u * HP], wp[w + 3u * HP]);
      let w1 = vec4f(wp[w + g], wp[w + g + HP], wp[w + g + 2u * HP], wp[w + g + 3u * HP]);
      let w2 = vec4f(wp[w + 2u * g], wp[w + 2u * g + HP], wp[w + 2u * g + 2u * HP],
        wp[w + 2u * g + 3u * HP]);
      let w3 = vec4f(wp[w + 3u * g], wp[w + 3u * g + HP], wp[w + 3u * g + 2u * HP],
        wp[w + 3u * g + 3u * HP]);
      let wk = mat4x4f(w0, w1, w2, w3); // column kk: gates i f g o at k = 4·k4 + kk
      for (var s = 0u; s < S; s++) {
        acc[s] += wk * hs[hr + s * HP / 4u + k4];
      }
    }
    for (var s = 0u; s < S; s++) {
      if (step < len[s]) {
        let row = (first + s) * T + position(d, len[s], step);
        let slot = row * 2u + d;
        let a = sigmoid4(acc[s]); // i f _ o as sigmoids
        let gt = tanh1(acc[s].z);
        let cn = a.y * c[s] + a.x * gt;
        let hn = a.w * tanh1(cn);
        c[s] = cn;
        if (own) {
          let hp = hs[hr + s * HP / 4u + quad][lane4];
          let ga = slot * 4u * HP + j;
          gates[ga] = a.x;
          gates[ga + HP] = a.y;
          gates[ga + 2u * HP] = gt;
          gates[ga + 3u * HP] = a.w;
          cell[slot * HP + j] = cn;
          h_prev[slot * HP + j] = hp;
          // Units beyond H have zero weights, pre and bias: their c and h stay 0.
          hs[hw + s * HP / 4u + quad][lane4] = hn;
          if (j < H) { h_out[row * 2u * H + d * H + j] = hn; }
        }
      }
      zin[s] = ahead[s];
    }
    // h_t is complete, and nobody reads h_{t−1}'s half any more (it receives h_{t+1} only
    // after this barrier).
    workgroupBarrier();
  }

  // Padding rows: h_out (read by the next layer) and h_prev (a matmul operand) are zero.
  if (!own) { return; }
  for (var s = 0u; s < S; s++) {
    let b = first + s;
    if (b >= B) { break; }
    for (var t = len[s]; t < T; t++) {
      let row = b * T + t;
      if (j < H) { h_out[row * 2u * H + d * H + j] = 0.0; }
      h_prev[(row * 2u + d) * HP + j] = 0.0;
    }
  }
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> bsrc: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn pack(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.y * nwg.x * 256u + gid.x;
  let weights = 8u * HP * HP;
  if (n >= weights + 8u * HP) { return; }
  var v = 0.0;
  if (n < weights) {
    let jj = n % HP;
    let gate = (n / HP) % 4u;
    let k = (n / (4u * HP)) % HP;
    let dd = n / (4u * HP * HP);
    if (jj < H && k < H) { v = src[((dd * 4u + gate) * H + jj) * H + k]; }
  } else {
    let m = n - weights;
    let jj = m % HP;
    let gd = m / HP; // d·4 + gate
    if (jj < H) { v = bsrc[gd * H + jj]; }
  }
  dst[n] = v;
}

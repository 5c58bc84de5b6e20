// lstm_backward_gpu.wgsl — backward of the bidirectional LSTM recurrence for
// the `gpu` kernel profile (forward: lstm_gpu.wgsl): the sequential part,
// one lane per hidden unit, dz exchanged through workgroup memory; and the
// split-K partial sums of dW_hh. Same inputs and outputs as
// lstm_backward.wgsl (the `cpu` profile).
//
// Per real step, in reverse visiting order (direction 0: t = len−1 … 0;
// direction 1: t = 0 … len−1), with dh = dh_out[t] + W_hhᵀ·dz_next and
// dc = dc_next + dh⊙o⊙(1 − tanh²c):
//   dz_i = dc⊙g⊙i(1−i), dz_f = dc⊙c_prev⊙f(1−f), dz_g = dc⊙i⊙(1−g²),
//   dz_o = dh⊙tanh(c)⊙o(1−o);  dc_next = dc⊙f.
// HP = H rounded up to a multiple of 4.
//
// entry `main`
//   @binding(0) params:  uniform (B, T, _, _) u32
//   @binding(1) dh_out:  (B·T, 2H) f32, read (padding rows ignored)
//   @binding(2) gates:   (B·T, 2, 4, HP) f32, activations i f g o saved by the forward, read
//   @binding(3) cell:    (B·T, 2, HP) f32, c saved by the forward, read
//   @binding(4) whh:     (2, 4H, H) f32, W_hh in PyTorch's layout, read (lane k reads column
//                        k: neighbouring lanes, neighbouring addresses)
//   @binding(5) lengths: (B) i32, read
//   @binding(6) dgates:  (B·T, 8H) f32, dz, written with `=` (zero at padding rows)
//   workgroup:   dzs (2, S, 4, HP) f32 as vec4: dz of the group's sentences, double-buffered
//                (32·S·HP bytes ≤ 16 KiB, chosen by src/ops/lstm_gpu.ts)
//   dispatch: (ceil(B / S), 2, 1) workgroups of (LANES, 1, 1), LANES ≥ HP (a multiple of 32,
//   ≤ 256); workgroup y is the direction. Lane k owns hidden unit k (all four gates) of the
//   group's S sentences: per step it computes dh[s][k] = Σ_r W_hh[r][k]·dz_next[s][r] from
//   workgroup memory (a broadcast read), then the cell backward of (k, s), and writes dz to
//   `dgates` and to the other half of `dzs`; the next step's saved activations are fetched
//   before the barrier; one barrier per step. Lanes k ≥ HP only join the barriers.
//   Loop iterations per lane ≈ steps·(HP/4·(S + 1) + 3·S) + T·S.
//
// entry `dwhh_partial`: chunk c of dW_hh[d] = Σ_n dz[n, d]ᵀ · h_prev[n, d] over rows
//   n = c·CH … min((c+1)·CH, B·T) − 1 (split-K; `reduce_gpu.wgsl` `combine` adds the chunks
//   in order c = 0, 1, …, so the sum is deterministic)
//   @binding(0) rp:      uniform (M = B·T rows, N = 8H·H, CH, C) u32 (reduce_gpu.wgsl's layout)
//   @binding(1) dz4:     (B·T, 8H) f32 read as vec4 (8H is a multiple of 4)
//   @binding(2) hp4:     (B·T, 2, HP) f32 as vec4, h_prev saved by the forward, read
//   @binding(3) part:    (C, 2, 4H, H) f32 partial sums, written with `=`
//   dispatch: (ceil(HP/4 / 16), ceil(H / 16), 2·C) workgroups of (16, 16); z = c·2 + d. Lane
//   (x, y) owns rows 4r4 … 4r4+3 × columns 4k4 … 4k4+3 of one direction's chunk (r4 from y,
//   k4 from x: neighbouring lanes read neighbouring h_prev vec4s) and loops over CH rows.

//#include "common/lstm_lanes.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dh_out: array<f32>;
@group(0) @binding(2) var<storage, read> gates: array<f32>;
@group(0) @binding(3) var<storage, read> cell: array<f32>;
@group(0) @binding(4) var<storage, read> whh: array<f32>;
@group(0) @binding(5) var<storage, read> lengths: array<i32>;
@group(0) @binding(6) var<storage, read_write> dgates: array<f32>;

// (2, S, 4·HP/4) vec4: [parity][sentence][(gate·HP + unit) / 4].
var<workgroup> dzs: array<vec4f, 2u * S * HP>;
var<workgroup> group_max: u32;

// What the cell backward of one (unit, sentence, step) reads.
struct Saved {
  a: vec4f, // i f g o
  c: f32, // c_t
  cp: f32, // c_{t−1} in visiting order (0 at the first step)
  dh: f32, // dh_out[t]
}

fn fetch(b: u32, T: u32, d: u32, len: u32, step: u32, ku: u32) -> Saved {
  var v: Saved;
  let row = b * T + position(d, len, step);
  let slot = row * 2u + d;
  let ga = slot * 4u * HP + ku;
  v.a = vec4f(gates[ga], gates[ga + HP], gates[ga + 2u * HP], gates[ga + 3u * HP]);
  v.c = cell[slot * HP + ku];
  v.cp = 0.0;
  if (step > 0u) { v.cp = cell[((b * T + position(d, len, step - 1u)) * 2u + d) * HP + ku]; }
  v.dh = dh_out[row * 2u * H + d * H + min(ku, H - 1u)];
  return v;
}

// W_hh[d][gate·H + k'][k] for the four consecutive padded rows r' … r'+3 (one gate; rows
// k' ≥ H are clamped: their dz is zero).
fn w4(wd: u32, r: u32, k: u32) -> vec4f {
  let gate = r / HP;
  let kp = r % HP;
  let last = H - 1u;
  let base = wd + gate * H;
  return vec4f(whh[(base + min(kp, last)) * H + k], whh[(base + min(kp + 1u, last)) * H + k],
    whh[(base + min(kp + 2u, last)) * H + k], whh[(base + min(kp + 3u, last)) * H + k]);
}

@compute @workgroup_size(LANES, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let B = params.batch;
  let T = params.time;
  let d = wg.y;
  let k = lid.x;
  let first = wg.x * S;
  let ku = min(k, HP - 1u);
  let own = k < HP;
  let real = k < H;
  let kw = min(k, H - 1u); // the W_hh column this lane reads

  var len: array<u32, 8>;
  for (var s = 0u; s < S; s++) {
    len[s] = 0u;
    if (first + s < B) { len[s] = u32(clamp(lengths[first + s], 0, i32(T))); }
  }
  for (var i = k; i < 2u * S * HP; i += LANES) { dzs[i] = vec4f(0.0); }
  if (k == 0u) {
    var longest = 0u;
    for (var s = 0u; s < S; s++) { longest = max(longest, len[s]); }
    group_max = longest;
  }
  let steps = workgroupUniformLoad(&group_max);

  let wd = d * 4u * H; // this direction's first W_hh row
  var dcn: array<f32, 8>;
  var cur: array<Saved, 8>;
  for (var s = 0u; s < S; s++) {
    dcn[s] = 0.0;
    if (steps > 0u && steps - 1u < len[s]) {
      cur[s] = fetch(first + s, T, d, len[s], steps - 1u, ku);
    }
  }

  for (var n = 0u; n < steps; n++) {
    let step = steps - 1u - n;
    let zr = (n & 1u) * S * HP; // dz_next here (zero before a sentence's first visited step)
    let zw = S * HP - zr; // dz of this step there
    // The next step's saved values, fetched now so that their latency hides behind this one.
    var ahead: array<Saved, 8>;
    for (var s = 0u; s < S; s++) {
      if (step > 0u && step - 1u < len[s]) {
        ahead[s] = fetch(first + s, T, d, len[s], step - 1u, ku);
      }
    }
    // W_hhᵀ·dz_next over the 4·HP padded rows, 16 per iteration.
    var dhr: array<f32, 8>;
    for (var s = 0u; s < S; s++) { dhr[s] = 0.0; }
    for (var q = 0u; q < HP / 4u; q++) {
      let r = 16u * q;
      let wa = w4(wd, r, kw);
      let wb = w4(wd, r + 4u, kw);
      let wc = w4(wd, r + 8u, kw);
      let we = w4(wd, r + 12u, kw);
      for (var s = 0u; s < S; s++) {
        let z = zr + s * HP + 4u * q;
        dhr[s] += dot(wa, dzs[z]) + dot(wb, dzs[z + 1u]) + dot(wc, dzs[z + 2u]) +
          dot(we, dzs[z + 3u]);
      }
    }
    for (var s = 0u; s < S; s++) {
      var dz = vec4f(0.0); // i f g o
      if (step < len[s]) {
        let v = cur[s];
        let dh = select(0.0, v.dh, real) + dhr[s];
        let tc = tanh1(v.c);
        let dc = dcn[s] + dh * v.a.w * (1.0 - tc * tc);
        dz = vec4f(dc * v.a.z * v.a.x * (1.0 - v.a.x), dc * v.cp * v.a.y * (1.0 - v.a.y),
          dc * v.a.x * (1.0 - v.a.z * v.a.z), dh * tc * v.a.w * (1.0 - v.a.w));
        dz = select(vec4f(0.0), dz, real);
        dcn[s] = dc * v.a.y;
        if (real) {
          let row = (first + s) * T + position(d, len[s], step);
          let o = row * 8u * H + d * 4u * H + k;
          dgates[o] = dz.x;
          dgates[o + H] = dz.y;
          dgates[o + 2u * H] = dz.z;
          dgates[o + 3u * H] = dz.w;
        }
      }
      // Before its first visited step a sentence's dz stays zero (dz_next of that step).
      if (own) {
        let z = zw + s * HP;
        dzs[z + ku / 4u][ku % 4u] = dz.x;
        dzs[z + (HP + ku) / 4u][ku % 4u] = dz.y;
        dzs[z + (2u * HP + ku) / 4u][ku % 4u] = dz.z;
        dzs[z + (3u * HP + ku) / 4u][ku % 4u] = dz.w;
      }
      cur[s] = ahead[s];
    }
    // dz of this step is complete, and nobody reads dz_next's half any more (it receives the
    // next step's dz only after this barrier).
    workgroupBarrier();
  }

  // Padding rows get dz = 0, so the matmuls and sums over all B·T rows ignore them.
  if (!real) { return; }
  for (var s = 0u; s < S; s++) {
    let b = first + s;
    if (b >= B) { break; }
    for (var t = len[s]; t < T; t++) {
      let o = (b * T + t) * 8u * H + d * 4u * H + k;
      dgates[o] = 0.0;
      dgates[o + H] = 0.0;
      dgates[o + 2u * H] = 0.0;
      dgates[o + 3u * H] = 0.0;
    }
  }
}

struct Split { m: u32, n: u32, ch: u32, chunks: u32 }

@group(0) @binding(0) var<uniform> rp: Split;
@group(0) @binding(1) var<storage, read> dz4: array<vec4f>;
@group(0) @binding(2) var<storage, read> hp4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

@compute @workgroup_size(16, 16, 1)
fn dwhh_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let k4 = gid.x;
  let r4 = gid.y;
  let c = wg.z / 2u;
  let d = wg.z % 2u;
  if (k4 >= HP / 4u || r4 >= H) { return; }
  let lo = c * rp.ch;
  let hi = min(lo + rp.ch, rp.m);
  var acc = mat4x4f(); // column kk: rows 4r4 … 4r4+3 times h[4k4 + kk]
  for (var n = lo; n < hi; n++) {
    let h = hp4[(n * 2u + d) * (HP / 4u) + k4];
    let z = dz4[n * 2u * H + d * H + r4];
    acc += mat4x4f(z * h.x, z * h.y, z * h.z, z * h.w);
  }
  for (var kk = 0u; kk < 4u; kk++) {
    let kc = 4u * k4 + kk;
    if (kc >= H) { break; }
    for (var rr = 0u; rr < 4u; rr++) {
      part[((c * 2u + d) * 4u * H + 4u * r4 + rr) * H + kc] = acc[kk][rr];
    }
  }
}

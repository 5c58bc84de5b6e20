// Shared by crf.wgsl and viterbi.wgsl (included, never compiled alone): the overrides of a
// workgroup of S sentences × K tags, where its sentences sit, the transitions in workgroup
// memory and the previous step's scores. Uses the including shader's params (batch, time,
// groups), its lengths binding, its const PAD and its fn transition_in(e) (transition e of
// the (K, K) matrix, flat, as the shader keeps it).

override K: u32 = 9u;
override S: u32 = 7u;
override WG: u32 = 63u;
override K4: u32 = 3u; // ceil(K / 4): tags padded to whole vec4s in the inner loops

const MAX_K4: u32 = 8u;

var<workgroup> w_trans: array<vec4f, 256>;  // (K, K) transitions, flat
var<workgroup> w_step: array<vec4f, 128>;   // 2 × (S, K4) vec4: the previous step, double buffered

// Where one sentence of the workgroup sits: invocation (s, k), sentence b of length n, whose
// rows start at base = b·T.
struct Slot { s: u32, k: u32, b: u32, n: u32, live: bool, base: u32 }

fn slot(lid: u32, g: u32) -> Slot {
  let s = lid / K;
  let b = g + s * params.groups;
  let live = b < params.batch;
  var n = 0u;
  if (live) { n = u32(clamp(lengths[b], 0, i32(params.time))); }
  return Slot(s, lid % K, b, n, live, b * params.time);
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

// Fills w_step with PAD (the padding tags keep it) and loads the transitions; then a barrier
// (call in uniform control flow).
fn init_workgroup(lid: u32) {
  for (var e = lid; e < 2u * S * K4; e += WG) { w_step[e] = vec4f(PAD); }
  for (var e = lid; e < K * K; e += WG) { w_trans[e >> 2u][e & 3u] = transition_in(e); }
  workgroupBarrier();
}

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

// This invocation's column of transitions, for registers (padding lanes 0).
fn trans_column(k: u32) -> array<vec4f, MAX_K4> {
  var column: array<vec4f, MAX_K4>;
  for (var i = 0u; i < K; i++) { column[i >> 2u][i & 3u] = trans(i, k); }
  return column;
}

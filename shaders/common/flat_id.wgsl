// Shared by char_cnn.wgsl, dropout.wgsl, embedding.wgsl and fill.wgsl (included, never
// compiled alone): an invocation of a 2-D grid of 64-wide workgroups (a grid wider than
// 65,535 workgroups wraps into y), the one parameter of their entries, and its flat index.

struct Grid {
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
}

fn flat_id(inv: Grid) -> u32 {
  return (inv.wid.y * inv.nwg.x + inv.wid.x) * 64u + inv.lid;
}

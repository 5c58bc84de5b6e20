// Shared by char_cnn.wgsl, dropout.wgsl, embedding.wgsl and fill.wgsl (included, never
// compiled alone): the flat index of an invocation of a 2-D grid of 64-wide workgroups
// (a grid wider than 65,535 workgroups wraps into y).

fn flat_id(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 64u + lid;
}

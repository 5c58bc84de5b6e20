import assert from "node:assert/strict";
import { longCapacity, Tagger, taggerCapacity } from "../src/api/tagger.ts";
import { randomModel } from "../src/api/random_model.ts";
import { encodeSentences, makeBatches } from "../src/data/batch.ts";
import { splitTag, transitionMask } from "../src/data/schemes.ts";
import { acquireGpu } from "../src/gpu/device.ts";
import { gpuMemory } from "../src/gpu/buffers.ts";
import { decodeModel, encodeModel } from "../src/model/checkpoint.ts";
import { fromPytorchTensors, NerGraph } from "../src/model/graph.ts";
import { modelSizes } from "./fixtures.ts";
import { encodeSafetensors } from "../src/io/safetensors.ts";
import { tinySentences, trainTinyModel } from "./tagger_fixture.ts";

const gpu = await acquireGpu();
let tiny: Promise<{ bytes: Uint8Array }> | undefined;
/** The trained tiny model, trained once per test file. */
const tinyModel = () => tiny ??= trainTinyModel(gpu);

Deno.test("Tagger.load reads a path, a file URL and bytes alike", async () => {
  const { bytes } = await tinyModel();
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/tiny.safetensors`;
    await Deno.writeFile(path, bytes);
    const text = "Ada Smith visited New Oslo. Bo left Rome.";
    const expected = [
      { text: "Ada Smith", label: "PER", start: 0, end: 9, tokens: [0, 2] },
      { text: "New Oslo", label: "LOC", start: 18, end: 26, tokens: [3, 5] },
      { text: "Bo", label: "PER", start: 28, end: 30, tokens: [0, 1] },
      { text: "Rome", label: "LOC", start: 36, end: 40, tokens: [2, 3] },
    ];
    for (const source of [path, new URL(`file://${path}`), bytes]) {
      const tagger = await Tagger.load(source, { gpu });
      const entities = await tagger.tag(text);
      assert.deepEqual(entities.map(({ score: _, ...e }) => e), expected, String(source));
      for (const e of entities) assert.ok(e.score > 0.5 && e.score <= 1, `score ${e.score}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Tagger.load rejects truncated, foreign and missing files with clear errors", async () => {
  const { bytes } = await tinyModel();
  const dir = await Deno.makeTempDir();
  try {
    const truncated = `${dir}/truncated.safetensors`;
    await Deno.writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(
      () => Tagger.load(truncated, { gpu }),
      (e: Error) => e.message.includes(truncated) && /short|truncat|expected/i.test(e.message),
    );
    const foreign = `${dir}/foreign.safetensors`;
    await Deno.writeFile(
      foreign,
      encodeSafetensors([{
        name: "weight",
        dtype: "F32",
        shape: [2],
        data: new Float32Array([1, 2]),
      }]),
    );
    await assert.rejects(
      () => Tagger.load(foreign, { gpu }),
      /Cannot load .*foreign\.safetensors: expected a webgpu-ner\/1 model, found format '\(none\)'/,
    );
    await assert.rejects(
      () => Tagger.load(`${dir}/missing.safetensors`, { gpu }),
      /Cannot load model '.*missing\.safetensors'/,
    );
    // A model whose tensor has the wrong shape.
    const model = decodeModel(bytes);
    const broken = encodeSafetensors([{
      name: "out.bias",
      dtype: "F32",
      shape: [1],
      data: new Float32Array([0]),
    }], { format: "webgpu-ner/1", config: JSON.stringify(model.config) });
    await assert.rejects(() => Tagger.load(broken, { gpu }), /Cannot load model bytes/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Log-sum-exp of a list. */
function logSumExp(xs: number[]): number {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}

Deno.test("span scores equal brute-force enumeration over every tag path", async () => {
  const { bytes } = await tinyModel();
  const tagger = await Tagger.load(bytes, { gpu });
  const model = tagger.model;
  const tokens = ["Cy", "Smith", "left", "New", "Rome"];
  const [result] = await tagger.tagTokens([tokens]);
  assert.deepEqual(result.tags, ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]);
  // The model's emissions, read back from the GPU.
  const encoded = encodeSentences([{ tokens, tags: tokens.map(() => "O") }], model);
  const [batch] = makeBatches(encoded, { batchSize: 1, shuffle: false });
  const out = await tagger.graph.infer(batch, { marginals: true });
  const K = model.tags.size;
  const n = tokens.length;
  const em = (t: number, k: number) => out.emissions![t * K + k];
  const trans = model.tensors["crf.transitions"];
  const start = model.tensors["crf.start"];
  const end = model.tensors["crf.end"];
  const paths: { path: number[]; score: number }[] = [];
  for (let code = 0; code < K ** n; code++) {
    const path = Array.from({ length: n }, (_, t) => Math.floor(code / K ** t) % K);
    let score = start[path[0]] + em(0, path[0]) + end[path[n - 1]];
    for (let t = 1; t < n; t++) score += trans[path[t - 1] * K + path[t]] + em(t, path[t]);
    paths.push({ path, score });
  }
  const logZ = logSumExp(paths.map((p) => p.score));
  assert.ok(Math.abs(logZ - out.logZ![0]) < 1e-3 * Math.max(1, Math.abs(logZ)));
  const labels = model.tags.items;
  assert.equal(result.entities.length, 2);
  for (const entity of result.entities) {
    // Exactly this span: its tags, and the next token does not continue it.
    const ids = result.tags.slice(entity.start, entity.end).map((t) => labels.indexOf(t));
    const continues = (id: number) => {
      const p = splitTag(labels[id]);
      return p.type === entity.label && p.prefix === "I";
    };
    const matching = paths.filter(({ path }) =>
      ids.every((id, r) => path[entity.start + r] === id) &&
      (entity.end >= n || !continues(path[entity.end]))
    );
    const expected = Math.exp(logSumExp(matching.map((p) => p.score)) - logZ);
    assert.ok(entity.score > 0 && entity.score <= 1);
    assert.ok(
      Math.abs(entity.score - expected) < 1e-4,
      `${entity.label} [${entity.start}, ${entity.end}): ${entity.score} vs ${expected}`,
    );
  }
  // Per-token marginals: each row is a distribution and matches enumeration.
  for (let t = 0; t < n; t++) {
    const row = Array.from(result.marginals.subarray(t * K, (t + 1) * K));
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    for (let k = 0; k < K; k++) {
      const p = Math.exp(
        logSumExp(paths.filter((q) => q.path[t] === k).map((q) => q.score)) - logZ,
      );
      assert.ok(Math.abs(row[k] - p) < 1e-4, `marginal (${t}, ${k}): ${row[k]} vs ${p}`);
    }
  }
});

Deno.test("nBest: descending probabilities summing to at most 1, the first is Viterbi", async () => {
  const { bytes } = await tinyModel();
  const tagger = await Tagger.load(bytes, { gpu });
  const results = await tagger.tagTokens([["Di", "loves", "Paris", "."], ["Bo", "Zed"]], {
    nBest: 6,
  });
  for (const r of results) {
    const best = r.nBest!;
    assert.equal(best.length, 6);
    assert.deepEqual(best[0].tags, r.tags);
    for (let i = 1; i < best.length; i++) {
      assert.ok(best[i].probability <= best[i - 1].probability + 1e-12);
    }
    const sum = best.reduce((s, b) => s + b.probability, 0);
    assert.ok(sum <= 1 + 1e-6 && best[best.length - 1].probability > 0, `sum ${sum}`);
    assert.equal(new Set(best.map((b) => b.tags.join())).size, best.length);
  }
});

Deno.test("constrained decoding never yields an invalid sequence, even from adversarial emissions", async () => {
  const model = randomModel({ words: ["a", "b", "c"], seed: 5 });
  // out.bias strongly favours I- tags: unconstrained Viterbi starts entities with I-.
  const labels = model.tags.items;
  model.tensors["out.bias"] = Float32Array.from(labels, (l) => l.startsWith("I-") ? 20 : 0);
  model.tensors["crf.transitions"].fill(0);
  const tagger = await Tagger.fromModel(gpu, model);
  const sentences = [["a"], ["a", "b"], ["c", "b", "a", "x", "y"], ["x", "a", "b", "c"]];
  const mask = transitionMask(labels, model.scheme);
  const K = labels.length;
  const free = await tagger.tagTokens(sentences, { constrained: false });
  assert.ok(
    free.some((r) => r.tags[0].startsWith("I-")),
    "the adversarial model must produce an invalid sequence without constraints",
  );
  for (const constrained of [undefined, true]) {
    const results = await tagger.tagTokens(sentences, { constrained, nBest: 3 });
    for (const r of results) {
      for (const tags of [r.tags, ...r.nBest!.map((b) => b.tags)]) {
        const ids = tags.map((t) => labels.indexOf(t));
        assert.equal(mask.start[ids[0]], 1, `invalid start: ${tags}`);
        assert.equal(mask.end[ids[ids.length - 1]], 1, `invalid end: ${tags}`);
        for (let t = 1; t < ids.length; t++) {
          assert.equal(mask.transitions[ids[t - 1] * K + ids[t]], 1, `invalid: ${tags}`);
        }
      }
    }
  }
  // Text API too; switching back and forth keeps working.
  const text = "a b c";
  assert.ok((await tagger.tag(text, { constrained: false })).length > 0);
  for (const e of await tagger.tag(text)) assert.ok(e.score > 0 && e.score <= 1);
});

Deno.test("tagBatch equals tag one by one; empty texts and long sentences work", async () => {
  const { bytes } = await tinyModel();
  const tagger = await Tagger.load(bytes, { gpu });
  const long = Array.from({ length: 70 }, (_, i) => i % 2 ? "Ada visited Oslo" : "Bo left Rome")
    .join(" and ") + ".";
  const texts = ["Cy loves Rome.", "", "   ", long, "Di Smith left New Paris. Ada visited Oslo."];
  const batch = await tagger.tagBatch(texts);
  assert.equal(batch.length, texts.length);
  for (let i = 0; i < texts.length; i++) {
    const one = await tagger.tag(texts[i]);
    assert.deepEqual(
      batch[i].map((e) => [e.text, e.label, e.start, e.end]),
      one.map((e) => [e.text, e.label, e.start, e.end]),
    );
    for (const e of batch[i]) assert.equal(texts[i].slice(e.start, e.end), e.text);
  }
  assert.deepEqual(batch[1], []);
  // The long sentence (280 tokens) is tagged whole on the long-sentence graph.
  assert.ok(batch[3].some((e) => e.tokens[0] >= 256), "entities near the end");
  assert.ok(batch[3].some((e) => e.tokens[0] < 128), "entities near the start");
  assert.deepEqual(
    batch[3].map((e) => e.start),
    batch[3].map((e) => e.start).sort((a, b) => a - b),
  );
  const [r] = await tagger.tagTokens([[]]);
  assert.deepEqual(r.tags, []);
});

Deno.test("encodeModel then Tagger.load round-trips a trained model's output", async () => {
  const { bytes } = await tinyModel();
  const model = decodeModel(bytes);
  const a = await (await Tagger.fromModel(gpu, model)).tagTokens([["Ada", "left", "Oslo"]]);
  const b = await (await Tagger.load(encodeModel(model, { float16: true }), { gpu })).tagTokens([
    ["Ada", "left", "Oslo"],
  ]);
  assert.deepEqual(a[0].tags, b[0].tags);
});

Deno.test("the README example tags text with the shipped model", async () => {
  const root = new URL("../", import.meta.url);
  const shipped = new URL("models/gmb-small.safetensors", root);
  try {
    await Deno.stat(shipped);
  } catch {
    assert.fail(
      `The README example needs the shipped model ${shipped.pathname}, which is missing ` +
        `(it is trained and committed with the release; until then this test fails on purpose)`,
    );
  }
  const doc = await Deno.readTextFile(new URL("README.md", root));
  const block = doc.match(/<!-- tested by tests\/tagger_test\.ts[^>]*-->\s*```ts\n([\s\S]*?)```/);
  assert.ok(block, "README.md: expected a ts block after the 'tested by' marker");
  const source = block[1]
    .replace(`from "./mod.ts"`, `from ${JSON.stringify(new URL("mod.ts", root).href)}`)
    .replaceAll("import.meta.url", JSON.stringify(root.href));
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/readme.ts`, source);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", "--no-lock", `${dir}/readme.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const out = new TextDecoder().decode(stdout);
    assert.match(out, /text: "Angela Merkel"/, out);
    assert.match(out, /text: "Paris"/, out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("destroy: tagging afterwards throws; destroy twice is harmless; `using` disposes", async () => {
  const { bytes } = await tinyModel();
  const tagger = await Tagger.load(bytes, { gpu });
  tagger.destroy();
  tagger.destroy();
  await assert.rejects(() => tagger.tag("Ada left Rome."), /This Tagger was destroyed/);
  await assert.rejects(() => tagger.tagTokens([["Ada"]]), /This Tagger was destroyed/);
  let kept: Tagger | undefined;
  {
    using scoped = await Tagger.load(bytes, { gpu });
    kept = scoped;
    assert.equal((await scoped.tag("Bo left Oslo.")).length, 2);
  }
  await assert.rejects(() => kept!.tag("Bo left Oslo."), /destroyed/);
});

Deno.test("50 Tagger.load/destroy cycles do not grow the library's GPU memory", async () => {
  const { bytes } = await tinyModel();
  // One cycle first: pipelines and other once-per-device state are made here, not counted.
  const first = await Tagger.load(bytes, { gpu });
  await first.tag("Ada left Rome.");
  first.destroy();
  const before = gpuMemory(gpu).liveBytes;
  for (let cycle = 1; cycle <= 50; cycle++) {
    const tagger = await Tagger.load(bytes, { gpu });
    await tagger.tag("Ada left Rome. Bo Smith visited New Oslo.");
    tagger.destroy();
    const grown = gpuMemory(gpu).liveBytes - before;
    // Fails at the first leaking cycle (so a leak does not pile up 50 times). Tagger.destroy
    // calls NerGraph.destroy: bytes left here are buffers of the graph or its ops that
    // NerGraph.destroy does not free (issue 14, "Ownership").
    assert.equal(
      grown,
      0,
      `after load/tag/destroy cycle ${cycle}: ${grown} bytes still live ` +
        `(NerGraph.destroy does not free everything the graph allocated)`,
    );
  }
});

Deno.test("pipelined batches and concurrent calls equal tagging each sentence alone", async () => {
  const { bytes } = await tinyModel();
  const tagger = await Tagger.load(bytes, { gpu });
  const sentences = tinySentences().map((s) => s.tokens);
  // More sentences than two batches (of 128 or 256), so batches are in flight while others are read.
  const many = Array.from({ length: 700 }, (_, i) => sentences[(i * 7) % sentences.length]);
  const all = await tagger.tagTokens(many);
  const alone = new Map<string, Awaited<ReturnType<Tagger["tagTokens"]>>[number]>();
  for (const s of sentences) alone.set(s.join(" "), (await tagger.tagTokens([s]))[0]);
  many.forEach((s, i) => {
    const one = alone.get(s.join(" "))!;
    assert.deepEqual(all[i].tags, one.tags, `sentence ${i}`);
    assert.deepEqual(
      all[i].entities.map((e) => [e.label, e.start, e.end]),
      one.entities.map((e) => [e.label, e.start, e.end]),
    );
    for (let k = 0; k < one.marginals.length; k++) {
      assert.ok(
        Math.abs(all[i].marginals[k] - one.marginals[k]) < 1e-5,
        `sentence ${i} marginal ${k}`,
      );
    }
  });
  // Two calls at once, one constrained and one not, each equal to itself run alone.
  const adversarial = randomModel({ words: ["a", "b", "c"], seed: 5 });
  adversarial.tensors["out.bias"] = Float32Array.from(
    adversarial.tags.items,
    (l) => l.startsWith("I-") ? 20 : 0,
  );
  const odd = await Tagger.fromModel(gpu, adversarial);
  const input = Array.from({ length: 600 }, (_, i) => ["a", "b", "c", "x"].slice(0, 1 + (i % 4)));
  const free = await odd.tagTokens(input, { constrained: false });
  const strict = await odd.tagTokens(input);
  const [free2, strict2] = await Promise.all([
    odd.tagTokens(input, { constrained: false }),
    odd.tagTokens(input),
  ]);
  assert.deepEqual(free2.map((r) => r.tags), free.map((r) => r.tags));
  assert.deepEqual(strict2.map((r) => r.tags), strict.map((r) => r.tags));
  assert.notDeepEqual(free.map((r) => r.tags), strict.map((r) => r.tags));
  tagger.destroy();
  odd.destroy();
});

Deno.test("a 1,000-token sentence tags on this adapter, whole, within the binding limit", async () => {
  const { bytes } = await tinyModel();
  using tagger = await Tagger.load(bytes, { gpu });
  const clause = ["Ada", "Smith", "visited", "New", "Rome", "and"];
  const tokens = Array.from({ length: 1000 }, (_, i) => clause[i % clause.length]);
  const [result] = await tagger.tagTokens([tokens]);
  assert.equal(result.tags.length, 1000);
  assert.ok(result.tags.every((t) => typeof t === "string"), "every token has a tag");
  // Tagged whole on the long-sentence graph: entities at the start and at the end.
  assert.ok(result.entities.some((e) => e.start < 128));
  assert.ok(result.entities.some((e) => e.start >= 896));
  for (const e of result.entities) assert.ok(e.score > 0 && e.score <= 1);
  const text = tokens.join(" ");
  const [doc] = await tagger.tagTexts([text]);
  assert.equal(doc.sentences.length, 1);
  assert.equal(doc.sentences[0].tags.length, 1000);
  assert.deepEqual(doc.sentences[0].tags, result.tags);
});

Deno.test("a 600-token sentence is tagged whole: it equals a graph that holds it in one piece", async () => {
  const { bytes } = await tinyModel();
  using tagger = await Tagger.load(bytes, { gpu });
  const model = tagger.model;
  const clause = ["Ada", "Smith", "visited", "New", "Rome", "and", "Bo", "left"];
  const tokens = Array.from({ length: 600 }, (_, i) => clause[(i * 5 + (i >> 3)) % clause.length]);
  // With a short sentence in the same call: it runs on the main graph, the long one apart.
  const short = ["Cy", "left", "Oslo"];
  const [result, small] = await tagger.tagTokens([tokens, short]);
  const [alone] = await tagger.tagTokens([short]);
  assert.deepEqual(small, alone);
  // The reference: one inference graph of B = 1, T = 600 (no word table, as the long graph).
  const graph = await NerGraph.create(
    gpu,
    model.config,
    modelSizes(model),
    { maxBatch: 1, maxTime: 600, maxChars: model.config.maxChars },
    {
      training: false,
      constraints: transitionMask(model.tags.items, model.scheme),
      wordTable: false,
    },
  );
  try {
    graph.writeParameters(fromPytorchTensors(model.tensors));
    const encoded = encodeSentences([{ tokens, tags: tokens.map(() => "O") }], model);
    const [batch] = makeBatches(encoded, { batchSize: 1, shuffle: false });
    const out = await graph.infer(batch, { marginals: true });
    assert.deepEqual(result.tags, Array.from(out.tags, (id) => model.tags.items[id]));
    assert.deepEqual(result.marginals, out.marginals!.subarray(0, 600 * model.tags.size));
  } finally {
    graph.destroy();
  }
  // Pieces of 128 would be another result: their marginals differ at the cuts.
  const pieces = await tagger.tagTokens(
    Array.from({ length: 5 }, (_, i) => tokens.slice(128 * i, 128 * (i + 1))),
  );
  const cut = Float32Array.from(pieces.flatMap((p) => Array.from(p.marginals)));
  assert.notDeepEqual(result.marginals, cut);
  // n-best works on a sentence tagged whole.
  const [best] = await tagger.tagTokens([tokens.slice(0, 300)], { nBest: 2 });
  assert.deepEqual(best.nBest![0].tags, best.tags);
});

Deno.test("the long-sentence graph is freed with the tagger, also after it grew", async () => {
  const { bytes } = await tinyModel();
  const long = (n: number) => Array.from({ length: n }, (_, i) => ["Ada", "left", "Rome"][i % 3]);
  const warm = await Tagger.load(bytes, { gpu });
  await warm.tagTokens([long(300), long(700)]);
  warm.destroy();
  const before = gpuMemory(gpu).liveBytes;
  const tagger = await Tagger.load(bytes, { gpu });
  // 300 tokens build a graph of T = 512; 700 replace it with one of T = 768.
  await tagger.tagTokens([long(300)]);
  await tagger.tagTokens([long(700)]);
  tagger.destroy();
  assert.equal(gpuMemory(gpu).liveBytes - before, 0, "bytes still live after destroy");
});

Deno.test("longCapacity: the long-sentence graph's T follows the call, B the binding limit", () => {
  const limit = 128 * 2 ** 20;
  assert.deepEqual(longCapacity({ bindingLimit: limit }, 100, 129), { maxBatch: 4, maxTime: 256 });
  assert.deepEqual(longCapacity({ bindingLimit: limit }, 100, 3000), {
    maxBatch: 4,
    maxTime: 3072,
  });
  // At most 4,096 tokens whole.
  assert.deepEqual(longCapacity({ bindingLimit: limit }, 100, 9000), {
    maxBatch: 4,
    maxTime: 4096,
  });
  // A small limit: two sentences of 256 tokens at H = 100 (3,200 bytes per token).
  assert.deepEqual(longCapacity({ bindingLimit: 3200 * 512 + 5 }, 100, 200), {
    maxBatch: 2,
    maxTime: 256,
  });
  // H = 10 counts as Hp = 12 (vec4 units): 384 bytes per token, 1,000 tokens at most.
  assert.deepEqual(longCapacity({ bindingLimit: 384 * 1000 }, 10, 5000), {
    maxBatch: 1,
    maxTime: 1000,
  });
});

Deno.test("tagTexts gives sentences with tokens and tags, and the same entities as tagBatch", async () => {
  const { bytes } = await tinyModel();
  using tagger = await Tagger.load(bytes, { gpu });
  const texts = ["Ada visited Rome. Bo Smith left New Oslo.", "", "  ", "Cy loves Paris."];
  const docs = await tagger.tagTexts(texts);
  assert.deepEqual(docs.map((d) => d.text), texts);
  assert.deepEqual(docs.map((d) => d.entities), await tagger.tagBatch(texts));
  assert.deepEqual(docs.map((d) => d.sentences.length), [2, 0, 0, 1]);
  assert.deepEqual(docs[0].sentences[1].tokens.map((t) => t.text), [
    "Bo",
    "Smith",
    "left",
    "New",
    "Oslo",
    ".",
  ]);
  assert.deepEqual(docs[0].sentences[1].tags, ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]);
  for (const s of docs[0].sentences) {
    for (const t of s.tokens) assert.equal(texts[0].slice(t.start, t.end), t.text);
  }
  assert.equal(tagger.scheme, "IOB2");
});

Deno.test("taggerCapacity: batches shrink so the LSTM gates (B·T, 8H) fit the binding limit", () => {
  assert.deepEqual(taggerCapacity({ bindingLimit: 128 * 2 ** 20, profile: "cpu" }, 100), {
    maxBatch: 128,
    maxTime: 128,
  });
  assert.deepEqual(taggerCapacity({ bindingLimit: 128 * 2 ** 20, profile: "gpu" }, 100), {
    maxBatch: 256,
    maxTime: 128,
  });
  // A small limit: 40 pieces of 128 tokens at H = 100 (3,200 bytes per token).
  const small = taggerCapacity({ bindingLimit: 3200 * 128 * 40 + 5, profile: "gpu" }, 100);
  assert.deepEqual(small, { maxBatch: 40, maxTime: 128 });
  assert.ok(small.maxBatch * small.maxTime * 8 * 100 * 4 <= 3200 * 128 * 40 + 5);
  // Smaller than one piece: shorter pieces, one per batch.
  assert.deepEqual(taggerCapacity({ bindingLimit: 3200 * 50, profile: "cpu" }, 100), {
    maxBatch: 1,
    maxTime: 50,
  });
  assert.throws(
    () => taggerCapacity({ bindingLimit: 1000, profile: "cpu" }, 100),
    /hidden size 100 needs 3200 bytes per token .* limit of 1000 bytes/,
  );
});

Deno.test("tagTokens rejects input that is not arrays of strings, naming the place", async () => {
  const { bytes } = await tinyModel();
  using tagger = await Tagger.load(bytes, { gpu });
  const bad = (x: unknown) => tagger.tagTokens(x as string[][]);
  await assert.rejects(() => bad("Ada left"), /sentences: expected an array of token arrays/);
  await assert.rejects(() => bad([["Ada"], "left"]), /sentences\[1\]: expected an array of tokens/);
  await assert.rejects(
    () => bad([["Ada", 3]]),
    /sentences\[0\]\[1\]: expected a string token, found number/,
  );
  await assert.rejects(
    () => tagger.tagTexts([3 as unknown as string]),
    /texts\[0\]: expected a string/,
  );
});

Deno.test("a model's calibration temperature scales entity scores; calibrated: false gives the raw ones", async () => {
  const words = ["Ada", "Bo", "Oslo", "sang", "in", "and"];
  const base = randomModel({ words, seed: 7 });
  const sentences = [["Ada", "sang", "in", "Oslo"], ["Bo", "and", "Ada", "sang"], ["Oslo"]];
  const texts = sentences.map((s) => s.join(" "));
  const T = 2.5;
  // σ(logit(p) / τ) written as p^(1/τ) / (p^(1/τ) + (1 − p)^(1/τ)).
  const scaled = (p: number) => p ** (1 / T) / (p ** (1 / T) + (1 - p) ** (1 / T));
  using plain = await Tagger.fromModel(gpu, base);
  const calibration = { temperature: T, fittedOn: "dev", spans: 12 };
  using calibrated = await Tagger.load(encodeModel({ ...base, calibration }), { gpu });
  assert.equal(plain.temperature, 1);
  assert.equal(calibrated.temperature, T);
  const raw = await plain.tagTokens(sentences);
  assert.ok(raw.some((r) => r.entities.length > 0), "the random model finds no entity to score");
  const off = await calibrated.tagTokens(sentences, { calibrated: false });
  const on = await calibrated.tagTokens(sentences);
  assert.deepEqual(off, raw);
  raw.forEach((r, s) => {
    assert.deepEqual(on[s].tags, r.tags);
    assert.deepEqual(on[s].marginals, r.marginals);
    assert.equal(on[s].entities.length, r.entities.length);
    r.entities.forEach((e, i) => {
      const got = on[s].entities[i];
      assert.deepEqual({ ...got, score: 0 }, { ...e, score: 0 });
      assert.ok(e.score > 0.01 && e.score < 0.99, `raw score ${e.score} too close to 0 or 1`);
      assert.ok(
        Math.abs(got.score - scaled(e.score)) < 1e-12,
        `${got.score} vs ${scaled(e.score)}`,
      );
      // τ > 1 pulls every score towards 1/2.
      assert.ok(Math.abs(got.score - 0.5) < Math.abs(e.score - 0.5));
    });
  });
  const rawTexts = (await plain.tagTexts(texts)).flatMap((d) => d.entities);
  const onTexts = (await calibrated.tagTexts(texts)).flatMap((d) => d.entities);
  const onTag = (await Promise.all(texts.map((t) => calibrated.tag(t)))).flat();
  assert.deepEqual(onTag, onTexts);
  assert.deepEqual((await calibrated.tagBatch(texts, { calibrated: false })).flat(), rawTexts);
  onTexts.forEach((e, i) => assert.ok(Math.abs(e.score - scaled(rawTexts[i].score)) < 1e-12));
  await assert.rejects(
    () => calibrated.tagTokens(sentences, { calibrated: "no" as unknown as boolean }),
    /calibrated: expected true or false, found string/,
  );
});

Deno.test("a 1,000-token sentence tags with a random default-size model (H = 100)", async () => {
  const model = randomModel({ words: ["a", "b", "c"], seed: 11, config: { hidden: 100 } });
  const tagger = await Tagger.fromModel(gpu, model);
  const tokens = Array.from({ length: 1000 }, (_, i) => ["a", "b", "c", "x"][i % 4]);
  const [r] = await tagger.tagTokens([tokens]);
  assert.equal(r.tags.length, 1000);
  const labels = new Set(model.tags.items);
  assert.ok(r.tags.every((t) => labels.has(t)), "every tag is a label of the model");
  const mask = transitionMask(model.tags.items, model.scheme);
  const ids = r.tags.map((t) => model.tags.items.indexOf(t));
  const K = model.tags.items.length;
  for (let t = 1; t < ids.length; t++) {
    assert.equal(mask.transitions[ids[t - 1] * K + ids[t]], 1, `invalid transition at ${t}`);
  }
  tagger.destroy();
});

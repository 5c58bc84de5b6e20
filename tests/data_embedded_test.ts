import assert from "node:assert/strict";
import { loadEmbeddedCorpus } from "../src/data/embedded.ts";
import { collectTags, countTokens } from "../src/data/sentence.ts";
import { splitCorpus } from "../src/data/split.ts";

Deno.test("splitCorpus is a seeded partition 80/10/10", () => {
  const items = Array.from({ length: 1003 }, (_, i) => i);
  const a = splitCorpus(items, { seed: 5 });
  assert.deepEqual([a.train.length, a.dev.length, a.test.length], [803, 100, 100]);
  assert.deepEqual([...a.train, ...a.dev, ...a.test].sort((x, y) => x - y), items);
  assert.deepEqual(splitCorpus(items, { seed: 5 }), a);
  assert.notDeepEqual(splitCorpus(items, { seed: 6 }).dev, a.dev);
  const b = splitCorpus(items, { seed: 5, ratios: [2, 1, 1] });
  assert.deepEqual([b.train.length, b.dev.length, b.test.length], [503, 250, 250]);
  assert.throws(() => splitCorpus(items, { ratios: [1, -1, 1] }), /non-negative ratios/);
});

Deno.test("the embedded GMB corpus loads complete, split by seed, from a path or from bytes", async () => {
  const a = await loadEmbeddedCorpus({ seed: 7 });
  const all = [...a.train, ...a.dev, ...a.test];
  assert.equal(all.length, 47959);
  assert.equal(countTokens(all), 1048575);
  assert.equal(collectTags(all).length, 17);
  assert.deepEqual([a.train.length, a.dev.length, a.test.length], [38369, 4795, 4795]);
  assert.match(a.warnings[0], /looks truncated; kept it/);

  const bytes = await Deno.readFile(new URL("../data/gmb.csv.gz", import.meta.url));
  const b = await loadEmbeddedCorpus({ seed: 7, source: bytes });
  const key = (s: { tokens: string[] }) => s.tokens.join(" ");
  assert.deepEqual(b.test.map(key), a.test.map(key));
  assert.deepEqual(b.dev.map(key), a.dev.map(key));
});

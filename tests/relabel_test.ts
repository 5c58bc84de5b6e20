/**
 * relabelModel: a trained model with a new label set keeps the output layer
 * and CRF entries of shared labels, draws fresh seeded ones for new labels,
 * keeps the rest of the network; the trainer and `cli/train.ts --init`
 * fine-tune on data with labels the model does not have.
 */

import assert from "node:assert/strict";
import { randomModel } from "../src/api/random_model.ts";
import { Tagger } from "../src/api/tagger.ts";
import type { Sentence } from "../src/data/sentence.ts";
import { acquireGpu } from "../src/gpu/mod.ts";
import { decodeModel, encodeModel } from "../src/model/checkpoint.ts";
import { relabelModel } from "../src/model/relabel.ts";
import { type TrainEvent, trainModel, type TrainOptions } from "../src/train/trainer.ts";
import { TINY_TRAIN_OPTIONS } from "./fixtures.ts";

const OLD = ["O", "B-geo", "I-geo", "B-per", "I-per"];
const NEW = ["O", "B-LOC", "B-per", "I-per", "B-ORG"];

Deno.test("relabelModel keeps shared labels' rows, seeds new ones, keeps the rest", () => {
  const model = randomModel({ tags: OLD, words: ["Ada", "Paris"], seed: 3 });
  const K = OLD.length;
  const K2 = NEW.length;
  const H2 = 2 * model.config.hidden;
  const a = relabelModel(model, NEW, { seed: 5 });
  assert.deepEqual(a.tags.items, NEW);
  assert.equal(a.tags.specials, false);
  assert.deepEqual(a.summary?.relabeled, {
    kept: ["O", "B-per", "I-per"],
    added: ["B-LOC", "B-ORG"],
    dropped: ["B-geo", "I-geo"],
  });
  // Every old id of a new label, written out by hand.
  const from = [0, -1, 3, 4, -1];
  const W = a.tensors["out.weight"];
  const oldW = model.tensors["out.weight"];
  assert.equal(W.length, K2 * H2);
  for (let i = 0; i < K2; i++) {
    for (let h = 0; h < H2; h++) {
      if (from[i] >= 0) assert.equal(W[i * H2 + h], oldW[from[i] * H2 + h], `out.weight[${i}]`);
    }
    for (const name of ["out.bias", "crf.start", "crf.end"]) {
      if (from[i] >= 0) assert.equal(a.tensors[name][i], model.tensors[name][from[i]], name);
    }
    for (let j = 0; j < K2; j++) {
      if (from[i] >= 0 && from[j] >= 0) {
        assert.equal(
          a.tensors["crf.transitions"][i * K2 + j],
          model.tensors["crf.transitions"][from[i] * K + from[j]],
          `crf.transitions[${NEW[i]} → ${NEW[j]}]`,
        );
      }
    }
  }
  // New rows: drawn like a new model's (|w| ≤ 1/√(2H), bias 0, CRF ±0.1), not all zero.
  for (const i of [1, 4]) {
    const row = W.subarray(i * H2, (i + 1) * H2);
    assert.ok(row.some((x) => x !== 0), `row ${NEW[i]} is all zeros`);
    assert.ok(row.every((x) => Math.abs(x) <= 1 / Math.sqrt(H2) + 1e-7), `row ${NEW[i]} bound`);
    assert.equal(a.tensors["out.bias"][i], 0);
    assert.ok(Math.abs(a.tensors["crf.start"][i]) <= 0.1 + 1e-7);
  }
  // Everything else is the old model's.
  for (const name of Object.keys(model.tensors)) {
    if (name.startsWith("out.") || name.startsWith("crf.")) continue;
    assert.deepEqual(a.tensors[name], model.tensors[name], name);
  }
  assert.equal(a.words, model.words);
  // Seeded: the same seed gives the same fresh rows, another seed others.
  const b = relabelModel(model, NEW, { seed: 5 });
  const c = relabelModel(model, NEW, { seed: 6 });
  assert.deepEqual(b.tensors["out.weight"], W);
  assert.notDeepEqual(c.tensors["out.weight"].subarray(H2, 2 * H2), W.subarray(H2, 2 * H2));
  // The input model is untouched and the result saves and loads.
  assert.equal(model.tags.size, K);
  assert.equal(model.tensors["out.weight"].length, K * H2);
  const back = decodeModel(encodeModel(a), "relabeled");
  assert.deepEqual(back.tags.items, NEW);
});

Deno.test("relabelModel works for the softmax head and rejects bad tag lists", () => {
  const model = randomModel({ tags: OLD, config: { head: "softmax" } });
  const a = relabelModel(model, ["O", "B-per", "B-NEW"]);
  assert.equal(a.tensors["out.bias"].length, 3);
  assert.equal(a.tensors["crf.transitions"], undefined);
  assert.throws(() => relabelModel(model, []), /at least one tag, found none/);
  assert.throws(() => relabelModel(model, ["O", "B-X", "O"]), /"O" is listed twice/);
  assert.throws(() => relabelModel(model, ["O", ""]), /non-empty tag strings, found ""/);
});

Deno.test("a model relabelled to a permutation of its tags tags text exactly as before", async () => {
  const gpu = await acquireGpu();
  const model = randomModel({ tags: OLD, words: ["Ada", "met", "Bob", "in", "Paris"], seed: 9 });
  const permuted = ["I-per", "O", "B-per", "I-geo", "B-geo"];
  const before = await Tagger.fromModel(gpu, model);
  const after = await Tagger.fromModel(gpu, relabelModel(model, permuted));
  const words = [["Ada", "met", "Bob", "in", "Paris", "."], ["Bob", "sang"]];
  const x = await before.tagTokens(words);
  const y = await after.tagTokens(words);
  for (let s = 0; s < words.length; s++) {
    assert.deepEqual(y[s].tags, x[s].tags, `sentence ${s}`);
    for (let t = 0; t < words[s].length; t++) {
      permuted.forEach((label, k) => {
        const p = x[s].marginals[t * OLD.length + OLD.indexOf(label)];
        const q = y[s].marginals[t * permuted.length + k];
        assert.ok(Math.abs(p - q) < 1e-5, `p(${label}) at ${s}:${t}: ${p} vs ${q}`);
      });
    }
  }
});

/** Invented sentences with people and places; with `orgs`, companies too (a new label). */
function corpus(n: number, orgs: boolean): Sentence[] {
  const names = ["Ada", "Bob", "Eve", "Kim"];
  const places = ["Paris", "Oslo", "Rome"];
  const companies = ["Acme", "Globex"];
  const out: Sentence[] = [];
  for (let i = 0; i < n; i++) {
    const name = names[i % names.length];
    const place = places[(i * 2 + 1) % places.length];
    if (orgs && i % 2) {
      out.push({
        tokens: [name, "joined", companies[(i >> 1) % 2], "in", place, "."],
        tags: ["B-PER", "O", "B-ORG", "O", "B-LOC", "O"],
      });
    } else {
      out.push({
        tokens: [name, "went", "to", place, "."],
        tags: ["B-PER", "O", "O", "B-LOC", "O"],
      });
    }
  }
  return out;
}

const tiny: TrainOptions = { ...TINY_TRAIN_OPTIONS, lr: 0.03, lossEvery: 1000 };

Deno.test("trainModel fine-tunes a model on data with a label it does not have", async () => {
  const gpu = await acquireGpu();
  const base = await trainModel(gpu, { train: corpus(16, false), dev: corpus(4, false) }, {
    ...tiny,
    epochs: 3,
  });
  const baseModel = decodeModel(base.bytes);
  assert.deepEqual(baseModel.tags.items, ["O", "B-LOC", "B-PER"]);
  const data = { train: corpus(24, true), dev: corpus(8, true) };
  const events: TrainEvent[] = [];
  const tuned = await trainModel(gpu, data, {
    ...tiny,
    initFrom: base.bytes,
    epochs: 12,
    onEvent: (e) => events.push(e),
  });
  const model = decodeModel(tuned.bytes);
  assert.deepEqual(model.tags.items, ["O", "B-LOC", "B-ORG", "B-PER"]);
  // The rest of the network came from the base model: its vocabulary, not one built from the data.
  assert.deepEqual(model.words.items, baseModel.words.items);
  assert.ok(!model.words.has("Globex"), "the word vocabulary was rebuilt");
  const losses = events.flatMap((e) => e.type === "epoch" ? [e.loss] : []);
  assert.ok(losses.at(-1)! < losses[0], `loss did not fall: ${losses}`);
  assert.ok(tuned.bestDevF1 > 0.5, `dev F1 ${tuned.bestDevF1}`);
  const tagger = await Tagger.fromModel(gpu, model);
  const [result] = await tagger.tagTokens([["Eve", "joined", "Acme", "in", "Rome", "."]]);
  assert.deepEqual(result.tags, ["B-PER", "O", "B-ORG", "O", "B-LOC", "O"]);

  // Resuming cannot change the label set: that still fails, naming the tags.
  let last: Uint8Array | null = null;
  await trainModel(gpu, { train: corpus(8, false), dev: corpus(4, false) }, {
    ...tiny,
    epochs: 1,
    save: (kind, bytes) => {
      if (kind === "last") last = bytes;
    },
  });
  assert.ok(last, "no last checkpoint was saved");
  await assert.rejects(
    trainModel(gpu, data, { ...tiny, resume: last!, epochs: 2 }),
    /The data has tags the model does not know: B-ORG/,
  );
});

Deno.test("cli/train.ts --init fine-tunes on a file with a new label", async () => {
  const gpu = await acquireGpu();
  const dir = await Deno.makeTempDir();
  try {
    const base = await trainModel(gpu, { train: corpus(12, false), dev: corpus(4, false) }, {
      ...tiny,
      epochs: 2,
    });
    await Deno.writeFile(`${dir}/base.safetensors`, base.bytes);
    const jsonl = (s: Sentence[]) => s.map((x) => JSON.stringify(x)).join("\n") + "\n";
    await Deno.writeTextFile(`${dir}/train.jsonl`, jsonl(corpus(16, true)));
    await Deno.writeTextFile(`${dir}/dev.jsonl`, jsonl(corpus(4, true)));
    const script = new URL("../cli/train.ts", import.meta.url).pathname;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        script,
        ...["--train", `${dir}/train.jsonl`, "--dev", `${dir}/dev.jsonl`],
        ...["--init", `${dir}/base.safetensors`, "--epochs", "1", "--batch-size", "8"],
        ...["--out", `${dir}/run`, "--quiet"],
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const model = decodeModel(await Deno.readFile(`${dir}/run/model.safetensors`));
    assert.deepEqual(model.tags.items, ["O", "B-LOC", "B-ORG", "B-PER"]);
    assert.equal(model.config.hidden, 6, "the base model's network");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

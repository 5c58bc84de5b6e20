import assert from "node:assert/strict";
import type { Sentence } from "../src/data/sentence.ts";
import { acquireGpu } from "../src/gpu/mod.ts";
import { decodeModel } from "../src/model/checkpoint.ts";
import { CASING_CLASSES } from "../src/data/casing.ts";
import { parameterLayout, toPytorchTensors } from "../src/model/graph.ts";
import { type TrainEvent, trainModel, type TrainOptions } from "../src/train/trainer.ts";

/** Invented sentences: a name, a place and filler words, in a few patterns. */
function corpus(n: number, seed: number): Sentence[] {
  const names = ["Ada", "Bob", "Eve", "Zed", "Kim"];
  const places = ["Paris", "Oslo", "Rome", "Lima"];
  const out: Sentence[] = [];
  let s = seed;
  const next = (k: number) => (s = (s * 1103515245 + 12345) >>> 0) % k;
  for (let i = 0; i < n; i++) {
    const name = names[next(names.length)];
    const place = places[next(places.length)];
    out.push(
      next(2)
        ? { tokens: [name, "went", "to", place, "."], tags: ["B-PER", "O", "O", "B-LOC", "O"] }
        : { tokens: ["In", place, name, "smiled"], tags: ["O", "B-LOC", "B-PER", "O"] },
    );
  }
  return out;
}

const data = { train: corpus(24, 1), dev: corpus(8, 2), test: corpus(8, 3) };
const options: TrainOptions = {
  config: { wordDim: 8, casingDim: 2, charDim: 4, charFilters: 4, maxChars: 6, hidden: 6 },
  batchSize: 8,
  lr: 0.02,
  seed: 7,
  patience: 0,
};

function losses(events: TrainEvent[]): number[] {
  return events.flatMap((e) => e.type === "epoch" ? [e.loss] : []);
}

Deno.test("training is deterministic for a seed, learns the data, and reports test F1", async () => {
  const gpu = await acquireGpu();
  const a: TrainEvent[] = [];
  const b: TrainEvent[] = [];
  const first = await trainModel(gpu, data, { ...options, epochs: 4, onEvent: (e) => a.push(e) });
  await trainModel(gpu, data, { ...options, epochs: 4, onEvent: (e) => b.push(e) });
  assert.deepEqual(losses(a), losses(b));
  assert.ok(losses(a)[3] < losses(a)[0], `loss did not fall: ${losses(a)}`);
  assert.ok(first.test, "no test report");
  assert.ok(first.bestDevF1 > 0.5, `dev F1 ${first.bestDevF1}`);
  const model = decodeModel(first.bytes);
  assert.equal(model.tags.items.join(), "O,B-LOC,B-PER");
});

Deno.test("resuming from the last checkpoint continues exactly where training stopped", async () => {
  const gpu = await acquireGpu();
  const full: TrainEvent[] = [];
  await trainModel(gpu, data, { ...options, epochs: 3, onEvent: (e) => full.push(e) });
  let last: Uint8Array | null = null;
  await trainModel(gpu, data, {
    ...options,
    epochs: 2,
    save: (kind, bytes) => {
      if (kind === "last") last = bytes;
    },
  });
  assert.ok(last, "no last checkpoint was saved");
  const resumed: TrainEvent[] = [];
  const result = await trainModel(gpu, data, {
    ...options,
    epochs: 3,
    resume: last!,
    onEvent: (e) => resumed.push(e),
  });
  assert.equal(result.epochs, 3);
  assert.deepEqual(losses(resumed), [losses(full)[2]]);
  // Dev F1 is measured on the averaged weights, restored from the checkpoint too.
  const devF1 = (events: TrainEvent[]) => events.flatMap((e) => e.type === "epoch" ? [e.dev] : []);
  assert.deepEqual(devF1(resumed), [devF1(full)[2]]);
});

Deno.test("the kept model is the weight average; a run without averaging cannot resume with it", async () => {
  const gpu = await acquireGpu();
  let last: Uint8Array | null = null;
  const save = (kind: string, bytes: Uint8Array) => {
    if (kind === "last") last = bytes;
  };
  const result = await trainModel(gpu, data, { ...options, epochs: 1, average: 0.9, save });
  const checkpoint = decodeModel(last!);
  const average = checkpoint.training?.average;
  assert.ok(average, "the last checkpoint has no optimizer.average");
  // After one epoch the best model is that epoch's: the average, not the raw weights.
  const kept = result.model.tensors["crf.transitions"];
  const raw = checkpoint.tensors["crf.transitions"];
  assert.notDeepEqual([...kept], [...raw], "the kept model equals the raw weights");
  const layout = parameterLayout(checkpoint.config, {
    words: checkpoint.words.size,
    chars: checkpoint.chars.size,
    casings: CASING_CLASSES.length,
    tags: checkpoint.tags.size,
  });
  const averaged = toPytorchTensors(layout.unpack(average));
  for (const [name, tensor] of Object.entries(result.model.tensors)) {
    assert.deepEqual([...tensor], [...averaged[name]], `${name} is not the saved average`);
  }

  const plain = await trainModel(gpu, data, { ...options, epochs: 1, average: 0, save });
  assert.equal(decodeModel(last!).training?.average, undefined);
  assert.deepEqual(
    [...plain.model.tensors["crf.transitions"]],
    [...decodeModel(last!).tensors["crf.transitions"]],
    "without averaging the kept model is the raw one",
  );
  await assert.rejects(
    trainModel(gpu, data, { ...options, epochs: 2, resume: last! }),
    /trained without it/,
  );
});

Deno.test("an abort (Ctrl-C) stops after the current step and still saves", async () => {
  const gpu = await acquireGpu();
  const controller = new AbortController();
  const saved: string[] = [];
  const result = await trainModel(gpu, data, {
    ...options,
    epochs: 5,
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === "epoch" && e.epoch === 1) controller.abort();
    },
    save: (kind) => {
      saved.push(kind);
    },
  });
  assert.equal(result.stopReason, "interrupted");
  assert.equal(result.epochs, 1);
  assert.ok(saved.includes("last") && saved.includes("best"), saved.join());
});

Deno.test("early stopping ends training after `patience` epochs without a better dev F1", async () => {
  const gpu = await acquireGpu();
  // lr 0: nothing improves after the first epoch.
  const result = await trainModel(gpu, data, { ...options, lr: 1e-9, epochs: 10, patience: 2 });
  assert.match(result.stopReason, /no better dev F1 in 2 epochs/);
  assert.ok(result.epochs <= 4, `ran ${result.epochs} epochs`);
});

Deno.test("unkReplace feeds words seen once as <unk>, deterministically for a seed", async () => {
  const gpu = await acquireGpu();
  // One sentence with words seen once, so replacement changes the batches.
  const rare = {
    ...data,
    train: [...data.train, {
      tokens: ["Quux", "went", "to", "Zork"],
      tags: ["B-PER", "O", "O", "B-LOC"],
    }],
  };
  const run = async (unkReplace: number) => {
    const events: TrainEvent[] = [];
    await trainModel(gpu, rare, {
      ...options,
      epochs: 2,
      unkReplace,
      onEvent: (e) => events.push(e),
    });
    return losses(events);
  };
  const a = await run(1);
  assert.deepEqual(await run(1), a);
  assert.notDeepEqual(await run(0), a);
  await assert.rejects(
    trainModel(gpu, rare, { ...options, epochs: 1, unkReplace: 2 }),
    /unkReplace/,
  );
});

import assert from "node:assert/strict";
import type { Sentence } from "../src/data/sentence.ts";
import { acquireGpu, type Gpu, gpuMemory } from "../src/gpu/mod.ts";
import { decodeModel } from "../src/model/checkpoint.ts";
import { NerGraph, parameterLayout, toPytorchTensors } from "../src/model/graph.ts";
import {
  type TrainData,
  type TrainEvent,
  trainModel,
  type TrainOptions,
} from "../src/train/trainer.ts";
import { bytesPerRow, fitBatches } from "../src/train/batching.ts";
import { resolveTrainOptions } from "../src/train/options.ts";
import { resolveConfig } from "../src/model/config.ts";
import { Tagger } from "../src/api/tagger.ts";
import { evaluateModel } from "../src/api/evaluate.ts";
import { fitTemperature } from "../src/eval/calibration.ts";
import { tinySentences } from "./tagger_fixture.ts";
import { modelSizes, TINY_TRAIN_OPTIONS as options } from "./fixtures.ts";

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
function losses(events: TrainEvent[]): number[] {
  return events.flatMap((e) => e.type === "epoch" ? [e.loss] : []);
}

/** Trains, keeping every event. */
async function trainRecording(gpu: Gpu, corpus: TrainData, opts: TrainOptions) {
  const events: TrainEvent[] = [];
  const result = await trainModel(gpu, corpus, { ...opts, onEvent: (e) => events.push(e) });
  return { result, events };
}

/** Trains, keeping the last checkpoint saved (there must be one). */
async function trainSavingLast(gpu: Gpu, corpus: TrainData, opts: TrainOptions) {
  let last: Uint8Array | null = null;
  const result = await trainModel(gpu, corpus, {
    ...opts,
    save: (kind, bytes) => {
      if (kind === "last") last = bytes;
    },
  });
  assert.ok(last, "no last checkpoint was saved");
  return { result, last: last as Uint8Array };
}

/** One sentence of `length` tokens: `words`, tagged `tags`, over and over. */
function repeated(length: number, words: string[], tags: string[]): Sentence {
  return {
    tokens: Array.from({ length }, (_, i) => words[i % words.length]),
    tags: Array.from({ length }, (_, i) => tags[i % tags.length]),
  };
}

/** The clause the default-model tests repeat into one long sentence. */
const LONG_WORDS = ["In", "Rome", "Kim", "smiled", "."];
const LONG_TAGS = ["O", "B-LOC", "B-PER", "O", "O"];

/**
 * Trains the default model (H = 100) for one epoch on a few short sentences and `long`,
 * which dev holds too; checks the model's size, a finite loss and a dev F1 in [0, 1].
 */
async function trainDefaultWith(gpu: Gpu, long: Sentence, extra: Partial<TrainOptions>) {
  const result = await trainModel(
    gpu,
    { train: [...corpus(15, 1), long], dev: [...corpus(4, 2), long] },
    { batchSize: 8, epochs: 1, seed: 3, patience: 0, ...extra },
  );
  assert.equal(result.model.config.hidden, 100);
  assert.ok(Number.isFinite(result.history[0].loss), `loss ${result.history[0].loss}`);
  assert.ok(result.bestDevF1 >= 0 && result.bestDevF1 <= 1, `dev F1 ${result.bestDevF1}`);
  return result;
}

Deno.test("training is deterministic for a seed, learns the data, and reports test F1", async () => {
  const gpu = await acquireGpu();
  const { result: first, events: a } = await trainRecording(gpu, data, { ...options, epochs: 4 });
  const { events: b } = await trainRecording(gpu, data, { ...options, epochs: 4 });
  assert.deepEqual(losses(a), losses(b));
  assert.ok(losses(a)[3] < losses(a)[0], `loss did not fall: ${losses(a)}`);
  assert.ok(first.test, "no test report");
  assert.ok(first.bestDevF1 > 0.5, `dev F1 ${first.bestDevF1}`);
  const model = decodeModel(first.bytes);
  assert.equal(model.tags.items.join(), "O,B-LOC,B-PER");
});

Deno.test("resuming from the last checkpoint continues exactly where training stopped", async () => {
  const gpu = await acquireGpu();
  const { events: full } = await trainRecording(gpu, data, { ...options, epochs: 3 });
  const { last } = await trainSavingLast(gpu, data, { ...options, epochs: 2 });
  const { result, events: resumed } = await trainRecording(gpu, data, {
    ...options,
    epochs: 3,
    resume: last,
  });
  assert.equal(result.epochs, 3);
  assert.deepEqual(losses(resumed), [losses(full)[2]]);
  // Dev F1 is measured on the averaged weights, restored from the checkpoint too.
  const devF1 = (events: TrainEvent[]) => events.flatMap((e) => e.type === "epoch" ? [e.dev] : []);
  assert.deepEqual(devF1(resumed), [devF1(full)[2]]);
});

Deno.test("the kept model is the weight average; a run without averaging cannot resume with it", async () => {
  const gpu = await acquireGpu();
  const { result, last } = await trainSavingLast(gpu, data, {
    ...options,
    epochs: 1,
    average: 0.9,
  });
  const checkpoint = decodeModel(last);
  const average = checkpoint.training?.average;
  assert.ok(average, "the last checkpoint has no optimizer.average");
  // After one epoch the best model is that epoch's: the average, not the raw weights.
  const kept = result.model.tensors["crf.transitions"];
  const raw = checkpoint.tensors["crf.transitions"];
  assert.notDeepEqual([...kept], [...raw], "the kept model equals the raw weights");
  const layout = parameterLayout(checkpoint.config, modelSizes(checkpoint));
  const averaged = toPytorchTensors(layout.unpack(average));
  for (const [name, tensor] of Object.entries(result.model.tensors)) {
    assert.deepEqual([...tensor], [...averaged[name]], `${name} is not the saved average`);
  }

  const plain = await trainSavingLast(gpu, data, { ...options, epochs: 1, average: 0 });
  assert.equal(decodeModel(plain.last).training?.average, undefined);
  assert.deepEqual(
    [...plain.result.model.tensors["crf.transitions"]],
    [...decodeModel(plain.last).tensors["crf.transitions"]],
    "without averaging the kept model is the raw one",
  );
  await assert.rejects(
    trainModel(gpu, data, { ...options, epochs: 2, resume: plain.last }),
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
  const run = async (unkReplace: number) =>
    losses((await trainRecording(gpu, rare, { ...options, epochs: 2, unkReplace })).events);
  const a = await run(1);
  assert.deepEqual(await run(1), a);
  assert.notDeepEqual(await run(0), a);
  await assert.rejects(
    trainModel(gpu, rare, { ...options, epochs: 1, unkReplace: 2 }),
    /unkReplace/,
  );
});

Deno.test("a resumed run keeps the best weights when no epoch beats them, and tests them", async () => {
  const gpu = await acquireGpu();
  const { result: first, last } = await trainSavingLast(gpu, data, { ...options, epochs: 2 });
  assert.ok(first.bestDevF1 > 0, `dev F1 ${first.bestDevF1}`);
  const checkpoint = decodeModel(last);
  assert.ok(checkpoint.training?.best, "the last checkpoint holds no best weights");
  for (const [name, tensor] of Object.entries(first.model.tensors)) {
    assert.deepEqual([...checkpoint.training.best[name]], [...tensor], `best.${name}`);
  }
  // A learning rate that wrecks the model: no resumed epoch can beat the best.
  const resumed = await trainModel(gpu, data, { ...options, epochs: 4, lr: 50, resume: last });
  assert.equal(resumed.epochs, 4);
  assert.ok(resumed.history.slice(2).every((e) => !e.best), "a wrecked epoch was kept as best");
  assert.equal(resumed.bestEpoch, first.bestEpoch);
  assert.equal(resumed.bestDevF1, first.bestDevF1);
  for (const [name, tensor] of Object.entries(first.model.tensors)) {
    assert.deepEqual([...resumed.model.tensors[name]], [...tensor], `${name} was replaced`);
  }
  assert.equal(resumed.test!.entities.overall.f1, first.test!.entities.overall.f1);
});

Deno.test("an interrupt inside an epoch, then resume, gives the uninterrupted curve", async () => {
  const gpu = await acquireGpu();
  const curve = (events: readonly TrainEvent[]) =>
    events.flatMap((e) => e.type === "epoch" && !e.partial ? [[e.epoch, e.loss, e.dev]] : []);
  const opts = { ...options, lossEvery: 1, epochs: 3 };
  const { events: full } = await trainRecording(gpu, data, opts);
  // 24 sentences in batches of 8: 3 steps per epoch; stop after step 5, inside epoch 2.
  const controller = new AbortController();
  let last: Uint8Array | null = null;
  const saved: string[] = [];
  const cut = await trainModel(gpu, data, {
    ...opts,
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === "loss" && e.step === 5) controller.abort();
    },
    save: (kind, bytes) => {
      saved.push(kind);
      if (kind === "last") last = bytes;
    },
  });
  assert.equal(cut.stopReason, "interrupted");
  assert.deepEqual(cut.history.at(-1)?.partial, { batches: 2, of: 3 });
  assert.equal(cut.epochs, 2);
  const state = decodeModel(last!).training!.state as { epoch: number; step: number };
  assert.deepEqual([state.epoch, state.step], [1, 3], "last is not the start of epoch 2");
  const { result, events: resumed } = await trainRecording(gpu, data, { ...opts, resume: last! });
  assert.deepEqual(curve(resumed), curve(full).slice(1));
  assert.deepEqual(curve(result.history), curve(full));
});

Deno.test("a time budget always runs a step; an epoch it cuts short is evaluated as partial", async () => {
  const gpu = await acquireGpu();
  const result = await trainModel(gpu, data, { ...options, epochs: 3, timeBudget: 1e-9 });
  assert.match(result.stopReason, /time budget of 1e-9 s reached/);
  assert.equal(result.epochs, 1);
  assert.deepEqual(result.history.map((e) => e.partial), [{ batches: 1, of: 3 }]);
  assert.ok(result.test, "no test report");
  await assert.rejects(
    trainModel(gpu, data, { ...options, timeBudget: 0 }),
    /timeBudget: expected a number of seconds > 0, found 0/,
  );
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    trainModel(gpu, data, { ...options, signal: controller.signal }),
    /No model was trained: interrupted before the first training step/,
  );
});

Deno.test("warnings name dev or test tags unseen in training and an empty test set", async () => {
  const gpu = await acquireGpu();
  const misc = { tokens: ["Zorg", "is", "odd"], tags: ["B-MISC", "O", "O"] };
  const { result, events } = await trainRecording(
    gpu,
    { ...data, dev: [...data.dev, misc], test: [] },
    { ...options, epochs: 1 },
  );
  const warnings = events.flatMap((e) => e.type === "warning" ? [e.message] : []);
  assert.deepEqual(warnings, result.warnings);
  assert.ok(warnings.some((w) => /the dev data has tags never seen in training: B-MISC/.test(w)));
  assert.ok(warnings.includes("the test data holds no sentences: no test report"));
  assert.equal(result.test, undefined);
  assert.ok(!events.some((e) => e.type === "stop" && /coverage/.test(e.reason)));
});

Deno.test("resuming or fine-tuning with model options that disagree with the model fails", async () => {
  const gpu = await acquireGpu();
  const { last } = await trainSavingLast(gpu, data, { ...options, epochs: 1 });
  await assert.rejects(
    trainModel(gpu, data, { ...options, config: { ...options.config, hidden: 7 }, resume: last }),
    /Cannot resume: the options ask for hidden 7, the checkpoint has hidden 6/,
  );
  await assert.rejects(
    trainModel(gpu, data, { ...options, scheme: "IOBES", initFrom: last }),
    /Cannot fine-tune: the options ask for the IOBES scheme, the initial model uses IOB2/,
  );
});

Deno.test("trainModel destroys its graph, also when it fails", async () => {
  const gpu = await acquireGpu();
  const destroy = NerGraph.prototype.destroy;
  let destroyed = 0;
  NerGraph.prototype.destroy = function (this: NerGraph) {
    destroyed++;
    destroy.call(this);
  };
  try {
    const before = gpuMemory(gpu).liveBytes;
    let during = 0;
    const measure = (e: TrainEvent) => {
      if (e.type === "start") during = gpuMemory(gpu).liveBytes;
    };
    await trainModel(gpu, data, { ...options, epochs: 1, onEvent: measure });
    // The training graph and the graph of the Tagger that fits the calibration on dev.
    assert.equal(destroyed, 2);
    assert.ok(gpuMemory(gpu).liveBytes < during, `live ${before} → ${during}, not freed`);
    await assert.rejects(
      trainModel(gpu, data, {
        ...options,
        epochs: 1,
        onEvent: (e) => {
          if (e.type === "epoch") throw new Error("log full");
        },
      }),
      /log full/,
    );
    assert.equal(destroyed, 3, "a failed run kept its graph");
  } finally {
    NerGraph.prototype.destroy = destroy;
  }
});

Deno.test("batches shrink so that a long sentence fits the binding limit, in training and evaluation", async () => {
  const fit = fitBatches({ batchSize: 32, evalBatchSize: 128 }, 1000, 3200, 128 * 2 ** 20);
  assert.deepEqual([fit.batchSize, fit.evalBatchSize], [32, 41]);
  assert.ok(fit.largestBuffer <= 128 * 2 ** 20);
  assert.match(fit.note!, /longest sentence has 1000 tokens: batches hold at most 41 sentences/);
  const same = fitBatches({ batchSize: 32, evalBatchSize: 128 }, 124, 3200, 128 * 2 ** 20);
  assert.deepEqual([same.batchSize, same.evalBatchSize, same.note], [32, 128, undefined]);
  assert.throws(
    () => fitBatches({ batchSize: 1, evalBatchSize: 1 }, 50000, 3200, 2 ** 27),
    /50000 tokens/,
  );

  // On the GPU: a limit that holds 3 sentences of the longest length cuts every batch to 3.
  const gpu = await acquireGpu();
  const long = { tokens: Array(40).fill("Ada"), tags: Array(40).fill("B-PER") };
  const row = bytesPerRow(resolveConfig(options.config), 3);
  const { result, events } = await trainRecording(gpu, { ...data, dev: [...data.dev, long] }, {
    ...options,
    epochs: 1,
    maxBindingBytes: 3 * 40 * row,
  });
  const start = events.find((e) => e.type === "start");
  assert.ok(start?.type === "start");
  assert.deepEqual([start.batchSize, start.evalBatchSize], [3, 3]);
  assert.ok(result.warnings.some((w) => /batches hold at most 3 sentences/.test(w)));
});

// At hidden 16: llvmpipe's loop limit bounds the LSTM backward kernel at T·(H + 44) iterations
// per invocation (src/ops/lstm.ts), so 1,000 tokens fit up to H = 20 on this adapter.
Deno.test("a 1,000-token sentence trains and is evaluated, with the evaluation batch cut to fit", async () => {
  const gpu = await acquireGpu();
  const long = repeated(1000, ["Ada", "went", "to", "Oslo", "."], [
    "B-PER",
    "O",
    "O",
    "B-LOC",
    "O",
  ]);
  const { result, events } = await trainRecording(
    gpu,
    { train: [...data.train, long], dev: [long], test: [long] },
    { ...options, config: { ...options.config, hidden: 16 }, epochs: 1 },
  );
  assert.ok(Number.isFinite(result.history[0].loss), `loss ${result.history[0].loss}`);
  assert.ok(result.test, "no test report");
  assert.equal(result.test.counts.tokens, 1000);
  const start = events.find((e) => e.type === "start");
  assert.ok(start?.type === "start");
  // 128 sentences of 1,000 tokens would pass 65,535 tokens per batch on the software adapter.
  if (gpu.adapter.isFallbackAdapter) assert.equal(start.evalBatchSize, 65);
  const rows = start.evalBatchSize * 1000;
  const limit = gpu.device.limits.maxStorageBufferBindingSize;
  assert.ok(rows * bytesPerRow(result.model.config, 3) <= limit);
});

Deno.test("weight decay is recorded in the checkpoint and a resume keeps it unless told otherwise", async () => {
  const gpu = await acquireGpu();
  const decayed = { ...options, weightDecay: 0.5 };
  const { events: full } = await trainRecording(gpu, data, { ...decayed, epochs: 2 });
  const { last } = await trainSavingLast(gpu, data, { ...decayed, epochs: 1 });
  assert.equal(decodeModel(last).summary?.weightDecay, 0.5);
  // Left out on resume: the checkpoint's λ, so the curve is the uninterrupted one.
  const { result: resumed, events: kept } = await trainRecording(gpu, data, {
    ...options,
    epochs: 2,
    resume: last,
  });
  assert.deepEqual(losses(kept), [losses(full)[1]]);
  assert.equal(resumed.model.summary?.weightDecay, 0.5);
  // Given on resume, it wins; without decay epoch 2 trains differently.
  const { events: changed } = await trainRecording(gpu, data, {
    ...options,
    weightDecay: 0,
    epochs: 2,
    resume: last,
  });
  assert.notDeepEqual(losses(changed), [losses(full)[1]]);
  assert.throws(
    () => resolveTrainOptions({ weightDecay: -1 }),
    /weightDecay: expected a number ≥ 0, found -1/,
  );
});

Deno.test("a 1,000-token sentence trains and evaluates with the default model (H = 100)", async () => {
  const gpu = await acquireGpu();
  // On the software adapter the LSTM backward splits its time loop for this batch (one
  // dispatch would pass 65,535 loop iterations at T > 455 with H = 100).
  const events: TrainEvent[] = [];
  await trainDefaultWith(gpu, repeated(1000, LONG_WORDS, LONG_TAGS), {
    onEvent: (e) => events.push(e),
  });
  assert.ok(events.some((e) => e.type === "epoch"), "no epoch was evaluated");
});

Deno.test("a 3,000-token sentence trains, evaluates and tags whole with the default model (H = 100)", async () => {
  const gpu = await acquireGpu();
  // On the software adapter both LSTM recurrences split their time loops for this batch (one
  // forward dispatch would pass 65,535 loop iterations at T > 1,452 with H = 100).
  const long = repeated(3000, LONG_WORDS, LONG_TAGS);
  const result = await trainDefaultWith(gpu, long, { calibrate: false });
  using tagger = await Tagger.fromModel(gpu, result.model);
  const [tagged] = await tagger.tagTokens([long.tokens]);
  assert.equal(tagged.tags.length, 3000);
  // Each token's marginals are exp(α + β − log Z) in float32 with |log Z| in the thousands
  // here: their sums drift from 1 by a few ulps of log Z, accumulated over the steps (a
  // random default model: 2e-3 at 500 tokens, 1e-2 at 1,500, 2e-2 to 6e-2 at 2,000 to 3,000).
  const K = tagger.labels.length;
  let worst = 0;
  for (let t = 0; t < 3000; t++) {
    const row = tagged.marginals.subarray(t * K, (t + 1) * K);
    worst = Math.max(worst, Math.abs(row.reduce((a, b) => a + b, 0) - 1));
    assert.ok(tagger.labels.includes(tagged.tags[t]), `token ${t}: tag ${tagged.tags[t]}`);
  }
  assert.ok(worst < 0.1, `marginals sum to 1 ± ${worst}`);
});

Deno.test("calibration: a temperature fitted on dev after training, kept only if it lowers the dev ECE", async () => {
  const gpu = await acquireGpu();
  // The tiny Tagger sentences, a third held out as dev; two epochs leave the span scores
  // over-confident there (τ > 1).
  const all = tinySentences();
  const dev = all.filter((_, i) => i % 3 === 0);
  const cal = { train: all.filter((_, i) => i % 3 !== 0), dev };
  const small: TrainOptions = {
    config: { wordDim: 8, casingDim: 0, charFeatures: "none", hidden: 8 },
    batchSize: 8,
    lr: 0.02,
    patience: 0,
    epochs: 2,
  };
  const events: TrainEvent[] = [];
  const on = await trainModel(gpu, cal, { ...small, onEvent: (e) => events.push(e) });
  const off = await trainModel(gpu, cal, { ...small, calibrate: false });
  // The fit happens after training, on the chosen model: the weights are the same bit for bit.
  assert.deepEqual(on.model.tensors, off.model.tensors);
  assert.equal(off.calibration, undefined);
  assert.equal(off.model.calibration, undefined);
  assert.equal("calibration" in off.model.summary!, false);
  const d = on.calibration!;
  assert.ok(d, "the default run records a calibration decision");
  assert.deepEqual(events.filter((e) => e.type === "calibration"), [{ type: "calibration", ...d }]);
  assert.deepEqual(on.model.summary!.calibration, d);
  // The decision recomputed from the dev set with a Tagger of the chosen weights, raw scores.
  using tagger = await Tagger.fromModel(gpu, off.model);
  const raw = await evaluateModel(tagger, dev);
  assert.ok(raw.spans.length > 0, "the model predicts spans on dev");
  assert.equal(d.spans, raw.spans.length);
  assert.ok(Math.abs(d.devEce - raw.calibration.ece) < 1e-12);
  assert.ok(Math.abs(d.temperature - fitTemperature(raw.spans)) < 1e-9);
  const scaled = await evaluateModel(tagger, dev, { temperature: d.temperature });
  assert.ok(Math.abs(d.devEceCalibrated - scaled.calibration.ece) < 1e-12);
  assert.equal(d.reason, undefined);
  assert.ok(d.temperature > 1, `τ = ${d.temperature}`);
  assert.ok(d.devEceCalibrated < d.devEce, `dev ECE ${d.devEce} -> ${d.devEceCalibrated}`);
  assert.equal(d.applied, true);
  const stored = decodeModel(on.bytes, "on.safetensors").calibration;
  assert.deepEqual(stored, { temperature: d.temperature, fittedOn: "dev", spans: d.spans });
  assert.deepEqual(on.model.calibration, stored);
  assert.throws(
    () => resolveTrainOptions({ calibrate: "yes" as unknown as boolean }),
    /calibrate: expected true or false, found yes/,
  );
});

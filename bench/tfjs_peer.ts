/**
 * The benchmark's peer: TensorFlow.js 4.22 (from npm) training and running an
 * equivalent BiLSTM tagger with a softmax head (TF.js has no CRF) on the same
 * shapes and the same generated corpus as ours, on its `webgpu` backend (the
 * same adapter as ours) and its `wasm` backend (the CPU choice a JavaScript
 * user would make); `cpu` is the reference it is checked against.
 *
 * Model: Embedding(V, E, mask_zero) → Bidirectional(LSTM(H), concat) →
 * TimeDistributed(Dense(K)) → softmax cross-entropy over real tokens, Adam
 * (lr 1e-3). Batches are length-bucketed and padded to the batch's longest
 * sentence by the library's own `makeBatches`, so both sides see the same
 * batches. Throughput counts real (non-pad) tokens only.
 *
 * Before timing, each backend trains a tiny padded batch for three steps from
 * the same weights as the `cpu` backend and must give the same losses and
 * logits; a backend that does not is reported with `valid: false` (or, on
 * `webgpu`, rerun without the LSTM padding mask when that is what breaks, see
 * tfjs issue 8638, and reported with `masked: false`).
 *
 * Run: `deno run -A bench/tfjs_peer.ts --help`.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- pinned npm peer; deno.json has no imports map entry for it
import type * as TF from "npm:@tensorflow/tfjs@4.22.0";
import { type Batch, type EncodedSentence, makeBatches } from "../src/data/batch.ts";
import { mulberry32 } from "../src/data/random.ts";
import { syntheticCorpus } from "./synthetic.ts";
import { benchArgs } from "./common.ts";

/** The TF.js version this peer pins. */
export const TFJS_VERSION = "4.22.0";

/** A TF.js backend the peer can run on. */
export type TfjsBackend = "wasm" | "webgpu" | "cpu";

/** Options for {@linkcode benchTfjs}. */
export interface TfjsBenchOptions {
  /** The TF.js backend. */
  backend: TfjsBackend;
  /** E, embedding size. Default 100. */
  embedding?: number;
  /** H, LSTM hidden size per direction. Default 100. */
  hidden?: number;
  /** K, number of tags. Default 9. */
  tags?: number;
  /** V, word vocabulary size (id 0 is padding). Default 20,000. */
  vocab?: number;
  /** Batch sizes to time. Default `[32, 256]`. */
  batchSizes?: number[];
  /** Wall-clock budget per (mode, batch size), after one warm-up step. Default 10. */
  seconds?: number;
  /** Seed of the corpus, the batch order and the initial weights. Default 1. */
  seed?: number;
  /** Sentences in the generated corpus. Default 14,041 (CoNLL-2003 train's count). */
  sentences?: number;
  /** What to time. Default both, training first. */
  modes?: ("train" | "infer")[];
  /** Check the backend against `cpu` on a tiny case before timing. Default true. */
  validate?: boolean;
  /** Where progress lines go. Default `console.error`; pass `() => {}` for silence. */
  log?: (line: string) => void;
}

/** One measured configuration. */
export interface TfjsBenchResult {
  /** Always `"tfjs"`. */
  peer: "tfjs";
  /** TF.js version. */
  version: string;
  /** The backend. */
  backend: TfjsBackend;
  /** What ran it: the adapter (webgpu), SIMD and threads (wasm). */
  device: string;
  /** `train`: forward + backward + Adam. `infer`: forward + argmax, read back. */
  mode: "train" | "infer";
  /** B, sentences per batch. */
  batch: number;
  /** E. */
  embedding: number;
  /** H per direction. */
  hidden: number;
  /** LSTM layers (always 1). */
  layers: number;
  /** K. */
  tags: number;
  /** V. */
  vocab: number;
  /** Always `"softmax"`: TF.js has no CRF. */
  head: "softmax";
  /** Real (non-pad) tokens per second. */
  tokensPerSecond: number;
  /** Real tokens processed in the timed window. */
  tokens: number;
  /** Padded positions (B × T summed) processed in the timed window. */
  paddedTokens: number;
  /** Batches processed in the timed window. */
  steps: number;
  /** Length of the timed window in seconds. */
  seconds: number;
  /** Whether the LSTM used the padding mask (false: it also ran over padding). */
  masked: boolean;
  /** Whether the backend matched `cpu` on the validation case (or validation was skipped). */
  valid: boolean;
  /** Last training loss (mean cross-entropy per real token), for training rows. */
  loss?: number;
  /** The validation against `cpu`, in words (errors found, what was done about them). */
  validation?: string;
  /** Short remarks for a table cell. */
  note?: string;
}

type Tf = typeof TF;
type LayersModel = TF.LayersModel;

interface Shape {
  vocab: number;
  embedding: number;
  hidden: number;
  tags: number;
  masked: boolean;
}

let loaded: Promise<{ tf: Tf; threads: () => number }> | undefined;

/**
 * Loads TF.js and its wasm and webgpu backends once. The wasm backend's
 * `.wasm` files are read from the npm package in Deno's cache (no network at
 * run time), and a plain-JS `UnsortedSegmentSum` is registered for it (the
 * gradient of the embedding gather; the stock wasm backend lacks it).
 */
function loadTfjs(): Promise<{ tf: Tf; threads: () => number }> {
  loaded ??= (async () => {
    // deno-lint-ignore no-import-prefix
    const tf = await import("npm:@tensorflow/tfjs@4.22.0");
    // deno-lint-ignore no-import-prefix
    const wasm = await import("npm:@tensorflow/tfjs-backend-wasm@4.22.0");
    // deno-lint-ignore no-import-prefix
    await import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
    // The package's entry point sits in dist/, beside the three .wasm binaries.
    const dist = new URL(".", import.meta.resolve("npm:@tensorflow/tfjs-backend-wasm@4.22.0"));
    wasm.setWasmPaths(dist.href);
    registerWasmSegmentSum(tf);
    return { tf: tf as unknown as Tf, threads: wasm.getThreadsCount };
  })();
  return loaded;
}

/**
 * `UnsortedSegmentSum` for the wasm backend in plain JS on the backend's
 * memory: `out[s, …] = Σ_{i: ids[i] = s} x[i, …]`. Correctness over speed: it
 * is O(N·E) with one pass and no vocabulary-wide loop, but it copies through
 * JS arrays rather than running in wasm.
 */
function registerWasmSegmentSum(tf: Tf): void {
  if (tf.getKernel("UnsortedSegmentSum", "wasm")) return;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, segmentIds } = inputs as { x: TF.TensorInfo; segmentIds: TF.TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      // deno-lint-ignore no-explicit-any
      const b = backend as any;
      const xs = b.readSync(x.dataId) as Float32Array | Int32Array;
      const ids = b.readSync(segmentIds.dataId) as Int32Array;
      const inner = ids.length === 0 ? 0 : xs.length / ids.length;
      const shape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
      const out = x.dtype === "int32"
        ? new Int32Array(numSegments * inner)
        : new Float32Array(numSegments * inner);
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue;
        const src = i * inner, dst = s * inner;
        for (let j = 0; j < inner; j++) out[dst + j] += xs[src + j];
      }
      return b.makeOutput(shape, x.dtype, undefined, out);
    },
  });
}

/** Switches TF.js to a backend and describes what runs it. */
async function useBackend(tf: Tf, backend: TfjsBackend): Promise<string> {
  if (!(await tf.setBackend(backend))) {
    throw new Error(`Cannot start the TF.js ${backend} backend: setBackend returned false`);
  }
  await tf.ready();
  if (backend === "wasm") {
    const { threads } = await loadTfjs();
    const simd = tf.env().getBool("WASM_HAS_SIMD_SUPPORT") ? "SIMD" : "no SIMD";
    return `wasm (${simd}, ${threads()} thread(s))`;
  }
  if (backend === "webgpu") {
    const adapter = await navigator.gpu?.requestAdapter();
    const info = adapter?.info;
    const name = [info?.vendor, info?.architecture, info?.device, info?.description]
      .filter((s) => s).join(" ");
    return `webgpu (${name || "unknown adapter"})`;
  }
  return "cpu (JavaScript)";
}

/** Builds the BiLSTM-softmax tagger with weights from a seeded generator. */
function buildModel(tf: Tf, shape: Shape, seed: number): LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.embedding({
    inputDim: shape.vocab,
    outputDim: shape.embedding,
    maskZero: shape.masked,
    inputShape: [null],
  }));
  model.add(tf.layers.bidirectional({
    layer: tf.layers.lstm({
      units: shape.hidden,
      returnSequences: true,
      recurrentInitializer: "glorotUniform", // the default orthogonal one is slow at H = 256
    }) as TF.RNN,
    mergeMode: "concat",
  }));
  model.add(tf.layers.timeDistributed({ layer: tf.layers.dense({ units: shape.tags }) }));
  setSeededWeights(tf, model, seed);
  return model;
}

/**
 * Overwrites every weight with uniform(−a, a), a = √(6 / (fan_in + fan_out))
 * for matrices and 0 for biases (LSTM forget-gate bias 1), drawn from
 * mulberry32(seed): the same numbers on every backend.
 */
function setSeededWeights(tf: Tf, model: LayersModel, seed: number): void {
  const random = mulberry32(seed);
  const weights = model.weights.map((w) => {
    const n = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
    const values = new Float32Array(n);
    if (w.shape.length === 2) {
      const [fanIn, fanOut] = w.shape as [number, number];
      const a = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < n; i++) values[i] = (2 * random() - 1) * a;
    } else if (/lstm/i.test(w.name)) {
      values.fill(1, n / 4, n / 2); // LSTM bias (4H, gates i, f, c, o): forget gate 1
    }
    return tf.tensor(values, w.shape as number[], "float32");
  });
  model.setWeights(weights);
  tf.dispose(weights);
}

/** (B, T) arrays of a batch as tensors, with T at least 2 (a T = 1 batch crashes backprop). */
function batchTensors(tf: Tf, batch: Batch) {
  const b = batch.size, t = batch.maxLength;
  const tt = Math.max(2, t);
  let words = batch.wordIds, tags = batch.tagIds, mask = batch.mask;
  if (tt !== t) {
    words = new Int32Array(b * tt);
    tags = new Int32Array(b * tt);
    mask = new Float32Array(b * tt);
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < t; j++) {
        words[i * tt + j] = batch.wordIds[i * t + j];
        tags[i * tt + j] = batch.tagIds[i * t + j];
        mask[i * tt + j] = batch.mask[i * t + j];
      }
    }
  }
  return {
    x: tf.tensor2d(words, [b, tt], "int32"),
    y: tf.tensor2d(tags, [b, tt], "int32"),
    mask: tf.tensor2d(mask, [b, tt], "float32"),
    padded: b * tt,
  };
}

/** Mean cross-entropy over real tokens. */
function maskedLoss(
  tf: Tf,
  model: LayersModel,
  x: TF.Tensor,
  y: TF.Tensor,
  mask: TF.Tensor,
  tags: number,
): TF.Scalar {
  const logits = model.apply(x, { training: true }) as TF.Tensor3D; // (B, T, K)
  return tf.losses.softmaxCrossEntropy(
    tf.oneHot(y as TF.Tensor2D, tags),
    logits,
    mask,
    0,
    tf.Reduction.SUM_BY_NONZERO_WEIGHTS,
  ) as TF.Scalar;
}

/** One training step (forward + backward + Adam); returns the loss tensor. */
function trainStep(
  tf: Tf,
  model: LayersModel,
  optimizer: TF.Optimizer,
  t: ReturnType<typeof batchTensors>,
  tags: number,
): TF.Scalar {
  const vars = model.trainableWeights.map((w) => w.read() as TF.Variable);
  return optimizer.minimize(() => maskedLoss(tf, model, t.x, t.y, t.mask, tags), true, vars)!;
}

/** Forward + argmax: (B, T) predicted tags. */
function inferStep(tf: Tf, model: LayersModel, x: TF.Tensor): TF.Tensor {
  return tf.tidy(() => (model.apply(x) as TF.Tensor).argMax(-1));
}

/** A fixed tiny padded batch: lengths 5, 3, 2, 1. */
function tinyBatch(tags: number): Batch {
  const lengths = [5, 3, 2, 1];
  const random = mulberry32(99);
  const encoded: EncodedSentence[] = lengths.map((n) => ({
    words: Int32Array.from({ length: n }, () => 2 + Math.floor(random() * 17)),
    casing: new Int32Array(n),
    chars: Array.from({ length: n }, () => new Int32Array(0)),
    tags: Int32Array.from({ length: n }, () => Math.floor(random() * tags)),
  }));
  return makeBatches(encoded, { batchSize: 4, shuffle: false })[0];
}

/** Three Adam steps on the tiny batch; returns the losses and the final logits. */
async function tinyRun(tf: Tf, shape: Shape, seed: number) {
  const batch = tinyBatch(shape.tags);
  const model = buildModel(tf, shape, seed);
  const optimizer = tf.train.adam(0.01);
  const t = batchTensors(tf, batch);
  const losses: number[] = [];
  for (let i = 0; i < 3; i++) {
    const loss = trainStep(tf, model, optimizer, t, shape.tags);
    losses.push((await loss.data())[0]);
    loss.dispose();
  }
  const logitsT = tf.tidy(() =>
    (model.apply(t.x) as TF.Tensor).mul(t.mask.expandDims(-1)) as TF.Tensor
  );
  const logits = Array.from(await logitsT.data());
  tf.dispose([logitsT, t.x, t.y, t.mask]);
  optimizer.dispose();
  model.dispose();
  return { losses, logits };
}

/** Largest |a − b| / (1e-3 + |b|). */
function worstError(a: number[], b: number[]): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (1e-3 + Math.abs(b[i]));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
  }
  return worst;
}

/**
 * Checks a backend against `cpu` on the tiny case (E = 6, H = 5, V = 20, the
 * caller's K), masked and, if that fails, unmasked. Leaves `backend` selected.
 */
async function validateBackend(
  tf: Tf,
  backend: TfjsBackend,
  tags: number,
  seed: number,
  log: (line: string) => void,
): Promise<{ valid: boolean; masked: boolean; detail: string; note?: string }> {
  if (backend === "cpu") return { valid: true, masked: true, detail: "cpu is the reference" };
  const tolerance = 1e-3;
  const check = async (masked: boolean) => {
    const shape: Shape = { vocab: 20, embedding: 6, hidden: 5, tags, masked };
    await useBackend(tf, "cpu");
    const ref = await tinyRun(tf, shape, seed);
    await useBackend(tf, backend);
    const got = await tinyRun(tf, shape, seed);
    const error = Math.max(worstError(got.losses, ref.losses), worstError(got.logits, ref.logits));
    log(
      `validate ${backend} masked=${masked}: losses ${fmt(got.losses)} vs cpu ${
        fmt(ref.losses)
      }, worst relative error ${error.toExponential(2)}`,
    );
    return error;
  };
  const maskedError = await check(true);
  if (maskedError <= tolerance) {
    return {
      valid: true,
      masked: true,
      detail: `matches cpu (relative error ${maskedError.toExponential(1)})`,
    };
  }
  const reason = `with the padding mask, ${backend} differs from cpu after 3 Adam steps ` +
    `(relative error ${maskedError.toExponential(2)})`;
  if (backend !== "webgpu") {
    return { valid: false, masked: true, detail: reason, note: "differs from cpu" };
  }
  const plainError = await check(false);
  if (plainError <= tolerance) {
    return {
      valid: true,
      masked: false,
      detail: `${reason}, silently (tfjs issue 8638); without the mask it matches cpu ` +
        `(${plainError.toExponential(1)}), so the LSTM runs unmasked here: over padding too, ` +
        `the loss still masked`,
      note: "LSTM unmasked (tfjs 8638)",
    };
  }
  return {
    valid: false,
    masked: true,
    detail: `${reason}; without the mask too (${plainError.toExponential(1)})`,
    note: "differs from cpu",
  };
}

function fmt(xs: number[]): string {
  return `[${xs.map((x) => x.toFixed(5)).join(", ")}]`;
}

/**
 * Times TF.js training (forward + backward + Adam) and inference (forward +
 * argmax, read back) of an equivalent BiLSTM-softmax tagger on a generated
 * corpus with CoNLL-2003's sentence lengths, for each batch size, for a fixed
 * wall-clock budget after one warm-up step.
 *
 * @param options Backend, model shape, batch sizes, time budget and seed.
 * @returns One row per (mode, batch size), training rows first.
 */
export async function benchTfjs(options: TfjsBenchOptions): Promise<TfjsBenchResult[]> {
  const {
    backend,
    embedding = 100,
    hidden = 100,
    tags = 9,
    vocab = 20_000,
    batchSizes = [32, 256],
    seconds = 10,
    seed = 1,
    sentences = 14_041,
    modes = ["train", "infer"],
    validate = true,
    log = (line: string) => console.error(line),
  } = options;
  if (!["wasm", "webgpu", "cpu"].includes(backend)) {
    throw new RangeError(
      `Cannot run the TF.js peer: expected wasm, webgpu or cpu, found ${backend}`,
    );
  }
  for (const [name, v] of Object.entries({ embedding, hidden, tags, vocab, sentences })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(
        `Cannot run the TF.js peer: expected a positive integer ${name}, found ${v}`,
      );
    }
  }
  if (!(seconds > 0)) {
    throw new RangeError(`Cannot run the TF.js peer: expected seconds > 0, found ${seconds}`);
  }
  const { tf } = await loadTfjs();
  const check = validate
    ? await validateBackend(tf, backend, tags, seed, log)
    : { valid: true, masked: true, detail: "not validated", note: "not validated" };
  const device = await useBackend(tf, backend);
  const shape: Shape = { vocab, embedding, hidden, tags, masked: check.masked };

  const corpus = syntheticCorpus({ sentences, seed, vocab, tags });
  const encoded: EncodedSentence[] = corpus.wordIds.map((words, i) => ({
    words,
    casing: new Int32Array(words.length),
    chars: Array.from(words, () => new Int32Array(0)),
    tags: corpus.tagIds[i],
  }));

  const results: TfjsBenchResult[] = [];
  for (const mode of modes) {
    for (const batchSize of batchSizes) {
      const batches = makeBatches(encoded, { batchSize, seed });
      const model = buildModel(tf, shape, seed);
      const optimizer = tf.train.adam(1e-3);
      const step = async (batch: Batch): Promise<number | undefined> => {
        const t = batchTensors(tf, batch);
        let value: number | undefined;
        if (mode === "train") {
          const loss = trainStep(tf, model, optimizer, t, tags);
          value = (await loss.data())[0];
          loss.dispose();
        } else {
          const predicted = inferStep(tf, model, t.x);
          await predicted.data();
          predicted.dispose();
        }
        tf.dispose([t.x, t.y, t.mask]);
        return value;
      };
      // Warm-up (compiles shaders, allocates Adam state) on a batch of median length, then
      // time batches in the seeded order.
      const byLength = [...batches].sort((a, b) => a.maxLength - b.maxLength);
      const warm = performance.now();
      const warmBatch = byLength[byLength.length >> 1];
      await step(warmBatch);
      let perPosition = (performance.now() - warm) / (warmBatch.size * warmBatch.maxLength);
      let steps = 0, tokens = 0, padded = 0, loss: number | undefined;
      const start = performance.now();
      const deadline = start + seconds * 1000;
      // The first timed batch is the first in the seeded order that is not predicted to overrun
      // the window by more than the whole budget (else the shortest), so a slow backend does
      // not spend minutes on one long batch; per-token cost depends little on T.
      const budget = seconds * 1000;
      const cost = (b: Batch) => perPosition * b.size * Math.max(2, b.maxLength);
      let first = batches.findIndex((b) => cost(b) <= 2 * budget);
      if (first < 0) first = batches.indexOf(byLength[0]);
      for (;;) {
        const batch = batches[(first + steps) % batches.length];
        const positions = batch.size * Math.max(2, batch.maxLength);
        const now = performance.now();
        // Stop at the deadline, or earlier when the next batch would overrun it by more than
        // the whole budget (long batches on a slow backend); always time at least one batch.
        if (steps > 0 && (now >= deadline || now + cost(batch) > deadline + budget)) break;
        loss = await step(batch);
        perPosition = (performance.now() - now) / positions;
        steps++;
        tokens += batch.tokens;
        padded += positions;
      }
      const elapsed = (performance.now() - start) / 1000;
      optimizer.dispose();
      model.dispose();
      const row: TfjsBenchResult = {
        peer: "tfjs",
        version: TFJS_VERSION,
        backend,
        device,
        mode,
        batch: batchSize,
        embedding,
        hidden,
        layers: 1,
        tags,
        vocab,
        head: "softmax",
        tokensPerSecond: tokens / elapsed,
        tokens,
        paddedTokens: padded,
        steps,
        seconds: elapsed,
        masked: check.masked,
        valid: check.valid,
        validation: check.detail,
      };
      if (loss !== undefined) row.loss = loss;
      const notes = [check.note];
      if (backend === "wasm" && mode === "train") {
        notes.push("JS UnsortedSegmentSum");
      }
      if (first > 0) notes.push(`started at batch ${first} of the order (long ones skipped)`);
      if (steps < 3) notes.push(`${steps} batch(es) timed: noisy`);
      const note = notes.filter((n) => n).join("; ");
      if (note) row.note = note;
      results.push(row);
      log(
        `tfjs ${backend} ${mode} B=${batchSize} E=${embedding} H=${hidden}: ` +
          `${Math.round(row.tokensPerSecond)} tokens/s (${steps} batches, ${tokens} tokens, ` +
          `${elapsed.toFixed(1)} s${loss !== undefined ? `, loss ${loss.toFixed(3)}` : ""})`,
      );
    }
  }
  return results;
}

/**
 * Formats peer rows as a markdown table.
 *
 * @param rows Rows from {@linkcode benchTfjs}.
 * @returns The table, one line per row.
 */
export function tfjsTable(rows: readonly TfjsBenchResult[]): string {
  const lines = [
    "| backend | mode | B | E | H | K | tokens/s | batches | masked | valid | note |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.backend} | ${r.mode} | ${r.batch} | ${r.embedding} | ${r.hidden} | ${r.tags} | ` +
        `${Math.round(r.tokensPerSecond).toLocaleString("en-US")} | ${r.steps} | ${r.masked} | ` +
        `${r.valid} | ${r.note ?? ""} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const usage = `Usage: deno run -A bench/tfjs_peer.ts [options]

Times TensorFlow.js ${TFJS_VERSION} (npm) training (forward + backward + Adam) and
inference (forward + argmax) of a BiLSTM-softmax tagger on a seeded corpus with
CoNLL-2003's sentence lengths. Each backend is first checked against the cpu
backend on a tiny padded batch. Prints a markdown table (progress on stderr).

Options:
  --backend LIST   comma-separated: wasm, webgpu, cpu (default wasm,webgpu)
  --embedding E    embedding size (default 100)
  --hidden H       LSTM hidden size per direction (default 100)
  --tags K         number of tags (default 9)
  --vocab V        vocabulary size (default 20000)
  --batch LIST     comma-separated batch sizes (default 32,256)
  --seconds S      timed seconds per (mode, batch size) (default 10)
  --seed N         corpus, batch order and weight seed (default 1)
  --mode LIST      train, infer or both (default train,infer)
  --no-validate    skip the check against the cpu backend
  --json FILE      also write the rows as JSON
  -h, --help       show this help`;
  const values = benchArgs(usage, {
    backend: { type: "string", default: "wasm,webgpu" },
    embedding: { type: "string", default: "100" },
    hidden: { type: "string", default: "100" },
    tags: { type: "string", default: "9" },
    vocab: { type: "string", default: "20000" },
    batch: { type: "string", default: "32,256" },
    seconds: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    mode: { type: "string", default: "train,infer" },
    "no-validate": { type: "boolean" },
    json: { type: "string" },
  });
  const list = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x);
  const rows: TfjsBenchResult[] = [];
  for (const backend of list(values.backend)) {
    rows.push(
      ...await benchTfjs({
        backend: backend as TfjsBackend,
        embedding: Number(values.embedding),
        hidden: Number(values.hidden),
        tags: Number(values.tags),
        vocab: Number(values.vocab),
        batchSizes: list(values.batch).map(Number),
        seconds: Number(values.seconds),
        seed: Number(values.seed),
        modes: list(values.mode) as ("train" | "infer")[],
        validate: !values["no-validate"],
      }),
    );
  }
  const seen = new Set<string>();
  for (const r of rows) {
    if (seen.has(r.backend)) continue;
    seen.add(r.backend);
    console.log(`${r.device}: ${r.validation ?? ""}`);
  }
  console.log("");
  console.log(tfjsTable(rows));
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(rows, null, 2) + "\n");
}

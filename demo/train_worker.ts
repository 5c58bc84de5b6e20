/**
 * The demo's training worker: a dedicated Web Worker that trains (or
 * fine-tunes) a model on its own WebGPU device (`navigator.gpu` in the
 * worker), so the page's main thread only draws progress. Bundled by
 * `demo/main.ts` as `train_worker.<hash>.js`; the page starts it on the
 * first Train click and keeps it for later runs (its compiled pipelines are
 * reused).
 *
 * Messages in ({@linkcode ToWorker}): `train` with the sentences and
 * settings, `stop`. Messages out ({@linkcode FromWorker}): every
 * {@linkcode TrainEvent} of the run, then `done` with the model's bytes
 * (float32 as trained and float16 for download) or `error` with one line.
 *
 * @module
 */

import {
  acquireGpu,
  decodeModel,
  encodeModel,
  type Gpu,
  type TrainEvent,
  trainModel,
} from "../mod.ts";
import type { Sentence } from "../mod.ts";

/** What the page asks of the worker. */
export type ToWorker =
  | {
    type: "train";
    /** Tells this run's messages apart from an earlier run's. */
    id: number;
    train: Sentence[];
    dev: Sentence[];
    epochs: number;
    lr: number;
    batchSize: number;
    /** The hidden size of a model trained from scratch. */
    hidden: number;
    /** The model to fine-tune (safetensors bytes); absent: from scratch. */
    initFrom?: Uint8Array;
    /** The corpus name stored in the model. */
    name: string;
  }
  /** Ends the run after its current step (it still sends `done`). */
  | { type: "stop"; id: number };

/** A finished run, as the worker sends it. */
export interface TrainedModel {
  /** The best model's bytes, float32 as trained. */
  f32: Uint8Array;
  /** The same model with float16 weights (the page's default download). */
  f16: Uint8Array;
  /** Epochs run, why training stopped, and seconds spent in training steps. */
  epochs: number;
  stopReason: string;
  trainSeconds: number;
  /** Best dev F1 (fraction) and its 1-based epoch. */
  bestDevF1: number;
  bestEpoch: number;
}

/** What the worker tells the page. */
export type FromWorker =
  | { type: "event"; id: number; event: TrainEvent }
  | { type: "done"; id: number; model: TrainedModel }
  | { type: "error"; id: number; message: string };

/** The dedicated worker's global scope, as far as this file uses it. */
interface WorkerScope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}

const scope = self as unknown as WorkerScope;
let gpu: Promise<Gpu> | null = null;
const controllers = new Map<number, AbortController>();

/** Trains as asked, forwarding every event; returns the finished model. */
async function train(request: Extract<ToWorker, { type: "train" }>, signal: AbortSignal) {
  gpu ??= acquireGpu();
  const device = await gpu.catch((e) => {
    gpu = null;
    throw e;
  });
  const result = await trainModel(device, { train: request.train, dev: request.dev }, {
    config: request.initFrom ? undefined : {
      wordDim: 50,
      casingDim: 8,
      charDim: 16,
      charFilters: 32,
      hidden: request.hidden,
      dropout: 0.25,
    },
    initFrom: request.initFrom,
    epochs: request.epochs,
    lr: request.lr,
    batchSize: request.batchSize,
    lossEvery: 1,
    patience: 0,
    signal,
    onEvent: (event) => scope.postMessage({ type: "event", id: request.id, event }),
    corpus: request.name,
  });
  const f16 = encodeModel(decodeModel(result.bytes, "the trained model"), { float16: true });
  return {
    f32: result.bytes,
    f16,
    epochs: result.epochs,
    stopReason: result.stopReason,
    trainSeconds: result.trainSeconds,
    bestDevF1: result.bestDevF1,
    bestEpoch: result.bestEpoch,
  };
}

scope.onmessage = async (e) => {
  const message = e.data;
  if (message.type === "stop") {
    controllers.get(message.id)?.abort();
    return;
  }
  const controller = new AbortController();
  controllers.set(message.id, controller);
  try {
    const model = await train(message, controller.signal);
    scope.postMessage({ type: "done", id: message.id, model }, [
      model.f32.buffer as ArrayBuffer,
      model.f16.buffer as ArrayBuffer,
    ]);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    scope.postMessage({ type: "error", id: message.id, message: text });
  } finally {
    controllers.delete(message.id);
  }
};

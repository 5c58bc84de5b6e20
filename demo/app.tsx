/// <reference lib="dom" />
/** @jsxImportSource npm:preact@10.29.8 */
/**
 * The demo page: tag text with the shipped model on the visitor's GPU, and
 * train or fine-tune a model on a small corpus in the browser. Bundled by
 * `demo/main.ts`; see the README section "The web demo".
 *
 * The model URL is `models/gmb-small.safetensors` next to the page, or the
 * `?model=` query parameter.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- pinned npm dependency; deno.json has no imports map
import { type JSX, render } from "npm:preact@10.29.8";
// deno-lint-ignore no-import-prefix -- pinned npm dependency; deno.json has no imports map
import { useEffect, useMemo, useRef, useState } from "npm:preact@10.29.8/hooks";
import { Tagger } from "../src/api/tagger.ts";
import { acquireGpu, type AdapterSummary, describeAdapter, type Gpu } from "../src/gpu/device.ts";
import { type TrainEvent, trainModel } from "../src/train/trainer.ts";
import { TrainingChart } from "./chart.tsx";
import {
  type Curves,
  curveTracker,
  type PastedCorpus,
  readPastedCorpus,
  segments,
  splitForTraining,
  type TaggedText,
  tagText,
} from "./logic.ts";

const DEFAULT_MODEL = "models/gmb-small.safetensors";
const EXAMPLE_TEXT =
  "Angela Merkel met Emmanuel Macron in Paris on Tuesday to discuss the European Union budget.";
const EXAMPLE_CORPUS = `Ada B-PER
Lovelace I-PER
lived O
in O
London B-LOC
. O

Alan B-PER
Turing I-PER
worked O
in O
Manchester B-LOC
. O

Grace B-PER
Hopper I-PER
joined O
the O
Navy B-ORG
. O

Tim B-PER
Berners-Lee I-PER
worked O
at O
CERN B-ORG
in O
Geneva B-LOC
. O
`;

const CORPUS_PLACEHOLDER = "Ada B-PER\nLovelace I-PER\nlived O\nin O\nLondon B-LOC\n. O";

type GpuState =
  | { state: "pending" }
  | { state: "ready"; gpu: Gpu; adapter: string }
  | { state: "none"; message: string; detail: string };

type ModelState =
  | { state: "loading"; url: string }
  | { state: "ready"; url: string; tagger: Tagger; origin: "shipped" | "trained" }
  | { state: "failed"; url: string; message: string };

/** A readable adapter name: Chromium leaves `description` empty, so fall back to vendor and architecture. */
function adapterName(adapter: AdapterSummary): string {
  if (adapter.description && adapter.description !== "unknown adapter") {
    return describeAdapter(adapter);
  }
  const name = [adapter.vendor, adapter.architecture].filter(Boolean).join(" ") ||
    "unknown adapter";
  return name + (adapter.isFallbackAdapter ? " [software fallback]" : "");
}

/** A stable colour per entity type. */
function hue(type: string): number {
  const known: Record<string, number> = {
    PER: 10,
    per: 10,
    LOC: 140,
    geo: 140,
    ORG: 215,
    org: 215,
    MISC: 280,
    gpe: 180,
    tim: 40,
  };
  if (type in known) return known[type];
  let h = 0;
  for (const c of type) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

function percent(p: number, digits = 1): string {
  return `${(100 * p).toFixed(digits)}%`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function NoWebGpu(props: { message: string; detail: string }): JSX.Element {
  return (
    <section class="panel error" data-testid="no-webgpu" role="alert">
      <h2>This browser has no WebGPU</h2>
      <p>
        The demo computes on your GPU through WebGPU, and this browser does not offer it (
        {props.detail}). To run it:
      </p>
      <ul>
        <li>
          <b>Chrome, Edge</b> (113 or later): on Linux start the browser with{" "}
          <code>--enable-unsafe-webgpu</code> or enable{" "}
          <code>chrome://flags/#enable-unsafe-webgpu</code>; elsewhere update it and check that
          hardware acceleration is on.
        </li>
        <li>
          <b>Firefox</b> 141 or later, or set <code>dom.webgpu.enabled</code> in{" "}
          <code>about:config</code>.
        </li>
        <li>
          <b>Safari</b> 26 or later.
        </li>
      </ul>
      <details>
        <summary>The library's message</summary>
        <pre>{props.message}</pre>
      </details>
    </section>
  );
}

function Marginals(
  props: { tagged: TaggedText; index: number | null; labels: readonly string[] },
): JSX.Element {
  if (props.index === null || !props.tagged.tokens[props.index]) {
    return (
      <div class="marginals" data-testid="marginals">
        <p class="hint">Hover over a word to see the probability of every tag for it.</p>
      </div>
    );
  }
  const token = props.tagged.tokens[props.index];
  const rows = token.marginals
    .map((p, i) => ({ label: props.labels[i], p }))
    .sort((a, b) => b.p - a.p)
    .slice(0, 6);
  return (
    <div class="marginals" data-testid="marginals" data-token={token.text}>
      <p>
        <b>{token.text}</b> → <code>{token.tag}</code>
      </p>
      <table>
        {rows.map((r) => (
          <tr data-label={r.label}>
            <td>
              <code>{r.label}</code>
            </td>
            <td class="bar">
              <span style={{ width: percent(r.p) }} />
            </td>
            <td class="num">{percent(r.p)}</td>
          </tr>
        ))}
      </table>
    </div>
  );
}

function TaggedView(
  props: { text: string; tagged: TaggedText; onHover: (i: number) => void; hovered: number | null },
): JSX.Element {
  const pieces = useMemo(() => segments(props.text, props.tagged), [props.text, props.tagged]);
  const token = (i: number) => (
    <span
      class={"token" + (props.hovered === i ? " hovered" : "")}
      tabIndex={0}
      onMouseEnter={() => props.onHover(i)}
      onFocus={() => props.onHover(i)}
      data-index={i}
    >
      {props.tagged.tokens[i].text}
    </span>
  );
  return (
    <div class="tagged" data-testid="tagged">
      {pieces.map((piece) => {
        if (piece.kind === "text") return piece.text;
        const ids = Array.from({ length: piece.to - piece.from }, (_, k) => piece.from + k);
        const inner = ids.flatMap((i, k) =>
          k === 0 ? [token(i)] : [
            props.text.slice(props.tagged.tokens[i - 1].end, props.tagged.tokens[i].start),
            token(i),
          ]
        );
        if (!piece.entity) return inner;
        const e = piece.entity;
        return (
          <mark
            class="entity"
            style={{ "--hue": hue(e.label) }}
            data-testid="entity"
            data-label={e.label}
            data-score={e.score.toFixed(4)}
            title={`${e.label}, ${percent(e.score)}`}
          >
            {inner}
            <span class="label">
              {e.label} {percent(e.score, 0)}
            </span>
          </mark>
        );
      })}
    </div>
  );
}

function TagPanel(
  props: { gpu: GpuState; model: ModelState },
): JSX.Element {
  const [text, setText] = useState(EXAMPLE_TEXT);
  const [tagged, setTagged] = useState<TaggedText | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [hovered, setHovered] = useState<number | null>(null);
  const busy = useRef<Promise<void>>(Promise.resolve());
  const tagger = props.model.state === "ready" ? props.model.tagger : null;

  useEffect(() => {
    if (!tagger) return;
    let stale = false;
    const timer = setTimeout(() => {
      // One tagging at a time on the tagger's buffers; only the latest text is shown.
      busy.current = busy.current.then(async () => {
        if (stale) return;
        try {
          const result = await tagText(tagger, text);
          if (stale) return;
          setTagged(result);
          setError(null);
          setHovered(null);
        } catch (e) {
          if (!stale) setError(errorText(e));
        }
      });
    }, 200);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [tagger, text]);

  const adapter = props.gpu.state === "ready" ? props.gpu.adapter : "";
  const nTokens = tagged?.tokens.length ?? 0;
  return (
    <section class="panel" id="tag">
      <h2>Tag text</h2>
      <textarea
        data-testid="text-input"
        rows={4}
        value={text}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        placeholder="Type or paste text"
      />
      {error && <p class="error" data-testid="tag-error">Tagging failed: {error}</p>}
      {tagger && tagged && (
        <div class="result">
          <TaggedView text={text} tagged={tagged} onHover={setHovered} hovered={hovered} />
          <div class="side">
            <Marginals tagged={tagged} index={hovered} labels={tagger.labels} />
          </div>
          <p class="meta" data-testid="timing" data-ms={tagged.milliseconds.toFixed(2)}>
            {tagged.entities.length} {tagged.entities.length === 1 ? "entity" : "entities"} in{" "}
            {nTokens} tokens, tagged in {tagged.milliseconds.toFixed(1)} ms on{" "}
            <span data-testid="adapter">{adapter}</span>
          </p>
          {tagged.entities.length > 0 && (
            <table class="entities" data-testid="entities">
              <tr>
                <th>entity</th>
                <th>label</th>
                <th>confidence</th>
                <th>characters</th>
              </tr>
              {tagged.entities.map((e) => (
                <tr data-testid="entity-row" data-label={e.label} data-text={e.text}>
                  <td>{e.text}</td>
                  <td>
                    <span class="pill" style={{ "--hue": hue(e.label) }}>{e.label}</span>
                  </td>
                  <td class="num">{percent(e.score)}</td>
                  <td class="num">{e.start}–{e.end}</td>
                </tr>
              ))}
            </table>
          )}
        </div>
      )}
    </section>
  );
}

type TrainState =
  | { state: "idle" }
  | { state: "running"; controller: AbortController; line: string }
  | { state: "done"; line: string; bytes: Uint8Array; url: string }
  | { state: "failed"; message: string };

function TrainPanel(
  props: {
    gpu: GpuState;
    shipped: Uint8Array | null;
    onUseModel: (bytes: Uint8Array) => void;
  },
): JSX.Element {
  const [source, setSource] = useState({ text: "", name: "pasted text" });
  const [mode, setMode] = useState<"scratch" | "finetune">("scratch");
  const [epochs, setEpochs] = useState(10);
  const [lr, setLr] = useState(0.01);
  const [hidden, setHidden] = useState(64);
  const [run, setRun] = useState<TrainState>({ state: "idle" });
  const [curves, setCurves] = useState<Curves>({ batches: [], epochs: [] });
  const [dragging, setDragging] = useState(false);

  const corpus = useMemo((): { ok: PastedCorpus } | { error: string } | null => {
    if (!source.text.trim()) return null;
    try {
      return { ok: readPastedCorpus(source.text, source.name) };
    } catch (e) {
      return { error: errorText(e) };
    }
  }, [source]);

  const readFile = async (file: File | undefined) => {
    if (!file) return;
    setSource({ text: await file.text(), name: file.name });
  };

  const start = async () => {
    if (props.gpu.state !== "ready" || !corpus || !("ok" in corpus)) return;
    const gpu = props.gpu.gpu;
    const { train, dev, note } = splitForTraining(corpus.ok.sentences);
    const controller = new AbortController();
    const tracker = curveTracker();
    setCurves({ batches: [], epochs: [] });
    setRun({ state: "running", controller, line: `starting: ${note}` });
    const onEvent = (event: TrainEvent) => {
      tracker.add(event);
      setCurves({ batches: [...tracker.curves.batches], epochs: [...tracker.curves.epochs] });
      if (event.type === "loss") {
        setRun({
          state: "running",
          controller,
          line: `epoch ${event.epoch}, step ${event.step}: loss ${event.loss.toFixed(3)}, ` +
            `${Math.round(event.tokensPerSecond)} tokens/s (${note})`,
        });
      } else if (event.type === "epoch") {
        setRun({
          state: "running",
          controller,
          line: `epoch ${event.epoch}: loss ${event.loss.toFixed(3)}, dev F1 ${
            percent(event.dev.f1)
          } (${note})`,
        });
      }
    };
    try {
      const result = await trainModel(gpu, { train, dev }, {
        config: mode === "scratch"
          ? { wordDim: 50, casingDim: 8, charDim: 16, charFilters: 32, hidden, dropout: 0.25 }
          : undefined,
        initFrom: mode === "finetune" ? props.shipped ?? undefined : undefined,
        epochs,
        lr,
        batchSize: 16,
        lossEvery: 1,
        patience: 0,
        signal: controller.signal,
        onEvent,
        corpus: source.name,
      });
      const url = URL.createObjectURL(new Blob([result.bytes as BlobPart]));
      setRun({
        state: "done",
        bytes: result.bytes,
        url,
        line: `done after ${result.epochs} epochs (${result.stopReason}) in ` +
          `${result.trainSeconds.toFixed(result.trainSeconds < 10 ? 2 : 1)} s of training: ` +
          `best dev F1 ${percent(result.bestDevF1)} at epoch ${result.bestEpoch}`,
      });
    } catch (e) {
      setRun({ state: "failed", message: errorText(e) });
    }
  };

  const running = run.state === "running";
  const canStart = props.gpu.state === "ready" && corpus !== null && "ok" in corpus && !running &&
    (mode === "scratch" || props.shipped !== null);
  return (
    <section
      class={"panel" + (dragging ? " dragging" : "")}
      id="train"
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        readFile(e.dataTransfer?.files[0]);
      }}
    >
      <h2>Train in the browser</h2>
      <p class="hint">
        Drop a small CoNLL or JSON Lines file here, choose one, or paste it. Training runs on your
        GPU; nothing leaves this page.
      </p>
      <div class="row">
        <input
          type="file"
          accept=".txt,.conll,.iob,.bio,.jsonl,.json,.tsv"
          data-testid="corpus-file"
          onChange={(e) => readFile((e.target as HTMLInputElement).files?.[0])}
        />
        <button type="button" onClick={() => setSource({ text: EXAMPLE_CORPUS, name: "example" })}>
          Paste an example
        </button>
      </div>
      <textarea
        data-testid="corpus-input"
        rows={6}
        value={source.text}
        placeholder={CORPUS_PLACEHOLDER}
        onInput={(e) =>
          setSource({ text: (e.target as HTMLTextAreaElement).value, name: "pasted text" })}
      />
      {corpus && "ok" in corpus && (
        <p class="meta" data-testid="corpus-summary">
          {corpus.ok.format === "jsonl" ? "JSON Lines" : "CoNLL"}: {corpus.ok.sentences.length}{" "}
          sentences, {corpus.ok.tokens} tokens, types {corpus.ok.types.join(", ") || "none"}
        </p>
      )}
      {corpus && "error" in corpus && <p class="error" data-testid="corpus-error">{corpus.error}
      </p>}
      <div class="row settings">
        <label>
          <input
            type="radio"
            name="mode"
            checked={mode === "scratch"}
            onChange={() => setMode("scratch")}
            data-testid="mode-scratch"
          />{" "}
          from scratch
        </label>
        <label title={props.shipped ? "" : "the shipped model did not load"}>
          <input
            type="radio"
            name="mode"
            checked={mode === "finetune"}
            disabled={!props.shipped}
            onChange={() => setMode("finetune")}
            data-testid="mode-finetune"
          />{" "}
          fine-tune the shipped model
        </label>
        <label>
          epochs{" "}
          <input
            type="number"
            min={1}
            max={200}
            value={epochs}
            data-testid="epochs"
            onInput={(e) => setEpochs(Number((e.target as HTMLInputElement).value) || 1)}
          />
        </label>
        <label>
          learning rate{" "}
          <input
            type="number"
            min={0.0001}
            max={0.1}
            step={0.001}
            value={lr}
            data-testid="lr"
            onInput={(e) => setLr(Number((e.target as HTMLInputElement).value) || 0.01)}
          />
        </label>
        {mode === "scratch" && (
          <label>
            hidden{" "}
            <select
              value={hidden}
              onChange={(e) => setHidden(Number((e.target as HTMLSelectElement).value))}
            >
              {[32, 64, 100, 128].map((h) => <option key={h} value={h}>{h}</option>)}
            </select>
          </label>
        )}
      </div>
      <div class="row">
        <button type="button" disabled={!canStart} onClick={start} data-testid="train-start">
          Train
        </button>
        <button
          type="button"
          disabled={!running}
          onClick={() => run.state === "running" && run.controller.abort()}
          data-testid="train-stop"
        >
          Stop
        </button>
        {run.state === "done" && (
          <>
            <a class="button" href={run.url} download="model.safetensors" data-testid="download">
              Download model.safetensors ({(run.bytes.length / 1024).toFixed(0)} KB)
            </a>
            <button
              type="button"
              onClick={() => props.onUseModel(run.bytes)}
              data-testid="use-model"
            >
              Tag with this model
            </button>
          </>
        )}
      </div>
      <p class="meta" data-testid="train-status" data-state={run.state}>
        {run.state === "idle" && "Not started."}
        {(run.state === "running" || run.state === "done") && run.line}
        {run.state === "failed" && <span class="error">Training failed: {run.message}</span>}
      </p>
      {(curves.batches.length > 0 || running) && <TrainingChart curves={curves} />}
    </section>
  );
}

function App(): JSX.Element {
  const modelUrl = useMemo(() => {
    const asked = new URLSearchParams(location.search).get("model");
    return new URL(asked ?? DEFAULT_MODEL, location.href).href;
  }, []);
  const [gpu, setGpu] = useState<GpuState>({ state: "pending" });
  const [model, setModel] = useState<ModelState>({ state: "loading", url: modelUrl });
  const [shipped, setShipped] = useState<Uint8Array | null>(null);

  useEffect(() => {
    (async () => {
      let device: Gpu;
      try {
        device = await acquireGpu();
      } catch (e) {
        const message = errorText(e);
        const first = message.split("\n")[0];
        const detail = /^No WebGPU adapter found \((.*)\)\.$/.exec(first)?.[1] ?? first;
        setGpu({ state: "none", message, detail });
        return;
      }
      setGpu({ state: "ready", gpu: device, adapter: adapterName(device.adapter) });
      try {
        let response: Response;
        try {
          response = await fetch(modelUrl);
        } catch (e) {
          throw new Error(`the request failed (${errorText(e)})`);
        }
        if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
        const bytes = new Uint8Array(await response.arrayBuffer());
        const tagger = await Tagger.load(bytes, { gpu: device });
        setShipped(bytes);
        setModel({ state: "ready", url: modelUrl, tagger, origin: "shipped" });
      } catch (e) {
        setModel({ state: "failed", url: modelUrl, message: errorText(e) });
      }
    })();
  }, []);

  const useTrained = async (bytes: Uint8Array) => {
    if (gpu.state !== "ready") return;
    try {
      const tagger = await Tagger.load(bytes, { gpu: gpu.gpu });
      setModel({ state: "ready", url: "your trained model", tagger, origin: "trained" });
    } catch (e) {
      setModel({ state: "failed", url: "your trained model", message: errorText(e) });
    }
  };

  return (
    <main>
      <header>
        <h1>webgpu-ner</h1>
        <p class="tagline">
          Named-entity recognition with a BiLSTM-CRF, computed on your GPU through WebGPU.
        </p>
        <p class="status">
          <span data-testid="gpu-status" data-state={gpu.state}>
            {gpu.state === "pending" && "Looking for a WebGPU adapter…"}
            {gpu.state === "ready" && <>GPU: {gpu.adapter}</>}
            {gpu.state === "none" && "No WebGPU"}
          </span>
          {gpu.state === "ready" && (
            <span data-testid="model-status" data-state={model.state}>
              {model.state === "loading" && ` · loading the model from ${model.url}…`}
              {model.state === "ready" && (
                <>
                  {" "}· model: {model.origin === "shipped" ? model.url : "your trained model"} (
                  {model.tagger.labels.length} tags, hidden {model.tagger.model.config.hidden})
                </>
              )}
            </span>
          )}
        </p>
      </header>
      {gpu.state === "none" && <NoWebGpu message={gpu.message} detail={gpu.detail} />}
      {gpu.state === "ready" && model.state === "failed" && (
        <section class="panel error" data-testid="model-error" role="alert">
          <h2>The model failed to load</h2>
          <p>
            {model.url}: {model.message}
          </p>
          <p>
            Tagging needs a model. You can still train one below, then tag with it.
          </p>
        </section>
      )}
      {gpu.state === "ready" && (
        <>
          <TagPanel gpu={gpu} model={model} />
          <TrainPanel gpu={gpu} shipped={shipped} onUseModel={useTrained} />
        </>
      )}
      <footer>
        webgpu-ner — everything runs in this page; no text or data is sent anywhere.
      </footer>
    </main>
  );
}

render(<App />, document.getElementById("app")!);

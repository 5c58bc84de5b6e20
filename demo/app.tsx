/// <reference lib="dom" />
/** @jsxImportSource npm:preact@10.29.8 */
/**
 * The demo page: tag text with the shipped model on the visitor's GPU, and
 * train or fine-tune a model on a small corpus in the browser. Bundled by
 * `demo/main.ts`; see the README section "The web demo".
 *
 * The model URL is the shipped model next to the page (the build names its
 * content-hashed file in `index.html`), or the `?model=` query parameter.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- pinned npm dependency; deno.json has no imports map
import { type JSX, render } from "npm:preact@10.29.8";
// deno-lint-ignore no-import-prefix -- pinned npm dependency; deno.json has no imports map
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "npm:preact@10.29.8/hooks";
import {
  acquireGpu,
  type AdapterSummary,
  decodeModel,
  describeAdapter,
  type Gpu,
  type Sentence,
  Tagger,
  type TrainEvent,
} from "../mod.ts";
import { TrainingChart } from "./chart.tsx";
import type { FromWorker, ToWorker, TrainedModel } from "./train_worker.ts";
import {
  type Curves,
  curveTracker,
  decodeCorpusFile,
  entityLegend,
  formatConfidence,
  parseSettings,
  type PastedCorpus,
  plural,
  progressText,
  readPastedCorpus,
  segments,
  splitForTraining,
  type TaggedText,
  taggingSummary,
  tagText,
} from "./logic.ts";

/** The shipped model: the build names its content-hashed file in `<meta name="webgpu-ner-model">`. */
const DEFAULT_MODEL =
  document.querySelector<HTMLMetaElement>('meta[name="webgpu-ner-model"]')?.content ||
  "models/gmb-small.safetensors";
/** The training worker's bundle: the build names its content-hashed file in a `<meta>` too. */
const TRAIN_WORKER =
  document.querySelector<HTMLMetaElement>('meta[name="webgpu-ner-train-worker"]')?.content ||
  "train_worker.js";
const EXAMPLE_TEXT =
  "Angela Merkel met Emmanuel Macron in Paris on Tuesday to discuss the European Union budget.";
/** A corpus in the shipped model's own labels (the Groningen Meaning Bank's), invented. */
const EXAMPLE_CORPUS = [
  "Ada B-per|Lovelace I-per|lived O|in O|London B-geo|. O",
  "The O|United B-org|Nations I-org|met O|in O|Geneva B-geo|on O|Monday B-tim|. O",
  "British B-gpe|troops O|left O|Basra B-geo|in O|March B-tim|. O",
  "Alan B-per|Turing I-per|worked O|in O|Manchester B-geo|in O|1948 B-tim|. O",
  "Grace B-per|Hopper I-per|joined O|the O|Navy B-org|in O|1943 B-tim|. O",
  "Tim B-per|Berners-Lee I-per|worked O|at O|CERN B-org|in O|Geneva B-geo|. O",
  "French B-gpe|officials O|visited O|Cairo B-geo|on O|Tuesday B-tim|. O",
  "Hurricane B-nat|Katrina I-nat|hit O|New B-geo|Orleans I-geo|in O|2005 B-tim|. O",
  "The O|Olympic B-eve|Games I-eve|opened O|in O|Beijing B-geo|. O",
].map((s) => s.split("|").join("\n")).join("\n\n") + "\n";
const CORPUS_PLACEHOLDER = "Ada B-per\nLovelace I-per\nlived O\nin O\nLondon B-geo\n. O";
const BATCH_SIZE = 16;

type GpuState =
  | { state: "pending" }
  | { state: "ready"; gpu: Gpu; adapter: string }
  | { state: "none"; message: string; detail: string };

type Origin = "shipped" | "url" | "trained";
type ModelState =
  | { state: "loading"; url: string; phase: string }
  | { state: "ready"; url: string; tagger: Tagger; origin: Origin }
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
    art: 320,
    eve: 260,
    nat: 90,
  };
  if (type in known) return known[type];
  let h = 0;
  for (const c of type) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Resolves after the browser has painted, so a new state shows before heavy work starts. */
function afterPaint(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

function NoWebGpu(props: { message: string; detail: string }): JSX.Element {
  // The library's message also tells Deno users what to install; a browser visitor needs only
  // the reason and the browser lines.
  const message = props.message.split("\n").filter((l) => !/^\s*Deno\b/.test(l)).join("\n");
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
        <pre data-testid="no-webgpu-detail">{message}</pre>
      </details>
    </section>
  );
}

function Marginals(
  props: { tagged: TaggedText; index: number | null; labels: readonly string[] },
): JSX.Element {
  const token = props.index === null ? undefined : props.tagged.tokens[props.index];
  const rows = token
    ? token.marginals
      .map((p, i) => ({ label: props.labels[i], p }))
      .sort((a, b) => b.p - a.p)
      .slice(0, 6)
    : [];
  return (
    <div
      class="marginals"
      data-testid="marginals"
      data-token={token?.text}
      aria-live="polite"
      aria-atomic="true"
    >
      {!token && (
        <p class="hint">
          Hover over a word, or tab to the text and use the arrow keys, to see the probability of
          every tag for it.
        </p>
      )}
      {token && (
        <>
          <p>
            <b>{token.text}</b> → <code>{token.tag}</code>
          </p>
          <table aria-label={`Tag probabilities of “${token.text}”`}>
            <tbody>
              {rows.map((r) => (
                <tr data-label={r.label}>
                  <th scope="row">
                    <code>{r.label}</code>
                  </th>
                  <td class="bar" aria-hidden="true">
                    <span style={{ width: `${(100 * r.p).toFixed(1)}%` }} />
                  </td>
                  <td class="num" data-p={r.p.toFixed(6)}>{formatConfidence(r.p)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}

/** Arrow keys move the focus between the words of the tagged text (one tab stop in all). */
function moveFocus(e: KeyboardEvent, count: number, active: number, go: (i: number) => void) {
  const next = e.key === "ArrowRight" || e.key === "ArrowDown"
    ? active + 1
    : e.key === "ArrowLeft" || e.key === "ArrowUp"
    ? active - 1
    : e.key === "Home"
    ? 0
    : e.key === "End"
    ? count - 1
    : null;
  if (next === null) return;
  e.preventDefault();
  go(Math.max(0, Math.min(count - 1, next)));
}

function TaggedView(
  props: {
    text: string;
    tagged: TaggedText;
    onHover: (i: number) => void;
    hovered: number | null;
    stale: boolean;
  },
): JSX.Element {
  const pieces = useMemo(() => segments(props.text, props.tagged), [props.text, props.tagged]);
  const box = useRef<HTMLDivElement | null>(null);
  const active = props.hovered ?? 0;
  const go = (i: number) => {
    box.current?.querySelector<HTMLElement>(`[data-index="${i}"]`)?.focus();
  };
  const token = (i: number) => (
    <span
      class={"token" + (props.hovered === i ? " hovered" : "")}
      tabIndex={i === active ? 0 : -1}
      onMouseEnter={() => props.onHover(i)}
      onFocus={() => props.onHover(i)}
      data-index={i}
    >
      {props.tagged.tokens[i].text}
    </span>
  );
  const gap = (i: number) =>
    props.text.slice(props.tagged.tokens[i - 1].end, props.tagged.tokens[i].start);
  return (
    <div
      class={"tagged" + (props.stale ? " stale" : "")}
      data-testid="tagged"
      data-text={props.text}
      role="group"
      aria-label="Tagged text: use the arrow keys to move between words"
      aria-busy={props.stale}
      ref={box}
      onKeyDown={(e) => moveFocus(e, props.tagged.tokens.length, active, go)}
    >
      {pieces.map((piece) => {
        if (piece.kind === "text") return piece.text;
        const ids = Array.from({ length: piece.to - piece.from }, (_, k) => piece.from + k);
        if (!piece.entity) return ids.map(token);
        const e = piece.entity;
        const last = ids.length - 1;
        // The last word and the label stay on one line, so a chip never ends in a lone label.
        return (
          <mark
            class="entity"
            style={{ "--hue": hue(e.label) }}
            data-testid="entity"
            data-label={e.label}
            data-score={e.score.toFixed(4)}
            title={`${e.label}, ${formatConfidence(e.score)}`}
          >
            {ids.slice(0, last).flatMap((i, k) => k === 0 ? [token(i)] : [gap(i), token(i)])}
            {last > 0 && gap(ids[last])}
            <span class="nowrap">
              {token(ids[last])}
              <span class="label">
                {e.label} <span data-testid="chip-score">{formatConfidence(e.score)}</span>
              </span>
            </span>
          </mark>
        );
      })}
    </div>
  );
}

function EntityTable(props: { tagged: TaggedText }): JSX.Element {
  return (
    <table class="entities" data-testid="entities">
      <thead>
        <tr>
          <th scope="col">entity</th>
          <th scope="col">label</th>
          <th scope="col">confidence</th>
          <th scope="col">characters</th>
        </tr>
      </thead>
      <tbody>
        {props.tagged.entities.map((e) => (
          <tr data-testid="entity-row" data-label={e.label} data-text={e.text}>
            <td>{e.text}</td>
            <td>
              <span class="pill" style={{ "--hue": hue(e.label) }}>{e.label}</span>
            </td>
            <td class="num" data-testid="row-score">{formatConfidence(e.score)}</td>
            <td class="num">{e.start}–{e.end}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Legend(props: { labels: readonly string[]; origin: Origin }): JSX.Element {
  const legend = entityLegend(props.labels);
  return (
    <details class="legend" data-testid="legend" open>
      <summary>
        {props.origin === "shipped"
          ? "The model's entity types (English news text, Groningen Meaning Bank)"
          : "The model's entity types"}
      </summary>
      <dl>
        {legend.map((e) => (
          <div data-type={e.type}>
            <dt>
              <span class="pill" style={{ "--hue": hue(e.type) }}>{e.type}</span>
            </dt>
            <dd>{e.meaning || "a type of your corpus"}</dd>
          </div>
        ))}
      </dl>
      {props.origin === "shipped" && (
        <p class="hint">
          The shipped model was trained on English newswire; other languages and kinds of text get
          poorer results.
        </p>
      )}
    </details>
  );
}

/** Tags the text after a pause; the shown result always pairs a text with its own tagging. */
function useTagging(tagger: Tagger | null, text: string) {
  const [result, setResult] = useState<{ text: string; tagged: TaggedText } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const busy = useRef<Promise<void>>(Promise.resolve());
  useEffect(() => {
    if (!tagger) return;
    let stale = false;
    const timer = setTimeout(() => {
      // One tagging at a time on the tagger's buffers; only the latest text is shown.
      busy.current = busy.current.then(async () => {
        if (stale) return;
        try {
          const tagged = await tagText(tagger, text);
          if (stale) return;
          setResult({ text, tagged });
          setError(null);
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
  useEffect(() => setResult(null), [tagger]);
  return { result, error };
}

function TagPanel(props: { gpu: GpuState; model: ModelState }): JSX.Element {
  const [text, setText] = useState(EXAMPLE_TEXT);
  const [hovered, setHovered] = useState<number | null>(null);
  const tagger = props.model.state === "ready" ? props.model.tagger : null;
  const { result, error } = useTagging(tagger, text);
  useEffect(() => setHovered(null), [result]);
  const adapter = props.gpu.state === "ready" ? props.gpu.adapter : "";
  const summary = result ? taggingSummary(result.tagged) : "";
  const stale = result !== null && result.text !== text;
  return (
    <section class="panel" id="tag" aria-labelledby="tag-title">
      <h2 id="tag-title">Tag text</h2>
      {props.model.state === "ready" && (
        <Legend labels={props.model.tagger.labels} origin={props.model.origin} />
      )}
      <label class="field" for="text-input">Text to tag</label>
      <textarea
        id="text-input"
        data-testid="text-input"
        rows={4}
        value={text}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        placeholder="Type or paste English text"
      />
      {error && <p class="error" data-testid="tag-error">Tagging failed: {error}</p>}
      {tagger && result && result.tagged.tokens.length > 0 && (
        <div class="result">
          <TaggedView
            text={result.text}
            tagged={result.tagged}
            onHover={setHovered}
            hovered={hovered}
            stale={stale}
          />
          <div class="side">
            <Marginals tagged={result.tagged} index={hovered} labels={tagger.labels} />
          </div>
          <p
            class="meta"
            data-testid="timing"
            data-ms={result.tagged.milliseconds.toFixed(2)}
            aria-live="polite"
          >
            {summary} on <span data-testid="adapter">{adapter}</span>
            {stale && " (updating…)"}
          </p>
          {result.tagged.entities.length > 0 && <EntityTable tagged={result.tagged} />}
        </div>
      )}
    </section>
  );
}

type TrainState =
  | { state: "idle" }
  | { state: "running"; controller: AbortController; phase: "compiling" | "training"; line: string }
  | { state: "done"; line: string; f16: Uint8Array; f32: Uint8Array; urls: [string, string] }
  | { state: "failed"; message: string };

type Source = { text: string; name: string; error?: string };

function useCorpus(source: Source): { ok: PastedCorpus } | { error: string } | null {
  return useMemo(() => {
    if (source.error) return { error: source.error };
    if (!source.text) return null;
    try {
      return { ok: readPastedCorpus(source.text, source.name) };
    } catch (e) {
      return { error: errorText(e) };
    }
  }, [source]);
}

function CorpusInput(
  props: { source: Source; setSource: (s: Source) => void; readFile: (f?: File) => void },
): JSX.Element {
  const file = useRef<HTMLInputElement | null>(null);
  // The file input names the file the corpus came from, or none: pasting, typing, the example
  // or a dropped file clear the name of a file chosen before. A layout effect runs in the same
  // task as the render: a deferred one could run after the next file was chosen and clear it.
  useLayoutEffect(() => {
    const el = file.current;
    if (el && el.files?.[0]?.name !== props.source.name) el.value = "";
  }, [props.source]);
  return (
    <>
      <div class="row">
        <label class="field" for="corpus-file">Corpus file</label>
        <input
          ref={file}
          id="corpus-file"
          type="file"
          accept=".txt,.conll,.iob,.bio,.jsonl,.json,.tsv"
          data-testid="corpus-file"
          onChange={(e) => props.readFile((e.target as HTMLInputElement).files?.[0])}
        />
        <button
          type="button"
          onClick={() => props.setSource({ text: EXAMPLE_CORPUS, name: "example" })}
        >
          Paste an example
        </button>
      </div>
      <label class="field" for="corpus-input">
        Corpus (CoNLL: a word and its tag per line, a blank line between sentences; or JSON Lines)
      </label>
      <textarea
        id="corpus-input"
        data-testid="corpus-input"
        rows={6}
        value={props.source.error ? "" : props.source.text}
        placeholder={CORPUS_PLACEHOLDER}
        onInput={(e) =>
          props.setSource({ text: (e.target as HTMLTextAreaElement).value, name: "pasted text" })}
      />
    </>
  );
}

function CorpusSummary(
  props: {
    corpus: { ok: PastedCorpus } | { error: string } | null;
    mode: string;
    shipped: string[];
  },
): JSX.Element | null {
  const corpus = props.corpus;
  if (!corpus) return null;
  if ("error" in corpus) {
    return <p class="error" data-testid="corpus-error" role="alert">{corpus.error}</p>;
  }
  const c = corpus.ok;
  const newTypes = c.types.filter((t) => !props.shipped.includes(t));
  return (
    <>
      <p class="meta" data-testid="corpus-summary">
        {c.format === "jsonl" ? "JSON Lines" : "CoNLL"}: {plural(c.sentences.length, "sentence")},
        {" "}
        {plural(c.tokens, "token")}, types {c.types.join(", ") || "none"}
      </p>
      {props.mode === "finetune" && newTypes.length > 0 && (
        <p class="meta" data-testid="relabel-note">
          The shipped model has no{" "}
          {newTypes.join(", ")}: fine-tuning keeps its network and learns a new output layer for
          your types ({c.types.join(", ")}); the result tags those only.
        </p>
      )}
    </>
  );
}

let worker: Worker | null = null;
let runs = 0;

/**
 * Trains in the training worker (started on first use, kept for later runs), forwarding its
 * events; Stop (`signal`) is passed on as a message. The page's main thread only draws.
 */
function trainInWorker(
  request: {
    train: Sentence[];
    dev: Sentence[];
    epochs: number;
    lr: number;
    hidden: number;
    initFrom?: Uint8Array;
    name: string;
  },
  onEvent: (event: TrainEvent) => void,
  signal: AbortSignal,
): Promise<TrainedModel> {
  worker ??= new Worker(new URL(TRAIN_WORKER, location.href), { type: "module" });
  const w = worker;
  const id = ++runs;
  return new Promise<TrainedModel>((resolve, reject) => {
    const stop = () => w.postMessage({ type: "stop", id } satisfies ToWorker);
    const end = () => {
      w.removeEventListener("message", onMessage);
      w.removeEventListener("error", onError);
      signal.removeEventListener("abort", stop);
    };
    const onMessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      if (m.id !== id) return;
      if (m.type === "event") return onEvent(m.event);
      end();
      if (m.type === "done") resolve(m.model);
      else reject(new Error(m.message));
    };
    const onError = (e: ErrorEvent) => {
      e.preventDefault();
      end();
      worker = null;
      w.terminate();
      reject(
        new Error(`the training worker ${TRAIN_WORKER} failed (${e.message || "no message"})`),
      );
    };
    w.addEventListener("message", onMessage);
    w.addEventListener("error", onError);
    signal.addEventListener("abort", stop);
    w.postMessage({ type: "train", id, batchSize: BATCH_SIZE, ...request } satisfies ToWorker);
  });
}

/** Runs a training in the worker with the page's settings, reporting progress; returns the finished state. */
async function runTraining(
  corpus: PastedCorpus,
  settings: { epochs: number; lr: number; hidden: number; initFrom?: Uint8Array; name: string },
  report: (line: string, phase: "compiling" | "training", curves: Curves) => void,
  signal: AbortSignal,
): Promise<TrainState> {
  const { train, dev, note } = splitForTraining(corpus.sentences);
  const stepsPerEpoch = Math.ceil(train.length / BATCH_SIZE);
  const tracker = curveTracker();
  let firstStepAt: number | null = null;
  const onEvent = (event: TrainEvent) => {
    tracker.add(event);
    const curves = { batches: [...tracker.curves.batches], epochs: [...tracker.curves.epochs] };
    if (event.type !== "loss" && event.type !== "epoch") return;
    const step = tracker.curves.batches.at(-1)?.step ?? 0;
    if (event.type === "loss" && firstStepAt === null) firstStepAt = performance.now();
    const progress = progressText({
      epoch: event.epoch,
      epochs: settings.epochs,
      step,
      stepsPerEpoch,
      elapsedMs: firstStepAt === null ? null : performance.now() - firstStepAt,
    });
    const detail = event.type === "loss"
      ? `loss ${event.loss.toFixed(3)}, ${Math.round(event.tokensPerSecond)} tokens/s`
      : `dev F1 ${formatConfidence(event.dev.f1)}`;
    report(`${progress}: ${detail} (${note})`, "training", curves);
  };
  const result = await trainInWorker({ train, dev, ...settings }, onEvent, signal);
  const url = (b: Uint8Array) => URL.createObjectURL(new Blob([b as BlobPart]));
  return {
    state: "done",
    f16: result.f16,
    f32: result.f32,
    urls: [url(result.f16), url(result.f32)],
    line: `done after ${plural(result.epochs, "epoch")} (${result.stopReason}) in ` +
      `${result.trainSeconds.toFixed(result.trainSeconds < 10 ? 2 : 1)} s of training: ` +
      `best dev F1 ${formatConfidence(result.bestDevF1)} at epoch ${result.bestEpoch}`,
  };
}

function Settings(
  props: {
    mode: "scratch" | "finetune";
    setMode: (m: "scratch" | "finetune") => void;
    shipped: boolean;
    fields: { epochs: string; lr: string; hidden: number };
    setFields: (f: { epochs: string; lr: string; hidden: number }) => void;
  },
): JSX.Element {
  const f = props.fields;
  return (
    <fieldset class="row settings">
      <legend>Settings</legend>
      <label>
        <input
          type="radio"
          name="mode"
          checked={props.mode === "scratch"}
          onChange={() => props.setMode("scratch")}
          data-testid="mode-scratch"
        />{" "}
        from scratch
      </label>
      <label title={props.shipped ? "" : "the shipped model did not load"}>
        <input
          type="radio"
          name="mode"
          checked={props.mode === "finetune"}
          disabled={!props.shipped}
          onChange={() => props.setMode("finetune")}
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
          step={1}
          value={f.epochs}
          data-testid="epochs"
          onInput={(e) => props.setFields({ ...f, epochs: (e.target as HTMLInputElement).value })}
        />
      </label>
      <label>
        learning rate{" "}
        <input
          type="number"
          min={0.0001}
          max={0.1}
          step="any"
          value={f.lr}
          data-testid="lr"
          onInput={(e) => props.setFields({ ...f, lr: (e.target as HTMLInputElement).value })}
        />
      </label>
      {props.mode === "scratch" && (
        <label>
          hidden{" "}
          <select
            value={f.hidden}
            onChange={(e) =>
              props.setFields({ ...f, hidden: Number((e.target as HTMLSelectElement).value) })}
          >
            {[32, 64, 100, 128].map((h) => <option key={h} value={h}>{h}</option>)}
          </select>
        </label>
      )}
    </fieldset>
  );
}

function Downloads(
  props: { run: Extract<TrainState, { state: "done" }>; onUseModel: (b: Uint8Array) => void },
): JSX.Element {
  const [full, setFull] = useState(false);
  const bytes = full ? props.run.f32 : props.run.f16;
  return (
    <>
      <a
        class="button"
        href={props.run.urls[full ? 1 : 0]}
        download="model.safetensors"
        data-testid="download"
      >
        Download model.safetensors ({(bytes.length / 1024).toFixed(0)} KB)
      </a>
      <label>
        <input
          type="checkbox"
          checked={full}
          onChange={(e) => setFull((e.target as HTMLInputElement).checked)}
          data-testid="float32"
        />{" "}
        float32 (default float16: half the size, the same tags)
      </label>
      <button type="button" onClick={() => props.onUseModel(props.run.f32)} data-testid="use-model">
        Tag with this model
      </button>
    </>
  );
}

function TrainPanel(
  props: {
    gpu: GpuState;
    shipped: { bytes: Uint8Array; labels: readonly string[] } | null;
    onUseModel: (bytes: Uint8Array) => void;
  },
): JSX.Element {
  const [source, setSource] = useState<Source>({ text: "", name: "pasted text" });
  const [mode, setMode] = useState<"scratch" | "finetune">("scratch");
  const [fields, setFields] = useState({ epochs: "10", lr: "0.01", hidden: 64 });
  const [run, setRun] = useState<TrainState>({ state: "idle" });
  const [curves, setCurves] = useState<Curves>({ batches: [], epochs: [] });
  const [totalSteps, setTotalSteps] = useState(0);
  const [dragging, setDragging] = useState(false);
  const corpus = useCorpus(source);
  const settings = parseSettings(fields);

  const readFile = async (file: File | undefined) => {
    if (!file) return;
    try {
      setSource({
        text: decodeCorpusFile(new Uint8Array(await file.arrayBuffer()), file.name),
        name: file.name,
      });
    } catch (e) {
      setSource({ text: "", name: file.name, error: errorText(e) });
    }
  };

  const start = async () => {
    if (props.gpu.state !== "ready" || !corpus || !("ok" in corpus) || !("ok" in settings)) return;
    const controller = new AbortController();
    const { train } = splitForTraining(corpus.ok.sentences);
    setTotalSteps(settings.ok.epochs * Math.ceil(train.length / BATCH_SIZE));
    setCurves({ batches: [], epochs: [] });
    setRun({
      state: "running",
      controller,
      phase: "compiling",
      line: "compiling GPU kernels for training (the first run takes a few seconds)…",
    });
    try {
      setRun(
        await runTraining(
          corpus.ok,
          {
            ...settings.ok,
            hidden: fields.hidden,
            initFrom: mode === "finetune" ? props.shipped?.bytes : undefined,
            name: source.name,
          },
          (line, phase, c) => {
            setRun({ state: "running", controller, phase, line });
            setCurves(c);
          },
          controller.signal,
        ),
      );
    } catch (e) {
      setRun({ state: "failed", message: errorText(e) });
    }
  };

  const running = run.state === "running";
  const blocked = [
    ...(corpus === null ? ["Paste, drop or choose a corpus to train on."] : []),
    ...("errors" in settings ? settings.errors : []),
  ];
  const canStart = props.gpu.state === "ready" && corpus !== null && "ok" in corpus &&
    "ok" in settings && !running && (mode === "scratch" || props.shipped !== null);
  const shippedTypes = entityLegend(props.shipped?.labels ?? []).map((e) => e.type);
  return (
    <section
      class={"panel" + (dragging ? " dragging" : "")}
      id="train"
      aria-labelledby="train-title"
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
      <h2 id="train-title">Train in the browser</h2>
      <p class="hint">
        Drop a small CoNLL or JSON Lines file here, choose one, or paste it. Any label set works;
        the example uses the shipped model's types. Training runs on your GPU; nothing leaves this
        page.
      </p>
      <CorpusInput source={source} setSource={setSource} readFile={readFile} />
      <CorpusSummary corpus={corpus} mode={mode} shipped={shippedTypes} />
      <Settings
        mode={mode}
        setMode={setMode}
        shipped={props.shipped !== null}
        fields={fields}
        setFields={setFields}
      />
      {blocked.length > 0 && (
        <ul class="blocked" data-testid="train-blocked" aria-live="polite">
          {blocked.map((b) => (
            <li key={b} class={b.includes("expected") ? "error" : "hint"}>{b}</li>
          ))}
        </ul>
      )}
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
        {run.state === "done" && <Downloads run={run} onUseModel={props.onUseModel} />}
      </div>
      <p
        class="meta"
        data-testid="train-status"
        data-state={run.state}
        data-phase={run.state === "running" ? run.phase : undefined}
        aria-live="polite"
      >
        {run.state === "idle" && "Not started."}
        {(run.state === "running" || run.state === "done") && run.line}
        {run.state === "failed" && <span class="error">Training failed: {run.message}</span>}
      </p>
      {(curves.batches.length > 0 || running) && (
        <TrainingChart curves={curves} totalSteps={totalSteps} />
      )}
    </section>
  );
}

/** Fetches a model, then compiles its kernels; `phase` says which. */
async function loadTagger(gpu: Gpu, url: string, phase: (p: string) => void) {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`the request failed (${errorText(e)})`);
  }
  if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  phase("compiling GPU kernels (the first load takes a few seconds)");
  await afterPaint();
  const tagger = await Tagger.fromModel(gpu, decodeModel(bytes, url));
  return { bytes, tagger };
}

function ModelStatus(props: { model: ModelState; onShipped: (() => void) | null }): JSX.Element {
  const m = props.model;
  return (
    <span
      data-testid="model-status"
      data-state={m.state}
      data-origin={m.state === "ready" ? m.origin : undefined}
    >
      {m.state === "loading" && ` · ${m.phase}…`}
      {m.state === "ready" && (
        <>
          {" "}· model: {m.origin === "trained" ? "your trained model" : m.url} (
          {plural(m.tagger.labels.length, "tag")}, hidden {m.tagger.model.config.hidden})
        </>
      )}
      {props.onShipped && (
        <>
          {" "}
          <button type="button" class="link" onClick={props.onShipped} data-testid="use-shipped">
            back to the shipped model
          </button>
        </>
      )}
    </span>
  );
}

function App(): JSX.Element {
  const asked = useMemo(() => new URLSearchParams(location.search).get("model"), []);
  const modelUrl = new URL(asked ?? DEFAULT_MODEL, location.href).href;
  const [gpu, setGpu] = useState<GpuState>({ state: "pending" });
  const [model, setModel] = useState<ModelState>({
    state: "loading",
    url: modelUrl,
    phase: `downloading the model from ${modelUrl}`,
  });
  const [shipped, setShipped] = useState<{ bytes: Uint8Array; tagger: Tagger } | null>(null);

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
        const phase = (p: string) => setModel({ state: "loading", url: modelUrl, phase: p });
        const { bytes, tagger } = await loadTagger(device, modelUrl, phase);
        if (!asked) setShipped({ bytes, tagger });
        setModel({ state: "ready", url: modelUrl, tagger, origin: asked ? "url" : "shipped" });
      } catch (e) {
        setModel({ state: "failed", url: modelUrl, message: errorText(e) });
      }
    })();
  }, []);

  const useTrained = async (bytes: Uint8Array) => {
    if (gpu.state !== "ready") return;
    try {
      const tagger = await Tagger.fromModel(gpu.gpu, decodeModel(bytes, "your trained model"));
      setModel({ state: "ready", url: "your trained model", tagger, origin: "trained" });
    } catch (e) {
      setModel({ state: "failed", url: "your trained model", message: errorText(e) });
    }
  };
  const backToShipped = shipped && !(model.state === "ready" && model.origin === "shipped")
    ? () => setModel({ state: "ready", url: modelUrl, tagger: shipped.tagger, origin: "shipped" })
    : null;

  return (
    <main>
      <header>
        <h1>webgpu-ner</h1>
        <p class="tagline">
          Named-entity recognition with a BiLSTM-CRF, computed on your GPU through WebGPU.
        </p>
        <p class="status" data-testid="status">
          <span data-testid="gpu-status" data-state={gpu.state}>
            {gpu.state === "pending" && "Looking for a WebGPU adapter…"}
            {gpu.state === "ready" && <>GPU: {gpu.adapter}</>}
            {gpu.state === "none" && "No WebGPU"}
          </span>
          {gpu.state === "ready" && <ModelStatus model={model} onShipped={backToShipped} />}
          {asked && (
            <>
              {" "}· <a href="./" data-testid="shipped-link">load the shipped model instead</a>
            </>
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
          <TrainPanel
            gpu={gpu}
            shipped={shipped && { bytes: shipped.bytes, labels: shipped.tagger.labels }}
            onUseModel={useTrained}
          />
        </>
      )}
      <footer>
        webgpu-ner — everything runs in this page; no text or data is sent anywhere.
      </footer>
    </main>
  );
}

render(<App />, document.getElementById("app")!);

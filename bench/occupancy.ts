/**
 * The occupancy table: for every dispatch of a training step and of
 * inference, its workgroups, lanes per workgroup (the entry point's
 * `@workgroup_size`, override constants resolved), total lanes, and the
 * longest serial loop one lane runs — the paper view of how much of a GPU
 * a step can use. Nothing is timed: the graph is built for a fixed batch
 * (B sentences, the longest T tokens) and each profile, one step and one
 * inference are recorded so that every dispatch has its batch's sizes, and
 * the table is read off the dispatch lists.
 *
 * The serial-loop formulas ({@linkcode SERIAL_LOOPS}) are written from each
 * WGSL file's loops, keyed by `file:entry`; a dispatch with no formula is an
 * error, so a new kernel cannot slip out of the table.
 *
 * Run alone: `deno run -A bench/occupancy.ts [--batch 32,256] [--time 40] [--json FILE] [--summary]`.
 *
 * @module
 */

import { type Batch, encodeSentences, makeBatches } from "../src/data/batch.ts";
import { CASING_CLASSES } from "../src/data/casing.ts";
import { buildCharVocabulary, buildTagVocabulary, buildWordVocabulary } from "../src/data/vocab.ts";
import {
  acquireGpu,
  describeAdapter,
  type Dispatch,
  dispatchSpec,
  Gpu,
  type KernelProfile,
  kernelProfile,
  PROFILE_ENV,
} from "../src/gpu/mod.ts";
import { groupCharIds } from "../src/ops/char_cnn.ts";
import { groupTokenIds } from "../src/ops/embedding.ts";
import { type ModelConfig, resolveConfig } from "../src/model/config.ts";
import { NerGraph } from "../src/model/graph.ts";
import { markdownTable } from "./report.ts";
import { syntheticCorpus } from "./synthetic.ts";
import { benchArgs } from "./common.ts";

/** One dispatch of the table. */
export interface OccupancyRow {
  /** "train", "infer" (forward + decode) or "marginals" (inference's confidences). */
  phase: "train" | "infer" | "marginals";
  /** The dispatch's label. */
  label: string;
  /** `file:entry`, e.g. `lstm.wgsl:main`. */
  kernel: string;
  /** Workgroups (x, y, z). */
  workgroups: [number, number, number];
  /** Lanes per workgroup: the product of the entry point's `@workgroup_size`. */
  lanesPerWorkgroup: number;
  /** Workgroups × lanes per workgroup. */
  lanes: number;
  /** The longest serial loop of one lane, in `unit`s. */
  serial: number;
  /** What `serial` counts, e.g. "multiply-adds". */
  unit: string;
  /** The formula `serial` comes from. */
  formula: string;
}

/** One (model, profile, batch) table. */
export interface OccupancyTable {
  /** The model's name. */
  model: string;
  /** The kernel profile the graph was built with. */
  profile: KernelProfile;
  /** B. */
  batch: number;
  /** T, the batch's longest sentence. */
  time: number;
  /** Real tokens in the batch. */
  tokens: number;
  /** Every dispatch of the training step, then of inference. */
  rows: OccupancyRow[];
}

/** What a serial-loop formula may read: the model, the batch and the dispatch. */
export interface LoopContext {
  /** The dispatch's label. */
  label: string;
  /** Override constants of the dispatch's kernel. */
  constants: Record<string, number>;
  /** The dispatch's workgroups. */
  workgroups: [number, number, number];
  /** Total lanes of the dispatch. */
  lanes: number;
  /** B, T and the rows B·T of the batch. */
  B: number;
  T: number;
  rows: number;
  /** H per direction, K tags, P parameters, E the LSTM layer-0 input width. */
  H: number;
  K: number;
  P: number;
  E: number;
  /** The model configuration. */
  config: ModelConfig;
  /** Character vocabulary size, Lc characters per word in this batch. */
  charVocab: number;
  Lc: number;
  /** Largest occurrence group of one id (word, casing, character) and distinct ids. */
  groups: {
    word: number;
    casing: number;
    char: number;
    uniqueWords: number;
    uniqueChars: number;
  };
  /** The closest earlier dispatch of the same list with kernel `file:entry`. */
  before(kernel: string): Dispatch | undefined;
}

/** A formula: the serial loop of a lane, its unit and how it was computed. */
export type SerialLoop = (c: LoopContext) => { serial: number; unit: string; formula: string };

const ceil = Math.ceil;
const MAC = "multiply-adds";
const one = (unit: string): SerialLoop => () => ({ serial: 1, unit, formula: "1" });
/** A flat kernel over the P parameters: each lane strides over its share of the P/4 vec4s. */
const perVec4 = (unit: string): SerialLoop => (c) => ({
  serial: ceil(c.P / 4 / c.lanes),
  unit,
  formula: "ceil(P/4 / lanes)",
});

/** The inner dimension of a matmul, from its label (the uniform block is not on the dispatch). */
function matmulInner(c: LoopContext): { n: number; name: string } {
  const l = c.label;
  if (/input projection$/.test(l)) {
    return /lstm 0 /.test(l) ? { n: c.E, name: "E" } : { n: 2 * c.H, name: "2H" };
  }
  if (/output layer$/.test(l)) return { n: 2 * c.H, name: "2H" };
  if (/output layer dA$/.test(l)) return { n: c.K, name: "K" };
  if (/dX dA$/.test(l)) return { n: 8 * c.H, name: "8H" };
  if (/ dB$/.test(l)) return { n: c.rows, name: "B·T" };
  throw new Error(`Occupancy: no inner dimension known for the matmul '${l}'`);
}

/** Split-K chunks of the partial-sum dispatch a combine finishes (`<op> partial` before `<op> combine`). */
function chunksBefore(c: LoopContext): number {
  const dwhh = c.before("lstm_backward_gpu.wgsl:dwhh_partial");
  if (/dW_hh combine/.test(c.label) && dwhh) return dwhh.workgroups[2] / 2;
  const partial = c.label.replace(/ combine$/, " partial");
  for (const entry of ["outer_partial", "column_partial"]) {
    const d = c.before(`reduce_gpu.wgsl:${entry}`);
    if (d?.label === partial) return d.workgroups[1];
  }
  const column = c.before("reduce_gpu.wgsl:column_partial");
  if (column) return column.workgroups[1];
  throw new Error(`Occupancy: '${c.label}' has no partial-sum dispatch before it`);
}

/**
 * The longest serial loop per lane of every kernel, keyed by `file:entry`,
 * read from the WGSL (the dispatch comments and the loops of each entry).
 * Recurrences run their time loop to the group's longest sentence, so T
 * here is the batch's longest.
 */
export const SERIAL_LOOPS: Record<string, SerialLoop> = {
  // cpu profile recurrences: a lane owns 4 units (4 gates each) of 8 sentences; Hp = 4·UB.
  "lstm.wgsl:main": (c) => ({
    serial: c.T * 4 * 4 * 8 * 4 * c.constants.UB,
    unit: MAC,
    formula: "T·(4 units·4 gates·8 sentences)·Hp",
  }),
  "lstm.wgsl:pack": one("vec4 copies"),
  // a lane owns 16 units (4 quads) of 8 sentences; dh = W_hhᵀ·dz over 4·Hp rows.
  "lstm_backward.wgsl:main": (c) => ({
    serial: c.T * 16 * 4 * 8 * 4 * c.constants.UB,
    unit: MAC,
    formula: "T·(16 units·4 gates·8 sentences)·Hp",
  }),
  "lstm_backward.wgsl:pack_t": one("vec4 copies"),
  "lstm_backward.wgsl:dwhh_main": (c) => ({
    serial: 8 * 4 * c.rows,
    unit: MAC,
    formula: "(8 rows·4 columns)·B·T",
  }),
  // gpu profile: one lane per hidden unit (4 gates) of S sentences; HP = H rounded to 4.
  "lstm_gpu.wgsl:main": (c) => ({
    serial: c.T * 4 * c.constants.S * c.constants.HP,
    unit: MAC,
    formula: "T·(4 gates·S sentences)·HP",
  }),
  "lstm_gpu.wgsl:pack": one("float copies"),
  "lstm_backward_gpu.wgsl:main": (c) => ({
    serial: c.T * 4 * c.constants.S * c.constants.HP,
    unit: MAC,
    formula: "T·(S sentences)·4HP rows of dz",
  }),
  "lstm_backward_gpu.wgsl:dwhh_partial": (c) => ({
    serial: 16 * ceil(c.rows / (c.workgroups[2] / 2)),
    unit: MAC,
    formula: "(4×4 block)·ceil(B·T / chunks)",
  }),
  "reduce_gpu.wgsl:column_partial": (c) => ({
    serial: ceil(c.rows / c.workgroups[1]),
    unit: "adds",
    formula: "ceil(B·T / chunks)",
  }),
  "reduce_gpu.wgsl:outer_partial": (c) => ({
    serial: ceil(c.rows / c.workgroups[1]),
    unit: MAC,
    formula: "ceil(B·T / chunks)",
  }),
  "reduce_gpu.wgsl:combine": (c) => ({ serial: chunksBefore(c), unit: "adds", formula: "chunks" }),
  "reduce_gpu.wgsl:combine2": (c) => ({
    serial: chunksBefore(c),
    unit: "adds",
    formula: "chunks",
  }),
  // matmuls: scalar 4×4 and vec4 8×8 register blocks per lane over the inner dimension.
  "matmul.wgsl:main": (c) => {
    const inner = matmulInner(c);
    return { serial: 16 * inner.n, unit: MAC, formula: `(4×4 block)·${inner.name}` };
  },
  "matmul_vec4.wgsl:main": (c) => {
    const inner = matmulInner(c);
    return { serial: 64 * inner.n, unit: MAC, formula: `(8×8 block)·${inner.name}` };
  },
  "matmul.wgsl:colsum": (c) => ({ serial: c.rows, unit: "adds", formula: "B·T rows" }),
  // CRF: a lane per (sentence, tag); α and β each sum K terms per step.
  "crf.wgsl:train": (c) => ({
    serial: 3 * c.T * c.K,
    unit: "log-sum-exp terms",
    formula: "T·K (α) + T·K (β) + T·K (pair marginals)",
  }),
  "crf.wgsl:forward_backward": (c) => ({
    serial: 2 * c.T * c.K,
    unit: "log-sum-exp terms",
    formula: "T·K (α) + T·K (β)",
  }),
  "crf.wgsl:reduce": (c) => ({ serial: c.B, unit: "adds", formula: "B sentences" }),
  "crf.wgsl:pack_params": one("float copies"),
  "viterbi.wgsl:main": (c) => ({
    serial: c.T * c.K + c.T,
    unit: "max-plus terms",
    formula: "T·K + T (backtrack)",
  }),
  "softmax_xent.wgsl:main": (c) => ({ serial: 3 * c.K, unit: "terms", formula: "3K" }),
  "softmax_xent.wgsl:reduce": (c) => ({
    serial: ceil(c.rows / 64),
    unit: "adds",
    formula: "ceil(B·T / 64)",
  }),
  "softmax_xent.wgsl:predict": (c) => ({ serial: c.K, unit: "compares", formula: "K" }),
  // Embeddings: a lane gathers one vec4 of a row; the backward sums one id's occurrences.
  "embedding.wgsl:forward": one("vec4 gathers"),
  "embedding.wgsl:backward": (c) => {
    const casing = /casing/.test(c.label);
    return {
      serial: casing ? c.groups.casing : c.groups.word,
      unit: "vec4 adds",
      formula: casing ? "occurrences of the commonest casing" : "occurrences of the commonest word",
    };
  },
  "char_cnn.wgsl:forward": (c) => ({
    serial: ceil(c.charVocab / 256) * c.config.charDim * 3 +
      ceil(c.rows / (256 * c.workgroups[0])) * c.Lc,
    unit: "vec4 multiply-adds",
    formula: "ceil(C/256)·Dc·3 (projection) + ceil(B·T/(256·blocks))·Lc",
  }),
  "char_cnn.wgsl:forward_direct": (c) => ({
    serial: c.Lc * 3 * c.config.charDim * 8,
    unit: MAC,
    formula: "Lc·3·Dc·8 filters",
  }),
  "char_cnn.wgsl:grad_project": (c) => ({
    serial: Math.max(c.groups.char, Math.max(256, ceil(c.rows / 64))),
    unit: "vec4 adds",
    formula: "max(occurrences of the commonest character, bias block rows)",
  }),
  "char_cnn.wgsl:grad_weight": (c) => ({
    serial: 3 * Math.min(c.groups.uniqueChars, 4096),
    unit: "vec4 multiply-adds",
    formula: "3·min(distinct characters, 4096)",
  }),
  "char_cnn.wgsl:grad_reduce": (c) => {
    const slices = Math.max(1, ceil(c.groups.uniqueChars / 4096));
    const blocks = ceil(c.rows / Math.max(256, ceil(c.rows / 64)));
    return { serial: Math.max(slices, blocks), unit: "adds", formula: "max(slices, bias blocks)" };
  },
  "char_cnn.wgsl:grad_table": (c) => ({
    serial: 3 * ceil(c.config.charFilters / 4),
    unit: "vec4 multiply-adds",
    formula: "3·ceil(F/4)",
  }),
  // Element-wise kernels: a lane owns a vec4 (or 4), or a fixed share of a flat buffer.
  "dropout.wgsl:main": () => ({ serial: 4, unit: "elements", formula: "4" }),
  "dropout.wgsl:main_vec4": one("vec4s"),
  "dropout.wgsl:inplace": () => ({ serial: 4, unit: "elements", formula: "4" }),
  "dropout.wgsl:inplace_vec4": one("vec4s"),
  "fill.wgsl:main": one("vec4 stores"),
  "fill.wgsl:main_vec4": () => ({ serial: 4, unit: "vec4 stores", formula: "4" }),
  "adam.wgsl:main": perVec4("vec4 updates"),
  "adam.wgsl:sparse_rows": one("vec4 updates"),
  "average.wgsl:update": perVec4("vec4 updates"),
  "average.wgsl:swap": perVec4("vec4 swaps"),
  "grad_norm.wgsl:partial": (c) => ({
    serial: ceil(c.P / c.lanes),
    unit: "squares",
    formula: "ceil(P / lanes)",
  }),
  "grad_norm.wgsl:partial_vec4": perVec4("vec4 squares"),
  "grad_norm.wgsl:partial_rows": (c) => ({
    serial: ceil(c.groups.uniqueWords / c.lanes) * ceil(c.config.wordDim / 4),
    unit: "vec4 squares",
    formula: "ceil(distinct words / lanes)·ceil(E_word/4)",
  }),
  // 64 lanes; lane i sums partials i, i + 64, … of groups·64 partials: one per partial workgroup.
  "grad_norm.wgsl:finish": (c) => {
    const parts = ["partial", "partial_vec4", "partial_rows"]
      .map((k) => c.before(`grad_norm.wgsl:${k}`)?.workgroups[0] ?? 0);
    return {
      serial: parts.reduce((a, b) => a + b, 0),
      unit: "adds",
      formula: "workgroups of the partial sums (then a 64-lane tree)",
    };
  },
};

/**
 * The lanes per workgroup of `entry` in `code`: the product of its
 * `@workgroup_size`, with override constants from `constants` (else their
 * declared defaults) and module `const`s resolved.
 *
 * @param code the WGSL source
 * @param entry the entry point
 * @param constants the pipeline's override constants
 * @returns x·y·z
 *
 * @example
 * ```ts
 * import { workgroupLanes } from "./occupancy.ts";
 * const code = "override L: u32 = 32u;\n@compute @workgroup_size(L, 2) fn main() {}";
 * if (workgroupLanes(code, "main", { L: 64 }) !== 128) throw new Error("wrong lanes");
 * ```
 */
export function workgroupLanes(
  code: string,
  entry: string,
  constants: Record<string, number | boolean> = {},
): number {
  const re = /@compute\s+@workgroup_size\(([^)]*)\)\s*fn\s+(\w+)/g;
  for (const m of code.matchAll(re)) {
    if (m[2] !== entry) continue;
    return m[1].split(",").map((s) => s.trim()).filter((s) => s !== "")
      .map((term) => resolveTerm(code, term, constants, entry))
      .reduce((a, b) => a * b, 1);
  }
  throw new Error(`Occupancy: no '@compute @workgroup_size(…) fn ${entry}' in the kernel's WGSL`);
}

/** An integer literal, override or const of a `@workgroup_size` argument. */
function resolveTerm(
  code: string,
  term: string,
  constants: Record<string, number | boolean>,
  entry: string,
): number {
  const literal = /^(\d+)[ui]?$/.exec(term);
  if (literal) return Number(literal[1]);
  if (term in constants) return Number(constants[term]);
  const declared = new RegExp(`(?:override|const)\\s+${term}\\s*(?::\\s*\\w+)?\\s*=\\s*(\\d+)[ui]?`)
    .exec(code);
  if (declared) return Number(declared[1]);
  throw new Error(
    `Occupancy: @workgroup_size of '${entry}': expected an integer, an override or a const, ` +
      `found '${term}'`,
  );
}

/**
 * The `file:entry` key of a dispatch's kernel (the file from the WGSL's first line).
 *
 * @param d the dispatch
 * @returns e.g. `lstm.wgsl:main`
 */
export function kernelKey(d: Dispatch): string {
  const file = /^\s*\/\/\s*(\S+\.wgsl)/.exec(dispatchSpec(d).code)?.[1];
  if (!file) {
    throw new Error(`Occupancy: '${d.label}': its WGSL does not start with '// name.wgsl'`);
  }
  return `${file}:${dispatchSpec(d).entryPoint ?? "main"}`;
}

/** The batch-dependent parts of a {@linkcode LoopContext}. */
type BatchFacts = Omit<LoopContext, "label" | "constants" | "workgroups" | "lanes" | "before">;

/** The largest group size of a CSR grouping. */
function largestGroup(offsets: Int32Array): number {
  let m = 0;
  for (let i = 0; i + 1 < offsets.length; i++) m = Math.max(m, offsets[i + 1] - offsets[i]);
  return m;
}

function batchFacts(graph: NerGraph, batch: Batch, charVocab: number): BatchFacts {
  const { config } = graph;
  const T = batch.maxLength;
  const Lc = Math.max(1, Math.min(batch.maxChars, config.maxChars));
  const casing = groupTokenIds(batch.casingIds, batch.lengths, T);
  const rows = batch.size * T;
  const charIds = new Int32Array(rows * Lc);
  for (let r = 0; r < rows; r++) {
    charIds.set(batch.charIds.subarray(r * batch.maxChars, r * batch.maxChars + Lc), r * Lc);
  }
  const charLengths = batch.charLengths.map((n) => Math.min(n, Lc));
  const chars = groupCharIds(charIds, charLengths, batch.lengths, { time: T, chars: Lc });
  const cnn = config.charFeatures === "cnn";
  return {
    B: batch.size,
    T,
    rows,
    H: config.hidden,
    K: graph.sizes.tags,
    P: graph.layout.size,
    E: config.wordDim + config.casingDim + (cnn ? config.charFilters : 0),
    config,
    charVocab,
    Lc,
    groups: {
      word: largestGroup(batch.wordGroups.offsets),
      casing: largestGroup(casing.offsets),
      char: largestGroup(chars.offsets),
      uniqueWords: batch.wordGroups.uniqueIds.length,
      uniqueChars: chars.uniqueIds.length,
    },
  };
}

/**
 * The rows of one dispatch list, read at its current sizes.
 *
 * @param phase which list
 * @param list the dispatches, in order
 * @param facts the model and batch
 * @returns one row per dispatch
 */
function tableRows(
  phase: OccupancyRow["phase"],
  list: readonly Dispatch[],
  facts: BatchFacts,
): OccupancyRow[] {
  return list.map((d, i) => {
    const kernel = kernelKey(d);
    const constants = Object.fromEntries(
      Object.entries(dispatchSpec(d).constants ?? {}).map(([k, v]) => [k, Number(v)]),
    );
    const lanesPerWorkgroup = workgroupLanes(
      dispatchSpec(d).code,
      dispatchSpec(d).entryPoint ?? "main",
      constants,
    );
    const workgroups: [number, number, number] = [...d.workgroups];
    const lanes = workgroups[0] * workgroups[1] * workgroups[2] * lanesPerWorkgroup;
    const formula = SERIAL_LOOPS[kernel];
    if (!formula) {
      throw new Error(`Occupancy: no serial-loop formula for kernel '${kernel}' ('${d.label}')`);
    }
    const before = (key: string) => list.slice(0, i).findLast((e) => kernelKey(e) === key);
    const loop = formula({ ...facts, label: d.label, constants, workgroups, lanes, before });
    return { phase, label: d.label, kernel, workgroups, lanesPerWorkgroup, lanes, ...loop };
  });
}

/** A Gpu on the same device whose kernel profile is `profile` (the profile is chosen per Gpu). */
function gpuWithProfile(base: Gpu, profile: KernelProfile): Gpu {
  const previous = Deno.env.get(PROFILE_ENV);
  Deno.env.set(PROFILE_ENV, profile);
  try {
    const gpu = new Gpu(base.device, base.adapter, base.limitsMode);
    kernelProfile(gpu);
    return gpu;
  } finally {
    if (previous === undefined) Deno.env.delete(PROFILE_ENV);
    else Deno.env.set(PROFILE_ENV, previous);
  }
}

/** Options of {@linkcode occupancyTables}. */
export interface OccupancyOptions {
  /** Batch sizes (default 32 and 256). */
  batchSizes?: number[];
  /** T, the longest sentence of each batch (default 40). */
  time?: number;
  /** Profiles (default cpu and gpu). */
  profiles?: KernelProfile[];
  /** The model (default: the default model). */
  config?: Partial<ModelConfig>;
  /** Its name in the table (default "default"). */
  model?: string;
  /** Sentences of the synthetic corpus the vocabularies and batches come from (default 2,000). */
  sentences?: number;
}

/**
 * A batch of `B` synthetic sentences (CoNLL-2003's lengths) no longer than
 * `T`, whose longest has exactly `T` tokens.
 */
function occupancyBatch(
  corpus: ReturnType<typeof syntheticCorpus>,
  encoders: Parameters<typeof encodeSentences>[1],
  B: number,
  T: number,
  maxChars: number,
): Batch {
  const fit = corpus.sentences.filter((s) => s.tokens.length <= T);
  const longest = fit.findIndex((s) => s.tokens.length === T);
  if (longest < 0 || fit.length < B) {
    throw new RangeError(
      `Occupancy: the synthetic corpus has ${fit.length} sentences of at most ${T} tokens ` +
        `(${longest < 0 ? "none" : "some"} of exactly ${T}); expected ${B}, one of length ${T}`,
    );
  }
  const chosen = [fit[longest], ...fit.filter((_, i) => i !== longest).slice(0, B - 1)];
  const encoded = encodeSentences(chosen, encoders);
  return makeBatches(encoded, { batchSize: B, shuffle: false, maxChars })[0];
}

/**
 * Builds the model's graph for each profile and batch size, runs one
 * training step and one inference (with marginals) so that every dispatch
 * is sized for the batch, and reads the occupancy table off the dispatch
 * lists. Nothing is timed.
 *
 * @param gpu the device (its profile is overridden per table, on the same device)
 * @param options batch sizes, T, profiles, model
 * @returns one table per profile × batch size
 *
 * @example
 * ```ts
 * import { acquireGpu } from "../src/gpu/mod.ts";
 * import { occupancyTables } from "./occupancy.ts";
 * const [table] = await occupancyTables(await acquireGpu(), {
 *   batchSizes: [2], time: 4, profiles: ["cpu"], sentences: 200,
 *   config: { wordDim: 8, casingDim: 0, charFeatures: "none", hidden: 4 },
 * });
 * if (!table.rows.some((r) => r.kernel === "lstm.wgsl:main")) throw new Error("no recurrence");
 * ```
 */
export async function occupancyTables(
  gpu: Gpu,
  options: OccupancyOptions = {},
): Promise<OccupancyTable[]> {
  const T = options.time ?? 40;
  const config = resolveConfig(options.config ?? {});
  const corpus = syntheticCorpus({ sentences: options.sentences ?? 2000, seed: 1, vocab: 20_000 });
  const words = buildWordVocabulary(corpus.sentences);
  const chars = buildCharVocabulary(corpus.sentences);
  const tags = buildTagVocabulary(corpus.tagNames);
  const sizes = {
    words: words.size,
    chars: chars.size,
    casings: CASING_CLASSES.length,
    tags: tags.size,
  };
  const tables: OccupancyTable[] = [];
  for (const profile of options.profiles ?? ["cpu", "gpu"]) {
    const pgpu = gpuWithProfile(gpu, profile);
    for (const B of options.batchSizes ?? [32, 256]) {
      const batch = occupancyBatch(corpus, { words, chars, tags }, B, T, config.maxChars);
      const graph = await NerGraph.create(pgpu, config, sizes, {
        maxBatch: B,
        maxTime: T,
        maxChars: config.maxChars,
      });
      try {
        const facts = batchFacts(graph, batch, chars.size);
        graph.trainOn(batch, { lr: 1e-3, maxNorm: 5 });
        await graph.takeLoss();
        const rows = tableRows("train", graph.trainStep, facts);
        await graph.infer(batch, { marginals: true });
        const infer = [...graph.inferForward, ...graph.inferHead.decode];
        rows.push(...tableRows("infer", infer, facts));
        rows.push(...tableRows("marginals", graph.inferHead.marginals, facts));
        tables.push({
          model: options.model ?? "default",
          profile,
          batch: B,
          time: T,
          tokens: batch.tokens,
          rows,
        });
      } finally {
        graph.destroy();
      }
    }
  }
  return tables;
}

/**
 * A table as markdown: one row per dispatch, with a total line per phase.
 *
 * @param table the table
 * @returns the markdown
 *
 * @example
 * ```ts
 * import { occupancyMarkdown } from "./occupancy.ts";
 * const md = occupancyMarkdown({ model: "m", profile: "cpu", batch: 1, time: 1, tokens: 1, rows: [{
 *   phase: "train", label: "x", kernel: "fill.wgsl:main", workgroups: [2, 1, 1],
 *   lanesPerWorkgroup: 64, lanes: 128, serial: 1, unit: "vec4 stores", formula: "1",
 * }] });
 * if (!md.includes("| 2·1·1 | 64 | 128 |")) throw new Error(md);
 * ```
 */
export function occupancyMarkdown(table: OccupancyTable): string {
  const n = (v: number) => v.toLocaleString("en-US");
  const title = `${table.model}, ${table.profile} profile, B=${table.batch}, T=${table.time} ` +
    `(${n(table.tokens)} tokens)`;
  const rows = table.rows.map((r) => [
    r.phase,
    r.label,
    `\`${r.kernel}\``,
    r.workgroups.join("·"),
    r.lanesPerWorkgroup,
    n(r.lanes),
    `${n(r.serial)} ${r.unit}`,
    r.formula,
  ]);
  return `${title}\n\n` + markdownTable(
    [
      "phase",
      "dispatch",
      "kernel",
      "workgroups",
      "lanes/wg",
      "lanes",
      "longest serial loop per lane",
      "formula",
    ],
    rows,
  );
}

/**
 * One profile's tables at several batch sizes side by side (the README's
 * form): per dispatch, lanes per workgroup, then workgroups, lanes and the
 * longest serial loop at each B.
 *
 * @param tables tables of one model and profile, one per batch size (same dispatch lists)
 * @returns the markdown
 *
 * @example
 * ```ts
 * import { occupancySummary } from "./occupancy.ts";
 * const row = { phase: "train" as const, label: "x", kernel: "fill.wgsl:main",
 *   workgroups: [2, 1, 1] as [number, number, number], lanesPerWorkgroup: 64, lanes: 128,
 *   serial: 1, unit: "vec4 stores", formula: "1" };
 * const md = occupancySummary([{ model: "m", profile: "cpu", batch: 1, time: 1, tokens: 1,
 *   rows: [row] }]);
 * if (!md.includes("| 128 |")) throw new Error(md);
 * ```
 */
export function occupancySummary(tables: readonly OccupancyTable[]): string {
  const n = (v: number) => v.toLocaleString("en-US");
  const [first] = tables;
  const header = ["phase", "dispatch", "kernel", "lanes/wg"];
  for (const t of tables) header.push(`workgroups B=${t.batch}`, `lanes B=${t.batch}`);
  for (const t of tables) header.push(`serial loop B=${t.batch}`);
  const rows = first.rows.map((r, i) => {
    const cells: (string | number)[] = [r.phase, r.label, `\`${r.kernel}\``, r.lanesPerWorkgroup];
    for (const t of tables) cells.push(t.rows[i].workgroups.join("·"), n(t.rows[i].lanes));
    for (const t of tables) cells.push(`${n(t.rows[i].serial)} ${t.rows[i].unit}`);
    return cells;
  });
  return markdownTable(header, rows);
}

if (import.meta.main) {
  const usage =
    `Usage: deno run -A bench/occupancy.ts [--batch 32,256] [--time 40] [--json FILE] [--summary]

Prints, for the default model and both kernel profiles, every dispatch of a
training step and of inference with its workgroups, lanes and longest serial
loop per lane (nothing is timed). --summary: one table per profile, batch sizes side by side.`;
  const values = benchArgs(usage, {
    batch: { type: "string", default: "32,256" },
    time: { type: "string", default: "40" },
    json: { type: "string" },
    summary: { type: "boolean" },
  });
  const batchSizes = values.batch!.split(",").map(Number);
  const time = Number(values.time);
  if (
    !batchSizes.every((b) => Number.isInteger(b) && b > 0) || !(Number.isInteger(time) && time > 0)
  ) {
    console.error(
      `--batch and --time: expected positive integers, got '${values.batch}' and '${values.time}'`,
    );
    Deno.exit(2);
  }
  try {
    const gpu = await acquireGpu();
    console.log(`adapter: ${describeAdapter(gpu.adapter)}\n`);
    const tables = await occupancyTables(gpu, { batchSizes, time });
    if (values.summary) {
      for (const profile of ["cpu", "gpu"]) {
        const mine = tables.filter((t) => t.profile === profile);
        const t = mine[0];
        console.log(`${t.model}, ${profile} profile, T=${t.time}\n\n${occupancySummary(mine)}\n`);
      }
    } else {
      for (const t of tables) console.log(occupancyMarkdown(t) + "\n");
    }
    if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(tables, null, 2) + "\n");
  } catch (e) {
    console.error(`occupancy: ${(e as Error).message}`);
    Deno.exit(1);
  }
}

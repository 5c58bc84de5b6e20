/**
 * A trained model with a new label set, for fine-tuning on data whose tags
 * differ from the model's: the output layer and the CRF keep their rows and
 * columns for the labels both sets share and start fresh (seeded, with the
 * same initialisers as a new model) for the new ones; labels only the old
 * model has are dropped. The word and character vocabularies, embeddings,
 * character CNN and BiLSTM are kept as they are.
 *
 * Shapes: K old tags, K' new tags, H hidden per direction.
 * `out.weight` (K, 2H) → (K', 2H), `out.bias` (K) → (K'),
 * `crf.transitions` (K, K) [from, to] → (K', K'), `crf.start`, `crf.end` (K) → (K').
 *
 * @module
 */

import { CASING_CLASSES } from "../data/casing.ts";
import { mulberry32 } from "../data/random.ts";
import { Vocabulary } from "../data/vocab.ts";
import type { ModelData } from "./checkpoint.ts";
import { initialValues, parameterSpecs } from "./parameters.ts";

/** Options of {@linkcode relabelModel}. */
export interface RelabelOptions {
  /** Seed of the fresh rows and columns (default 1). */
  seed?: number;
}

/** Tensors whose leading dimension (and, for transitions, both) is the tag count K. */
const TAG_TENSORS = ["out.weight", "out.bias", "crf.transitions", "crf.start", "crf.end"];

/**
 * Returns a copy of a model that outputs `tags`: parameters of shared labels
 * are copied, those of new labels freshly initialised, everything else kept.
 *
 * @param model the trained model (not modified)
 * @param tags the new label set in id order, e.g. `["O", "B-PER", "I-PER"]`; unique, not empty
 * @param options the seed of the new parameters
 * @returns the relabelled model, with `summary.relabeled` listing kept, new and dropped labels
 * @throws {Error} when `tags` is empty or has a duplicate or an empty label
 *
 * @example
 * ```ts
 * import { randomModel } from "../api/random_model.ts";
 * import { relabelModel } from "./relabel.ts";
 * const model = randomModel({ tags: ["O", "B-geo", "I-geo"] });
 * const relabeled = relabelModel(model, ["O", "B-LOC", "B-geo"]);
 * if (relabeled.tags.items.join() !== "O,B-LOC,B-geo") throw new Error("tags");
 * if (relabeled.tensors["out.bias"].length !== 3) throw new Error("output layer");
 * ```
 */
export function relabelModel(
  model: ModelData,
  tags: readonly string[],
  options: RelabelOptions = {},
): ModelData {
  validateTags(tags);
  const oldTags = model.tags.items;
  // For every new label, its id in the old model, or -1 when it is new.
  const from = tags.map((t) => (model.tags.has(t) ? model.tags.id(t) : -1));
  const newTags = new Vocabulary(tags, { specials: false });
  const specs = parameterSpecs(model.config, {
    words: model.words.size,
    chars: model.chars.size,
    casings: CASING_CLASSES.length,
    tags: tags.length,
  });
  const random = mulberry32(options.seed ?? 1);
  const tensors: Record<string, Float32Array> = { ...model.tensors };
  for (const spec of specs) {
    if (!TAG_TENSORS.includes(spec.name)) continue;
    const old = model.tensors[spec.name];
    assertTensor(spec.name, old, spec.shape, oldTags.length);
    const fresh = initialValues(spec, random);
    tensors[spec.name] = spec.name === "crf.transitions"
      ? copyMatrix(fresh, old, from, oldTags.length)
      : copyRows(fresh, old, from, spec.shape.slice(1).reduce((a, b) => a * b, 1));
  }
  return {
    ...model,
    tags: newTags,
    tensors,
    summary: {
      ...model.summary,
      relabeled: {
        kept: tags.filter((_, i) => from[i] >= 0),
        added: tags.filter((_, i) => from[i] < 0),
        dropped: oldTags.filter((t) => !newTags.has(t)),
      },
    },
  };
}

function validateTags(tags: readonly string[]): void {
  if (tags.length === 0) throw new Error("relabelModel: expected at least one tag, found none");
  const seen = new Set<string>();
  for (const t of tags) {
    if (typeof t !== "string" || t.length === 0) {
      throw new Error(`relabelModel: expected non-empty tag strings, found ${JSON.stringify(t)}`);
    }
    if (seen.has(t)) throw new Error(`relabelModel: the tag "${t}" is listed twice`);
    seen.add(t);
  }
}

function assertTensor(name: string, old: Float32Array | undefined, shape: number[], K: number) {
  const rest = shape.slice(1).reduce((a, b) => a * b, 1);
  const perRow = name === "crf.transitions" ? K : rest;
  if (!old || old.length !== K * perRow) {
    throw new Error(
      `relabelModel: tensor '${name}' has ${old?.length ?? "no"} values, expected ${K * perRow}`,
    );
  }
}

/** fresh (K', R) ← old (K, R) row by row where the label is kept. */
function copyRows(fresh: Float32Array, old: Float32Array, from: number[], R: number): Float32Array {
  from.forEach((k, i) => {
    if (k >= 0) fresh.set(old.subarray(k * R, (k + 1) * R), i * R);
  });
  return fresh;
}

/** fresh (K', K') ← old (K, K) for every pair of kept labels. */
function copyMatrix(
  fresh: Float32Array,
  old: Float32Array,
  from: number[],
  K: number,
): Float32Array {
  const K2 = from.length;
  for (let i = 0; i < K2; i++) {
    for (let j = 0; j < K2; j++) {
      if (from[i] >= 0 && from[j] >= 0) fresh[i * K2 + j] = old[from[i] * K + from[j]];
    }
  }
  return fresh;
}

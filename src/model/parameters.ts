/**
 * The model's parameter tensors: PyTorch names and layouts (so a
 * checkpoint loads into `nn.Embedding`, `nn.Conv1d`, `nn.LSTM` and
 * `nn.Linear` directly) and their initialisation.
 *
 * @module
 */

import type { ModelConfig } from "./config.ts";
import { inputDim } from "./config.ts";

/** One parameter tensor: its PyTorch name, shape and initialiser. */
export interface ParameterSpec {
  /** PyTorch-style name, e.g. `lstm.weight_ih_l0_reverse`. */
  name: string;
  /** Shape, PyTorch order. */
  shape: number[];
  /** How to fill it before training. */
  init: { kind: "uniform"; bound: number } | { kind: "zeros" } | { kind: "normal"; std: number };
}

/** Sizes the parameters depend on besides the config. */
export interface VocabularySizes {
  /** Words V (including `<pad>` and `<unk>`). */
  words: number;
  /** Characters C (including `<pad>` and `<unk>`). */
  chars: number;
  /** Casing classes. */
  casings: number;
  /** Tags K. */
  tags: number;
}

/**
 * Lists the parameters of a model, in a fixed order.
 *
 * @param config the model configuration
 * @param sizes vocabulary sizes
 * @returns the specs
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * import { parameterSpecs } from "./parameters.ts";
 * const specs = parameterSpecs(resolveConfig({ charFeatures: "none", casingDim: 0 }), {
 *   words: 10, chars: 5, casings: 8, tags: 3,
 * });
 * const names = specs.map((s) => s.name);
 * if (!names.includes("lstm.weight_hh_l0_reverse") || !names.includes("crf.transitions")) {
 *   throw new Error(names.join());
 * }
 * ```
 */
export function parameterSpecs(config: ModelConfig, sizes: VocabularySizes): ParameterSpec[] {
  const H = config.hidden;
  const K = sizes.tags;
  const lstmBound = 1 / Math.sqrt(H); // as torch.nn.LSTM
  const specs: ParameterSpec[] = [
    // Uniform ±√(3/E) gives unit variance per row sum, as Lample et al.
    {
      name: "word_emb.weight",
      shape: [sizes.words, config.wordDim],
      init: { kind: "uniform", bound: Math.sqrt(3 / config.wordDim) },
    },
  ];
  if (config.casingDim > 0) {
    specs.push({
      name: "casing_emb.weight",
      shape: [sizes.casings, config.casingDim],
      init: { kind: "uniform", bound: Math.sqrt(3 / config.casingDim) },
    });
  }
  if (config.charFeatures === "cnn") {
    specs.push(
      {
        name: "char_emb.weight",
        shape: [sizes.chars, config.charDim],
        init: { kind: "uniform", bound: Math.sqrt(3 / config.charDim) },
      },
      {
        name: "char_cnn.weight",
        shape: [config.charFilters, config.charDim, 3],
        init: { kind: "uniform", bound: 1 / Math.sqrt(config.charDim * 3) },
      },
      { name: "char_cnn.bias", shape: [config.charFilters], init: { kind: "zeros" } },
    );
  }
  for (let layer = 0; layer < config.layers; layer++) {
    const E = layer === 0 ? inputDim(config) : 2 * H;
    for (const suffix of ["", "_reverse"]) {
      const u = { kind: "uniform" as const, bound: lstmBound };
      specs.push(
        { name: `lstm.weight_ih_l${layer}${suffix}`, shape: [4 * H, E], init: u },
        { name: `lstm.weight_hh_l${layer}${suffix}`, shape: [4 * H, H], init: u },
        { name: `lstm.bias_ih_l${layer}${suffix}`, shape: [4 * H], init: u },
        { name: `lstm.bias_hh_l${layer}${suffix}`, shape: [4 * H], init: u },
      );
    }
  }
  specs.push(
    {
      name: "out.weight",
      shape: [K, 2 * H],
      init: { kind: "uniform", bound: 1 / Math.sqrt(2 * H) },
    },
    { name: "out.bias", shape: [K], init: { kind: "zeros" } },
  );
  if (config.head === "crf") {
    specs.push(
      { name: "crf.transitions", shape: [K, K], init: { kind: "uniform", bound: 0.1 } },
      { name: "crf.start", shape: [K], init: { kind: "uniform", bound: 0.1 } },
      { name: "crf.end", shape: [K], init: { kind: "uniform", bound: 0.1 } },
    );
  }
  return specs;
}

/**
 * Fills `out` per the spec's initialiser with a seeded generator.
 *
 * @param spec the parameter
 * @param random uniform [0, 1) generator
 * @returns the values
 *
 * @example
 * ```ts
 * import { initialValues } from "./parameters.ts";
 * const v = initialValues({ name: "b", shape: [3], init: { kind: "zeros" } }, Math.random);
 * if (v.some((x) => x !== 0)) throw new Error();
 * ```
 */
export function initialValues(spec: ParameterSpec, random: () => number): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const init = spec.init;
  if (init.kind === "uniform") {
    for (let i = 0; i < n; i++) out[i] = (2 * random() - 1) * init.bound;
  } else if (init.kind === "normal") {
    for (let i = 0; i < n; i += 2) {
      // Box–Muller: two normals per two uniforms.
      const r = Math.sqrt(-2 * Math.log(1 - random()));
      const theta = 2 * Math.PI * random();
      out[i] = r * Math.cos(theta) * init.std;
      if (i + 1 < n) out[i + 1] = r * Math.sin(theta) * init.std;
    }
  }
  return out;
}

/**
 * Float64 reference for the embedding family, from the definition: a
 * lookup with padding rows set to zero, and the table gradient summed
 * token by token (no grouping). For tests and benchmarks only.
 *
 * @module
 */

/** Shape of the reference lookup. */
export interface EmbeddingRefDims {
  /** B. */
  batch: number;
  /** T. */
  time: number;
  /** D. */
  dim: number;
  /** V. */
  vocab: number;
}

function isReal(
  r: number,
  ids: ArrayLike<number>,
  lengths: ArrayLike<number>,
  dims: EmbeddingRefDims,
) {
  const id = ids[r];
  return r % dims.time < lengths[Math.floor(r / dims.time)] && id >= 0 && id < dims.vocab;
}

/**
 * out[r] = table[ids[r]] for real tokens r = b·T + t (t < lengths[b]) with
 * ids in [0, V); zero rows otherwise.
 *
 * @param table (V, D)
 * @param ids (B·T)
 * @param lengths (B)
 * @param dims shape
 * @returns out (B·T, D)
 *
 * @example
 * ```ts
 * import { embeddingForwardRef } from "./embedding_ref.ts";
 * const out = embeddingForwardRef([1, 2], [1, 0], [1], { batch: 1, time: 2, dim: 1, vocab: 2 });
 * if (out.join() !== "2,0") throw new Error(out.join());
 * ```
 */
export function embeddingForwardRef(
  table: ArrayLike<number>,
  ids: ArrayLike<number>,
  lengths: ArrayLike<number>,
  dims: EmbeddingRefDims,
): Float64Array {
  const { batch, time, dim } = dims;
  const out = new Float64Array(batch * time * dim);
  for (let r = 0; r < batch * time; r++) {
    if (!isReal(r, ids, lengths, dims)) continue;
    for (let d = 0; d < dim; d++) out[r * dim + d] = table[ids[r] * dim + d];
  }
  return out;
}

/**
 * dTable[v] = Σ over real tokens r with ids[r] = v of dOut[r]: the gradient
 * of sum(out · dOut) with respect to the table.
 *
 * @param dOut (B·T, D) upstream gradient
 * @param ids (B·T)
 * @param lengths (B)
 * @param dims shape
 * @returns dTable (V, D)
 *
 * @example
 * ```ts
 * import { embeddingBackwardRef } from "./embedding_ref.ts";
 * const d = embeddingBackwardRef([1, 2, 4], [1, 1, 1], [2], { batch: 1, time: 3, dim: 1, vocab: 2 });
 * if (d.join() !== "0,3") throw new Error(d.join());
 * ```
 */
export function embeddingBackwardRef(
  dOut: ArrayLike<number>,
  ids: ArrayLike<number>,
  lengths: ArrayLike<number>,
  dims: EmbeddingRefDims,
): Float64Array {
  const { batch, time, dim, vocab } = dims;
  const dTable = new Float64Array(vocab * dim);
  for (let r = 0; r < batch * time; r++) {
    if (!isReal(r, ids, lengths, dims)) continue;
    for (let d = 0; d < dim; d++) dTable[ids[r] * dim + d] += dOut[r * dim + d];
  }
  return dTable;
}

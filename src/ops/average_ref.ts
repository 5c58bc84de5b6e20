/**
 * Reference for the averaging family: one exponential-moving-average step in
 * float64, what `shaders/average.wgsl`'s `update` computes in f32. For tests
 * and benchmarks only.
 *
 * @module
 */

/**
 * `average[i] += weight · (params[i] − average[i])`, in place, in float64.
 *
 * @param average the running average (updated)
 * @param params the current parameters
 * @param weight the update weight, in [0, 1]
 *
 * @example
 * ```ts
 * import { averageStepRef } from "./average_ref.ts";
 * const average = Float64Array.of(0, 4);
 * averageStepRef(average, [2, 0], 0.25);
 * if (average.join() !== "0.5,3") throw new Error(average.join());
 * ```
 */
export function averageStepRef(
  average: Float64Array,
  params: ArrayLike<number>,
  weight: number,
): void {
  for (let i = 0; i < average.length; i++) average[i] += weight * (params[i] - average[i]);
}

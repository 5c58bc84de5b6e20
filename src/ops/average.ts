/**
 * The averaging family: an exponential moving average of all parameters
 * (Polyak averaging) kept on the GPU beside the flat parameter buffer, and
 * an in-place swap so evaluation and checkpoints can use the averaged
 * weights without copies or readbacks. Kernel: `shaders/average.wgsl`;
 * reference: `average_ref.ts`.
 *
 * @module
 */

import { average as averageWgsl } from "../../shaders/mod.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Dispatch, makeDispatch, ParamBlock } from "../gpu/kernel.ts";

/** The two dispatches of {@linkcode parameterAverage}. */
export interface ParameterAverage {
  /** `average += weight · (params − average)`; record it after the optimizer. */
  update: Dispatch;
  /** Exchanges `params` and `average` (run it twice to undo). */
  swap: Dispatch;
  /**
   * Sets the weight of the next `update`s.
   *
   * @param weight in [0, 1]; 1 copies the parameters into the average
   */
  setWeight(weight: number): void;
}

/** Invocations per workgroup in `average.wgsl`. */
const WG = 64;
/** vec4s per invocation when the buffer is small enough. */
const PER = 2;
/** WebGPU's per-dimension workgroup limit. */
const MAX_GROUPS = 65535;

/**
 * Builds the averaging dispatches over `size` floats of two buffers.
 *
 * @param gpu the device
 * @param buffers the parameters and the average (each ≥ size floats)
 * @param size floats, a positive multiple of 4 (a {@linkcode ParameterLayout} size)
 * @param label name for errors and profiles
 * @returns the update and swap dispatches and the weight setter
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { parameterAverage } from "./average.ts";
 * const gpu = await acquireGpu();
 * const params = createBuffer(gpu, "p", new Float32Array([2, 2, 2, 2]));
 * const average = createBuffer(gpu, "avg", new Float32Array(4));
 * const avg = await parameterAverage(gpu, { params, average }, 4);
 * avg.setWeight(0.25);
 * submitDispatches(gpu, [avg.update]);
 * if ((await readFloat32(gpu, average)).join() !== "0.5,0.5,0.5,0.5") throw new Error("not averaged");
 * ```
 */
export async function parameterAverage(
  gpu: Gpu,
  buffers: { params: GPUBuffer; average: GPUBuffer },
  size: number,
  label = "average",
): Promise<ParameterAverage> {
  if (!Number.isInteger(size) || size < 4 || size % 4 !== 0) {
    throw new RangeError(`${label}: size must be a positive multiple of 4, got ${size}`);
  }
  for (const [name, buffer] of Object.entries(buffers)) {
    if (buffer.size < size * 4) {
      throw new RangeError(`${label}: ${name} holds ${buffer.size / 4} floats, expected ≥ ${size}`);
    }
  }
  const len4 = size / 4;
  let per = PER;
  if (Math.ceil(len4 / (WG * per)) > MAX_GROUPS) per = Math.ceil(len4 / (WG * MAX_GROUPS));
  const groups = Math.ceil(len4 / (WG * per));
  const dims = new ParamBlock(gpu, `${label} dims`, [len4, per, 0, 0, 0, 0, 0, 0]);
  const bindings = [dims.buffer, buffers.params, buffers.average];
  const update = await makeDispatch(
    gpu,
    { label: `${label} update`, code: averageWgsl, entryPoint: "update" },
    bindings,
    [groups],
  );
  const swap = await makeDispatch(
    gpu,
    { label: `${label} swap`, code: averageWgsl, entryPoint: "swap" },
    bindings,
    [groups],
  );
  return {
    update,
    swap,
    setWeight(weight: number) {
      if (!(weight >= 0 && weight <= 1)) {
        throw new RangeError(`${label}: weight must be in [0, 1], got ${weight}`);
      }
      dims.setFloat(4, weight);
    },
  };
}

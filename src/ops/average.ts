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
import { type Binding, type Dispatch, makeDispatch } from "../gpu/kernel.ts";
import { bindingBytes, flatPlan, type Op, opAllocator, type OpOptions } from "./common.ts";

/** The averaging op: `dispatches` is `[update]`, recorded after the optimizer; `swap` runs alone. */
export interface ParameterAverage extends Op {
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

/** vec4s per invocation when the buffer is small enough. */
const PER = 2;
/** WebGPU's per-dimension workgroup limit. */
const MAX_GROUPS = 65535;

/**
 * Builds the averaging dispatches over `size` floats of two buffers.
 *
 * @param gpu the device
 * @param buffers the parameters and the average (each ≥ size floats)
 * @param options size: floats, a positive multiple of 4 (a {@linkcode ParameterLayout}
 *   size); label, allocator
 * @returns the update and swap dispatches and the weight setter
 *
 * @example
 * ```ts
 * import { acquireGpu, createBuffer, readFloat32, submitDispatches } from "../gpu/mod.ts";
 * import { parameterAverage } from "./average.ts";
 * const gpu = await acquireGpu();
 * const params = createBuffer(gpu, "p", new Float32Array([2, 2, 2, 2]));
 * const average = createBuffer(gpu, "avg", new Float32Array(4));
 * const avg = await parameterAverage(gpu, { params, average }, { size: 4 });
 * avg.setWeight(0.25);
 * submitDispatches(gpu, [avg.update]);
 * if ((await readFloat32(gpu, average)).join() !== "0.5,0.5,0.5,0.5") throw new Error("not averaged");
 * avg.destroy();
 * ```
 */
export async function parameterAverage(
  gpu: Gpu,
  buffers: { params: Binding; average: Binding },
  options: OpOptions & { size: number },
): Promise<ParameterAverage> {
  const label = options.label ?? "average";
  const { size } = options;
  if (!Number.isInteger(size) || size < 4 || size % 4 !== 0) {
    throw new RangeError(`${label}: size must be a positive multiple of 4, got ${size}`);
  }
  for (const [name, buffer] of Object.entries(buffers)) {
    if (bindingBytes(buffer) < size * 4) {
      throw new RangeError(
        `${label}: ${name} holds ${bindingBytes(buffer) / 4} floats, expected ≥ ${size}`,
      );
    }
  }
  const plan = flatPlan(size, { per: PER, maxGroups: MAX_GROUPS });
  const mem = opAllocator(gpu, label, options);
  const dims = mem.uniform(`${label} dims`, [plan.len, plan.per, 0, 0, 0, 0, 0, 0]);
  const bindings = [dims.buffer, buffers.params, buffers.average];
  const code = averageWgsl;
  const update = await makeDispatch(
    gpu,
    { label: `${label} update`, code, entryPoint: "update" },
    bindings,
    [plan.groups],
  );
  const swap = await makeDispatch(
    gpu,
    { label: `${label} swap`, code, entryPoint: "swap" },
    bindings,
    [plan.groups],
  );
  return {
    label,
    dispatches: [update],
    update,
    swap,
    resize() {},
    setWeight(weight: number) {
      if (!(weight >= 0 && weight <= 1)) {
        throw new RangeError(`${label}: weight must be in [0, 1], got ${weight}`);
      }
      dims.setFloat(4, weight);
    },
    destroy: () => mem.destroy(),
  };
}

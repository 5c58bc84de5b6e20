/**
 * Kernel profiles: which family of kernels a device runs.
 *
 * - `cpu`: the kernels shaped for software adapters (llvmpipe, lavapipe,
 *   SwiftShader, WARP), where one workgroup runs on one CPU thread: few fat
 *   invocations, each owning several units of several sentences, with long
 *   serial loops and W_hh from uniform buffers.
 * - `gpu`: the kernels shaped for real GPUs: many lanes per workgroup (one per
 *   hidden unit), operands broadcast from workgroup memory, weights read
 *   coalesced from storage, and reductions over B·T split into chunks whose
 *   partial sums are added in a fixed order.
 *
 * The choice comes from the adapter (its `isFallbackAdapter` flag, its
 * description, its limits) unless the environment variable
 * `WEBGPU_NER_PROFILE` (`cpu`, `gpu` or `auto`) forces one. Both profiles
 * compute the same results (each kernel is tested against the float64
 * references), so the choice changes speed, not answers.
 *
 * @module
 */

import type { AdapterSummary, Gpu } from "./device.ts";

/** A family of kernels: `cpu` for software adapters, `gpu` for real GPUs. */
export type KernelProfile = "cpu" | "gpu";

/** The environment variable that forces a profile: `cpu`, `gpu`, or `auto` (or unset). */
export const PROFILE_ENV = "WEBGPU_NER_PROFILE";

/** The limits the `gpu` profile's kernels need (WebGPU's defaults). */
export const GPU_PROFILE_LIMITS = {
  /** One lane per hidden unit, H ≤ 256. */
  maxComputeInvocationsPerWorkgroup: 256,
  /** The recurrences' workgroup width. */
  maxComputeWorkgroupSizeX: 256,
  /** h (forward) or dz (backward) of a sentence group, double-buffered. */
  maxComputeWorkgroupStorageSize: 16_384,
} as const;

/** The limits {@linkcode chooseProfile} reads (a `GPUSupportedLimits` has them all). */
export type ProfileLimits = Record<keyof typeof GPU_PROFILE_LIMITS, number>;

/** A profile and why it was chosen (for logs and benchmark output). */
export interface ProfileChoice {
  /** The profile. */
  profile: KernelProfile;
  /** One line: what decided it. */
  reason: string;
}

/** Options for {@linkcode chooseProfile}. */
export interface ChooseProfileOptions {
  /**
   * The override's value, as `WEBGPU_NER_PROFILE` would hold it; default: that variable
   * (read when the runtime allows; unset in browsers). `undefined`, `""` and `"auto"` mean
   * no override.
   */
  override?: string;
}

/** Adapter descriptions of software rasterizers that may not set `isFallbackAdapter`. */
const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|\bwarp\b|basic render|software/i;

/**
 * Parses a profile override.
 *
 * @param value `cpu`, `gpu`, `auto`, an empty string or undefined (any case, spaces trimmed)
 * @param source what held the value, for the error message
 * @returns the forced profile, or undefined for automatic choice
 * @throws {RangeError} for any other value, naming the source and the accepted values
 *
 * @example
 * ```ts
 * import { parseProfile } from "./profile.ts";
 * if (parseProfile(" GPU ") !== "gpu") throw new Error("not parsed");
 * if (parseProfile("auto") !== undefined) throw new Error("auto is no override");
 * ```
 */
export function parseProfile(
  value: string | undefined,
  source: string = PROFILE_ENV,
): KernelProfile | undefined {
  const v = value?.trim().toLowerCase();
  if (v === undefined || v === "" || v === "auto") return undefined;
  if (v === "cpu" || v === "gpu") return v;
  throw new RangeError(
    `${source}: expected "cpu", "gpu" or "auto", found ${JSON.stringify(value)}`,
  );
}

/**
 * Reads `WEBGPU_NER_PROFILE` where the runtime has an environment (Deno with env
 * access); undefined elsewhere (browsers, or Deno without `--allow-env`).
 *
 * @returns the variable's raw value, or undefined
 *
 * @example
 * ```ts
 * import { profileFromEnvironment } from "./profile.ts";
 * const raw = profileFromEnvironment();
 * if (raw !== undefined && typeof raw !== "string") throw new Error("not a string");
 * ```
 */
export function profileFromEnvironment(): string | undefined {
  // deno-lint-ignore no-explicit-any
  const deno = (globalThis as any).Deno;
  if (!deno?.env?.get) return undefined;
  try {
    const state = deno.permissions?.querySync?.({ name: "env", variable: PROFILE_ENV })?.state;
    if (state !== undefined && state !== "granted") return undefined;
    return deno.env.get(PROFILE_ENV);
  } catch {
    return undefined;
  }
}

/**
 * Chooses the kernel profile for an adapter: the override when one is set,
 * else `cpu` for fallback (software) adapters and for devices below the
 * `gpu` profile's limits ({@linkcode GPU_PROFILE_LIMITS}), else `gpu`.
 *
 * @param adapter what the adapter says about itself
 * @param limits the device's limits
 * @param options the override (default: `WEBGPU_NER_PROFILE`)
 * @returns the profile and the reason
 * @throws {RangeError} when the override is not `cpu`, `gpu` or `auto`, or forces `gpu`
 *   on a device below its limits
 *
 * @example
 * ```ts
 * import { chooseProfile } from "./profile.ts";
 * const limits = {
 *   maxComputeInvocationsPerWorkgroup: 256,
 *   maxComputeWorkgroupSizeX: 256,
 *   maxComputeWorkgroupStorageSize: 16384,
 * };
 * const adapter = {
 *   description: "NVIDIA H100", vendor: "nvidia", architecture: "",
 *   isFallbackAdapter: false, features: [],
 * };
 * if (chooseProfile(adapter, limits, { override: "" }).profile !== "gpu") throw new Error();
 * const soft = { ...adapter, description: "llvmpipe (LLVM 15)", isFallbackAdapter: true };
 * if (chooseProfile(soft, limits, { override: "" }).profile !== "cpu") throw new Error();
 * ```
 */
export function chooseProfile(
  adapter: AdapterSummary,
  limits: ProfileLimits,
  options: ChooseProfileOptions = {},
): ProfileChoice {
  const raw = "override" in options ? options.override : profileFromEnvironment();
  const forced = parseProfile(raw);
  const short = missingLimit(limits);
  if (forced === "gpu" && short) {
    throw new RangeError(
      `${PROFILE_ENV}=gpu: the gpu profile needs ${short}; use cpu or auto on this device`,
    );
  }
  if (forced) return { profile: forced, reason: `${PROFILE_ENV}=${forced}` };
  if (adapter.isFallbackAdapter) {
    return { profile: "cpu", reason: "fallback (software) adapter" };
  }
  if (SOFTWARE.test(adapter.description)) {
    return { profile: "cpu", reason: `software adapter by its name (${adapter.description})` };
  }
  if (short) return { profile: "cpu", reason: `the gpu profile needs ${short}` };
  return { profile: "gpu", reason: "hardware adapter" };
}

/** The first limit below what the gpu profile needs, described, or null. */
function missingLimit(limits: ProfileLimits): string | null {
  for (const [name, needed] of Object.entries(GPU_PROFILE_LIMITS)) {
    const has = limits[name as keyof ProfileLimits];
    if (!(has >= needed)) return `${name} ≥ ${needed}, found ${has}`;
  }
  return null;
}

const chosen = new WeakMap<Gpu, ProfileChoice>();

/**
 * The profile of a device, chosen once per {@linkcode Gpu} by
 * {@linkcode chooseProfile} (with `WEBGPU_NER_PROFILE` as it was then).
 *
 * @param gpu the device
 * @returns the profile and the reason
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * import { kernelProfile } from "./profile.ts";
 * const { profile, reason } = kernelProfile(await acquireGpu());
 * console.log(profile, reason);
 * ```
 */
export function kernelProfile(gpu: Gpu): ProfileChoice {
  let choice = chosen.get(gpu);
  if (!choice) {
    choice = chooseProfile(gpu.adapter, gpu.device.limits);
    chosen.set(gpu, choice);
  }
  return choice;
}

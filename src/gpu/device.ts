/**
 * Acquiring a WebGPU device, and turning WebGPU's asynchronous failures
 * (validation errors, device loss) into exceptions that name the kernel.
 *
 * Works the same in Deno and in browsers: only `navigator.gpu` is used.
 *
 * @module
 */

/** What a session learned about its adapter, printed by every CLI and benchmark. */
export interface AdapterSummary {
  /** Human-readable adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** Vendor as the adapter reports it (a name or a PCI id). */
  vendor: string;
  /** Architecture string, often empty. */
  architecture: string;
  /** True for software adapters (llvmpipe, SwiftShader, WARP). */
  isFallbackAdapter: boolean;
  /** Optional features this device was created with. */
  features: string[];
}

/** Thrown when `navigator.gpu` or an adapter is missing; says what to install or enable. */
export class NoAdapterError extends Error {
  /** @param detail why no adapter was obtained */
  constructor(detail: string) {
    super(
      `No WebGPU adapter found (${detail}).\n` +
        "  Deno: WebGPU is built into Deno 2.x; on Linux without a GPU it runs on Mesa's " +
        "software rasterizer (install `libgl1-mesa-dri libegl1`, or `mesa-vulkan-drivers " +
        "libvulkan1` for Vulkan), and DENO_WEBGPU_BACKEND must not be set to an empty string.\n" +
        "  Chrome/Chromium: use version 113 or later; on Linux start it with " +
        "`--enable-unsafe-webgpu` (or enable chrome://flags/#enable-unsafe-webgpu).\n" +
        "  Firefox: version 141 or later, or set dom.webgpu.enabled in about:config.\n" +
        "  Safari: version 26 or later.",
    );
    this.name = "NoAdapterError";
  }
}

/** Thrown once the device is lost (driver reset, out of memory, or `destroy()`). */
export class DeviceLostError extends Error {
  /** @param reason the reason WebGPU gave @param message WebGPU's message */
  constructor(reason: string, message: string) {
    super(
      `The WebGPU device was lost (${reason}): ${message || "no message"}. ` +
        "Results computed since the last successful readback are invalid; " +
        "create a new device with acquireGpu({ fresh: true }) and reload the model.",
    );
    this.name = "DeviceLostError";
  }
}

/** A validation or out-of-memory error raised by WebGPU for a labelled operation. */
export class GpuOperationError extends Error {
  /** @param label the kernel or buffer label @param message WebGPU's message */
  constructor(readonly label: string, message: string) {
    super(`WebGPU error in '${label}': ${message}`);
    this.name = "GpuOperationError";
  }
}

/** Options for {@linkcode acquireGpu}. */
export interface AcquireOptions {
  /** Adapter preference; default "high-performance". */
  powerPreference?: GPUPowerPreference;
  /** Make a new device instead of returning the shared one. */
  fresh?: boolean;
  /**
   * Which limits to request: `"adapter"` (the adapter's full storage,
   * workgroup and buffer limits) or `"default"` (none raised: WebGPU's
   * defaults, what every device offers). Default: the environment variable
   * `WEBGPU_NER_LIMITS` (`default` or `adapter`) where there is one, else
   * `"adapter"`.
   */
  limits?: LimitsMode;
}

/** Which device limits {@linkcode acquireGpu} requests. */
export type LimitsMode = "adapter" | "default";

/**
 * The limits mode `WEBGPU_NER_LIMITS` asks for, or undefined (unset, no
 * environment, or no permission to read it).
 *
 * @returns the mode
 * @throws {RangeError} when the variable holds something else
 *
 * @example
 * ```ts
 * import { limitsFromEnvironment } from "./device.ts";
 * const mode = limitsFromEnvironment();
 * if (mode !== undefined && mode !== "default" && mode !== "adapter") throw new Error(mode);
 * ```
 */
export function limitsFromEnvironment(): LimitsMode | undefined {
  let value: string | undefined;
  try {
    // deno-lint-ignore no-explicit-any
    value = (globalThis as any).Deno?.env?.get("WEBGPU_NER_LIMITS");
  } catch {
    return undefined;
  }
  if (value === undefined || value === "") return undefined;
  if (value !== "default" && value !== "adapter") {
    throw new RangeError(
      `WEBGPU_NER_LIMITS: expected "default" or "adapter", found "${value}"`,
    );
  }
  return value;
}

/**
 * A WebGPU device plus the bookkeeping every op needs: adapter summary,
 * deferred error reporting, and device-loss state.
 */
export class Gpu {
  /** Errors caught asynchronously, thrown by the next {@linkcode Gpu.check}. */
  #pending: GpuOperationError[] = [];
  #lost: DeviceLostError | null = null;

  /**
   * @param device the device
   * @param adapter what the adapter said about itself
   */
  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    readonly limitsMode: LimitsMode = "adapter",
  ) {
    device.lost.then((info) => {
      this.#lost = new DeviceLostError(info.reason, info.message);
    });
    device.addEventListener("uncapturederror", (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.#pending.push(new GpuOperationError("uncaptured", error.message));
    });
  }

  /** The device's queue. */
  get queue(): GPUQueue {
    return this.device.queue;
  }

  /** True once the device has been lost. */
  get isLost(): boolean {
    return this.#lost !== null;
  }

  /**
   * Runs `body` inside validation and out-of-memory error scopes; errors it
   * raises are thrown by the next {@linkcode Gpu.check} (or awaited here with
   * `wait: true`), labelled with `label`.
   */
  scoped<T>(label: string, body: () => T): T {
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    let result: T;
    try {
      result = body();
    } finally {
      for (let i = 0; i < 2; i++) {
        this.device.popErrorScope().then((error) => {
          if (error) this.#pending.push(new GpuOperationError(label, error.message));
        });
      }
    }
    return result;
  }

  /** Like {@linkcode Gpu.scoped} but waits for the scopes and throws at once. */
  async scopedNow<T>(label: string, body: () => T): Promise<T> {
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    let result: T | undefined;
    let thrown: unknown = null;
    try {
      result = body();
    } catch (e) {
      thrown = e;
    }
    const validation = await this.device.popErrorScope();
    const memory = await this.device.popErrorScope();
    if (thrown) throw thrown;
    const error = validation ?? memory;
    if (error) throw new GpuOperationError(label, error.message);
    return result as T;
  }

  /**
   * Records an error found asynchronously, to be thrown by the next
   * {@linkcode Gpu.check}.
   *
   * @param error the error
   */
  report(error: GpuOperationError): void {
    this.#pending.push(error);
  }

  /** Throws the first pending asynchronous error, or a device-lost error. */
  check(): void {
    if (this.#lost) throw this.#lost;
    const first = this.#pending.shift();
    if (first) {
      this.#pending.length = 0;
      throw first;
    }
  }

  /** Releases the device. */
  destroy(): void {
    this.device.destroy();
  }
}

let shared: Promise<Gpu> | null = null;

/**
 * Returns the shared GPU device, creating it on first use. Requests the
 * adapter's full storage, workgroup and buffer limits (or, with `limits:
 * "default"` or `WEBGPU_NER_LIMITS=default`, none: WebGPU's defaults), and
 * the optional features the kernels can use (`timestamp-query`, `shader-f16`).
 * The shared device is replaced when a different limits mode is asked for.
 *
 * @param options adapter preference; `fresh` for a new device; the limits mode
 * @returns the device wrapper
 * @throws {NoAdapterError} when WebGPU or an adapter is unavailable
 *
 * @example
 * ```ts
 * import { acquireGpu } from "./device.ts";
 * const gpu = await acquireGpu();
 * console.log(gpu.adapter.description, gpu.adapter.isFallbackAdapter);
 * ```
 */
export function acquireGpu(options: AcquireOptions = {}): Promise<Gpu> {
  const limits = options.limits ?? limitsFromEnvironment() ?? "adapter";
  if (!options.fresh && shared) {
    const current = shared;
    return current.then((gpu) => {
      if (!gpu.isLost && gpu.limitsMode === limits) return gpu;
      // Lost, or other limits asked for: a new shared device.
      if (shared === current) shared = null;
      return acquireGpu({ ...options, limits });
    });
  }
  options = { ...options, limits };
  const created = createGpu(options);
  if (!options.fresh || !shared) shared = created;
  created.catch(() => {
    if (shared === created) shared = null;
  });
  return created;
}

async function createGpu(options: AcquireOptions): Promise<Gpu> {
  const gpuApi = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpuApi) throw new NoAdapterError("navigator.gpu is undefined");
  const adapter = await gpuApi.requestAdapter({
    powerPreference: options.powerPreference ?? "high-performance",
  });
  if (!adapter) throw new NoAdapterError("requestAdapter() returned null");
  const wanted: (keyof GPUSupportedLimits)[] = [
    "maxStorageBuffersPerShaderStage",
    "maxComputeWorkgroupStorageSize",
    "maxStorageBufferBindingSize",
    "maxBufferSize",
    "maxComputeInvocationsPerWorkgroup",
    "maxComputeWorkgroupSizeX",
    "maxComputeWorkgroupSizeY",
    "maxUniformBufferBindingSize",
    "maxUniformBuffersPerShaderStage",
    "maxComputeWorkgroupsPerDimension",
  ];
  const requiredLimits: Record<string, number> = {};
  if (options.limits !== "default") {
    for (const name of wanted) requiredLimits[name] = adapter.limits[name] as number;
  }
  const optional: GPUFeatureName[] = ["timestamp-query", "shader-f16"];
  const requiredFeatures = optional.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  // deno-lint-ignore no-explicit-any
  const info: any = adapter.info ?? {};
  const summary: AdapterSummary = {
    // Some browsers leave the description empty (SwiftShader: vendor "google", architecture "swiftshader").
    description: info.description ||
      [info.vendor, info.architecture].filter(Boolean).join(" ") || info.device ||
      "unknown adapter",
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    // `isFallbackAdapter` moved from the adapter to its info object in the spec.
    // deno-lint-ignore no-explicit-any
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? (adapter as any).isFallbackAdapter),
    features: requiredFeatures,
  };
  return new Gpu(device, summary, options.limits);
}

/**
 * One line naming the adapter, for logs and benchmark output.
 *
 * @param adapter the summary from {@linkcode Gpu.adapter}
 * @returns e.g. `llvmpipe (LLVM 15.0.6, 256 bits) [software fallback]`
 *
 * @example
 * ```ts
 * import { describeAdapter } from "./device.ts";
 * const line = describeAdapter({
 *   description: "NVIDIA H100", vendor: "nvidia", architecture: "",
 *   isFallbackAdapter: false, features: [],
 * });
 * if (line !== "NVIDIA H100 (nvidia)") throw new Error(line);
 * ```
 */
export function describeAdapter(adapter: AdapterSummary): string {
  const vendor = adapter.vendor && !/^\d+$/.test(adapter.vendor) ? ` (${adapter.vendor})` : "";
  return adapter.description + vendor + (adapter.isFallbackAdapter ? " [software fallback]" : "");
}

import assert from "node:assert/strict";
import { acquireGpu, type AdapterSummary } from "../src/gpu/device.ts";
import {
  chooseProfile,
  GPU_PROFILE_LIMITS,
  kernelProfile,
  parseProfile,
  PROFILE_ENV,
  profileFromEnvironment,
} from "../src/gpu/profile.ts";

const hardware: AdapterSummary = {
  description: "NVIDIA H100 80GB HBM3",
  vendor: "nvidia",
  architecture: "hopper",
  isFallbackAdapter: false,
  features: [],
};
const defaults = { ...GPU_PROFILE_LIMITS };
const auto = { override: "" };

Deno.test("profile: a hardware adapter with the default limits gets gpu", () => {
  assert.deepEqual(chooseProfile(hardware, defaults, auto), {
    profile: "gpu",
    reason: "hardware adapter",
  });
});

Deno.test("profile: fallback adapters get cpu, by the flag or by their name", () => {
  const flagged = { ...hardware, description: "some adapter", isFallbackAdapter: true };
  assert.equal(chooseProfile(flagged, defaults, auto).profile, "cpu");
  assert.match(chooseProfile(flagged, defaults, auto).reason, /fallback/);
  // Some runtimes leave isFallbackAdapter false on software rasterizers.
  for (
    const description of [
      "llvmpipe (LLVM 15.0.6, 256 bits)",
      "Vulkan: lavapipe",
      "SwiftShader Device (Subzero)",
      "Microsoft Basic Render Driver",
    ]
  ) {
    const choice = chooseProfile({ ...hardware, description }, defaults, auto);
    assert.equal(choice.profile, "cpu", description);
    assert.match(choice.reason, /software adapter by its name/);
  }
});

Deno.test("profile: a device below the gpu kernels' limits gets cpu", () => {
  // Chrome's compatibility mode: 128 invocations per workgroup.
  const compat = { ...defaults, maxComputeInvocationsPerWorkgroup: 128 };
  const choice = chooseProfile(hardware, compat, auto);
  assert.equal(choice.profile, "cpu");
  assert.match(choice.reason, /maxComputeInvocationsPerWorkgroup ≥ 256, found 128/);
});

Deno.test("profile: the override forces either profile", () => {
  const soft = { ...hardware, description: "llvmpipe", isFallbackAdapter: true };
  assert.deepEqual(chooseProfile(soft, defaults, { override: "gpu" }), {
    profile: "gpu",
    reason: `${PROFILE_ENV}=gpu`,
  });
  assert.equal(chooseProfile(hardware, defaults, { override: "CPU" }).profile, "cpu");
  assert.equal(chooseProfile(hardware, defaults, { override: "auto" }).profile, "gpu");
  assert.equal(chooseProfile(soft, defaults, { override: undefined }).profile, "cpu");
  // Forcing gpu where its kernels cannot run is an error, not a silent fallback.
  const small = { ...defaults, maxComputeWorkgroupStorageSize: 8192 };
  assert.throws(
    () => chooseProfile(hardware, small, { override: "gpu" }),
    /WEBGPU_NER_PROFILE=gpu: the gpu profile needs maxComputeWorkgroupStorageSize ≥ 16384, found 8192/,
  );
});

Deno.test("profile: a bad value is a clear error naming the variable and the choices", () => {
  assert.throws(
    () => chooseProfile(hardware, defaults, { override: "fast" }),
    (e: unknown) =>
      e instanceof RangeError &&
      e.message === 'WEBGPU_NER_PROFILE: expected "cpu", "gpu" or "auto", found "fast"',
  );
  assert.throws(() => parseProfile("gpu2", "--profile"), /^RangeError: --profile: expected/);
  assert.equal(parseProfile(undefined), undefined);
  assert.equal(parseProfile("  "), undefined);
});

Deno.test("profile: the environment variable is read, and kernelProfile follows it", async () => {
  const before = Deno.env.get(PROFILE_ENV);
  try {
    Deno.env.set(PROFILE_ENV, "gpu");
    assert.equal(profileFromEnvironment(), "gpu");
    const soft = { ...hardware, isFallbackAdapter: true };
    assert.equal(chooseProfile(soft, defaults).profile, "gpu");
    Deno.env.set(PROFILE_ENV, "nope");
    assert.throws(() => chooseProfile(soft, defaults), /found "nope"/);
    Deno.env.delete(PROFILE_ENV);
    assert.equal(profileFromEnvironment(), undefined);
    assert.equal(chooseProfile(soft, defaults).profile, "cpu");
    // This machine's adapter: a fresh device is chosen for once, by its adapter.
    const gpu = await acquireGpu({ fresh: true });
    const choice = kernelProfile(gpu);
    const expected = gpu.adapter.isFallbackAdapter ? "cpu" : chooseProfile(
      gpu.adapter,
      gpu.device.limits,
      auto,
    ).profile;
    assert.equal(choice.profile, expected, `${gpu.adapter.description}: ${choice.reason}`);
    Deno.env.set(PROFILE_ENV, choice.profile === "cpu" ? "gpu" : "cpu");
    assert.equal(kernelProfile(gpu), choice, "chosen once per device");
    gpu.destroy();
  } finally {
    if (before === undefined) Deno.env.delete(PROFILE_ENV);
    else Deno.env.set(PROFILE_ENV, before);
  }
});

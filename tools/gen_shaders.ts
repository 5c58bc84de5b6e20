/**
 * Generates `shaders/mod.ts`: every `shaders/*.wgsl` file as a string
 * export, its `//#include "common/…"` lines replaced by the snippets they
 * name (tools/wgsl_include.ts), so the same complete WGSL loads from a
 * local checkout, from an `https://` import of `mod.ts`, and inside a
 * browser bundle, with no file reads or fetches at run time.
 *
 * Usage: `deno task shaders` writes the file; `--check` fails when it is
 * out of date (part of `deno task ok`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { shaderModuleText, shaderNames } from "./wgsl_include.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { check: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } },
});
if (values.help) {
  console.log(
    "Usage: deno run -A tools/gen_shaders.ts [--check]\n\n" +
      "Writes shaders/mod.ts from shaders/*.wgsl (includes resolved); with --check, exits 1 if\n" +
      "it is stale.",
  );
  Deno.exit(0);
}

const dir = new URL("../shaders/", import.meta.url);
const names = shaderNames(dir);
let out: string;
try {
  out = shaderModuleText(dir);
} catch (e) {
  console.error((e as Error).message);
  Deno.exit(1);
}

const target = new URL("mod.ts", dir);
let current = "";
try {
  current = Deno.readTextFileSync(target);
} catch { /* first run */ }
if (values.check) {
  if (current !== out) {
    console.error("shaders/mod.ts is out of date with shaders/*.wgsl: run `deno task shaders`.");
    Deno.exit(1);
  }
} else if (current !== out) {
  Deno.writeTextFileSync(target, out);
  console.log(`wrote shaders/mod.ts (${names.length} shaders)`);
}

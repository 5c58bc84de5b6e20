/**
 * What one entry point of a WGSL module asks of a device, read from the
 * source: the storage and uniform buffers it binds, the workgroup storage
 * it declares and its invocations per workgroup, with override constants
 * resolved. Pipeline creation validates binding counts against the
 * device's limits, but not every implementation checks workgroup storage
 * (wgpu on llvmpipe accepts a 16,400-byte array on a 16 KiB device), so
 * tests read the source too.
 *
 * The reading is the one a resource-limit check needs, not a WGSL parser:
 * module-scope declarations, function bodies by brace matching, and the
 * variables an entry point uses through the functions it calls.
 *
 * @module
 */

import type { KernelSpec } from "./kernel.ts";

/** One entry point's resources. */
export interface EntryResources {
  /** The entry point. */
  entryPoint: string;
  /** Storage buffer bindings the entry uses (group, binding pairs). */
  storageBuffers: number;
  /** Uniform buffer bindings the entry uses. */
  uniformBuffers: number;
  /** Bytes of workgroup storage: each used variable rounded up to 16 bytes, summed. */
  workgroupBytes: number;
  /** @workgroup_size x·y·z. */
  invocations: number;
  /** @workgroup_size (x, y, z). */
  workgroupSize: [number, number, number];
}

/** A module-scope resource declaration. */
interface Resource {
  name: string;
  space: "storage" | "uniform" | "workgroup";
  slot: string;
  type: string;
}

/** Removes comments. */
function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/[^\n]*/g, "");
}

/**
 * The entry points of a WGSL module (functions marked `@compute`).
 *
 * @param code WGSL source
 * @returns their names, in source order
 *
 * @example
 * ```ts
 * import { computeEntryPoints } from "./wgsl_resources.ts";
 * const code = "@compute @workgroup_size(1) fn a() {}\nfn b() {}\n@compute @workgroup_size(2) fn c() {}";
 * if (computeEntryPoints(code).join() !== "a,c") throw new Error("wrong entries");
 * ```
 */
export function computeEntryPoints(code: string): string[] {
  const src = stripComments(code);
  return [...src.matchAll(/@compute[^;{]*?\bfn\s+(\w+)/g)].map((m) => m[1]);
}

/** Module-scope `const` and `override` values, overrides replaced by the spec's constants. */
function constantValues(src: string, constants: Record<string, number | boolean>) {
  const values = new Map<string, number>();
  const decl = /^\s*(const|override)\s+(\w+)\s*(?::\s*[\w<>]+)?\s*(?:=\s*([^;]+))?;/gm;
  for (const m of src.matchAll(decl)) {
    const [, kind, name, init] = m;
    if (kind === "override" && name in constants) {
      values.set(name, Number(constants[name]));
    } else if (init !== undefined) {
      const v = evaluate(init, values);
      if (v !== null) values.set(name, v);
    }
  }
  return values;
}

/**
 * Evaluates an integer expression of literals, names and + − * / % ( )
 * (`/` truncates, as u32 division does); null when it has anything else.
 */
function evaluate(expr: string, values: Map<string, number>): number | null {
  const text = expr.trim();
  if (text === "true") return 1;
  if (text === "false") return 0;
  const tokens = text.match(/\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[uif]?|\w+|[-+*/%()]/g) ?? [];
  if (tokens.join("") !== text.replace(/\s+/g, "")) return null;
  let i = 0;
  const atom = (): number | null => {
    const t = tokens[i++];
    if (t === undefined) return null;
    if (t === "(") {
      const v = sum();
      return tokens[i++] === ")" ? v : null;
    }
    if (t === "-") {
      const v = atom();
      return v === null ? null : -v;
    }
    if (/^\d/.test(t)) return Number(t.replace(/[uif]$/, ""));
    return values.get(t) ?? null;
  };
  const product = (): number | null => {
    let v = atom();
    while (v !== null && (tokens[i] === "*" || tokens[i] === "/" || tokens[i] === "%")) {
      const op = tokens[i++];
      const r = atom();
      if (r === null) return null;
      v = op === "*" ? v * r : op === "/" ? Math.trunc(v / r) : v % r;
    }
    return v;
  };
  const sum = (): number | null => {
    let v = product();
    while (v !== null && (tokens[i] === "+" || tokens[i] === "-")) {
      const op = tokens[i++];
      const r = product();
      if (r === null) return null;
      v = op === "+" ? v + r : v - r;
    }
    return v;
  };
  const v = sum();
  return i === tokens.length ? v : null;
}

/** Size and alignment of a workgroup variable's type (scalars, vectors, fixed arrays, atomics). */
function typeLayout(type: string, values: Map<string, number>): { size: number; align: number } {
  const t = type.replace(/\s+/g, "");
  const scalar = /^(f32|u32|i32|bool|atomic<(u32|i32)>)$/;
  if (scalar.test(t)) return { size: 4, align: 4 };
  const vec = t.match(/^vec([234])(?:<\w+>|[fiu])$/);
  if (vec) {
    const n = Number(vec[1]);
    return { size: 4 * n, align: n === 2 ? 8 : 16 };
  }
  const arr = t.match(/^array<(.+),([^,<>]+)>$/);
  if (arr) {
    const element = typeLayout(arr[1], values);
    const count = evaluate(arr[2], values);
    if (count === null) throw new Error(`WGSL array length '${arr[2]}' is not a known constant`);
    const stride = Math.ceil(element.size / element.align) * element.align;
    return { size: count * stride, align: element.align };
  }
  throw new Error(`WGSL workgroup type '${type}' is not one this reader sizes`);
}

/** Module-scope resource variables. */
function resources(src: string): Resource[] {
  const out: Resource[] = [];
  const bound =
    /@group\((\d+)\)\s*@binding\((\d+)\)\s*var<(storage|uniform)[^>]*>\s*(\w+)\s*:\s*([^;]+);/g;
  for (const m of src.matchAll(bound)) {
    out.push({
      name: m[4],
      space: m[3] as "storage" | "uniform",
      slot: `${m[1]}:${m[2]}`,
      type: m[5],
    });
  }
  for (const m of src.matchAll(/var<workgroup>\s*(\w+)\s*:\s*([^;]+);/g)) {
    out.push({ name: m[1], space: "workgroup", slot: m[1], type: m[2] });
  }
  return out;
}

/** Function name → its body (brace matched). */
function functionBodies(src: string): Map<string, string> {
  const bodies = new Map<string, string>();
  for (const m of src.matchAll(/\bfn\s+(\w+)\s*\(/g)) {
    let i = src.indexOf("{", m.index);
    const start = i;
    let depth = 0;
    for (; i < src.length; i++) {
      if (src[i] === "{") depth++;
      else if (src[i] === "}" && --depth === 0) break;
    }
    bodies.set(m[1], src.slice(m.index, i + 1).slice(start - m.index));
  }
  return bodies;
}

/** Identifiers an entry point reaches through its body and the functions it calls. */
function reachedNames(entry: string, bodies: Map<string, string>): Set<string> {
  const seen = new Set<string>();
  const names = new Set<string>();
  const visit = (fn: string) => {
    if (seen.has(fn)) return;
    seen.add(fn);
    // Member accesses (`gid.x`, `dims.rows`) are not names.
    for (const [id] of (bodies.get(fn) ?? "").matchAll(/(?<![.\w])[A-Za-z_]\w*/g)) {
      names.add(id);
      if (bodies.has(id)) visit(id);
    }
  };
  visit(entry);
  return names;
}

/**
 * The resources one kernel's entry point uses, overrides resolved from the
 * spec's constants (else their defaults).
 *
 * @param spec the kernel: source, entry point (default `main`) and constants
 * @returns its buffers, workgroup storage and invocations
 * @throws {Error} when the entry point is not in the source, or a workgroup
 *   array's length is not a constant expression this reader evaluates
 *
 * @example
 * ```ts
 * import { entryResources } from "./wgsl_resources.ts";
 * const code = `override N: u32 = 4u;
 * @group(0) @binding(0) var<storage, read_write> x: array<f32>;
 * @group(0) @binding(1) var<storage, read> unused: array<f32>;
 * var<workgroup> tile: array<vec4f, 2u * N>;
 * @compute @workgroup_size(N, 2) fn main() { tile[0] = vec4f(1.0); x[0] = tile[0].x; }`;
 * const r = entryResources({ label: "k", code, constants: { N: 8 } });
 * if (r.storageBuffers !== 1 || r.workgroupBytes !== 256 || r.invocations !== 16) {
 *   throw new Error(JSON.stringify(r));
 * }
 * ```
 */
export function entryResources(spec: KernelSpec): EntryResources {
  const src = stripComments(spec.code);
  const entryPoint = spec.entryPoint ?? "main";
  const values = constantValues(src, spec.constants ?? {});
  const bodies = functionBodies(src);
  if (!bodies.has(entryPoint)) {
    throw new Error(`Kernel '${spec.label}': expected an entry point '${entryPoint}', found none`);
  }
  const used = reachedNames(entryPoint, bodies);
  const slots = { storage: new Set<string>(), uniform: new Set<string>() };
  let workgroupBytes = 0;
  for (const r of resources(src)) {
    if (!used.has(r.name)) continue;
    if (r.space === "workgroup") {
      workgroupBytes += Math.ceil(typeLayout(r.type, values).size / 16) * 16;
    } else {
      slots[r.space].add(r.slot);
    }
  }
  const attr = src.match(
    new RegExp(`@workgroup_size\\(([^)]*)\\)[^{;]*?\\bfn\\s+${entryPoint}\\s*\\(`),
  );
  if (!attr) throw new Error(`Kernel '${spec.label}:${entryPoint}': no @workgroup_size found`);
  const dims = attr[1].split(",").map((e) => e.trim()).filter((e) => e !== "");
  const size = [1, 1, 1] as [number, number, number];
  dims.forEach((e, i) => {
    const v = evaluate(e, values);
    if (v === null) throw new Error(`Kernel '${spec.label}:${entryPoint}': @workgroup_size '${e}'`);
    size[i] = v;
  });
  return {
    entryPoint,
    storageBuffers: slots.storage.size,
    uniformBuffers: slots.uniform.size,
    workgroupBytes,
    invocations: size[0] * size[1] * size[2],
    workgroupSize: size,
  };
}

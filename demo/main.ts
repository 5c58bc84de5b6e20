/**
 * Builds and serves the web demo.
 *
 * `deno task demo:build [--out DIR]` bundles `demo/app.tsx` (Preact and the
 * library) and the training worker `demo/train_worker.ts` (the library) with
 * esbuild into a static site: `index.html`, `app.<hash>.js`,
 * `train_worker.<hash>.js`, `style.<hash>.css`, `models/gmb-small.<hash>.safetensors` when the
 * repository has the model, and `_headers` (long-lived caching of the hashed
 * files, for hosts that read it). The hash is the first 10 hex digits of the
 * file's SHA-256, so a changed file gets a new name and the old one can be
 * cached for a year. It prints the bundles' gzipped sizes and fails when
 * together they are above the 200 KB budget.
 *
 * `deno task demo [--port N]` builds into `out/demo` and serves it on
 * http://127.0.0.1:N/ (default 8000).
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- pinned npm dependency; deno.json has no imports map
import "npm:preact@10.29.8";
// deno-lint-ignore no-import-prefix -- pinned npm dependency; deno.json has no imports map
import "npm:preact@10.29.8/hooks";
// deno-lint-ignore no-import-prefix -- pinned npm dependency; deno.json has no imports map
import "npm:preact@10.29.8/jsx-runtime";
// deno-lint-ignore no-import-prefix -- pinned npm dependency; deno.json has no imports map
import * as esbuild from "npm:esbuild@0.28.2";
import { gzipSync } from "node:zlib";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

/** Largest allowed gzipped JavaScript bundle, in bytes (the 200 KB). */
export const BUNDLE_BUDGET_GZIP = 200 * 1024;

/** Where the shipped model lives in the repository (the site has it under a hashed name). */
export const MODEL_PATH = "models/gmb-small.safetensors";

/** The Cache-Control header of content-hashed files. */
export const IMMUTABLE = "public, max-age=31536000, immutable";

/** A content-hashed file name: `name.<10 hex digits>.ext`. */
const HASHED = /\.[0-9a-f]{10}\.[a-z]+$/;

const DEMO = new URL("./", import.meta.url);
const ROOT = new URL("../", import.meta.url);

/** Options of {@linkcode buildDemo}. */
export interface BuildOptions {
  /** Output folder (created; files in it are replaced). */
  outDir: string;
  /** Minify the bundle (default true). */
  minify?: boolean;
  /** Copy the shipped model when the repository has it (default true). */
  includeModel?: boolean;
  /** The model file to ship as `models/gmb-small.safetensors` (default: the repository's). */
  modelFile?: string | URL;
}

/** What {@linkcode buildDemo} wrote and measured. */
export interface BuildReport {
  /** The output folder. */
  outDir: string;
  /** Size of the JavaScript bundle in bytes. */
  bundleBytes: number;
  /** Size of the bundle after gzip (level 9), in bytes. */
  bundleGzipBytes: number;
  /** Size of the training worker's bundle (`train_worker.js`), and after gzip, in bytes. */
  workerBytes: number;
  workerGzipBytes: number;
  /** Whether the shipped model was copied into the site. */
  modelIncluded: boolean;
  /** The site's files by their source name: `app.js` → `app.1a2b3c4d5e.js`, … */
  files: Record<string, string>;
}

/** `name.ext` → `name.<first 10 hex digits of SHA-256>.ext`. */
async function hashedName(name: string, bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  const hex = [...digest.subarray(0, 5)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const dot = name.lastIndexOf(".");
  return `${name.slice(0, dot)}.${hex}${name.slice(dot)}`;
}

/** Writes bytes under their hashed name and returns that name (relative to the site). */
async function writeHashed(outDir: string, name: string, bytes: Uint8Array): Promise<string> {
  const hashed = await hashedName(name, bytes);
  const slash = hashed.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(`${outDir}/${hashed.slice(0, slash)}`, { recursive: true });
  await Deno.writeFile(`${outDir}/${hashed}`, bytes);
  return hashed;
}

/** The npm packages the page bundles, as the `npm:` specifiers imported above. */
const PACKAGES: Record<string, string> = { preact: "npm:preact@10.29.8" };

/**
 * esbuild does not know `npm:` specifiers; Deno does. This plugin resolves
 * the ones this script imports (so they are in Deno's graph) to the files in
 * Deno's npm cache, and the bare names those files import (`preact`) to the
 * same versions.
 */
const denoNpm: esbuild.Plugin = {
  name: "deno-npm",
  setup(build) {
    build.onResolve({ filter: /^(npm:|[a-z@])/ }, (args) => {
      let specifier = args.path;
      if (!specifier.startsWith("npm:")) {
        const name = Object.keys(PACKAGES).find((p) =>
          specifier === p || specifier.startsWith(p + "/")
        );
        if (!name) return undefined;
        specifier = PACKAGES[name] + specifier.slice(name.length);
      }
      const resolved = import.meta.resolve(specifier);
      if (!resolved.startsWith("file:")) {
        return {
          errors: [{
            text: `Cannot resolve ${specifier}: import it in demo/main.ts so Deno fetches it`,
          }],
        };
      }
      return { path: fileURLToPath(resolved) };
    });
  },
};

/**
 * Builds the static site.
 *
 * @param options the output folder and switches
 * @returns sizes and whether the model was included
 * @throws {Error} when the bundle fails to build or exceeds {@linkcode BUNDLE_BUDGET_GZIP}
 *
 * @example
 * ```ts ignore
 * import { buildDemo } from "./main.ts";
 * const report = await buildDemo({ outDir: "out/demo" });
 * console.log(report.bundleGzipBytes);
 * ```
 */
export async function buildDemo(options: BuildOptions): Promise<BuildReport> {
  const outDir = options.outDir.replace(/\/+$/, "");
  await Deno.mkdir(outDir, { recursive: true });
  const minify = options.minify ?? true;
  const [js, worker] = await Promise.all([
    bundle("app.tsx", minify),
    bundle("train_worker.ts", minify),
  ]).finally(() => esbuild.stop());
  await removeHashed(outDir);
  const files: Record<string, string> = {
    "app.js": await writeHashed(outDir, "app.js", js),
    "train_worker.js": await writeHashed(outDir, "train_worker.js", worker),
    "style.css": await writeHashed(
      outDir,
      "style.css",
      await Deno.readFile(new URL("style.css", DEMO)),
    ),
  };
  const model = options.includeModel ?? true ? await readModel(options.modelFile) : null;
  if (model) files[MODEL_PATH] = await writeHashed(outDir, MODEL_PATH, model);
  const html = (await Deno.readTextFile(new URL("index.html", DEMO)))
    .replace('src="app.js"', `src="${files["app.js"]}"`)
    .replace('href="style.css"', `href="${files["style.css"]}"`)
    .replace('content="train_worker.js"', `content="${files["train_worker.js"]}"`)
    .replace(`content="${MODEL_PATH}"`, `content="${files[MODEL_PATH] ?? MODEL_PATH}"`);
  await Deno.writeTextFile(`${outDir}/index.html`, html);
  // Netlify and Cloudflare Pages read this file; GitHub Pages ignores it (its cache is 10 min).
  await Deno.writeTextFile(
    `${outDir}/_headers`,
    Object.values(files).map((f) => `/${f}\n  Cache-Control: ${IMMUTABLE}\n`).join("") +
      "/index.html\n  Cache-Control: no-cache\n",
  );
  files["index.html"] = "index.html";
  const report = {
    outDir,
    bundleBytes: js.length,
    bundleGzipBytes: gzipSync(js, { level: 9 }).length,
    workerBytes: worker.length,
    workerGzipBytes: gzipSync(worker, { level: 9 }).length,
    modelIncluded: model !== null,
    files,
  };
  const total = report.bundleGzipBytes + report.workerGzipBytes;
  if (total > BUNDLE_BUDGET_GZIP) {
    throw new Error(
      `The demo's JavaScript is ${kb(total)} gzipped (app.js ${kb(report.bundleGzipBytes)}, ` +
        `train_worker.js ${kb(report.workerGzipBytes)}); the budget is ${kb(BUNDLE_BUDGET_GZIP)}`,
    );
  }
  return report;
}

/** Bundles one entry point of demo/ (Preact and the library included) into one ES module. */
async function bundle(entry: string, minify: boolean): Promise<Uint8Array> {
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(new URL(entry, DEMO))],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify,
    jsx: "automatic",
    jsxImportSource: "npm:preact@10.29.8",
    write: false,
    logLevel: "silent",
    plugins: [denoNpm],
  });
  return result.outputFiles[0].contents;
}

/** Removes the hashed files of an earlier build (`app.*.js`, `style.*.css`, `models/gmb-small.*`). */
async function removeHashed(outDir: string): Promise<void> {
  for (const dir of [outDir, `${outDir}/models`]) {
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (entry.isFile && HASHED.test(entry.name)) await Deno.remove(`${dir}/${entry.name}`);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}

async function readModel(file: string | URL | undefined): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(file ?? new URL(MODEL_PATH, ROOT));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  png: "image/png",
  json: "application/json",
  safetensors: "application/octet-stream",
  txt: "text/plain; charset=utf-8",
  jsonl: "text/plain; charset=utf-8",
};

/** A running static server. */
export interface StaticServer {
  /** Base URL ending in "/". */
  url: string;
  /** Stops the server. */
  close(): Promise<void>;
}

/**
 * Serves a folder on 127.0.0.1 (what any static host does: files by path,
 * `index.html` for "/"), with a year's caching for content-hashed names and
 * revalidation for the rest; 400 for a malformed path.
 *
 * @param dir the folder
 * @param options the port (0: any free one)
 * @returns the server
 *
 * @example
 * ```ts ignore
 * import { serveStatic } from "./main.ts";
 * const server = serveStatic("out/demo", { port: 0 });
 * console.log(server.url);
 * await server.close();
 * ```
 */
export function serveStatic(dir: string, options: { port?: number } = {}): StaticServer {
  const root = dir.replace(/\/+$/, "");
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    async (request) => {
      let path: string;
      try {
        path = decodeURIComponent(new URL(request.url).pathname);
      } catch {
        return new Response("Bad request: the path is not valid percent-encoding", {
          status: 400,
        });
      }
      if (path.endsWith("/")) path += "index.html";
      if (path.split("/").includes("..") || path.includes("\0")) {
        return new Response("Bad path", { status: 400 });
      }
      try {
        const body = await Deno.readFile(root + path);
        const ext = path.slice(path.lastIndexOf(".") + 1);
        return new Response(body, {
          headers: {
            "content-type": TYPES[ext] ?? "application/octet-stream",
            "cache-control": HASHED.test(path) ? IMMUTABLE : "no-cache",
          },
        });
      } catch {
        return new Response("Not found", { status: 404 });
      }
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    close: () => server.shutdown(),
  };
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: "string", default: "out/demo" },
      serve: { type: "boolean", default: false },
      port: { type: "string", default: "8000" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "Usage: deno run -A demo/main.ts [--out DIR] [--serve [--port N]]\n" +
        "  Builds the web demo into DIR (default out/demo); --serve then serves it on 127.0.0.1.",
    );
    return;
  }
  const started = performance.now();
  const report = await buildDemo({ outDir: values.out });
  console.log(
    `built ${report.outDir} in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
      `app.js ${kb(report.bundleBytes)}, ${kb(report.bundleGzipBytes)} gzipped as ` +
      `${report.files["app.js"]}; train_worker.js ${kb(report.workerBytes)}, ` +
      `${kb(report.workerGzipBytes)} gzipped as ${report.files["train_worker.js"]} ` +
      `(together ${kb(report.bundleGzipBytes + report.workerGzipBytes)} of the ` +
      `${kb(BUNDLE_BUDGET_GZIP)} budget); model ` +
      (report.modelIncluded
        ? `${MODEL_PATH} included as ${report.files[MODEL_PATH]}`
        : `${MODEL_PATH} not found, not included`),
  );
  if (values.serve) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`--port: expected a port number, found ${values.port}`);
    }
    const server = serveStatic(report.outDir, { port });
    console.log(`serving the demo at ${server.url} (Ctrl-C stops)`);
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}

/**
 * A static file server for tests: serves the repository on 127.0.0.1 so a
 * test can import `mod.ts` or fetch a model from an `http://` URL.
 *
 * @module
 */

const types: Record<string, string> = {
  ".ts": "application/typescript",
  ".js": "text/javascript",
  ".json": "application/json",
  ".html": "text/html",
  ".wgsl": "text/plain",
};

/** A running server and how to stop it. */
export interface TestServer {
  /** Base URL ending in "/". */
  url: string;
  /** Stops the server. */
  close(): Promise<void>;
}

/**
 * Serves files under `root` on an ephemeral port of 127.0.0.1.
 *
 * @param root directory URL to serve (default: the repository root)
 * @returns the server
 *
 * @example
 * ```ts
 * import { serveDirectory } from "./serve.ts";
 * const server = serveDirectory();
 * const text = await (await fetch(server.url + "deno.json")).text();
 * const bad = await fetch(server.url + "%%%");
 * await bad.body?.cancel();
 * await server.close();
 * if (!text.includes("tasks")) throw new Error(text);
 * if (bad.status !== 400) throw new Error(`malformed URL: HTTP ${bad.status}`);
 * ```
 */
export function serveDirectory(root: URL = new URL("../", import.meta.url)): TestServer {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url).pathname).replace(/^\/+/, "");
    } catch {
      return new Response("bad request: the path is not valid percent-encoding", { status: 400 });
    }
    if (path.split("/").includes("..")) return new Response("bad path", { status: 400 });
    try {
      const body = await Deno.readFile(new URL(path, root));
      const ext = path.slice(path.lastIndexOf("."));
      return new Response(body, {
        headers: { "content-type": types[ext] ?? "application/octet-stream" },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    close: () => server.shutdown(),
  };
}

import assert from "node:assert/strict";
import { acquireGpu } from "../src/gpu/device.ts";
import { serveDirectory } from "./serve.ts";
import { trainTinyModel } from "./tagger_fixture.ts";

Deno.test("mod.ts imported from an http:// URL loads a model from a URL and tags a sentence", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/tiny.safetensors`, (await trainTinyModel(await acquireGpu())).bytes);
  const code = serveDirectory(new URL("../", import.meta.url));
  const models = serveDirectory(new URL(`file://${dir}/`));
  try {
    const script = `${dir}/use.ts`;
    await Deno.writeTextFile(
      script,
      `import { Tagger } from "${code.url}mod.ts";
const tagger = await Tagger.load("${models.url}tiny.safetensors");
const entities = await tagger.tag("Ada left Rome. Cy Smith left New Paris.");
console.log(JSON.stringify(entities.map((e) => [e.text, e.label, e.start, e.end, e.score > 0.5])));
`,
    );
    const { code: exit, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", "--no-lock", script],
      env: { DENO_DIR: `${dir}/deno_dir` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(exit, 0, new TextDecoder().decode(stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout)), [
      ["Ada", "PER", 0, 3, true],
      ["Rome", "LOC", 9, 13, true],
      ["Cy Smith", "PER", 15, 23, true],
      ["New Paris", "LOC", 29, 38, true],
    ]);
    // A missing model gets an error that names the URL and the status.
    await Deno.writeTextFile(
      script,
      `import { Tagger } from "${code.url}mod.ts";
await Tagger.load("${models.url}missing.safetensors");`,
    );
    const missing = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", "--no-lock", script],
      env: { DENO_DIR: `${dir}/deno_dir` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.notEqual(missing.code, 0);
    assert.match(
      new TextDecoder().decode(missing.stderr),
      /Cannot load model http:\/\/127\.0\.0\.1:\d+\/missing\.safetensors: expected HTTP 200, got 404/,
    );
  } finally {
    await code.close();
    await models.close();
    await Deno.remove(dir, { recursive: true });
  }
});

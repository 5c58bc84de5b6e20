/**
 * The web demo in a real browser: headless Chromium (Debian `chromium`,
 * driven by playwright-core) loads the built site, with the shipped model,
 * from 127.0.0.1. In one page it tags news text as Deno does, with a legend
 * of the model's types; never shows new text with old entity positions;
 * keeps each chip's label on one line; moves between words with the arrow
 * keys behind one tab stop; validates the training fields; refuses binary
 * and empty files with a message; fine-tunes the shipped model on a
 * PER/LOC/ORG corpus with readable progress in the training worker (the page
 * keeps drawing frames), downloads it as float16 and tags with it, then goes
 * back to the shipped model; trains from scratch; stops a long run;
 * has no horizontal overflow at 390×844 and readable chart labels there; has
 * no critical axe-core violations; reports a missing model; and, without
 * `--enable-unsafe-webgpu`, says WebGPU is missing with browser advice.
 *
 * `DEMO_SCREENSHOT=docs/demo.png deno test -A tests/demo_test.ts` also saves
 * screenshots for the README: that file and `docs/demo-phone.png` beside it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
// deno-lint-ignore no-import-prefix -- pinned npm test dependency; deno.json has no imports map
import { type BrowserContext, chromium, type Page } from "npm:playwright-core@1.65.1";
// deno-lint-ignore no-import-prefix -- pinned npm test dependency; deno.json has no imports map
import axe from "npm:axe-core@4.10.3";
import { buildDemo, IMMUTABLE, MODEL_PATH, serveStatic } from "../demo/main.ts";
import * as shaders from "../shaders/mod.ts";
import {
  curveTracker,
  decodeCorpusFile,
  entityLegend,
  formatConfidence,
  parseSettings,
  plural,
  progressText,
  readPastedCorpus,
  segments,
  splitForTraining,
  taggingSummary,
} from "../demo/logic.ts";
import { Tagger } from "../src/api/tagger.ts";
import { sentences } from "../src/data/tokenize.ts";
import { acquireGpu } from "../src/gpu/device.ts";
import { decodeSafetensors } from "../src/io/safetensors.ts";
import { decodeModel } from "../src/model/checkpoint.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];
const SHIPPED = new URL("../models/gmb-small.safetensors", import.meta.url);
const TEXT = "Angela Merkel met Emmanuel Macron in Paris on Tuesday.";
const PNG = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49);

/** A small CoNLL corpus with CoNLL-2003's types (the shipped model has GMB's). */
function perLocOrgCorpus(): string {
  const people = [["Ada", "Lovelace"], ["Alan", "Turing"], ["Grace", "Hopper"], ["Linus", "Lee"]];
  const places = ["London", "Paris", "Rome", "Oslo", "Lima"];
  const companies = ["Acme", "Globex", "Initech"];
  const lines: string[] = [];
  for (let i = 0; i < 24; i++) {
    const [first, last] = people[i % people.length];
    lines.push(`${first} B-PER`, `${last} I-PER`);
    if (i % 2) lines.push("joined O", `${companies[i % 3]} B-ORG`);
    else lines.push(`${i % 4 ? "lived" : "stayed"} O`);
    lines.push("in O", `${places[i % places.length]} B-LOC`, ". O", "");
  }
  return lines.join("\n");
}

async function launch(webgpu: boolean): Promise<{ context: BrowserContext; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "demo-chromium-" });
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: webgpu ? ["--enable-unsafe-webgpu", ...ARGS] : ARGS,
    viewport: { width: 1280, height: 800 },
  });
  return { context, dir };
}

async function close(browser: { context: BrowserContext; dir: string }): Promise<void> {
  await browser.context.close();
  await Deno.remove(browser.dir, { recursive: true }).catch(() => {});
}

async function hasChromium(): Promise<boolean> {
  try {
    return (await Deno.stat(CHROMIUM)).isFile;
  } catch {
    return false;
  }
}

/** The command that installs the browser, as a user would type it. */
const INSTALL = "apt-get update && apt-get install -y chromium";

/**
 * Installs Debian's Chromium when it is missing and this process may install packages (root
 * with apt-get); otherwise the failure says exactly what to run.
 */
async function ensureChromium(): Promise<void> {
  if (await hasChromium()) return;
  const canInstall = Deno.uid() === 0 && await commandExists("apt-get");
  if (!canInstall) {
    throw new Error(
      `${CHROMIUM} is missing and this test cannot install it (it needs root and apt-get): ` +
        `run \`sudo sh -c '${INSTALL}'\`, then the tests again`,
    );
  }
  console.error(`${CHROMIUM} is missing: installing it (${INSTALL})`);
  const install = await new Deno.Command("sh", {
    args: ["-c", INSTALL],
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!install.success || !(await hasChromium())) {
    const tail = new TextDecoder().decode(install.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`Installing Chromium failed (${tail}): run \`${INSTALL}\` as root`);
  }
}

async function commandExists(name: string): Promise<boolean> {
  const probe = await new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })
    .output();
  return probe.success;
}

/** Every WGSL export of shaders/mod.ts, by name. */
function shaderSources(): Record<string, string> {
  return Object.fromEntries(Object.entries(shaders).filter(([, v]) => typeof v === "string"));
}

/** Page width checks: no horizontal scrolling, and what overflows its own box, if anything. */
function overflow(page: Page) {
  return page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth,
    wide: [...document.querySelectorAll("main *")]
      .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
      .map((e) => e.tagName + "." + (e as HTMLElement).className).slice(0, 5),
  }));
}

/** Whether each chip's last word and label sit on one line. */
function chipLines(page: Page) {
  return page.locator("[data-testid=entity]").evaluateAll((marks) =>
    marks.map((m) => {
      const glued = m.querySelector(".nowrap")!;
      const label = m.querySelector(".label")!.getBoundingClientRect();
      const word = glued.querySelector(".token")!.getBoundingClientRect();
      return {
        rects: glued.getClientRects().length,
        sameLine: Math.abs(label.bottom - word.bottom) < 8,
      };
    })
  );
}

/** The tagged view's text with the chips' labels removed, and the text it says it shows. */
function shownText(page: Page) {
  return page.locator("[data-testid=tagged]").evaluate((el) => {
    const copy = el.cloneNode(true) as HTMLElement;
    copy.querySelectorAll(".label").forEach((l) => l.remove());
    return {
      shown: copy.textContent,
      text: el.dataset.text,
      stale: el.classList.contains("stale"),
    };
  });
}

Deno.test("demo logic: segments, corpus reading, file decoding, settings, wording, progress", () => {
  const tokens = [
    { text: "Ada", start: 0, end: 3, tag: "B-PER", marginals: [] },
    { text: "Lovelace", start: 4, end: 12, tag: "I-PER", marginals: [] },
    { text: "sang", start: 13, end: 17, tag: "O", marginals: [] },
    { text: ".", start: 17, end: 18, tag: "O", marginals: [] },
  ];
  const entity = {
    text: "Ada Lovelace",
    label: "PER",
    start: 0,
    end: 12,
    score: 0.9,
    tokens: [0, 2] as [number, number],
  };
  const pieces = segments("Ada Lovelace sang. ", { tokens, entities: [entity] });
  assert.deepEqual(pieces.map((p) => p.kind === "text" ? p.text : [p.from, p.to]), [
    [0, 2],
    " ",
    [2, 3],
    [3, 4],
    " ",
  ]);

  const conll = readPastedCorpus("Ada B-PER\nsang O\n\nBo B-LOC\n", "x");
  assert.deepEqual([conll.format, conll.sentences.length, conll.tokens], ["conll", 2, 3]);
  assert.deepEqual(conll.types, ["LOC", "PER"]);
  const jsonl = readPastedCorpus('\n{"tokens": ["Hi", "Bo"], "tags": ["O", "B-PER"]}\n', "y");
  assert.deepEqual([jsonl.format, jsonl.types], ["jsonl", ["PER"]]);
  assert.throws(() => readPastedCorpus("{not json", "z.jsonl"), /z\.jsonl/);
  assert.throws(() => readPastedCorpus("  \n ", "pasted text"), /pasted text is empty/);
  assert.throws(() => readPastedCorpus("Ada\u0000 B-PER", "p"), /U\+0000 at offset 3/);

  assert.equal(decodeCorpusFile(new TextEncoder().encode("Ada B-PER\n"), "a.txt"), "Ada B-PER\n");
  assert.throws(() => decodeCorpusFile(PNG, "photo.png"), /photo\.png is not a text file/);
  assert.throws(() => decodeCorpusFile(Uint8Array.of(0xff, 0xfe, 0x41), "u.txt"), /not UTF-8/);
  assert.throws(() => decodeCorpusFile(new Uint8Array(0), "e.txt"), /e\.txt is empty/);
  assert.throws(() => decodeCorpusFile(new TextEncoder().encode("\n \n"), "b.txt"), /is empty/);

  assert.deepEqual(parseSettings({ epochs: "3", lr: "0.005" }), { ok: { epochs: 3, lr: 0.005 } });
  for (
    const [epochs, lr, bad] of [
      ["-5", "0.01", /Epochs: expected a whole number from 1 to 200, found "-5"/],
      ["1000", "0.01", /Epochs.*found "1000"/],
      ["2.5", "0.01", /Epochs.*found "2.5"/],
      ["", "0.01", /Epochs.*found ""/],
      ["3", "-1", /Learning rate: expected a number from 0.0001 to 0.1, found "-1"/],
      ["3", "5", /Learning rate.*found "5"/],
      ["3", "0", /Learning rate.*found "0"/],
      ["3", "abc", /Learning rate.*found "abc"/],
    ] as const
  ) {
    const result = parseSettings({ epochs, lr });
    assert.ok("errors" in result && result.errors.length === 1, `${epochs}, ${lr}`);
    assert.match(result.errors[0], bad);
  }

  assert.deepEqual([plural(1, "token"), plural(2, "sentence")], ["1 token", "2 sentences"]);
  assert.deepEqual(
    [0.8964, 0.99996, 1, 0.00001, 0.5].map(formatConfidence),
    ["89.6%", ">99.9%", "100%", "<0.1%", "50.0%"],
  );
  assert.equal(taggingSummary({ tokens: [], entities: [], milliseconds: 3 }), "");
  assert.equal(
    taggingSummary({ tokens: tokens.slice(0, 1), entities: [entity], milliseconds: 3.04 }),
    "1 entity in 1 token, tagged in 3.0 ms",
  );
  assert.deepEqual(entityLegend(["O", "B-geo", "I-geo", "B-per", "B-XYZ"]), [
    { type: "geo", meaning: "geographical place (city, country, river, region)" },
    { type: "per", meaning: "person" },
    { type: "XYZ", meaning: "" },
  ]);
  assert.equal(
    progressText({ epoch: 1, epochs: 2, step: 1, stepsPerEpoch: 3, elapsedMs: 0 }),
    "epoch 1 of 2, step 1 of 3",
  );
  assert.equal(
    progressText({ epoch: 2, epochs: 2, step: 4, stepsPerEpoch: 3, elapsedMs: 300_000 }),
    "epoch 2 of 2, step 1 of 3, about 4 min left",
  );

  const few = splitForTraining(conll.sentences.slice(0, 1));
  assert.match(few.note, /^only 1 sentence:/);
  const many = splitForTraining(Array.from({ length: 30 }, () => conll.sentences[0]));
  assert.deepEqual([many.train.length, many.dev.length], [27, 3]);

  const { curves, add } = curveTracker();
  // Running means 6, 5, 4 over an epoch are batch losses 6, 4, 2; a new epoch restarts.
  for (const [step, loss] of [[1, 6], [2, 5], [3, 4]]) {
    add({ type: "loss", epoch: 1, step, loss, tokensPerSecond: 1 });
  }
  add({
    type: "epoch",
    epoch: 1,
    loss: 4,
    dev: { precision: 1, recall: 0.5, f1: 2 / 3 },
    seconds: 1,
    tokensPerSecond: 1,
    best: true,
    lr: 0.01,
  });
  add({ type: "loss", epoch: 2, step: 4, loss: 1.5, tokensPerSecond: 1 });
  assert.deepEqual(curves.batches.map((b) => b.loss), [6, 4, 2, 1.5]);
  assert.deepEqual(curves.epochs, [{ epoch: 1, step: 3, loss: 4, f1: 2 / 3 }]);
});

Deno.test("demo build: content-hashed files, caching headers, 400 for a malformed URL", async () => {
  const site = await Deno.makeTempDir({ prefix: "demo-build-" });
  try {
    const report = await buildDemo({ outDir: site, includeModel: true });
    const again = await buildDemo({ outDir: site, includeModel: true });
    assert.deepEqual(again.files, report.files, "the same sources give the same names");
    assert.match(report.files["app.js"], /^app\.[0-9a-f]{10}\.js$/);
    assert.match(report.files["train_worker.js"], /^train_worker\.[0-9a-f]{10}\.js$/);
    assert.ok(report.workerGzipBytes > 0 && report.workerBytes > report.workerGzipBytes);
    assert.match(report.files[MODEL_PATH], /^models\/gmb-small\.[0-9a-f]{10}\.safetensors$/);
    assert.deepEqual(
      await Deno.readFile(`${site}/${report.files[MODEL_PATH]}`),
      await Deno.readFile(SHIPPED),
    );
    const html = await Deno.readTextFile(`${site}/index.html`);
    assert.ok(html.includes(`src="${report.files["app.js"]}"`), html);
    assert.ok(html.includes(`content="${report.files[MODEL_PATH]}"`), html);
    assert.ok(html.includes(`content="${report.files["train_worker.js"]}"`), html);
    const headers = await Deno.readTextFile(`${site}/_headers`);
    for (const name of ["app.js", "train_worker.js", "style.css", MODEL_PATH]) {
      assert.ok(headers.includes(`/${report.files[name]}\n  Cache-Control: ${IMMUTABLE}`), name);
    }
    assert.equal([...Deno.readDirSync(site)].filter((e) => e.name.startsWith("app.")).length, 1);
    const server = serveStatic(site);
    try {
      const get = async (path: string) => {
        const response = await fetch(server.url + path);
        await response.body?.cancel();
        return [response.status, response.headers.get("cache-control")];
      };
      assert.deepEqual(await get(report.files["app.js"]), [200, IMMUTABLE]);
      assert.deepEqual(await get(report.files["train_worker.js"]), [200, IMMUTABLE]);
      assert.deepEqual(await get(""), [200, "no-cache"]);
      assert.deepEqual((await get("%%%"))[0], 400);
      assert.deepEqual((await get("nothing.js"))[0], 404);
    } finally {
      await server.close();
    }
  } finally {
    await Deno.remove(site, { recursive: true });
  }
});

Deno.test({
  name: "demo in headless Chromium: the shipped model tags, fine-tunes on PER/LOC/ORG, and the " +
    "page works by keyboard, at phone width and without WebGPU",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await ensureChromium();
    const shipped = await Deno.readFile(SHIPPED);
    const denoTagger = await Tagger.load(shipped, { gpu: await acquireGpu() });
    const denoEntities = await denoTagger.tag(TEXT);
    assert.ok(denoEntities.length >= 3, "the shipped model finds entities (precondition)");
    const site = await Deno.makeTempDir({ prefix: "demo-site-" });
    const report = await buildDemo({ outDir: site });
    assert.ok(report.modelIncluded);
    const server = serveStatic(site);
    const screenshot = Deno.env.get("DEMO_SCREENSHOT");
    try {
      const browser = await launch(true);
      try {
        const page = browser.context.pages()[0] ?? await browser.context.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        await page.addInitScript(() => {
          const w = window as unknown as { longTasks: number[] };
          w.longTasks = [];
          new PerformanceObserver((list) => {
            for (const e of list.getEntries()) w.longTasks.push(e.duration);
          }).observe({ type: "longtask" });
        });
        const input = page.locator("[data-testid=text-input]");

        await t.step(
          "every shader compiles in Chromium's WebGPU (Tint), as in Deno's",
          async () => {
            // Tint's uniformity analysis is stricter than Naga's: a shader Deno accepts can fail here.
            await page.goto(server.url);
            const failed = await page.evaluate(async (sources: Record<string, string>) => {
              const device = await (await navigator.gpu.requestAdapter())!.requestDevice();
              const out: Record<string, string[]> = {};
              for (const [name, code] of Object.entries(sources)) {
                const info = await device.createShaderModule({ code }).getCompilationInfo();
                const errs = info.messages.filter((m) => m.type === "error");
                if (errs.length) {
                  out[name] = errs.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
                }
              }
              device.destroy();
              return out;
            }, shaderSources());
            assert.deepEqual(failed, {});
          },
        );

        await t.step(
          "tags news text as Deno does, with a legend of the model's types",
          async () => {
            await page.goto(server.url);
            await page.locator("[data-testid=model-status][data-state=ready]").waitFor({
              timeout: 120_000,
            });
            const legend = await page.locator("[data-testid=legend]").innerText();
            for (const { type, meaning } of entityLegend(denoTagger.labels)) {
              assert.ok(meaning, `no meaning for ${type}`);
              assert.ok(legend.includes(type) && legend.includes(meaning), `${type} in ${legend}`);
            }
            assert.match(legend, /English news/);
            await input.fill(TEXT);
            await page.locator(`[data-testid=tagged][data-text="${TEXT}"]:not(.stale)`).waitFor({
              timeout: 30_000,
            });
            const rows = await page.locator("[data-testid=entity-row]").evaluateAll((els) =>
              els.map((e) => ({
                text: (e as HTMLElement).dataset.text,
                label: (e as HTMLElement).dataset.label,
                shown: e.querySelector("[data-testid=row-score]")!.textContent,
              }))
            );
            assert.deepEqual(
              rows.map(({ text, label }) => ({ text, label })),
              denoEntities.map(({ text, label }) => ({ text, label })),
            );
            const marks = await page.locator("[data-testid=entity]").evaluateAll((els) =>
              els.map((e) => ({
                score: Number((e as HTMLElement).dataset.score),
                shown: e.querySelector("[data-testid=chip-score]")!.textContent,
              }))
            );
            marks.forEach((m, i) => {
              const deno = denoEntities[i];
              assert.ok(Math.abs(m.score - deno.score) < 2e-3, `${deno.text}: ${m.score}`);
              assert.equal(m.shown, rows[i].shown, "chip and table round the same way");
            });
            const timing = await page.locator("[data-testid=timing]").innerText();
            assert.match(
              timing,
              new RegExp(
                `^${denoEntities.length} entities in ${
                  sentences(TEXT).reduce((n, s) => n + s.tokens.length, 0)
                } tokens, tagged in [\\d.]+ ms on \\S`,
              ),
            );
            assert.match(await page.locator("[data-testid=adapter]").innerText(), /swiftshader/i);
          },
        );

        await t.step("an edit never mixes new text with old entities; wording", async () => {
          await input.fill("Paris");
          // Straight after the edit the old result still shows, with its own text.
          const during = await shownText(page);
          assert.equal(during.shown, during.text);
          await page.locator(`[data-testid=tagged][data-text="Paris"]:not(.stale)`).waitFor();
          const after = await shownText(page);
          assert.deepEqual([after.shown, after.text], ["Paris", "Paris"]);
          assert.match(await page.locator("[data-testid=timing]").innerText(), / in 1 token,/);
          await input.fill("");
          await page.locator("[data-testid=tagged]").waitFor({ state: "detached" });
          assert.equal(await page.locator("[data-testid=timing]").count(), 0);
          await input.fill(TEXT);
          await page.locator(`[data-testid=tagged][data-text="${TEXT}"]:not(.stale)`).waitFor();
        });

        await t.step("keyboard: one tab stop, arrow keys, focus ring, live marginals", async () => {
          await input.focus();
          await page.keyboard.press("Tab");
          const focused = () =>
            page.evaluate(() => {
              const e = document.activeElement as HTMLElement;
              const style = getComputedStyle(e);
              return {
                index: e.dataset.index,
                text: e.textContent,
                outline: `${style.outlineStyle} ${style.outlineWidth}`,
              };
            });
          assert.equal((await focused()).index, "0");
          assert.match((await focused()).outline, /^solid [3-9]/, "a visible focus ring");
          await page.keyboard.press("ArrowRight");
          const second = await focused();
          assert.equal(second.index, "1");
          await page.locator(`[data-testid=marginals][data-token="${second.text}"]`).waitFor();
          assert.equal(
            await page.locator("[data-testid=marginals]").getAttribute("aria-live"),
            "polite",
          );
          await page.keyboard.press("End");
          assert.equal((await focused()).text, ".");
          await page.keyboard.press("Tab");
          assert.equal((await focused()).index, undefined, "one Tab leaves the tagged text");
          for (const id of ["text-input", "corpus-input", "corpus-file"]) {
            const labels = await page.locator(`#${id}`).evaluate((e) =>
              [...(e as HTMLInputElement).labels!].map((l) => l.textContent)
            );
            assert.ok(labels.length > 0 && labels[0], `#${id} has a label`);
          }
        });

        await t.step("settings are validated; empty and binary files give a message", async () => {
          const start = page.locator("[data-testid=train-start]");
          const blocked = page.locator("[data-testid=train-blocked]");
          assert.match(await blocked.innerText(), /Paste, drop or choose a corpus/);
          await page.locator("[data-testid=corpus-input]").fill(perLocOrgCorpus());
          assert.equal(await start.isEnabled(), true);
          for (
            const [field, value, message] of [
              ["epochs", "-5", /Epochs: expected a whole number from 1 to 200, found "-5"/],
              ["epochs", "1000", /found "1000"/],
              ["lr", "-1", /Learning rate: expected a number from 0.0001 to 0.1, found "-1"/],
              ["lr", "5", /found "5"/],
              ["lr", "0", /found "0"/],
            ] as const
          ) {
            await page.locator(`[data-testid=${field}]`).fill(value);
            assert.match(await blocked.innerText(), message);
            assert.equal(await start.isEnabled(), false, `${field} ${value}`);
            await page.locator(`[data-testid=${field}]`).fill(field === "lr" ? "0.01" : "2");
          }
          assert.equal(await start.isEnabled(), true);
          const file = page.locator("[data-testid=corpus-file]");
          await file.setInputFiles({
            name: "photo.png",
            mimeType: "image/png",
            buffer: Buffer.from(PNG),
          });
          assert.match(
            await page.locator("[data-testid=corpus-error]").innerText(),
            /photo\.png is not a text file/,
          );
          assert.equal(await page.locator("[data-testid=corpus-input]").inputValue(), "");
          assert.equal(await start.isEnabled(), false);
          await file.setInputFiles([]);
          await file.setInputFiles({
            name: "empty.txt",
            mimeType: "text/plain",
            buffer: Buffer.alloc(0),
          });
          assert.match(
            await page.locator("[data-testid=corpus-error]").innerText(),
            /empty\.txt is empty/,
          );
          await page.locator("[data-testid=corpus-input]").fill("   \n");
          assert.match(await page.locator("[data-testid=corpus-error]").innerText(), /is empty/);
          await file.setInputFiles({
            name: "tiny.jsonl",
            mimeType: "application/jsonl",
            buffer: Buffer.from('{"tokens": ["Ada", "sang"], "tags": ["B-PER", "O"]}\n'),
          });
          assert.match(
            await page.locator("[data-testid=corpus-summary]").innerText(),
            /JSON Lines: 1 sentence, 2 tokens, types PER/,
          );
          const chosen = () =>
            file.evaluate((e) => [...(e as HTMLInputElement).files!].map((f) => f.name));
          assert.deepEqual(await chosen(), ["tiny.jsonl"]);
          // Pasting after choosing a file: the file input no longer names the old file.
          await page.locator("[data-testid=corpus-input]").fill("Bo B-PER\n");
          assert.deepEqual(await chosen(), [], "the file input is cleared by pasting");
          assert.match(
            await page.locator("[data-testid=corpus-summary]").innerText(),
            /CoNLL: 1 sentence, 1 token, types PER/,
          );
        });

        const train = async (mode: "scratch" | "finetune", epochs: number) => {
          await page.locator("[data-testid=corpus-input]").fill(perLocOrgCorpus());
          assert.match(
            await page.locator("[data-testid=corpus-summary]").innerText(),
            /CoNLL: 24 sentences, 156 tokens, types LOC, ORG, PER/,
          );
          await page.locator(`[data-testid=mode-${mode}]`).check();
          await page.locator("[data-testid=epochs]").fill(String(epochs));
          // Every text the status line shows, recorded in the page as it changes.
          // Every text the status line shows, and the animation frames the main thread draws
          // while the status says "training" (the frame count and the longest gap between two).
          await page.evaluate(() => {
            const w = window as unknown as {
              longTasks: number[];
              statusLines: string[];
              frames: { count: number; longestGap: number };
            };
            w.longTasks = [];
            w.statusLines = [];
            w.frames = { count: 0, longestGap: 0 };
            const el = document.querySelector<HTMLElement>("[data-testid=train-status]")!;
            new MutationObserver(() => w.statusLines.push(el.textContent ?? "")).observe(el, {
              subtree: true,
              childList: true,
              characterData: true,
            });
            let last: number | null = null;
            const frame = (now: number) => {
              const training = el.dataset.phase === "training";
              if (training && last !== null) {
                w.frames.count++;
                w.frames.longestGap = Math.max(w.frames.longestGap, now - last);
              }
              last = training ? now : null;
              if (el.dataset.state === "running" || w.frames.count === 0) {
                requestAnimationFrame(frame);
              }
            };
            requestAnimationFrame(frame);
          });
          await page.locator("[data-testid=train-start]").click();
          const status = page.locator("[data-testid=train-status]");
          await page.locator(
            "[data-testid=train-status][data-state=done], [data-testid=train-status][data-state=failed]",
          ).waitFor({ timeout: 120_000 });
          const lines = await page.evaluate(() =>
            (window as unknown as { statusLines: string[] }).statusLines
          );
          assert.equal(await status.getAttribute("data-state"), "done", await status.innerText());
          const chart = page.locator("svg.chart");
          const seen = JSON.parse((await chart.getAttribute("data-epochs"))!) as { loss: number }[];
          const batches = JSON.parse((await chart.getAttribute("data-batch-loss"))!) as number[];
          assert.equal(seen.length, epochs);
          // 24 sentences → 22 for training → 2 batches of 16 per epoch.
          assert.equal(batches.length, epochs * 2);
          assert.equal(await chart.getAttribute("data-total-steps"), String(epochs * 2));
          const longest = await page.evaluate(() =>
            Math.max(0, ...(window as unknown as { longTasks: number[] }).longTasks)
          );
          const frames = await page.evaluate(() =>
            (window as unknown as { frames: { count: number; longestGap: number } }).frames
          );
          // Training runs in the worker the build named; the page keeps drawing frames meanwhile.
          const workers = page.workers().map((w) => new URL(w.url()).pathname);
          assert.ok(
            workers.includes(`/${report.files["train_worker.js"]}`),
            `no training worker among ${JSON.stringify(workers)}`,
          );
          assert.ok(frames.count >= 3, `${frames.count} animation frames while training`);
          console.log(
            `  ${mode}: longest main-thread task ${longest.toFixed(0)} ms; ${frames.count} ` +
              `frames while training, longest gap ${frames.longestGap.toFixed(0)} ms`,
          );
          return { epochs: seen, batches, lines };
        };

        await t.step("fine-tunes the shipped model on a PER/LOC/ORG corpus", async () => {
          await page.locator("[data-testid=mode-finetune]").check();
          await page.locator("[data-testid=corpus-input]").fill(perLocOrgCorpus());
          assert.match(
            await page.locator("[data-testid=relabel-note]").innerText(),
            /has no LOC, ORG, PER: fine-tuning keeps its network/,
          );
          const run = await train("finetune", 2);
          assert.ok(
            run.lines.some((l) => /^compiling GPU kernels/.test(l)),
            `no compiling state among ${run.lines}`,
          );
          assert.ok(
            run.lines.some((l) => /^epoch 2 of 2, step [12] of 2(, about \d+ s left)?: /.test(l)),
            `progress lines ${run.lines}`,
          );
          const [download] = await Promise.all([
            page.waitForEvent("download"),
            page.locator("[data-testid=download]").click(),
          ]);
          const bytes = await Deno.readFile(await download.path());
          const file = decodeSafetensors(bytes);
          assert.equal(file.tensors.get("out.weight")?.dtype, "F16", "float16 by default");
          assert.ok(bytes.length < 1.05 * shipped.length, `${bytes.length} bytes`);
          const model = decodeModel(bytes, "the downloaded model");
          assert.deepEqual(model.tags.items, ["O", "B-LOC", "B-ORG", "B-PER", "I-PER"]);
          assert.equal(model.words.size, denoTagger.model.words.size, "the shipped network");
          assert.equal(model.config.hidden, denoTagger.model.config.hidden);

          await page.locator("[data-testid=use-model]").click();
          await page.locator("[data-testid=model-status][data-origin=trained]").waitFor();
          await page.locator("[data-testid=legend] [data-type=ORG]").waitFor();
          await page.locator(".token", { hasText: "Macron" }).waitFor();
        });

        await t.step(
          "back to the shipped model; at 390×844 nothing overflows, chips hold",
          async () => {
            await page.locator("[data-testid=use-shipped]").click();
            await page.locator("[data-testid=model-status][data-origin=shipped]").waitFor();
            await page.locator("[data-testid=legend] [data-type=geo]").waitFor();
            await page.locator(`[data-testid=tagged][data-text="${TEXT}"]:not(.stale)`).waitFor();
            if (screenshot) {
              await page.locator(".token", { hasText: "Merkel" }).hover();
              await page.waitForTimeout(300);
              await page.screenshot({ path: screenshot, fullPage: true });
            }
            await page.setViewportSize({ width: 390, height: 844 });
            await page.waitForTimeout(300);
            const o = await overflow(page);
            assert.ok(o.scrollWidth <= o.innerWidth, JSON.stringify(o));
            assert.deepEqual(o.wide, []);
            for (const chip of await chipLines(page)) {
              assert.deepEqual(chip, { rects: 1, sameLine: true });
            }
            const tick = await page.locator("svg.chart text.tick").first().evaluate((e) =>
              e.getBoundingClientRect().height
            );
            assert.ok(tick >= 11, `chart labels ${tick} px high`);
            if (screenshot) {
              await page.screenshot({
                path: screenshot.replace(/\.png$/, "-phone.png"),
                fullPage: true,
              });
            }
            await page.setViewportSize({ width: 1280, height: 800 });
          },
        );

        await t.step("no critical accessibility violations", async () => {
          await page.addScriptTag({ content: (axe as unknown as { source: string }).source });
          const violations = await page.evaluate(async () => {
            const result = await (window as unknown as {
              axe: { run: () => Promise<{ violations: { id: string; impact: string }[] }> };
            }).axe.run();
            return result.violations.map((v) => ({ id: v.id, impact: v.impact }));
          });
          console.log(`  axe: ${JSON.stringify(violations)}`);
          assert.deepEqual(
            violations.filter((v) => v.impact === "critical"),
            [],
          );
        });

        await t.step("trains from scratch: the loss falls", async () => {
          const { epochs, batches } = await train("scratch", 4);
          assert.ok(batches.every(Number.isFinite), `batch losses ${batches}`);
          assert.ok(
            epochs.at(-1)!.loss < 0.8 * epochs[0].loss,
            `epoch losses ${epochs.map((e) => e.loss)}`,
          );
        });

        await t.step("Stop ends a long run in the worker after its current step", async () => {
          await page.locator("[data-testid=corpus-input]").fill(perLocOrgCorpus());
          await page.locator("[data-testid=mode-scratch]").check();
          await page.locator("[data-testid=epochs]").fill("200");
          await page.locator("[data-testid=train-start]").click();
          await page.locator("[data-testid=train-status][data-phase=training]").waitFor({
            timeout: 60_000,
          });
          await page.locator("[data-testid=train-stop]").click();
          const status = page.locator("[data-testid=train-status]");
          await page.locator(
            "[data-testid=train-status][data-state=done], [data-testid=train-status][data-state=failed]",
          ).waitFor({ timeout: 60_000 });
          const line = await status.innerText();
          assert.equal(await status.getAttribute("data-state"), "done", line);
          const epochs = Number(/^done after (\d+) epochs? \(interrupted\)/.exec(line)?.[1]);
          assert.ok(epochs >= 1 && epochs < 200, line);
          assert.equal(await page.locator("[data-testid=download]").count(), 1);
        });

        await t.step("says clearly when the model fails to load", async () => {
          await page.goto(`${server.url}?model=missing.safetensors`);
          const box = page.locator("[data-testid=model-error]");
          await box.waitFor({ timeout: 60_000 });
          assert.match(
            await box.innerText(),
            /failed to load[\s\S]*missing\.safetensors: HTTP 404/,
          );
          assert.equal(await page.locator("[data-testid=shipped-link]").getAttribute("href"), "./");
        });
        assert.deepEqual(errors, [], "no uncaught errors in the page");
      } finally {
        await close(browser);
      }

      await t.step(
        "without --enable-unsafe-webgpu the page says so, with browser advice",
        async () => {
          const plain = await launch(false);
          try {
            const page = plain.context.pages()[0] ?? await plain.context.newPage();
            await page.setViewportSize({ width: 390, height: 844 });
            await page.goto(server.url);
            const box = page.locator("[data-testid=no-webgpu]");
            await box.waitFor({ timeout: 30_000 });
            await box.locator("summary").click();
            const text = await box.innerText();
            assert.match(text, /no WebGPU/);
            assert.match(text, /--enable-unsafe-webgpu/);
            assert.match(text, /chrome:\/\/flags\/#enable-unsafe-webgpu/);
            assert.match(
              await page.locator("[data-testid=no-webgpu-detail]").innerText(),
              /Firefox/,
            );
            assert.doesNotMatch(text, /Deno|mesa/i);
            const o = await overflow(page);
            assert.ok(o.scrollWidth <= o.innerWidth, JSON.stringify(o));
            assert.equal(await page.locator("[data-testid=text-input]").count(), 0);
          } finally {
            await close(plain);
          }
        },
      );
    } finally {
      await server.close();
      await Deno.remove(site, { recursive: true });
    }
  },
});

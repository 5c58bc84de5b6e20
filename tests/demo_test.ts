/**
 * The web demo in a real browser: headless Chromium (Debian `chromium`,
 * driven by playwright-core) loads the built site from 127.0.0.1 and tags
 * a fixed text, shows marginals on hover, trains from scratch and
 * fine-tunes with a falling loss, downloads the model, reports a missing
 * model, and, without `--enable-unsafe-webgpu`, says WebGPU is missing.
 *
 * The model is a tiny one trained here with `trainModel` on invented
 * sentences, so the test never depends on the shipped model.
 *
 * `DEMO_SCREENSHOT=docs/demo.png deno test -A tests/demo_test.ts` also
 * saves a screenshot of the page for the README.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
// deno-lint-ignore no-import-prefix -- pinned npm test dependency; deno.json has no imports map
import { type BrowserContext, chromium } from "npm:playwright-core@1.65.1";
import { buildDemo, serveStatic } from "../demo/main.ts";
import { curveTracker, readPastedCorpus, segments, splitForTraining } from "../demo/logic.ts";
import { Tagger } from "../src/api/tagger.ts";
import type { Sentence } from "../src/data/sentence.ts";
import { acquireGpu } from "../src/gpu/device.ts";
import { decodeModel } from "../src/model/checkpoint.ts";
import { trainModel } from "../src/train/trainer.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];
const TEXT = "Maria Lopez visited Paris. The office of Globex is in Oslo.";
const EXPECTED = [
  { text: "Maria Lopez", label: "PER", start: 0, end: 11 },
  { text: "Paris", label: "LOC", start: 20, end: 25 },
  { text: "Globex", label: "ORG", start: 41, end: 47 },
  { text: "Oslo", label: "LOC", start: 54, end: 58 },
];

/** Invented sentences with people, places and companies in a few patterns. */
function inventedSentences(): Sentence[] {
  const people = [
    ["Maria", "Lopez"],
    ["John", "Smith"],
    ["Anna", "Berg"],
    ["Peter", "Novak"],
    ["Lena", "Fischer"],
    ["Omar", "Haddad"],
  ];
  const places = ["Berlin", "Paris", "Madrid", "Oslo", "Cairo", "Lima", "Quito"];
  const companies = ["Acme", "Globex", "Initech", "Umbrella"];
  const out: Sentence[] = [];
  for (let i = 0; i < 42; i++) {
    const [first, last] = people[i % people.length];
    const place = places[(i * 3 + 1) % places.length];
    const company = companies[(i * 5 + 3) % companies.length];
    if (i % 3 === 0) {
      out.push({
        tokens: [first, last, "visited", place, "."],
        tags: ["B-PER", "I-PER", "O", "B-LOC", "O"],
      });
    } else if (i % 3 === 1) {
      out.push({
        tokens: [first, last, "works", "for", company, "in", place, "."],
        tags: ["B-PER", "I-PER", "O", "O", "B-ORG", "O", "B-LOC", "O"],
      });
    } else {
      out.push({
        tokens: ["The", "office", "of", company, "is", "in", place, "."],
        tags: ["O", "O", "O", "B-ORG", "O", "O", "B-LOC", "O"],
      });
    }
  }
  return out;
}

/** A small CoNLL corpus for training in the page (types the tiny model knows). */
function pageCorpus(): string {
  const people = [["Ada", "Lovelace"], ["Alan", "Turing"], ["Grace", "Hopper"], [
    "Linus",
    "Torvalds",
  ]];
  const places = ["London", "Paris", "Rome", "Oslo", "Lima"];
  const lines: string[] = [];
  for (let i = 0; i < 24; i++) {
    const [first, last] = people[i % people.length];
    lines.push(
      `${first} B-PER`,
      `${last} I-PER`,
      `${i % 2 ? "lived" : "stayed"} O`,
      "in O",
      `${places[i % places.length]} B-LOC`,
      ". O",
      "",
    );
  }
  return lines.join("\n");
}

async function launch(webgpu: boolean): Promise<{ context: BrowserContext; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "demo-chromium-" });
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: webgpu ? ["--enable-unsafe-webgpu", ...ARGS] : ARGS,
    viewport: { width: 1100, height: 900 },
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

Deno.test("demo logic: segments cover the text; corpus reading; split; batch losses", () => {
  const tokens = [
    { text: "Ada", start: 0, end: 3, tag: "B-PER", marginals: [] },
    { text: "Lovelace", start: 4, end: 12, tag: "I-PER", marginals: [] },
    { text: "sang", start: 13, end: 17, tag: "O", marginals: [] },
    { text: ".", start: 17, end: 18, tag: "O", marginals: [] },
  ];
  const text = "Ada Lovelace sang. ";
  const entity = {
    text: "Ada Lovelace",
    label: "PER",
    start: 0,
    end: 12,
    score: 0.9,
    tokens: [0, 2] as [number, number],
  };
  const pieces = segments(text, { tokens, entities: [entity] });
  assert.deepEqual(pieces.map((p) => p.kind === "text" ? p.text : [p.from, p.to]), [
    [0, 2],
    " ",
    [2, 3],
    [3, 4],
    " ",
  ]);
  assert.equal(pieces[0].kind === "tokens" && pieces[0].entity, entity);

  const conll = readPastedCorpus("Ada B-PER\nsang O\n\nBo B-LOC\n", "x");
  assert.deepEqual([conll.format, conll.sentences.length, conll.tokens], ["conll", 2, 3]);
  assert.deepEqual(conll.types, ["LOC", "PER"]);
  const jsonl = readPastedCorpus('\n{"tokens": ["Hi", "Bo"], "tags": ["O", "B-PER"]}\n', "y");
  assert.deepEqual([jsonl.format, jsonl.types], ["jsonl", ["PER"]]);
  assert.throws(() => readPastedCorpus("{not json", "z.jsonl"), /z\.jsonl/);

  const few = splitForTraining(conll.sentences);
  assert.deepEqual([few.train.length, few.dev.length], [2, 2]);
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

Deno.test({
  name: "demo in headless Chromium: tags, shows marginals, trains, fine-tunes, downloads; " +
    "reports a missing model and missing WebGPU",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    assert.ok(
      await hasChromium(),
      `${CHROMIUM} is missing: install it with \`apt-get install -y chromium\` (.ci/run does)`,
    );
    const gpu = await acquireGpu();
    // A tiny model trained here, and what Deno's WebGPU makes of the fixed text.
    const sentences = inventedSentences();
    const trained = await trainModel(gpu, { train: sentences, dev: sentences.slice(0, 9) }, {
      config: { wordDim: 16, casingDim: 4, charDim: 8, charFilters: 8, hidden: 16, dropout: 0 },
      epochs: 14,
      batchSize: 8,
      lr: 0.03,
      patience: 0,
      lossEvery: 1000,
    });
    const denoTagger = await Tagger.load(trained.bytes, { gpu });
    const denoEntities = await denoTagger.tag(TEXT);
    assert.deepEqual(
      denoEntities.map(({ text, label, start, end }) => ({ text, label, start, end })),
      EXPECTED,
      "the tiny model learned the invented sentences (precondition)",
    );
    const [denoTokens] = await denoTagger.tagTokens([["Maria", "Lopez", "visited", "Paris", "."]]);

    // The tiny model stands in for the shipped one: the build copies it to
    // models/gmb-small.safetensors, which the page loads by default.
    const site = await Deno.makeTempDir({ prefix: "demo-site-" });
    const modelFile = `${site}.safetensors`;
    await Deno.writeFile(modelFile, trained.bytes);
    const report = await buildDemo({ outDir: site, modelFile });
    await Deno.remove(modelFile);
    assert.ok(report.modelIncluded);
    assert.ok(report.bundleGzipBytes < 200 * 1024, `bundle ${report.bundleGzipBytes} B gzipped`);
    assert.deepEqual(await Deno.readFile(`${site}/models/gmb-small.safetensors`), trained.bytes);
    const server = serveStatic(site);
    try {
      const browser = await launch(true);
      try {
        const page = browser.context.pages()[0] ?? await browser.context.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));

        await t.step("tags the fixed text like Deno does, with time and adapter", async () => {
          await page.goto(server.url);
          await page.locator("[data-testid=model-status][data-state=ready]").waitFor({
            timeout: 90_000,
          });
          await page.locator("[data-testid=text-input]").fill(TEXT);
          await page.locator(`[data-testid=entity-row][data-text="Oslo"]`).waitFor({
            timeout: 30_000,
          });
          const rows = await page.locator("[data-testid=entity-row]").evaluateAll((els) =>
            els.map((e) => ({
              text: (e as HTMLElement).dataset.text,
              label: (e as HTMLElement).dataset.label,
            }))
          );
          assert.deepEqual(rows, EXPECTED.map(({ text, label }) => ({ text, label })));
          const marks = await page.locator("[data-testid=entity]").evaluateAll((els) =>
            els.map((e) => ({
              label: (e as HTMLElement).dataset.label,
              score: Number((e as HTMLElement).dataset.score),
            }))
          );
          assert.equal(marks.length, denoEntities.length);
          marks.forEach((m, i) => {
            assert.equal(m.label, denoEntities[i].label);
            assert.ok(
              Math.abs(m.score - denoEntities[i].score) < 2e-3,
              `score of ${denoEntities[i].text}: browser ${m.score}, Deno ${denoEntities[i].score}`,
            );
          });
          const timing = await page.locator("[data-testid=timing]").innerText();
          assert.match(timing, /4 entities in 13 tokens, tagged in [\d.]+ ms on \S/);
          assert.match(await page.locator("[data-testid=adapter]").innerText(), /swiftshader/i);
        });

        await t.step("hovering a token shows its marginals", async () => {
          await page.locator(".token", { hasText: "Maria" }).hover();
          const panel = page.locator("[data-testid=marginals][data-token=Maria]");
          await panel.waitFor({ timeout: 5_000 });
          const rows = await panel.locator("tr").evaluateAll((els) =>
            els.map((e) => [
              (e as HTMLElement).dataset.label,
              Number(e.querySelector(".num")!.textContent!.replace("%", "")) / 100,
            ])
          );
          const K = denoTagger.labels.length;
          const expected = denoTagger.labels
            .map((label, k) => [label, denoTokens.marginals[k]] as const)
            .sort((a, b) => b[1] - a[1]);
          assert.equal(rows.length, Math.min(K, 6));
          assert.equal(rows[0][0], "B-PER");
          rows.forEach(([label, p], i) => {
            assert.equal(label, expected[i][0]);
            assert.ok(Math.abs((p as number) - expected[i][1]) < 2e-3, `${label}: ${p}`);
          });
        });

        const train = async (mode: "scratch" | "finetune", epochs: number) => {
          await page.locator("[data-testid=corpus-input]").fill(pageCorpus());
          assert.match(
            await page.locator("[data-testid=corpus-summary]").innerText(),
            /CoNLL: 24 sentences, 144 tokens, types LOC, PER/,
          );
          await page.locator(`[data-testid=mode-${mode}]`).check();
          await page.locator("[data-testid=epochs]").fill(String(epochs));
          await page.locator("[data-testid=train-start]").click();
          const status = page.locator("[data-testid=train-status]");
          await page.locator(
            "[data-testid=train-status][data-state=done], [data-testid=train-status][data-state=failed]",
          ).waitFor({ timeout: 90_000 });
          assert.equal(await status.getAttribute("data-state"), "done", await status.innerText());
          const chart = page.locator("svg.chart");
          const epochsSeen = JSON.parse((await chart.getAttribute("data-epochs"))!) as {
            loss: number;
            f1: number;
          }[];
          const batches = JSON.parse((await chart.getAttribute("data-batch-loss"))!) as number[];
          assert.equal(epochsSeen.length, epochs);
          assert.equal(batches.length, epochs * 2, "24 sentences → 22 train → 2 batches of 16");
          return { epochs: epochsSeen, batches };
        };

        await t.step("reads a chosen JSON Lines file", async () => {
          await page.locator("[data-testid=corpus-file]").setInputFiles({
            name: "tiny.jsonl",
            mimeType: "application/jsonl",
            buffer: Buffer.from(
              '{"tokens": ["Ada", "sang"], "tags": ["B-PER", "O"]}\n' +
                '{"tokens": ["Bo", "left", "Rome"], "tags": ["B-PER", "O", "B-LOC"]}\n',
            ),
          });
          assert.match(
            await page.locator("[data-testid=corpus-summary]").innerText(),
            /JSON Lines: 2 sentences, 5 tokens, types LOC, PER/,
          );
        });

        await t.step("trains from scratch: the loss falls; downloads a valid model", async () => {
          const { epochs, batches } = await train("scratch", 4);
          assert.ok(batches.every(Number.isFinite), `batch losses ${batches}`);
          assert.ok(
            epochs.at(-1)!.loss < 0.8 * epochs[0].loss,
            `epoch losses ${epochs.map((e) => e.loss)}`,
          );
          const [download] = await Promise.all([
            page.waitForEvent("download"),
            page.locator("[data-testid=download]").click(),
          ]);
          const path = await download.path();
          const model = decodeModel(await Deno.readFile(path), "the downloaded model");
          assert.deepEqual([...model.tags.items].sort(), ["B-LOC", "B-PER", "I-PER", "O"]);
          assert.equal(model.config.hidden, 64);
        });

        await t.step("fine-tunes the loaded model: the loss falls", async () => {
          const { epochs } = await train("finetune", 3);
          assert.ok(
            epochs.at(-1)!.loss < epochs[0].loss,
            `epoch losses ${epochs.map((e) => e.loss)}`,
          );
          await page.locator("[data-testid=download]").waitFor();
          const screenshot = Deno.env.get("DEMO_SCREENSHOT");
          if (screenshot) {
            await page.locator("[data-testid=use-model]").click();
            await page.locator("[data-testid=model-status][data-state=ready]").waitFor();
            await page.locator("[data-testid=text-input]").fill(TEXT);
            await page.locator(".token", { hasText: "Oslo" }).waitFor();
            await page.waitForTimeout(500);
            await page.locator(".token", { hasText: "Maria" }).hover();
            await page.screenshot({ path: screenshot, fullPage: true });
          }
        });

        await t.step("says clearly when the model fails to load", async () => {
          await page.goto(`${server.url}?model=missing.safetensors`);
          const box = page.locator("[data-testid=model-error]");
          await box.waitFor({ timeout: 60_000 });
          assert.match(
            await box.innerText(),
            /failed to load[\s\S]*missing\.safetensors: HTTP 404/,
          );
        });
        assert.deepEqual(errors, [], "no uncaught errors in the page");
      } finally {
        await close(browser);
      }

      await t.step("without --enable-unsafe-webgpu the page says WebGPU is missing", async () => {
        const plain = await launch(false);
        try {
          const page = plain.context.pages()[0] ?? await plain.context.newPage();
          await page.goto(server.url);
          const box = page.locator("[data-testid=no-webgpu]");
          await box.waitFor({ timeout: 30_000 });
          const text = await box.innerText();
          assert.match(text, /no WebGPU/);
          assert.match(text, /--enable-unsafe-webgpu/);
          assert.match(text, /chrome:\/\/flags\/#enable-unsafe-webgpu/);
          assert.equal(await page.locator("[data-testid=text-input]").count(), 0);
        } finally {
          await close(plain);
        }
      });
    } finally {
      await server.close();
      await Deno.remove(site, { recursive: true });
    }
  },
});

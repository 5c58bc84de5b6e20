import assert from "node:assert/strict";
import { acquireGpu } from "../src/gpu/device.ts";
import { calibrateOnDev, formatCalibration } from "../src/train/calibrate.ts";
import { tinySentences, trainTinyModel } from "./tagger_fixture.ts";

const gpu = await acquireGpu();
const { model } = await trainTinyModel(gpu);

Deno.test("calibrateOnDev: over-confident scores get τ > 1, kept because the dev ECE falls", async () => {
  // Gold that disagrees with the model on every third sentence (PER and LOC swapped): confident
  // spans that are often wrong.
  const dev = tinySentences().map((s, i) =>
    i % 3
      ? s
      : { ...s, tags: s.tags.map((t) => t.replace(/PER|LOC/, (m) => m === "PER" ? "LOC" : "PER")) }
  );
  const d = await calibrateOnDev(gpu, model, dev);
  assert.equal(d.spans, 2 * dev.length);
  assert.equal(d.reason, undefined);
  assert.ok(d.temperature > 1, `τ = ${d.temperature}`);
  assert.ok(d.devEceCalibrated < d.devEce, `${d.devEce} -> ${d.devEceCalibrated}`);
  assert.equal(d.applied, true);
  assert.match(
    formatCalibration(d),
    /^calibration: temperature \d+\.\d\d \(dev ECE 0\.\d{3} -> 0\.\d{3}, 144 spans\)$/,
  );
  // A calibration already in the model does not enter the fit.
  const again = await calibrateOnDev(gpu, {
    ...model,
    calibration: { temperature: 9, fittedOn: "x", spans: 1 },
  }, dev);
  assert.deepEqual(again, d);
});

Deno.test("calibrateOnDev: every dev span right runs the fit to its edge; not applied, said why", async () => {
  const d = await calibrateOnDev(gpu, model, tinySentences());
  assert.equal(d.applied, false);
  assert.ok(d.temperature < 0.0101, `τ = ${d.temperature}`);
  assert.match(d.reason!, /edge of its range .*every predicted span is right/);
  assert.match(formatCalibration(d), /^calibration: temperature 0\.01 not applied \(the fit ran/);
  const none = await calibrateOnDev(gpu, model, [{ tokens: ["visited", "."], tags: ["O", "O"] }]);
  assert.deepEqual(none, {
    applied: false,
    temperature: 1,
    devEce: 0,
    devEceCalibrated: 0,
    spans: 0,
    reason: "no predicted spans on the dev set",
  });
  assert.equal(
    formatCalibration(none),
    "calibration: no temperature fitted (no predicted spans on the dev set)",
  );
});

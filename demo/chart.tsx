/// <reference lib="dom" />
/** @jsxImportSource npm:preact@10.29.8 */
/**
 * A small SVG chart of a training run: the loss of every batch (left axis),
 * and the dev F1 of every epoch (right axis, 0–100 %).
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- pinned npm dependency; deno.json has no imports map
import type { JSX } from "npm:preact@10.29.8";
// deno-lint-ignore no-import-prefix -- pinned npm dependency; deno.json has no imports map
import { useEffect, useRef, useState } from "npm:preact@10.29.8/hooks";
import type { Curves } from "./logic.ts";

const H = 220;
const PAD = { left: 44, right: 44, top: 30, bottom: 28 };

function path(points: [number, number][]): string {
  return points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
}

/** The width of an element in CSS pixels, followed as it resizes. */
function useWidth(fallback: number): [{ current: HTMLDivElement | null }, number] {
  const ref = useRef<HTMLDivElement | null>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setWidth(Math.round(el.clientWidth) || fallback));
    observer.observe(el);
    setWidth(Math.round(el.clientWidth) || fallback);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/**
 * Draws the curves at the element's own width, so text keeps its size on a
 * phone; the x-axis spans the whole run (`totalSteps`) from the start. The
 * numbers are also on the element as `data-batch-loss` and `data-epochs`
 * (JSON) for tests and for copying.
 *
 * @param props the curves and the run's total number of steps
 * @returns the chart
 */
export function TrainingChart(props: { curves: Curves; totalSteps: number }): JSX.Element {
  const [ref, measured] = useWidth(560);
  const W = Math.max(280, Math.min(measured, 720));
  const { batches, epochs } = props.curves;
  const lastStep = Math.max(1, props.totalSteps, batches.at(-1)?.step ?? 1);
  const losses = batches.map((b) => b.loss).filter(Number.isFinite);
  const top = losses.length ? Math.max(...losses) * 1.05 : 1;
  const x = (step: number) => PAD.left + (step / lastStep) * (W - PAD.left - PAD.right);
  const yLoss = (loss: number) =>
    PAD.top + (1 - Math.max(0, loss) / top) * (H - PAD.top - PAD.bottom);
  const yF1 = (f1: number) => PAD.top + (1 - f1) * (H - PAD.top - PAD.bottom);
  const lossLine = path(batches.map((b) => [x(b.step), yLoss(b.loss)]));
  const f1Line = path(epochs.map((e) => [x(e.step), yF1(e.f1)]));
  const bottom = H - PAD.bottom;
  const legendF1 = Math.min(PAD.left + 130, W - 130);
  return (
    <div class="chart-box" ref={ref}>
      <svg
        class="chart"
        width={W}
        height={H}
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`Training loss per batch and dev F1 per epoch, step ${
          batches.at(-1)?.step ?? 0
        } of ${lastStep}`}
        data-batch-loss={JSON.stringify(batches.map((b) => +b.loss.toPrecision(5)))}
        data-epochs={JSON.stringify(epochs)}
        data-total-steps={lastStep}
      >
        <line class="axis" x1={PAD.left} y1={bottom} x2={W - PAD.right} y2={bottom} />
        <line class="axis" x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={bottom} />
        <line class="axis" x1={W - PAD.right} y1={PAD.top} x2={W - PAD.right} y2={bottom} />
        <text class="tick loss" x={PAD.left - 4} y={PAD.top + 4} text-anchor="end">
          {top.toPrecision(2)}
        </text>
        <text class="tick loss" x={PAD.left - 4} y={bottom} text-anchor="end">0</text>
        <text class="tick f1" x={W - PAD.right + 4} y={PAD.top + 4}>100%</text>
        <text class="tick f1" x={W - PAD.right + 4} y={bottom}>0%</text>
        <text class="tick" x={PAD.left} y={H - 8}>0</text>
        <text class="tick" x={W / 2} y={H - 8} text-anchor="middle">step</text>
        <text class="tick" x={W - PAD.right} y={H - 8} text-anchor="end">{lastStep}</text>
        <path class="line loss" d={lossLine} />
        <path class="line f1" d={f1Line} />
        {epochs.map((e) => (
          <circle key={e.epoch} class="dot f1" cx={x(e.step)} cy={yF1(e.f1)} r={3.5} />
        ))}
        <line class="line loss" x1={PAD.left} y1={11} x2={PAD.left + 18} y2={11} />
        <text class="legend loss" x={PAD.left + 24} y={15}>loss per batch</text>
        <line class="line f1" x1={legendF1} y1={11} x2={legendF1 + 18} y2={11} />
        <text class="legend f1" x={legendF1 + 24} y={15}>dev F1 per epoch</text>
      </svg>
    </div>
  );
}

/**
 * Training curves: nnU-Net's progress.png in spirit (losses + pseudo Dice on top, learning rate below),
 * drawn into an RGB raster and encoded as PNG with fflate's zlib. Pure except `writeCurvesPng`.
 */
import { writeFileSync } from 'node:fs';
import { encodePngRgb } from '../formats/png.js';

export interface TrainingLog {
  train_losses: number[];
  val_losses: number[];
  mean_fg_dice: number[];
  ema_fg_dice: number[];
  dice_per_class_or_region: number[][];
  lrs: number[];
  epoch_start_timestamps: number[];
  epoch_end_timestamps: number[];
}

export function emptyLog(): TrainingLog {
  return { train_losses: [], val_losses: [], mean_fg_dice: [], ema_fg_dice: [], dice_per_class_or_region: [], lrs: [], epoch_start_timestamps: [], epoch_end_timestamps: [] };
}

type Rgb = [number, number, number];

class Canvas {
  readonly px: Uint8Array;
  constructor(readonly w: number, readonly h: number) {
    this.px = new Uint8Array(w * h * 3).fill(255);
  }
  set(x: number, y: number, c: Rgb): void {
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    this.px.set(c, (y * this.w + x) * 3);
  }
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let i = 0; i <= n; i++) {
      const x = Math.round(x0 + ((x1 - x0) * i) / n);
      const y = Math.round(y0 + ((y1 - y0) * i) / n);
      this.set(x, y, c);
      this.set(x, y + 1, c);
    }
  }
  rect(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    this.line(x0, y0, x1, y0, c);
    this.line(x0, y1, x1, y1, c);
    this.line(x0, y0, x0, y1, c);
    this.line(x1, y0, x1, y1, c);
  }
}

/** One panel: each series scaled to [lo, hi] of the values given (NaN skipped). */
function panel(cv: Canvas, top: number, height: number, series: { values: number[]; color: Rgb }[], n: number, range?: [number, number]): void {
  const left = 40;
  const right = cv.w - 20;
  cv.rect(left, top, right, top + height, [0, 0, 0]);
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  if (!all.length || n < 1) return;
  const [lo, hi] = range ?? [Math.min(...all), Math.max(...all)];
  const span = hi - lo || 1;
  // grid at quarters
  for (let q = 1; q < 4; q++) {
    const y = Math.round(top + (height * q) / 4);
    for (let x = left; x < right; x += 4) cv.set(x, y, [200, 200, 200]);
  }
  for (const s of series) {
    let prev: [number, number] | null = null;
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const x = left + ((right - left) * (n === 1 ? 0.5 : i / (n - 1)));
      const y = top + height - ((v - lo) / span) * height;
      if (prev) cv.line(prev[0], prev[1], x, y, s.color);
      else cv.set(Math.round(x), Math.round(y), s.color);
      prev = [x, y];
    });
  }
}

/**
 * Top: train loss (blue), val loss (red), pseudo Dice (green, dotted scale 0–1 drawn in the same box),
 * EMA pseudo Dice (dark green). Bottom: learning rate (black).
 */
export function renderCurves(log: TrainingLog, width = 800, height = 500): Uint8Array {
  const cv = new Canvas(width, height);
  const n = log.train_losses.length;
  const lossTop = 15;
  const lossH = Math.round(height * 0.55);
  panel(cv, lossTop, lossH, [
    { values: log.train_losses, color: [31, 119, 180] },
    { values: log.val_losses, color: [214, 39, 40] },
  ], n);
  panel(cv, lossTop, lossH, [
    { values: log.mean_fg_dice, color: [120, 200, 120] },
    { values: log.ema_fg_dice, color: [0, 110, 0] },
  ], n, [0, 1]);
  panel(cv, lossTop + lossH + 25, height - lossH - 55, [{ values: log.lrs, color: [0, 0, 0] }], n, [0, Math.max(...log.lrs, 1e-12)]);
  return encodePngRgb(cv.px, width, height);
}

export function writeCurvesPng(path: string, log: TrainingLog): void {
  writeFileSync(path, renderCurves(log));
}

/**
 * nnU-Net's default resampling rules (nnunetv2/preprocessing/resampling/default_resampling.py):
 * `compute_new_shape`, `get_do_separate_z`, `get_lowres_axis`, `determine_do_sep_z_and_axis` and
 * `resample_data_or_seg_to_shape` / `resample_data_or_seg`. Used by preprocessing (images order 3,
 * labels one-hot order 1) and when exporting predictions back to the original geometry (probabilities as
 * data, is_seg false, order 1). Pure code, no I/O.
 *
 * Arrays are (c, z, y, x) C-order; every channel is resampled on its own view and the last pass writes
 * straight into the output, so the whole array is never copied twice.
 */
import type { Vec3 } from '../../imaging/volume.js';
import { ANISO_THRESHOLD } from '../plans/plans.js';
import {
  clipInPlace,
  minMax,
  resampleAxis,
  resampleAxisNearest,
  resizeLabelsLinear,
  zoom,
  type SplineOrder,
} from '../../imaging/resample.js';


/** The kwargs nnU-Net stores in plans.json as resampling_fn_{data,seg,probabilities}_kwargs. */
export interface ResamplingKwargs {
  is_seg?: boolean;
  order?: number;
  order_z?: number;
  /** null: decide from the spacings (nnU-Net's default plans); true/false force it */
  force_separate_z?: boolean | null;
  separate_z_anisotropy_threshold?: number;
}

/** Python's round(): half to even (compute_new_shape uses the builtin round). */
export function pyRound(x: number): number {
  const r = Math.round(x);
  if (Math.abs(x - Math.trunc(x)) === 0.5) return 2 * Math.round(x / 2);
  return r;
}

/** `compute_new_shape`: int(round(old_spacing / new_spacing * old_shape)) per axis. */
export function computeNewShape(oldShape: readonly number[], oldSpacing: readonly number[], newSpacing: readonly number[]): number[] {
  if (oldShape.length !== oldSpacing.length || oldShape.length !== newSpacing.length)
    throw new Error(`computeNewShape: shape [${oldShape.join(', ')}], old spacing [${oldSpacing.join(', ')}] and new spacing [${newSpacing.join(', ')}] must have the same length`);
  return oldShape.map((s, i) => pyRound((oldSpacing[i] / newSpacing[i]) * s));
}

/** `get_do_separate_z`: max(spacing) / min(spacing) > threshold. */
export function getDoSeparateZ(spacing: readonly number[], threshold = ANISO_THRESHOLD): boolean {
  return Math.max(...spacing) / Math.min(...spacing) > threshold;
}

/** `get_lowres_axis`: every axis whose spacing equals the largest. */
export function getLowresAxis(spacing: readonly number[]): number[] {
  const mx = Math.max(...spacing);
  const out: number[] = [];
  spacing.forEach((s, i) => {
    if (mx / s === 1) out.push(i);
  });
  return out;
}

/**
 * `determine_do_sep_z_and_axis`: forced, or decided from the current spacing first and then the target
 * spacing; never separate when two or three axes share the largest spacing.
 */
export function determineSeparateZ(
  forceSeparateZ: boolean | null | undefined,
  currentSpacing: readonly number[],
  newSpacing: readonly number[],
  threshold = ANISO_THRESHOLD,
): { doSeparateZ: boolean; axis: number | null } {
  let doSeparateZ: boolean;
  let axis: number[] | null;
  if (forceSeparateZ !== null && forceSeparateZ !== undefined) {
    doSeparateZ = forceSeparateZ;
    axis = forceSeparateZ ? getLowresAxis(currentSpacing) : null;
  } else if (getDoSeparateZ(currentSpacing, threshold)) {
    doSeparateZ = true;
    axis = getLowresAxis(currentSpacing);
  } else if (getDoSeparateZ(newSpacing, threshold)) {
    doSeparateZ = true;
    axis = getLowresAxis(newSpacing);
  } else {
    doSeparateZ = false;
    axis = null;
  }
  if (axis !== null && axis.length !== 1) doSeparateZ = false;
  return { doSeparateZ, axis: doSeparateZ && axis ? axis[0] : null };
}

function checkOrder(order: number, what: string, allowed: readonly number[]): SplineOrder {
  if (!allowed.includes(order)) throw new Error(`resampling: ${what} ${order} is not supported (supported: ${allowed.join(', ')})`);
  return order as SplineOrder;
}

/** Per-slice [min, max] along `axis` (skimage clips each 2-D slice to its own range in the separate-z path). */
function sliceRanges(a: Float32Array, shape: Vec3, axis: number): Float64Array {
  const [nz, ny, nx] = shape;
  const n = shape[axis];
  const r = new Float64Array(2 * n);
  for (let s = 0; s < n; s++) {
    r[2 * s] = Infinity;
    r[2 * s + 1] = -Infinity;
  }
  let p = 0;
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++, p++) {
        const s = axis === 0 ? k : axis === 1 ? j : i;
        const v = a[p];
        if (v < r[2 * s]) r[2 * s] = v;
        if (v > r[2 * s + 1]) r[2 * s + 1] = v;
      }
  return r;
}

function clipSlices(a: Float32Array, shape: Vec3, axis: number, ranges: Float64Array): void {
  const [nz, ny, nx] = shape;
  let p = 0;
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++, p++) {
        const s = axis === 0 ? k : axis === 1 ? j : i;
        const v = a[p];
        if (v < ranges[2 * s]) a[p] = ranges[2 * s];
        else if (v > ranges[2 * s + 1]) a[p] = ranges[2 * s + 1];
      }
}

/** skimage resize of one channel; the last pass writes into `out`. */
function resizeDataChannel(src: Float32Array, shape: Vec3, newShape: Vec3, order: SplineOrder, out: Float32Array): void {
  zoom(src, shape, newShape, order, out);
  if (order > 1) {
    const [lo, hi] = minMax(src);
    clipInPlace(out, lo, hi);
  }
}

/** resize_segmentation of one channel (order 0: nearest on the labels; order 1: one-hot linear ≥ 0.5). */
function resizeSegChannel(src: Int16Array, shape: Vec3, newShape: Vec3, order: SplineOrder): Int16Array {
  if (order === 1) return resizeLabelsLinear(src, shape, newShape);
  let cur = src;
  let curShape = shape;
  for (const a of [0, 1, 2] as const) {
    if (curShape[a] === newShape[a]) continue;
    cur = resampleAxisNearest(cur, curShape, a, newShape[a]);
    curShape = [...curShape] as Vec3;
    curShape[a] = newShape[a];
  }
  return cur;
}

/**
 * `resample_data_or_seg_to_shape(data, new_shape, current_spacing, new_spacing, **kwargs)` for a
 * (channels, z, y, x) array. Float32Array for images/probabilities (is_seg false), Int16Array for label
 * maps (is_seg true). Returns the input itself when the shape does not change (as nnU-Net does).
 */
export function resampleDataOrSegToShape<T extends Float32Array | Int16Array>(
  data: T,
  channels: number,
  shape: Vec3,
  newShape: Vec3,
  currentSpacing: readonly number[],
  newSpacing: readonly number[],
  kwargs: ResamplingKwargs = {},
): T {
  const isSeg = kwargs.is_seg ?? false;
  const n = shape[0] * shape[1] * shape[2];
  if (!Number.isInteger(channels) || channels < 1) throw new Error(`resampling: channels must be a positive integer, got ${channels}`);
  if (data.length !== channels * n)
    throw new Error(`resampling: data has ${data.length} values, ${channels} channel(s) of [${shape.join(', ')}] need ${channels * n}`);
  if (newShape.length !== 3 || newShape.some((s) => !Number.isInteger(s) || s < 1))
    throw new Error(`resampling: new shape must be three positive integers, got [${newShape.join(', ')}]`);
  if (isSeg && !(data instanceof Int16Array)) throw new Error('resampling: is_seg needs an Int16Array label map');
  if (!isSeg && !(data instanceof Float32Array)) throw new Error('resampling: image data must be a Float32Array');
  const order = checkOrder(kwargs.order ?? 3, 'order', isSeg ? [0, 1] : [0, 1, 3]);
  const orderZ = checkOrder(kwargs.order_z ?? 0, 'order_z', isSeg ? [0, 1] : [0, 1, 3]);
  if (shape.every((s, i) => s === newShape[i])) return data;

  const { doSeparateZ, axis } = determineSeparateZ(
    kwargs.force_separate_z ?? null,
    currentSpacing,
    newSpacing,
    kwargs.separate_z_anisotropy_threshold ?? ANISO_THRESHOLD,
  );
  const m = newShape[0] * newShape[1] * newShape[2];
  // in-plane target: the lowres axis keeps its length until the final pass along it
  const planeShape = [...newShape] as Vec3;
  if (doSeparateZ && axis !== null) planeShape[axis] = shape[axis];

  if (isSeg) {
    const seg = data as Int16Array;
    const out = new Int16Array(channels * m);
    for (let c = 0; c < channels; c++) {
      const ch = seg.subarray(c * n, (c + 1) * n);
      let res = resizeSegChannel(ch, shape, planeShape, order);
      if (doSeparateZ && axis !== null && planeShape[axis] !== newShape[axis]) {
        res =
          orderZ === 0
            ? resampleAxisNearest(res, planeShape, axis as 0 | 1 | 2, newShape[axis])
            : // per label map_coordinates(order_z) then np.round(...) > 0.5
              resizeLabelsLinear(res, planeShape, newShape, true);
      }
      out.set(res, c * m);
    }
    return out as T;
  }

  const img = data as Float32Array;
  const out = new Float32Array(channels * m);
  for (let c = 0; c < channels; c++) {
    const ch = img.subarray(c * n, (c + 1) * n);
    const dst = out.subarray(c * m, (c + 1) * m);
    if (!doSeparateZ || axis === null) {
      resizeDataChannel(ch, shape, newShape, order, dst);
      continue;
    }
    const zChanges = planeShape[axis] !== newShape[axis];
    const inPlaneChanges = planeShape.some((s, i) => s !== shape[i]);
    if (!inPlaneChanges) {
      resampleAxis(ch, shape, axis as 0 | 1 | 2, newShape[axis], orderZ, dst);
      continue;
    }
    // every 2-D slice is resized (and clipped to its own range) by skimage, then map_coordinates along z
    const ranges = order > 1 ? sliceRanges(ch, shape, axis) : null;
    const plane = zoom(ch, shape, planeShape, order, zChanges ? undefined : dst);
    if (ranges) clipSlices(plane, planeShape, axis, ranges);
    if (zChanges) resampleAxis(plane, planeShape, axis as 0 | 1 | 2, newShape[axis], orderZ, dst);
  }
  return out as T;
}

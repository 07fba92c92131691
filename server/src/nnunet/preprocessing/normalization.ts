/**
 * nnU-Net's intensity normalization schemes (nnunetv2/preprocessing/normalization/
 * default_normalization_schemes.py), by the class names plans.json lists in `normalization_schemes`.
 * Each works in place on one float32 channel. Pure code, no I/O.
 *
 * Arithmetic: nnU-Net does float32 in-place numpy ops with Python-float operands, which NumPy 2 casts to
 * float32 (NEP 50), so each step rounds to float32 — replicated with Math.fround. Means and standard
 * deviations are accumulated in float64 here (numpy uses float32 pairwise sums), a difference of the
 * order of 1e-7 relative.
 */

import type { IntensityProperties } from '../plans/plans.js';

export const NORMALIZATION_SCHEMES = [
  'CTNormalization',
  'NoNormalization',
  'RescaleTo01Normalization',
  'RGBTo01Normalization',
  'ZScoreNormalization',
] as const;
export type NormalizationScheme = (typeof NORMALIZATION_SCHEMES)[number];

export function isNormalizationScheme(s: string): s is NormalizationScheme {
  return (NORMALIZATION_SCHEMES as readonly string[]).includes(s);
}

const f32 = Math.fround;

/** ZScoreNormalization: per image; with the mask only over seg ≥ 0 (the nonzero region) and 0 outside. */
export function zScoreNormalize(image: Float32Array, seg?: Int16Array | Int8Array, useMaskForNorm = false): void {
  const masked = useMaskForNorm && seg !== undefined;
  if (masked && seg.length !== image.length) throw new Error(`ZScoreNormalization: segmentation has ${seg.length} voxels, image ${image.length}`);
  let sum = 0;
  let count = 0;
  for (let i = 0; i < image.length; i++) {
    if (masked && seg[i] < 0) continue;
    sum += image[i];
    count++;
  }
  if (count === 0) {
    // numpy: mean of an empty selection is nan; nothing sensible to do but leave the (all-outside) image at 0
    if (masked) image.fill(0);
    return;
  }
  const mean = sum / count;
  let ss = 0;
  for (let i = 0; i < image.length; i++) {
    if (masked && seg[i] < 0) continue;
    const d = image[i] - mean;
    ss += d * d;
  }
  const m = f32(mean);
  const s = f32(Math.max(Math.sqrt(ss / count), 1e-8));
  for (let i = 0; i < image.length; i++) {
    if (masked && seg[i] < 0) image[i] = 0;
    else image[i] = f32(image[i] - m) / s;
  }
}

/** CTNormalization: clip to the dataset's foreground [p0.5, p99.5], then (x - mean) / max(std, 1e-8). */
export function ctNormalize(image: Float32Array, props: IntensityProperties | undefined): void {
  if (!props) throw new Error('CTNormalization requires intensity properties (foreground_intensity_properties_per_channel in the plans)');
  const lo = f32(props.percentile_00_5);
  const hi = f32(props.percentile_99_5);
  const m = f32(props.mean);
  const s = f32(Math.max(props.std, 1e-8));
  for (let i = 0; i < image.length; i++) {
    let v = image[i];
    if (v < lo) v = lo;
    else if (v > hi) v = hi;
    image[i] = f32(v - m) / s;
  }
}

/** RescaleTo01Normalization: (x - min) / max(max - min, 1e-8). */
export function rescaleTo01Normalize(image: Float32Array): void {
  let mn = Infinity;
  for (let i = 0; i < image.length; i++) if (image[i] < mn) mn = image[i];
  let mx = -Infinity;
  for (let i = 0; i < image.length; i++) {
    image[i] = f32(image[i] - mn);
    if (image[i] > mx) mx = image[i];
  }
  const d = f32(Math.max(mx, 1e-8));
  for (let i = 0; i < image.length; i++) image[i] = image[i] / d;
}

/** RGBTo01Normalization: values must lie in [0, 255]; x / 255. */
export function rgbTo01Normalize(image: Float32Array): void {
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = 0; i < image.length; i++) {
    if (image[i] < mn) mn = image[i];
    if (image[i] > mx) mx = image[i];
  }
  if (mn < 0) throw new Error(`RGBTo01Normalization: RGB images are uint8, found a value ${mn} < 0`);
  if (mx > 255) throw new Error(`RGBTo01Normalization: RGB images are uint8, found a value ${mx} > 255`);
  for (let i = 0; i < image.length; i++) image[i] = image[i] / 255;
}

/**
 * Runs the scheme named in plans.json on one channel, in place (`DefaultPreprocessor._normalize`).
 * `seg` is the cropped segmentation of the case (-1 outside the nonzero mask).
 */
export function normalizeChannel(
  scheme: string,
  image: Float32Array,
  options: { seg?: Int16Array | Int8Array; useMaskForNorm?: boolean; intensityProperties?: IntensityProperties } = {},
): void {
  switch (scheme) {
    case 'ZScoreNormalization':
      return zScoreNormalize(image, options.seg, options.useMaskForNorm ?? false);
    case 'CTNormalization':
      return ctNormalize(image, options.intensityProperties);
    case 'NoNormalization':
      return;
    case 'RescaleTo01Normalization':
      return rescaleTo01Normalize(image);
    case 'RGBTo01Normalization':
      return rgbTo01Normalize(image);
    default:
      throw new Error(`Unable to locate class '${scheme}' for normalization (known: ${NORMALIZATION_SCHEMES.join(', ')})`);
  }
}

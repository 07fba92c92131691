/**
 * nnU-Net v2 dataset fingerprint (nnunetv2/experiment_planning/dataset_fingerprint/fingerprint_extractor.py,
 * `DatasetFingerprintExtractor`). Pure part: one case → its crop shape, spacing and foreground samples;
 * all cases → dataset_fingerprint.json with the same keys and values as nnU-Net.
 */
import { z } from 'zod';
import { IntensityPropertiesSchema, type IntensityProperties } from '../plans/plans.js';
import type { Vec3 } from '../../imaging/volume.js';
import { cropToNonzero } from '../preprocessing/cropping.js';
import { RandomState } from './random-state.js';
import { meanF32, medianF64, percentilesF32, stdF32 } from './numpy-stats.js';

/** nnU-Net samples 10e7 foreground voxels for the whole dataset (`num_foreground_voxels_for_intensitystats`). */
export const NUM_FOREGROUND_VOXELS_FOR_INTENSITY_STATS = 10e7;
/** seed of the per-case `np.random.RandomState` in `collect_foreground_intensities` */
export const FOREGROUND_SAMPLING_SEED = 1234;


/** dataset_fingerprint.json (nnU-Net writes it with sorted keys; no version field because nnU-Net's has none). */
export const DatasetFingerprintSchema = z.object({
  foreground_intensity_properties_per_channel: z.record(z.string(), IntensityPropertiesSchema),
  median_relative_size_after_cropping: z.number(),
  shapes_after_crop: z.array(z.array(z.number().int().positive())),
  spacings: z.array(z.array(z.number().positive())),
});
export type DatasetFingerprint = z.infer<typeof DatasetFingerprintSchema>;

export interface CaseFingerprint {
  shapeAfterCrop: Vec3;
  spacing: Vec3;
  /** per channel: `num_samples` foreground intensities drawn with replacement, or empty when no foreground */
  foregroundSamples: Float32Array[];
  relativeSizeAfterCropping: number;
}

/** Samples per case: `int(num_foreground_voxels_for_intensitystats // num_cases)`. */
export function samplesPerCase(numCases: number, totalSamples = NUM_FOREGROUND_VOXELS_FOR_INTENSITY_STATS): number {
  return Math.floor(totalSamples / numCases);
}

/**
 * `analyze_case`: crop to nonzero, then `collect_foreground_intensities` on the cropped arrays — the
 * foreground is seg > 0 after cropping; one RandomState(1234) per case, shared by its channels in order.
 */
export function analyzeCase(
  data: Float32Array,
  channels: number,
  shape: Vec3,
  spacing: Vec3,
  seg: Int16Array,
  numSamples: number,
): CaseFingerprint {
  const cropped = cropToNonzero(data, channels, shape, seg);
  const n = cropped.seg.length;
  let numFg = 0;
  for (let v = 0; v < n; v++) if (cropped.seg[v] > 0) numFg++;
  const fgIndex = new Uint32Array(numFg);
  for (let v = 0, o = 0; v < n; v++) if (cropped.seg[v] > 0) fgIndex[o++] = v;
  const rs = new RandomState(FOREGROUND_SAMPLING_SEED);
  const fgValues = new Float32Array(numFg);
  const foregroundSamples: Float32Array[] = [];
  for (let c = 0; c < channels; c++) {
    if (numFg === 0) {
      foregroundSamples.push(new Float32Array(0));
      continue;
    }
    const off = c * n;
    for (let i = 0; i < numFg; i++) fgValues[i] = cropped.data[off + fgIndex[i]];
    foregroundSamples.push(rs.choiceWithReplacement(fgValues, numSamples));
  }
  const before = shape[0] * shape[1] * shape[2];
  return {
    shapeAfterCrop: cropped.shape,
    spacing: [...spacing] as Vec3,
    foregroundSamples,
    relativeSizeAfterCropping: n / before,
  };
}

/** Intensity statistics of one channel's pooled samples (reorders `samples`). */
export function intensityProperties(samples: Float32Array): IntensityProperties {
  if (samples.length === 0) throw new Error('fingerprint: no foreground voxels in any training case (all labels are background?)');
  const mean = meanF32(samples);
  const std = stdF32(samples);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const [p005, median, p995] = percentilesF32(samples, [0.5, 50, 99.5]);
  return { max, mean, median, min, percentile_00_5: p005, percentile_99_5: p995, std };
}

/**
 * The dataset fingerprint from per-case results in dataset order. Samples are concatenated per channel
 * like nnU-Net's np.concatenate (cases without foreground add nothing).
 */
export function combineCaseFingerprints(cases: readonly CaseFingerprint[], numChannels: number): DatasetFingerprint {
  if (cases.length === 0) throw new Error('fingerprint: the dataset has no training cases');
  const props: Record<string, IntensityProperties> = {};
  for (let c = 0; c < numChannels; c++) {
    let total = 0;
    for (const k of cases) total += k.foregroundSamples[c]?.length ?? 0;
    const pooled = new Float32Array(total);
    let o = 0;
    for (const k of cases) {
      const s = k.foregroundSamples[c];
      if (s) {
        pooled.set(s, o);
        o += s.length;
      }
    }
    props[String(c)] = intensityProperties(pooled);
  }
  return {
    foreground_intensity_properties_per_channel: props,
    median_relative_size_after_cropping: medianF64(cases.map((k) => k.relativeSizeAfterCropping)),
    shapes_after_crop: cases.map((k) => [...k.shapeAfterCrop]),
    spacings: cases.map((k) => [...k.spacing]),
  };
}

/**
 * nnU-Net's DefaultPreprocessor.run_case_npy (nnunetv2/preprocessing/preprocessors/default_preprocessor.py)
 * on Volumes: transpose_forward → crop to nonzero → normalize (before resampling, as nnU-Net insists) →
 * resample to the configuration's spacing → for training cases, foreground class locations.
 * Pure code, no I/O. Arrays are (c, z, y, x) C-order, x fastest.
 */
import { assertVolume, type Vec3, type Volume } from '../../imaging/volume.js';
import { LabelManager } from '../dataset/labels.js';
import type { LabelValue } from '../dataset/dataset-json.js';
import { sampleForegroundLocations, type ClassOrRegion } from './class-locations.js';
import { cropToNonzero, type BoundingBox } from './cropping.js';
import { normalizeChannel } from './normalization.js';
import { resolveConfiguration, type Plans } from '../plans/plans.js';
import { computeNewShape, resampleDataOrSegToShape } from './resampling.js';

/** What nnU-Net keeps in <case>.pkl, as JSON-able values. */
export interface PreprocessedProperties {
  /** spacing as read, [sz, sy, sx] (nnU-Net's properties['spacing'], before transposing) */
  spacing: number[];
  /** the reader's geometry in ITK order, like SimpleITKIO's sitk_stuff */
  sitk_stuff: { spacing: number[]; origin: number[]; direction: number[] };
  shape_before_cropping: number[];
  bbox_used_for_cropping: [number, number][];
  shape_after_cropping_and_before_resampling: number[];
  /** keyed by label ("1") or region ("[1,2]"); flat (0, z, y, x) quadruples */
  class_locations?: Record<string, Int32Array>;
}

export interface PreprocessedCase {
  data: Float32Array;
  channels: number;
  shape: Vec3;
  /** only for training cases (a segmentation was given); -1 outside the nonzero mask */
  seg?: Int16Array;
  properties: PreprocessedProperties;
}

/** Minimal dataset.json view: the labels (and regions order) decide which class locations are sampled. */
export interface DatasetJsonLabels {
  labels: Record<string, LabelValue>;
  regions_class_order?: number[] | null;
}

function transposeArray<T extends Float32Array | Int16Array>(src: T, channels: number, shape: Vec3, perm: readonly number[]): { data: T; shape: Vec3 } {
  if (perm[0] === 0 && perm[1] === 1 && perm[2] === 2) return { data: src, shape };
  const newShape = [shape[perm[0]], shape[perm[1]], shape[perm[2]]] as Vec3;
  const strides = [shape[1] * shape[2], shape[2], 1];
  const [s0, s1, s2] = [strides[perm[0]], strides[perm[1]], strides[perm[2]]];
  const n = shape[0] * shape[1] * shape[2];
  const Ctor = src.constructor as new (len: number) => T;
  const out = new Ctor(src.length);
  let o = 0;
  for (let c = 0; c < channels; c++) {
    const base = c * n;
    for (let a = 0; a < newShape[0]; a++)
      for (let b = 0; b < newShape[1]; b++) {
        const row = base + a * s0 + b * s1;
        for (let k = 0; k < newShape[2]; k++) out[o++] = src[row + k * s2];
      }
  }
  return { data: out, shape: newShape };
}

/** Stacks the channel volumes into one float32 (c, z, y, x) array; a single float32 channel is used as is. */
function stackChannels(images: Volume[]): Float32Array {
  if (images.length === 1 && images[0].data instanceof Float32Array) return images[0].data;
  const n = images[0].data.length;
  const out = new Float32Array(images.length * n);
  images.forEach((im, c) => out.set(im.data, c * n));
  return out;
}

/**
 * Writes the labels of the (untransposed, uncropped) label map into the cropped mask seg: label where
 * nonzero or inside the mask, -1 for background outside (crop_to_nonzero: seg[(seg == 0) & ~mask] = -1).
 */
function mergeLabels(
  maskSeg: Int16Array,
  cropShape: Vec3,
  labels: ArrayLike<number>,
  origShape: Vec3,
  perm: readonly number[],
  bbox: BoundingBox,
): void {
  const st = [origShape[1] * origShape[2], origShape[2], 1];
  const [s0, s1, s2] = [st[perm[0]], st[perm[1]], st[perm[2]]];
  let o = 0;
  for (let a = 0; a < cropShape[0]; a++)
    for (let b = 0; b < cropShape[1]; b++) {
      const row = (a + bbox[0][0]) * s0 + (b + bbox[1][0]) * s1 + bbox[2][0] * s2;
      for (let c = 0; c < cropShape[2]; c++, o++) {
        const v = labels[row + c * s2];
        if (v !== 0 || maskSeg[o] === 0) maskSeg[o] = v;
      }
    }
}

function sameGeometry(a: Volume, b: Volume): boolean {
  return a.shape.every((s, i) => s === b.shape[i]);
}

/** The classes / regions nnU-Net collects locations for (`run_case_npy`). */
export function classesToSample(datasetJson: DatasetJsonLabels): ClassOrRegion[] {
  const lm = new LabelManager(datasetJson.labels, datasetJson.regions_class_order ?? undefined);
  const out: ClassOrRegion[] = lm.hasRegions ? lm.foregroundRegions!.map((r) => [...r]) : [...lm.foregroundLabels];
  // with an ignore label, also sample uniformly from every annotated class (incl. background)
  if (lm.hasIgnoreLabel) out.push([...lm.allLabels]);
  return out;
}

/**
 * `DefaultPreprocessor.run_case_npy` for one case. The input volumes are not modified. Without a
 * segmentation (inference), no seg is returned (nnU-Net resamples the nonzero mask anyway and drops it).
 */
export function preprocessCase(
  images: Volume[],
  seg: Volume | undefined,
  plans: Plans,
  configurationName: string,
  datasetJson: DatasetJsonLabels,
  caseId = 'case',
): PreprocessedCase {
  const config = resolveConfiguration(plans, configurationName);
  if (images.length === 0) throw new Error(`${caseId}: no image channels`);
  images.forEach((im, c) => assertVolume(im, `${caseId} channel ${c}`));
  const channels = images.length;
  if (config.normalization_schemes.length !== channels)
    throw new Error(`${caseId}: ${channels} channel(s) but configuration "${configurationName}" has ${config.normalization_schemes.length} normalization scheme(s)`);
  if (config.use_mask_for_norm.length !== channels)
    throw new Error(`${caseId}: ${channels} channel(s) but configuration "${configurationName}" has ${config.use_mask_for_norm.length} use_mask_for_norm entries`);
  for (let c = 1; c < channels; c++)
    if (!sameGeometry(images[c], images[0]))
      throw new Error(`${caseId}: channel ${c} has shape [${images[c].shape.join(', ')}], channel 0 [${images[0].shape.join(', ')}]`);
  if (seg) {
    assertVolume(seg, `${caseId} segmentation`);
    if (!sameGeometry(seg, images[0]))
      throw new Error(`${caseId}: segmentation shape [${seg.shape.join(', ')}] differs from image shape [${images[0].shape.join(', ')}]`);
  }
  const ref = images[0];
  const tf = plans.transpose_forward;

  // transpose (also the spacing)
  let shape = [...ref.shape] as Vec3;
  let t: { data: Float32Array; shape: Vec3 } | undefined = transposeArray(stackChannels(images), channels, shape, tf);
  shape = t.shape;
  const originalSpacing = tf.map((i) => ref.spacing[i]);
  const shapeBeforeCropping = [...shape];

  // crop (never modifies its inputs)
  // destructured into variables that are reassigned later, so nothing keeps superseded arrays alive
  let data: Float32Array;
  let croppedSeg: Int16Array;
  let bbox: BoundingBox;
  // without a seg, crop_to_nonzero returns the cropped mask as seg (0 inside, -1 outside); the labels are
  // merged into it straight from the input (any integer type, transposed on the fly), which gives
  // crop_to_nonzero's seg without an uncropped int16 copy of the label map
  // eslint-disable-next-line prefer-const -- bbox is assigned here together with variables reassigned later
  ({ data, seg: croppedSeg, shape, bbox } = cropToNonzero(t.data, channels, shape));
  // drop our uncropped copy now: it would otherwise stay alive through resampling (peak memory)
  t = undefined;
  if (seg) mergeLabels(croppedSeg, shape, seg.data, ref.shape, tf, bbox);
  const shapeAfterCropping = [...shape];

  // target spacing; 2d configurations keep the spacing between slices
  let targetSpacing = [...config.spacing];
  if (targetSpacing.length < 3) targetSpacing = [originalSpacing[0], ...targetSpacing];
  const newShape = computeNewShape(shape, originalSpacing, targetSpacing) as Vec3;

  // normalize before resampling so the nonzero mask still fits the image
  const n = shape[0] * shape[1] * shape[2];
  for (let c = 0; c < channels; c++) {
    normalizeChannel(config.normalization_schemes[c], data.subarray(c * n, (c + 1) * n), {
      seg: croppedSeg,
      useMaskForNorm: config.use_mask_for_norm[c],
      intensityProperties: plans.foreground_intensity_properties_per_channel[String(c)],
    });
  }

  data = resampleDataOrSegToShape(data, channels, shape, newShape, originalSpacing, targetSpacing, config.resampling_fn_data_kwargs);
  const properties: PreprocessedProperties = {
    spacing: [...ref.spacing],
    sitk_stuff: { spacing: [ref.spacing[2], ref.spacing[1], ref.spacing[0]], origin: [...ref.origin], direction: [...ref.direction] },
    shape_before_cropping: shapeBeforeCropping,
    bbox_used_for_cropping: bbox.map(([a, b]) => [a, b] as [number, number]),
    shape_after_cropping_and_before_resampling: shapeAfterCropping,
  };
  if (!seg) return { data, channels, shape: newShape, properties };

  croppedSeg = resampleDataOrSegToShape(croppedSeg, 1, shape, newShape, originalSpacing, targetSpacing, {
    is_seg: true,
    ...config.resampling_fn_seg_kwargs,
  });
  const locs = sampleForegroundLocations(croppedSeg, newShape, classesToSample(datasetJson));
  properties.class_locations = Object.fromEntries(locs);
  return { data, channels, shape: newShape, seg: croppedSeg, properties };
}

/**
 * nnU-Net v2 `ExperimentPlanner` (nnunetv2/experiment_planning/experiment_planners/default_experiment_planner.py):
 * fingerprint + dataset.json → plans (2d, 3d_fullres, 3d_lowres, 3d_cascade_fullres). Pure, no I/O.
 */
import type { DatasetJson } from '../dataset/dataset-json.js';
import { channelNames } from '../dataset/dataset-json.js';
import type { DatasetFingerprint } from './fingerprint.js';
import { getPoolAndConvProps, plainConvUNetFeatureMapSize, residualEncoderUNetFeatureMapSize } from './network-topology.js';
import { normalizationSchemeForChannel, schemeUsesMaskForNorm } from './normalization.js';
import { computeNewShape, pyRound } from '../preprocessing/resampling.js';
import { ANISO_THRESHOLD, type Plans } from '../plans/plans.js';

// nnU-Net's planner imports compute_new_shape from default_resampling.py; so do we (re-exported for callers)
export { computeNewShape, pyRound };


export interface PlannerPreset {
  plansName: string;
  /** class name written to `experiment_planner_used` (and accepted by `-pl`) */
  experimentPlannerName: string;
  architecture: 'PlainConvUNet' | 'ResidualEncoderUNet';
  networkClassName: string;
  gpuMemoryTargetGB: number;
  /** UNet_reference_val_corresp_GB: the memory the reference values were calibrated for */
  referenceGB: number;
  referenceVal3d: number;
  referenceVal2d: number;
  /** encoder convs (PlainConvUNet n_conv_per_stage) or residual blocks (ResidualEncoderUNet n_blocks_per_stage) */
  blocksPerStageEncoder: number[];
  blocksPerStageDecoder: number[];
  /** max_dataset_covered: the batch may hold at most this fraction of the dataset's voxels */
  maxDatasetCovered: number;
  /**
   * Patch shrink test. ExperimentPlanner: `estimate / ref_bs * 2 > reference` (enforces batch ≥ 2 against the
   * reference batch); the ResEnc planners keep the older `estimate > reference`.
   */
  shrinkWhile: 'estimate-per-two-samples' | 'estimate';
  /** ResEnc planners reuse ExperimentPlanner's preprocessed 2d/3d_fullres data: their data_identifier prefix */
  sharedDataIdentifierPrefix?: string;
}

export const DEFAULT_PLANNER: PlannerPreset = {
  plansName: 'nnUNetPlans',
  experimentPlannerName: 'ExperimentPlanner',
  architecture: 'PlainConvUNet',
  networkClassName: 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
  gpuMemoryTargetGB: 8,
  referenceGB: 8,
  referenceVal3d: 560000000,
  referenceVal2d: 85000000,
  blocksPerStageEncoder: new Array(14).fill(2),
  blocksPerStageDecoder: new Array(13).fill(2),
  maxDatasetCovered: 0.05,
  shrinkWhile: 'estimate-per-two-samples',
};

/**
 * ResEncUNetPlanner and its presets (nnunetv2/experiment_planning/experiment_planners/residual_unets/
 * residual_encoder_unet_planners.py): ResidualEncoderUNet with (1, 3, 4, 6, 6, …) BasicBlockD per encoder stage,
 * one conv per decoder stage, no 5 % dataset cap (max_dataset_covered = 1).
 */
const resEnc = (size: 'M' | 'L' | 'XL', gb: number, ref3d: number, ref2d: number): PlannerPreset => ({
  plansName: `nnUNetResEncUNet${size}Plans`,
  experimentPlannerName: `nnUNetPlannerResEnc${size}`,
  architecture: 'ResidualEncoderUNet',
  networkClassName: 'dynamic_network_architectures.architectures.unet.ResidualEncoderUNet',
  gpuMemoryTargetGB: gb,
  referenceGB: gb,
  referenceVal3d: ref3d,
  referenceVal2d: ref2d,
  blocksPerStageEncoder: [1, 3, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6],
  blocksPerStageDecoder: new Array(12).fill(1),
  maxDatasetCovered: 1,
  shrinkWhile: 'estimate',
  sharedDataIdentifierPrefix: 'nnUNetPlans',
});

export const RESENC_M_PLANNER = resEnc('M', 8, 680000000, 135000000);
export const RESENC_L_PLANNER = resEnc('L', 24, 2100000000, 380000000);
export const RESENC_XL_PLANNER = resEnc('XL', 40, 3600000000, 560000000);

/** Presets by planner class name (nnU-Net's `-pl`) and by their default plans name. */
export const PLANNER_PRESETS: Record<string, PlannerPreset> = Object.fromEntries(
  [DEFAULT_PLANNER, RESENC_M_PLANNER, RESENC_L_PLANNER, RESENC_XL_PLANNER].flatMap((p) => [
    [p.experimentPlannerName, p],
    [p.plansName, p],
  ]),
);

/**
 * determine_reader_writer_from_file_ending (nnunetv2/imageio/reader_writer_registry.py) without an example
 * file: the first class of LIST_OF_IO_CLASSES (NaturalImage2DIO, SimpleITKIO, Tiff3DIO, …) whose
 * supported_file_endings hold the ending. Unknown endings fall back to SimpleITKIO (we read through ITK).
 */
export function readerWriterForFileEnding(fileEnding: string): string {
  const e = fileEnding.toLowerCase();
  if (['.png', '.bmp', '.tif'].includes(e)) return 'NaturalImage2DIO';
  if (e === '.tiff') return 'Tiff3DIO';
  return 'SimpleITKIO';
}

const BASE_FEATURES = 32;
const REF_BS_2D = 12;
const REF_BS_3D = 2;
const MIN_EDGE = 4;
const MIN_BATCH = 2;
const MAX_FEATURES_2D = 512;
const MAX_FEATURES_3D = 320;
const LOWRES_THRESHOLD = 0.25;


/** np.percentile(..., 'linear') of float64 values. */
export function percentileF64(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const vi = (s.length - 1) * (q / 100);
  const lo = Math.floor(vi);
  const hi = Math.min(lo + 1, s.length - 1);
  const g = vi - lo;
  const d = s[hi] - s[lo];
  return g >= 0.5 ? s[hi] - d * (1 - g) : s[lo] + d * g;
}

const columns = (rows: readonly (readonly number[])[]): number[][] => rows[0].map((_, i) => rows.map((r) => r[i]));
const medianCols = (rows: readonly (readonly number[])[]): number[] => columns(rows).map((c) => percentileF64(c, 50));
const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
const argmax = (xs: readonly number[]): number => xs.indexOf(Math.max(...xs));

/** determine_fullres_target_spacing: median, but the 10th percentile on a very coarse, short axis. */
export function fullresTargetSpacing(fp: Pick<DatasetFingerprint, 'spacings' | 'shapes_after_crop'>, anisoThreshold = ANISO_THRESHOLD): number[] {
  const target = medianCols(fp.spacings);
  const targetSize = medianCols(fp.shapes_after_crop);
  const worst = argmax(target);
  const others = [0, 1, 2].filter((i) => i !== worst);
  const otherSpacings = others.map((i) => target[i]);
  const otherSizes = others.map((i) => targetSize[i]);
  const anisoSpacing = target[worst] > anisoThreshold * Math.max(...otherSpacings);
  const anisoVoxels = targetSize[worst] * anisoThreshold < Math.min(...otherSizes);
  if (anisoSpacing && anisoVoxels) {
    let t = percentileF64(fp.spacings.map((s) => s[worst]), 10);
    if (t < Math.max(...otherSpacings)) t = Math.max(Math.max(...otherSpacings), t) + 1e-5;
    target[worst] = t;
  }
  return target;
}

export function determineTranspose(targetSpacing: readonly number[]): { forward: number[]; backward: number[] } {
  const m = argmax(targetSpacing);
  const forward = [m, ...[0, 1, 2].filter((i) => i !== m)];
  const backward = [0, 1, 2].map((i) => forward.indexOf(i));
  return { forward, backward };
}


export interface ConfigurationPlan {
  data_identifier: string;
  preprocessor_name: string;
  batch_size: number;
  patch_size: number[];
  median_image_size_in_voxels: number[];
  spacing: number[];
  normalization_schemes: string[];
  use_mask_for_norm: boolean[];
  resampling_fn_data: string;
  resampling_fn_seg: string;
  resampling_fn_data_kwargs: Record<string, unknown>;
  resampling_fn_seg_kwargs: Record<string, unknown>;
  resampling_fn_probabilities: string;
  resampling_fn_probabilities_kwargs: Record<string, unknown>;
  architecture: {
    network_class_name: string;
    arch_kwargs: Record<string, unknown>;
    _kw_requires_import: string[];
  };
  batch_dice?: boolean;
  next_stage?: string;
}

export interface PlannerOptions {
  preset?: PlannerPreset;
  gpuMemoryTargetGB?: number;
  plansName?: string;
  datasetName: string;
  imageReaderWriter?: string;
  /**
   * `-overwrite_target_spacing` (z, y, x as in the images): replaces determine_fullres_target_spacing, so it
   * reaches 3d_fullres, the 3d_lowres that starts from it and the 2d in-plane spacing
   */
  overwriteTargetSpacing?: readonly number[];
}

function normalizationAndMask(dj: DatasetJson, fp: DatasetFingerprint): { schemes: string[]; mask: boolean[] } {
  const schemes = Object.values(channelNames(dj)).map(normalizationSchemeForChannel);
  const useMask = fp.median_relative_size_after_cropping < 3 / 4 || Boolean((dj as Record<string, unknown>).use_mask_for_norm);
  return { schemes, mask: schemes.map((s) => (useMask ? schemeUsesMaskForNorm(s) : false)) };
}

export function planConfiguration(
  preset: PlannerPreset,
  gpuTarget: number,
  dj: DatasetJson,
  fp: DatasetFingerprint,
  spacing: readonly number[],
  medianShape: readonly number[],
  dataIdentifier: string,
  approxVoxelsDataset: number,
  cache: Map<string, number>,
): ConfigurationPlan {
  const dim = spacing.length;
  if (spacing.some((s) => !(s > 0))) throw new Error(`planner: spacing must be > 0, got [${spacing.join(', ')}]`);
  const numInput = Object.keys(channelNames(dj)).length;
  const numClasses = Object.keys(dj.labels).length;
  const maxFeatures = dim === 2 ? MAX_FEATURES_2D : MAX_FEATURES_3D;
  const features = (n: number): number[] => Array.from({ length: n }, (_, i) => Math.min(maxFeatures, BASE_FEATURES * 2 ** i));
  const tmp = spacing.map((s) => 1 / s);
  const scale = dim === 3 ? ((256 ** 3) / prod(tmp)) ** (1 / 3) : ((2048 ** 2) / prod(tmp)) ** (1 / 2);
  const initial = tmp.map((t, i) => Math.min(pyRound(t * scale), medianShape[i]));
  let topo = getPoolAndConvProps(spacing, initial, MIN_EDGE, 999999);
  let patch = topo.patchSize;
  const archKwargs = (): Record<string, unknown> => {
    const n = topo.poolOpKernelSizes.length;
    return {
      n_stages: n,
      features_per_stage: features(n),
      conv_op: dim === 2 ? 'torch.nn.modules.conv.Conv2d' : 'torch.nn.modules.conv.Conv3d',
      kernel_sizes: topo.convKernelSizes,
      strides: topo.poolOpKernelSizes,
      [preset.architecture === 'ResidualEncoderUNet' ? 'n_blocks_per_stage' : 'n_conv_per_stage']: preset.blocksPerStageEncoder.slice(0, n),
      n_conv_per_stage_decoder: preset.blocksPerStageDecoder.slice(0, n - 1),
      conv_bias: true,
      norm_op: dim === 2 ? 'torch.nn.modules.instancenorm.InstanceNorm2d' : 'torch.nn.modules.instancenorm.InstanceNorm3d',
      norm_op_kwargs: { eps: 1e-5, affine: true },
      dropout_op: null,
      dropout_op_kwargs: null,
      nonlin: 'torch.nn.LeakyReLU',
      nonlin_kwargs: { inplace: true },
    };
  };
  const estimate = (): number => {
    const key = `${patch.join(',')}_${JSON.stringify(topo.poolOpKernelSizes)}`;
    let e = cache.get(key);
    if (e === undefined) {
      const n = topo.poolOpKernelSizes.length;
      const shape = { featuresPerStage: features(n), strides: topo.poolOpKernelSizes, nConvPerStageDecoder: preset.blocksPerStageDecoder.slice(0, n - 1) };
      const blocks = preset.blocksPerStageEncoder.slice(0, n);
      e =
        preset.architecture === 'ResidualEncoderUNet'
          ? residualEncoderUNetFeatureMapSize({ ...shape, nBlocksPerStage: blocks }, patch, numClasses)
          : plainConvUNetFeatureMapSize({ ...shape, nConvPerStage: blocks }, patch, numClasses);
      cache.set(key, e);
    }
    return e;
  };
  void numInput; // the input channel count does not enter PlainConvUNet's estimate
  let est = estimate();
  const reference = (dim === 2 ? preset.referenceVal2d : preset.referenceVal3d) * (gpuTarget / preset.referenceGB);
  const refBs = dim === 2 ? REF_BS_2D : REF_BS_3D;
  const tooLarge = (): boolean => (preset.shrinkWhile === 'estimate' ? est > reference : (est / refBs) * 2 > reference);
  while (tooLarge()) {
    // reduce the axis largest relative to the median shape (last index on ties, like np.argsort(...)[-1])
    const ratios = patch.map((p, i) => p / medianShape[i]);
    let axis = 0;
    for (let i = 1; i < dim; i++) if (ratios[i] >= ratios[axis]) axis = i;
    const t = [...patch];
    t[axis] -= topo.shapeMustBeDivisibleBy[axis];
    const by = getPoolAndConvProps(spacing, t, MIN_EDGE, 999999).shapeMustBeDivisibleBy;
    const p2 = [...patch];
    p2[axis] -= by[axis];
    topo = getPoolAndConvProps(spacing, p2, MIN_EDGE, 999999);
    patch = topo.patchSize;
    est = estimate();
  }
  let batchSize = pyRound((reference / est) * refBs);
  const bs5 = pyRound((approxVoxelsDataset * preset.maxDatasetCovered) / prod(patch));
  batchSize = Math.max(Math.min(batchSize, bs5), MIN_BATCH);
  const { schemes, mask } = normalizationAndMask(dj, fp);
  return {
    data_identifier: dataIdentifier,
    preprocessor_name: 'DefaultPreprocessor',
    batch_size: batchSize,
    patch_size: patch,
    median_image_size_in_voxels: [...medianShape],
    spacing: [...spacing],
    normalization_schemes: schemes,
    use_mask_for_norm: mask,
    resampling_fn_data: 'resample_data_or_seg_to_shape',
    resampling_fn_seg: 'resample_data_or_seg_to_shape',
    resampling_fn_data_kwargs: { is_seg: false, order: 3, order_z: 0, force_separate_z: null },
    resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
    resampling_fn_probabilities: 'resample_data_or_seg_to_shape',
    resampling_fn_probabilities_kwargs: { is_seg: false, order: 1, order_z: 0, force_separate_z: null },
    architecture: { network_class_name: preset.networkClassName, arch_kwargs: archKwargs(), _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'] },
  };
}

/** np.median over axis 0 of integer rows. */
const medianRows = (rows: readonly (readonly number[])[]): number[] =>
  columns(rows).map((c) => {
    const s = [...c].sort((a, b) => a - b);
    const n = s.length;
    return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  });

export function planExperiment(dj: DatasetJson, fp: DatasetFingerprint, options: PlannerOptions): Plans {
  const preset = options.preset ?? DEFAULT_PLANNER;
  const gpu = options.gpuMemoryTargetGB ?? preset.gpuMemoryTargetGB;
  const plansName = options.plansName ?? preset.plansName;
  const cache = new Map<string, number>();
  if (options.overwriteTargetSpacing && !(options.overwriteTargetSpacing.length === 3 && options.overwriteTargetSpacing.every((v) => Number.isFinite(v) && v > 0)))
    throw new Error(`overwrite_target_spacing must be three positive numbers, got [${options.overwriteTargetSpacing.join(', ')}]`);
  const fullres = options.overwriteTargetSpacing ? [...options.overwriteTargetSpacing] : fullresTargetSpacing(fp);
  const { forward, backward } = determineTranspose(fullres);
  const tr = <T>(v: readonly T[]): T[] => forward.map((i) => v[i]);
  const fullresT = tr(fullres);
  const newShapes = fp.spacings.map((sp, i) => computeNewShape(fp.shapes_after_crop[i], sp, fullres));
  const newMedianT = tr(medianRows(newShapes));
  const approx = prod(newMedianT) * dj.numTraining;
  // generate_data_identifier; the ResEnc planners share ExperimentPlanner's 2d / 3d_fullres data
  const id = (c: string): string => `${c !== '3d_lowres' && preset.sharedDataIdentifierPrefix ? preset.sharedDataIdentifierPrefix : plansName}_${c}`;
  let plan3d: ConfigurationPlan | undefined;
  let planLow: ConfigurationPlan | undefined;
  if (newMedianT[0] !== 1) {
    plan3d = planConfiguration(preset, gpu, dj, fp, fullresT, newMedianT, id('3d_fullres'), approx, cache);
    let medianVoxels = prod(newMedianT);
    let patchVoxels = prod(plan3d.patch_size);
    const low = [...plan3d.spacing];
    while (patchVoxels / medianVoxels < LOWRES_THRESHOLD) {
      const maxS = Math.max(...low);
      if (low.some((s) => maxS / s > 2)) {
        for (let i = 0; i < 3; i++) if (maxS / low[i] > 2) low[i] *= 1.03;
      } else for (let i = 0; i < 3; i++) low[i] *= 1.03;
      const lowShape = plan3d.spacing.map((s, i) => (s / low[i]) * newMedianT[i]);
      medianVoxels = prod(lowShape);
      planLow = planConfiguration(preset, gpu, dj, fp, [...low], lowShape.map(pyRound), id('3d_lowres'), medianVoxels * dj.numTraining, cache);
      patchVoxels = prod(planLow.patch_size);
    }
    if (prod(newMedianT) / medianVoxels < 2) planLow = undefined;
    if (planLow) {
      planLow.batch_dice = false;
      plan3d.batch_dice = true;
    } else plan3d.batch_dice = false;
  }
  const plan2d = planConfiguration(preset, gpu, dj, fp, fullresT.slice(1), newMedianT.slice(1), id('2d'), approx, cache);
  plan2d.batch_dice = true;
  const configurations: Record<string, Record<string, unknown>> = { "2d": plan2d as unknown as Record<string, unknown> };
  if (planLow) {
    configurations["3d_lowres"] = (plan3d ? { ...planLow, next_stage: "3d_cascade_fullres" } : planLow) as unknown as Record<string, unknown>;
  }
  if (plan3d) {
    configurations["3d_fullres"] = plan3d as unknown as Record<string, unknown>;
    if (planLow) configurations['3d_cascade_fullres'] = { inherits_from: '3d_fullres', previous_stage: '3d_lowres' };
  }
  return {
    dataset_name: options.datasetName,
    plans_name: plansName,
    original_median_spacing_after_transp: tr(medianCols(fp.spacings)),
    original_median_shape_after_transp: tr(medianRows(fp.shapes_after_crop)).map(pyRound),
    image_reader_writer: options.imageReaderWriter ?? (dj.overwrite_image_reader_writer && dj.overwrite_image_reader_writer !== 'None' ? dj.overwrite_image_reader_writer : readerWriterForFileEnding(dj.file_ending)),
    transpose_forward: forward,
    transpose_backward: backward,
    configurations,
    experiment_planner_used: preset.experimentPlannerName,
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: fp.foreground_intensity_properties_per_channel,
  };
}


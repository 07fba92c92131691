/**
 * A 1-channel CT 3d_fullres model with random weights, in nnU-Net's results layout, imported into a model
 * store — for benchmarks, where the numbers of the result do not matter, only the work.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNnunetCheckpoint } from '../../server/src/models/checkpoint/writer.js';
import { ModelStore, type StoredModel } from '../../server/src/models/model-store.js';
import { networkSpecFromPlans } from '../../server/src/nnunet/network/from-plans.js';

export interface BenchModelOptions {
  datasetName: string;
  /** name in the store */
  name: string;
  patch: number[];
  /** features per stage; one pooling step per stage after the first */
  features: number[];
  /** per pooling step, e.g. [[2, 2, 2], [1, 2, 2]] */
  poolKernels: number[][];
  spacing: number[];
  medianShape: number[];
}

export function benchPlans(o: BenchModelOptions): Record<string, unknown> {
  const k = [3, 3, 3];
  const numPool = [0, 1, 2].map((a) => o.poolKernels.filter((p) => p[a] > 1).length);
  return {
    dataset_name: o.datasetName,
    plans_name: 'nnUNetPlans',
    original_median_spacing_after_transp: o.spacing,
    original_median_shape_after_transp: o.medianShape,
    image_reader_writer: 'SimpleITKIO',
    transpose_forward: [0, 1, 2],
    transpose_backward: [0, 1, 2],
    experiment_planner_used: 'ExperimentPlanner',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: { '0': { max: 3000, mean: 60, median: 55, min: -1024, percentile_00_5: -200, percentile_99_5: 300, std: 60 } },
    configurations: {
      '3d_fullres': {
        data_identifier: 'nnUNetPlans_3d_fullres',
        preprocessor_name: 'DefaultPreprocessor',
        batch_size: 2,
        patch_size: o.patch,
        median_image_size_in_voxels: o.medianShape,
        spacing: o.spacing,
        normalization_schemes: ['CTNormalization'],
        use_mask_for_norm: [false],
        UNet_class_name: 'PlainConvUNet',
        UNet_base_num_features: o.features[0],
        n_conv_per_stage_encoder: o.features.map(() => 2),
        n_conv_per_stage_decoder: o.features.slice(1).map(() => 2),
        num_pool_per_axis: numPool,
        pool_op_kernel_sizes: [[1, 1, 1], ...o.poolKernels],
        conv_kernel_sizes: o.features.map(() => k),
        unet_max_num_features: o.features[o.features.length - 1],
        resampling_fn_data: 'resample_data_or_seg_to_shape',
        resampling_fn_seg: 'resample_data_or_seg_to_shape',
        resampling_fn_data_kwargs: { is_seg: false, order: 3, order_z: 0, force_separate_z: null },
        resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
        resampling_fn_probabilities: 'resample_data_or_seg_to_shape',
        resampling_fn_probabilities_kwargs: { is_seg: false, order: 1, order_z: 0, force_separate_z: null },
        batch_dice: true,
      },
    },
  };
}

/** Writes the results folder under `work` and imports it into the store at `storeRoot`. */
export async function createBenchModel(storeRoot: string, work: string, o: BenchModelOptions): Promise<StoredModel> {
  const plans = benchPlans(o);
  const datasetJson = { name: o.datasetName, channel_names: { '0': 'CT' }, labels: { background: 0, liver: 1, kidney: 2 }, numTraining: 0, file_ending: '.nii.gz' };
  const spec = networkSpecFromPlans(plans as never, '3d_fullres', datasetJson as never);
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.1;
  const weights = new Map(spec.params.map((q) => [q.name, Float32Array.from({ length: q.shape.reduce((a, b) => a * b, 1) }, rnd)]));
  const results = join(work, 'results', o.datasetName, 'nnUNetTrainer__nnUNetPlans__3d_fullres');
  mkdirSync(join(results, 'fold_0'), { recursive: true });
  writeFileSync(join(results, 'plans.json'), JSON.stringify(plans));
  writeFileSync(join(results, 'dataset.json'), JSON.stringify(datasetJson));
  writeFileSync(
    join(results, 'fold_0', 'checkpoint_final.pth'),
    writeNnunetCheckpoint({ spec, weights, plans, configuration: '3d_fullres', fold: 0, datasetJson, inferenceAllowedMirroringAxes: [0, 1, 2] }),
  );
  return new ModelStore(storeRoot).importModel(join(work, 'results', o.datasetName), { name: o.name });
}

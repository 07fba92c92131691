/**
 * A real, tiny nnU-Net v2 model imported into a real ModelStore, for tests of the job layer, the API and the
 * viewer. 1 channel "CT" (CTNormalization), labels background / liver (1) / tumor (2), configuration
 * 3d_fullres, PlainConvUNet with 3 stages of 4/8/16 features, patch [32, 32, 32], spacing [1, 1, 1] mm.
 * A 64×64×32 case predicts in a few seconds on one CPU core.
 *
 * Known answer: every weight is zero except the segmentation head's bias (0, 3, 1), so the network's
 * logits favour label 1 everywhere. nnU-Net crops each image to the bounding box of its nonzero voxels
 * (crop_to_nonzero) and fills everything outside that box with background when it exports, so the
 * prediction is **label 1 exactly inside the bounding box of the image's nonzero voxels and 0 outside**,
 * on the image's own grid, whatever the spacing. Label 2 ("tumor") is never predicted. A series whose
 * voxels are all nonzero is therefore label 1 everywhere.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelStore, type StoredModel } from '../../server/src/models/model-store.js';
import { writeNnunetCheckpoint } from '../../server/src/models/checkpoint/writer.js';
import { networkSpecFromPlans } from '../../server/src/nnunet/network/from-plans.js';
import { makeTempDir } from './tmp.js';

export const TEST_MODEL_DATASET = 'Dataset900_TestCT';
export const TEST_MODEL_LABELS = { background: 0, liver: 1, tumor: 2 } as const;

export function testModelPlans(): Record<string, unknown> {
  const kernel = [3, 3, 3];
  return {
    dataset_name: TEST_MODEL_DATASET,
    plans_name: 'nnUNetPlans',
    original_median_spacing_after_transp: [1, 1, 1],
    original_median_shape_after_transp: [32, 64, 64],
    image_reader_writer: 'SimpleITKIO',
    transpose_forward: [0, 1, 2],
    transpose_backward: [0, 1, 2],
    experiment_planner_used: 'ExperimentPlanner',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: {
      '0': { max: 3000, mean: 100, median: 80, min: -1024, percentile_00_5: -1000, percentile_99_5: 1500, std: 300 },
    },
    configurations: {
      '3d_fullres': {
        data_identifier: 'nnUNetPlans_3d_fullres',
        preprocessor_name: 'DefaultPreprocessor',
        batch_size: 2,
        patch_size: [32, 32, 32],
        median_image_size_in_voxels: [32, 64, 64],
        spacing: [1, 1, 1],
        normalization_schemes: ['CTNormalization'],
        use_mask_for_norm: [false],
        UNet_class_name: 'PlainConvUNet',
        UNet_base_num_features: 4,
        n_conv_per_stage_encoder: [2, 2, 2],
        n_conv_per_stage_decoder: [2, 2],
        num_pool_per_axis: [2, 2, 2],
        pool_op_kernel_sizes: [
          [1, 1, 1],
          [2, 2, 2],
          [2, 2, 2],
        ],
        conv_kernel_sizes: [kernel, kernel, kernel],
        unet_max_num_features: 320,
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

export function testModelDatasetJson(): Record<string, unknown> {
  return {
    name: TEST_MODEL_DATASET,
    channel_names: { '0': 'CT' },
    labels: { ...TEST_MODEL_LABELS },
    numTraining: 0,
    file_ending: '.nii.gz',
  };
}

export interface TestModelOptions {
  /** name in the store (default "test-ct") */
  name?: string;
  /** overwrite every fold's model.onnx with garbage after the import: loading it must fail */
  corruptOnnx?: boolean;
  /** mirroring axes written into the checkpoint (default [0, 1, 2]) */
  mirrorAxes?: number[];
}

/** Builds the model in nnU-Net's results layout in a temp folder and imports it into `storeRoot`. */
export async function createTestModel(storeRoot: string, options: TestModelOptions = {}): Promise<StoredModel> {
  const plans = testModelPlans();
  const datasetJson = testModelDatasetJson();
  const spec = networkSpecFromPlans(plans as { configurations: Record<string, Record<string, unknown>> }, '3d_fullres', datasetJson as never);
  const weights = new Map(spec.params.map((p) => [p.name, new Float32Array(p.shape.reduce((a, b) => a * b, 1))]));
  const headBias = spec.params.filter((p) => /^decoder\.seg_layers\.\d+\.bias$/.test(p.name)).pop()!;
  weights.get(headBias.name)!.set([0, 3, 1]);
  const tmp = makeTempDir('nnseg-test-model-');
  try {
    const results = join(tmp.dir, TEST_MODEL_DATASET, 'nnUNetTrainer__nnUNetPlans__3d_fullres');
    mkdirSync(join(results, 'fold_0'), { recursive: true });
    writeFileSync(join(results, 'plans.json'), JSON.stringify(plans));
    writeFileSync(join(results, 'dataset.json'), JSON.stringify(datasetJson));
    writeFileSync(
      join(results, 'fold_0', 'checkpoint_final.pth'),
      writeNnunetCheckpoint({
        spec,
        weights,
        plans,
        configuration: '3d_fullres',
        fold: 0,
        datasetJson,
        inferenceAllowedMirroringAxes: options.mirrorAxes ?? [0, 1, 2],
      }),
    );
    const stored = await new ModelStore(storeRoot).importModel(join(tmp.dir, TEST_MODEL_DATASET), { name: options.name ?? 'test-ct' });
    if (options.corruptOnnx) {
      for (const c of stored.card.configurations)
        for (const f of c.folds) writeFileSync(join(stored.path, c.folder, `fold_${f.fold}`, f.onnx), new TextEncoder().encode('not an onnx graph'));
    }
    return stored;
  } finally {
    tmp.cleanup();
  }
}

/**
 * Golden tests against plans written by real nnU-Net v2 runs (fixtures in test/fixtures/planning/real, sources in
 * SOURCES.md there): planExperiment(dataset.json, dataset_fingerprint.json) must reproduce the plans file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDatasetJson } from '../../../../server/src/nnunet/dataset/dataset-json.js';
import { DatasetFingerprintSchema } from '../../../../server/src/nnunet/experiment_planning/fingerprint.js';
import { planConfiguration, planExperiment, PLANNER_PRESETS, RESENC_L_PLANNER, RESENC_M_PLANNER, RESENC_XL_PLANNER } from '../../../../server/src/nnunet/experiment_planning/planner.js';
import { residualEncoderUNetFeatureMapSize } from '../../../../server/src/nnunet/experiment_planning/network-topology.js';
import { type Plans } from '../../../../server/src/nnunet/plans/plans.js';

const ROOT = join(process.cwd(), 'test/fixtures/planning/real');
const readJson = (...p: string[]): unknown => JSON.parse(readFileSync(join(ROOT, ...p), 'utf8'));
type Cfg = Record<string, unknown>;

function load(folder: string, plansFile: string): { ours: Plans; real: Plans } {
  const dj = parseDatasetJson(readJson(folder, 'dataset.json'), `${folder}/dataset.json`);
  const fp = DatasetFingerprintSchema.parse(readJson(folder, 'dataset_fingerprint.json'));
  const real = readJson(folder, plansFile) as Plans;
  const ours = planExperiment(dj, fp, { datasetName: real.dataset_name!, preset: PLANNER_PRESETS[real.experiment_planner_used!] });
  return { ours, real };
}

/**
 * nnU-Net ≤ 2.2 wrote the network as flat keys (UNet_class_name, n_conv_per_stage_encoder, pool_op_kernel_sizes, …)
 * instead of the `architecture` block; same numbers, other layout.
 */
function toLegacyLayout(c: Cfg): Cfg {
  const { architecture, batch_dice, next_stage, ...rest } = c as Cfg & { architecture: { network_class_name: string; arch_kwargs: Cfg } };
  const k = architecture.arch_kwargs;
  const strides = k.strides as number[][];
  const out: Cfg = {};
  for (const [key, v] of Object.entries(rest)) {
    out[key] = v;
    if (key === 'use_mask_for_norm') {
      Object.assign(out, {
        UNet_class_name: architecture.network_class_name.split('.').pop(),
        UNet_base_num_features: 32,
        n_conv_per_stage_encoder: k.n_conv_per_stage,
        n_conv_per_stage_decoder: k.n_conv_per_stage_decoder,
        num_pool_per_axis: strides[0].map((_, ax) => strides.filter((s) => s[ax] === 2).length),
        pool_op_kernel_sizes: strides,
        conv_kernel_sizes: k.kernel_sizes,
        unet_max_num_features: strides[0].length === 2 ? 512 : 320,
      });
    }
  }
  if (batch_dice !== undefined) out.batch_dice = batch_dice;
  if (next_stage !== undefined) out.next_stage = next_stage;
  return out;
}

function expectSamePlans(ours: Plans, real: Plans, legacy: boolean): void {
  expect(Object.keys(ours.configurations)).toEqual(Object.keys(real.configurations));
  for (const [name, cfg] of Object.entries(real.configurations)) {
    const mine = ours.configurations[name] as Cfg;
    const got = legacy && 'architecture' in mine ? toLegacyLayout(mine) : mine;
    // same keys in the same order as nnU-Net writes them, and the same values
    expect(Object.keys(got)).toEqual(Object.keys(cfg));
    expect({ name, ...got }).toEqual({ name, ...cfg });
  }
  const { configurations: _a, ...oursTop } = ours;
  const { configurations: _b, ...realTop } = real;
  expect(Object.keys(oursTop)).toEqual(Object.keys(realTop));
  expect(oursTop).toEqual(realTop);
}

describe('planner vs real nnU-Net plans', () => {
  it('Dataset102_PETCT (PET+CT, 813 cases): 2d, 3d_lowres, 3d_fullres, 3d_cascade_fullres', () => {
    const { ours, real } = load('Dataset102_PETCT', 'nnUNetPlans.json');
    expectSamePlans(ours, real, true);
    // the lowres spacing comes from 20 steps of ×1.03 on all axes: bit-identical float64 arithmetic
    expect((ours.configurations['3d_lowres'] as Cfg).spacing).toEqual([5.58088371512849, 3.7883412705634814, 3.7883412705634814]);
  });

  it('Dataset001_AAA (MR IVIM, anisotropic 7 mm, cropped → mask for norm): 2d and 3d_fullres, architecture block', () => {
    const { ours, real } = load('Dataset001_AAA_liverIVIM', 'plans.json');
    expectSamePlans(ours, real, false);
  });

  it('Dataset_Train_val (2D PNG, 2 channels): only 2d, NaturalImage2DIO', () => {
    const { ours, real } = load('Dataset_Train_val_StenUNet', 'nnUNetPlans.json');
    expectSamePlans(ours, real, true);
  });
});

describe('residual encoder presets', () => {
  it('ResidualEncoderUNet feature-map size equals the values printed in residual_encoder_unet_planners.py', () => {
    // nnU-Net's own check (deep supervision on, 3 classes): 3D 128³ → 558319104, 2D 512² → 129793792
    const s3 = [[1, 1, 1], ...new Array(5).fill([2, 2, 2])];
    expect(residualEncoderUNetFeatureMapSize(
      { featuresPerStage: [32, 64, 128, 256, 320, 320], strides: s3, nBlocksPerStage: [1, 3, 4, 6, 6, 6], nConvPerStageDecoder: [1, 1, 1, 1, 1] },
      [128, 128, 128], 3, true,
    )).toBe(558319104);
    const s2 = [[1, 1], ...new Array(6).fill([2, 2])];
    expect(residualEncoderUNetFeatureMapSize(
      { featuresPerStage: [32, 64, 128, 256, 512, 512, 512], strides: s2, nBlocksPerStage: [1, 3, 4, 6, 6, 6, 6], nConvPerStageDecoder: [1, 1, 1, 1, 1, 1] },
      [512, 512], 3, true,
    )).toBe(129793792);
  });

  it('Dataset011_Pancreas nnUNetResEncUNetMPlans (real, no fingerprint published): each configuration re-planned from its own spacing and median shape', () => {
    // The repository has only the plans file, so the fingerprint-level steps (target spacing, median shape) are
    // taken from it; everything get_plans_for_configuration computes is checked. The label count is not published:
    // 2–4 labels give the same plans. numTraining 281 (MSD pancreas); any count ≥ 155 gives batch 134 for 2d.
    const real = readJson('Dataset011_Pancreas_ResEncM', 'nnUNetResEncUNetMPlans.json') as Plans;
    expect(PLANNER_PRESETS[real.experiment_planner_used!]).toBe(RESENC_M_PLANNER);
    for (const nLabels of [2, 3, 4]) {
      const labels = Object.fromEntries(Array.from({ length: nLabels }, (_, i) => [`l${i}`, i]));
      const dj = parseDatasetJson({ channel_names: { '0': 'CT' }, labels, numTraining: 281, file_ending: '.nii.gz' });
      const fp = DatasetFingerprintSchema.parse({ ...readJson('Dataset001_AAA_liverIVIM', 'dataset_fingerprint.json') as object, median_relative_size_after_cropping: 1 });
      for (const [name, cfg] of Object.entries(real.configurations) as [string, Cfg & { median_image_size_in_voxels: number[]; spacing: number[] }][]) {
        const median = cfg.median_image_size_in_voxels;
        const ours = planConfiguration(RESENC_M_PLANNER, 8, dj, fp, cfg.spacing, median, `nnUNetPlans_${name}`, median.reduce((a, b) => a * b, 1) * 281, new Map()) as unknown as Cfg;
        ours.batch_dice = cfg.batch_dice;
        // the publisher swapped in its own network class (a classifier head) after planning; the kwargs are nnU-Net's
        const realArch = cfg.architecture as Cfg;
        expect({ ...ours, architecture: { ...(ours.architecture as Cfg), network_class_name: realArch.network_class_name } }).toEqual(cfg);
        expect((ours.architecture as Cfg).network_class_name).toBe('dynamic_network_architectures.architectures.unet.ResidualEncoderUNet');
      }
    }
  });

  it('ResEnc plans: 2d / 3d_fullres share ExperimentPlanner\'s data identifiers, 3d_lowres is the preset\'s own', () => {
    const dj = parseDatasetJson(readJson('Dataset102_PETCT', 'dataset.json'));
    const fp = DatasetFingerprintSchema.parse(readJson('Dataset102_PETCT', 'dataset_fingerprint.json'));
    const p = planExperiment(dj, fp, { datasetName: 'Dataset102_PETCT', preset: RESENC_M_PLANNER });
    expect(p.plans_name).toBe('nnUNetResEncUNetMPlans');
    expect(p.experiment_planner_used).toBe('nnUNetPlannerResEncM');
    const c = p.configurations as Record<string, Cfg>;
    expect(Object.keys(c)).toEqual(['2d', '3d_lowres', '3d_fullres', '3d_cascade_fullres']);
    expect([c['2d'].data_identifier, c['3d_lowres'].data_identifier, c['3d_fullres'].data_identifier]).toEqual([
      'nnUNetPlans_2d', 'nnUNetResEncUNetMPlans_3d_lowres', 'nnUNetPlans_3d_fullres',
    ]);
    const k = (c['3d_fullres'].architecture as { arch_kwargs: Cfg }).arch_kwargs;
    expect(k.n_blocks_per_stage).toEqual([1, 3, 4, 6, 6, 6].slice(0, k.n_stages as number));
    expect(k.n_conv_per_stage).toBeUndefined();
    expect(k.n_conv_per_stage_decoder).toEqual(new Array((k.n_stages as number) - 1).fill(1));
  });

  it('a GPU memory target changes patch/batch but not the plans name (nnU-Net renames only with -overwrite_plans_name)', () => {
    const dj = parseDatasetJson(readJson('Dataset102_PETCT', 'dataset.json'));
    const fp = DatasetFingerprintSchema.parse(readJson('Dataset102_PETCT', 'dataset_fingerprint.json'));
    const base = planExperiment(dj, fp, { datasetName: 'Dataset102_PETCT' });
    const big = planExperiment(dj, fp, { datasetName: 'Dataset102_PETCT', gpuMemoryTargetGB: 24 });
    expect(big.plans_name).toBe('nnUNetPlans');
    expect((big.configurations['3d_fullres'] as Cfg).data_identifier).toBe('nnUNetPlans_3d_fullres');
    const vox = (c: Cfg): number => (c.patch_size as number[]).reduce((a, b) => a * b, 1) * (c.batch_size as number);
    expect(vox(big.configurations['3d_fullres'] as Cfg)).toBeGreaterThan(vox(base.configurations['3d_fullres'] as Cfg));
    const renamed = planExperiment(dj, fp, { datasetName: 'Dataset102_PETCT', gpuMemoryTargetGB: 24, plansName: 'nnUNetPlans_24G' });
    expect(renamed.plans_name).toBe('nnUNetPlans_24G');
    expect((renamed.configurations['3d_fullres'] as Cfg).data_identifier).toBe('nnUNetPlans_24G_3d_fullres');
  });

  it('presets carry nnU-Net\'s targets and reference values and are found by planner or plans name', () => {
    expect([RESENC_M_PLANNER, RESENC_L_PLANNER, RESENC_XL_PLANNER].map((p) => [p.experimentPlannerName, p.plansName, p.gpuMemoryTargetGB, p.referenceVal3d, p.referenceVal2d])).toEqual([
      ['nnUNetPlannerResEncM', 'nnUNetResEncUNetMPlans', 8, 680000000, 135000000],
      ['nnUNetPlannerResEncL', 'nnUNetResEncUNetLPlans', 24, 2100000000, 380000000],
      ['nnUNetPlannerResEncXL', 'nnUNetResEncUNetXLPlans', 40, 3600000000, 560000000],
    ]);
    expect(PLANNER_PRESETS.nnUNetPlannerResEncL).toBe(RESENC_L_PLANNER);
    expect(PLANNER_PRESETS.nnUNetResEncUNetLPlans).toBe(RESENC_L_PLANNER);
    expect(PLANNER_PRESETS.ExperimentPlanner).toBe(PLANNER_PRESETS.nnUNetPlans);
  });
});

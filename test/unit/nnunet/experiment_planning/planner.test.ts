import { getPoolAndConvProps, padShape, plainConvUNetFeatureMapSize } from '../../../../server/src/nnunet/experiment_planning/network-topology.js';
import { computeNewShape, determineTranspose, fullresTargetSpacing, planExperiment, pyRound } from '../../../../server/src/nnunet/experiment_planning/planner.js';
import { normalizationSchemeForChannel } from '../../../../server/src/nnunet/experiment_planning/normalization.js';
import { parseDatasetJson } from '../../../../server/src/nnunet/dataset/dataset-json.js';

describe('planner rules (hand-checked)', () => {
  it('pyRound rounds half to even like Python', () => {
    expect([0.5, 1.5, 2.5, -0.5, 2.4, 2.6].map(pyRound)).toEqual([0, 2, 2, -0, 2, 3]);
  });

  it('pad_shape keeps multiples and pads the rest up', () => {
    expect(padShape([64, 65, 100.5], [32, 32, 32])).toEqual([64, 96, 128]);
  });

  it('topology of an isotropic 3D patch: 5 pools to edge 4, kernels 3', () => {
    const t = getPoolAndConvProps([1, 1, 1], [128, 128, 128], 4, 999999);
    expect(t.numPoolPerAxis).toEqual([5, 5, 5]);
    expect(t.poolOpKernelSizes).toEqual([[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]]);
    expect(t.convKernelSizes.every((k) => k.join() === '3,3,3')).toBe(true);
    expect(t.patchSize).toEqual([128, 128, 128]);
  });

  it('topology for anisotropic spacing and odd shape: z pooled only once in-plane spacing catches up', () => {
    // spacing z 3, xy 1: pool xy (1→2), then z joins (3/2 < 2)
    const t = getPoolAndConvProps([3, 1, 1], [20, 75, 75], 4, 999999);
    expect(t.convKernelSizes[0]).toEqual([1, 3, 3]);
    expect(t.poolOpKernelSizes[1]).toEqual([1, 2, 2]);
    expect(t.poolOpKernelSizes[2]).toEqual([2, 2, 2]);
    // xy: 75→38→19→10→5 (4 pools), z: 20→10→5 (2 pools)
    expect(t.numPoolPerAxis).toEqual([2, 4, 4]);
    expect(t.patchSize).toEqual([20, 80, 80]);
  });

  it('feature map size of a 2-stage 2D UNet by hand', () => {
    // encoder: 2 convs × 32 × 8×8 + 2 × 64 × 4×4 ; decoder: 2 × 32 × 8×8 + transp 32×8×8 + seg 3×8×8
    const v = plainConvUNetFeatureMapSize({ featuresPerStage: [32, 64], strides: [[1, 1], [2, 2]], nConvPerStage: [2, 2], nConvPerStageDecoder: [2] }, [8, 8], 3);
    expect(v).toBe(2 * 32 * 64 + 2 * 64 * 16 + 2 * 32 * 64 + 32 * 64 + 3 * 64);
  });

  it('anisotropic target spacing takes the 10th percentile along z', () => {
    const spacings = [[5, 0.8, 0.8], [5, 0.8, 0.8], [4, 0.8, 0.8], [3, 0.8, 0.8], [5, 0.8, 0.8]];
    const shapes = spacings.map(() => [20, 300, 300]);
    // median z 5 > 3·0.8 and 20·3 < 300 → percentile 10 of [3,4,5,5,5] = 3 + 0.4·(4-3) = 3.4
    expect(fullresTargetSpacing({ spacings, shapes_after_crop: shapes })[0]).toBeCloseTo(3.4, 12);
    // not enough voxel anisotropy → median
    expect(fullresTargetSpacing({ spacings, shapes_after_crop: spacings.map(() => [200, 300, 300]) })[0]).toBe(5);
  });

  it('transpose puts the coarsest axis first; compute_new_shape rounds half to even', () => {
    expect(determineTranspose([1, 1, 3])).toEqual({ forward: [2, 0, 1], backward: [1, 2, 0] });
    expect(computeNewShape([5, 10, 10], [1, 1, 1], [2, 4, 1])).toEqual([2, 2, 10]);
  });

  it('normalization by channel name', () => {
    expect(['CT', 'ct', 'noNorm', 'zscore', 'rescale_to_0_1', 'T2'].map(normalizationSchemeForChannel)).toEqual([
      'CTNormalization', 'CTNormalization', 'NoNormalization', 'ZScoreNormalization', 'RescaleTo01Normalization', 'ZScoreNormalization',
    ]);
  });

  const dj = parseDatasetJson({ channel_names: { '0': 'CT', '1': 'T2' }, labels: { background: 0, a: 1, b: 2 }, numTraining: 10, file_ending: '.nii.gz' });
  const props = { max: 1, mean: 0, median: 0, min: 0, percentile_00_5: 0, percentile_99_5: 1, std: 1 };
  const fp = (shape: number[], spacing: number[], rel: number) => ({
    spacings: Array.from({ length: 10 }, () => spacing),
    shapes_after_crop: Array.from({ length: 10 }, () => shape),
    foreground_intensity_properties_per_channel: { '0': props, '1': props },
    median_relative_size_after_cropping: rel,
  });

  it('use_mask_for_norm only when cropping shrank images below 75 %, and only for z-score channels', () => {
    const p = planExperiment(dj, fp([40, 40, 40], [1, 1, 1], 0.5), { datasetName: 'Dataset001_X' });
    expect(p.configurations['2d'].normalization_schemes).toEqual(['CTNormalization', 'ZScoreNormalization']);
    expect(p.configurations['2d'].use_mask_for_norm).toEqual([false, true]);
    const q = planExperiment(dj, fp([40, 40, 40], [1, 1, 1], 0.8), { datasetName: 'Dataset001_X' });
    expect(q.configurations['2d'].use_mask_for_norm).toEqual([false, false]);
  });

  it('small dataset: patch = padded median shape, batch capped by 5 % of voxels but at least 2, no lowres', () => {
    const p = planExperiment(dj, fp([40, 40, 40], [1, 1, 1], 1), { datasetName: 'Dataset001_X' });
    const c = p.configurations['3d_fullres'] as Record<string, unknown>;
    expect(c.patch_size).toEqual([40, 40, 40]);
    // 5 % of 10·40³ voxels = 1 patch → batch 2
    expect(c.batch_size).toBe(2);
    expect(c.batch_dice).toBe(false);
    expect(p.configurations['3d_lowres']).toBeUndefined();
    expect(Object.keys(p.configurations)).toEqual(['2d', '3d_fullres']);
  });

  it('large images trigger 3d_lowres and the cascade', () => {
    const p = planExperiment(dj, fp([500, 500, 500], [1, 1, 1], 1), { datasetName: 'Dataset001_X' });
    expect(Object.keys(p.configurations)).toEqual(['2d', '3d_lowres', '3d_fullres', '3d_cascade_fullres']);
    const low = p.configurations['3d_lowres'] as Record<string, unknown>;
    expect(low.next_stage).toBe('3d_cascade_fullres');
    expect((low.spacing as number[])[0]).toBeGreaterThan(1);
    expect(p.configurations['3d_cascade_fullres']).toEqual({ inherits_from: '3d_fullres', previous_stage: '3d_lowres' });
  });

  it('-overwrite_target_spacing replaces the fullres spacing: 3d_fullres, the transpose and the 2d in-plane spacing follow', () => {
    // 40³ at 1 mm resampled to 2 × 1 × 0.5 mm: 20 × 40 × 80 voxels; the coarsest axis (z) stays first
    const p = planExperiment(dj, fp([40, 40, 40], [1, 1, 1], 1), { datasetName: 'Dataset001_X', overwriteTargetSpacing: [2, 1, 0.5] });
    expect(p.configurations['3d_fullres'].spacing).toEqual([2, 1, 0.5]);
    expect(p.configurations['3d_fullres'].median_image_size_in_voxels).toEqual([20, 40, 80]);
    expect(p.configurations['2d'].spacing).toEqual([1, 0.5]);
    expect(p.transpose_forward).toEqual([0, 1, 2]);
    // a coarse in-plane axis is moved first, as nnU-Net's determine_transpose does with any target spacing
    expect(planExperiment(dj, fp([40, 40, 40], [1, 1, 1], 1), { datasetName: 'Dataset001_X', overwriteTargetSpacing: [1, 3, 1] }).transpose_forward).toEqual([1, 0, 2]);
    expect(() => planExperiment(dj, fp([40, 40, 40], [1, 1, 1], 1), { datasetName: 'Dataset001_X', overwriteTargetSpacing: [1, 1] })).toThrow('three positive numbers');
  });

  it('-overwrite_plans_name names the plans and the data identifiers', () => {
    const p = planExperiment(dj, fp([40, 40, 40], [1, 1, 1], 1), { datasetName: 'Dataset001_X', plansName: 'nnUNetPlans_custom' });
    expect(p.plans_name).toBe('nnUNetPlans_custom');
    expect(p.configurations['3d_fullres'].data_identifier).toBe('nnUNetPlans_custom_3d_fullres');
  });

  it('2D data (median z = 1) gets only the 2d configuration', () => {
    const p = planExperiment(dj, fp([1, 300, 300], [999, 1, 1], 1), { datasetName: 'Dataset001_X' });
    expect(Object.keys(p.configurations)).toEqual(['2d']);
  });
});

/**
 * predictCase with a per-voxel network, so every answer is computable by hand: the logits of a voxel are
 * [0, x, -x] where x is its normalised intensity. Sliding-window averaging of identical per-voxel values
 * changes nothing, so the probabilities must be softmax([0, x, -x]) inside the crop box and [1, 0, 0]
 * outside it, on the image's own grid despite the transpose.
 */
import type { Vec3, Volume } from '../../../../server/src/imaging/volume.js';
import { predictCase, type CaseModel } from '../../../../server/src/nnunet/inference/predict-case.js';
import { LARGEST_COMPONENT_FN, applyPostprocessing, type PostprocessingStep } from '../../../../server/src/nnunet/postprocessing/postprocessing.js';
import { parsePlans } from '../../../../server/src/nnunet/plans/plans.js';

const shape: Vec3 = [6, 10, 12];
const box = { z: [1, 5], y: [2, 8], x: [3, 10] }; // half-open, the nonzero region
const idx = (z: number, y: number, x: number) => (z * shape[1] + y) * shape[2] + x;
const inBox = (z: number, y: number, x: number) => z >= box.z[0] && z < box.z[1] && y >= box.y[0] && y < box.y[1] && x >= box.x[0] && x < box.x[1];

function image(): Volume<Float32Array> {
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let z = 0; z < shape[0]; z++)
    for (let y = 0; y < shape[1]; y++) for (let x = 0; x < shape[2]; x++) if (inBox(z, y, x)) data[idx(z, y, x)] = 1 + ((z * 7 + y * 3 + x * 5) % 11);
  return { data, shape, spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
}

const plans = parsePlans({
  plans_name: 'nnUNetPlans',
  transpose_forward: [0, 2, 1],
  transpose_backward: [0, 2, 1],
  foreground_intensity_properties_per_channel: { '0': { mean: 0, std: 1, percentile_00_5: 0, percentile_99_5: 1, min: 0, max: 1, median: 0 } },
  configurations: {
    '3d_fullres': {
      data_identifier: 'nnUNetPlans_3d_fullres',
      spacing: [1, 1, 1],
      patch_size: [4, 4, 4],
      normalization_schemes: ['ZScoreNormalization'],
      use_mask_for_norm: [false],
      resampling_fn_data_kwargs: { is_seg: false, order: 3, order_z: 0, force_separate_z: null },
      resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
      resampling_fn_probabilities_kwargs: { is_seg: false, order: 1, order_z: 0, force_separate_z: null },
    },
  },
});

const perVoxelNetwork = async (input: Float32Array, s: readonly number[]) => {
  const n = s.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float32Array(3 * n);
  for (let v = 0; v < n; v++) {
    out[n + v] = input[v];
    out[2 * n + v] = -input[v];
  }
  return out;
};

const model: CaseModel = {
  plans,
  configuration: '3d_fullres',
  datasetJson: { labels: { background: 0, bright: 1, dark: 2 } },
  folds: [{ fold: '0', network: perVoxelNetwork }],
  mirrorAxes: null,
};

describe('predictCase', () => {
  it('hands out softmax probabilities on the original grid, background 1 outside the crop box', async () => {
    const img = image();
    // z-score over the crop box (use_mask_for_norm false), nnU-Net's ZScoreNormalization
    const vals: number[] = [];
    for (let i = 0; i < img.data.length; i++) if (img.data[i] !== 0) vals.push(img.data[i]);
    const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
    const std = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length);

    const probabilities: Float32Array[] = [];
    const result = await predictCase([img], model, {
      onProbabilities: (c, count, p, s) => {
        expect(count).toBe(3);
        expect(s).toEqual(shape);
        probabilities[c] = Float32Array.from(p);
      },
    });
    expect(probabilities).toHaveLength(3);
    // nnU-Net crops after transposing: the box is in transposed axis order
    expect(result.properties.bbox_used_for_cropping).toEqual([box.z, box.x, box.y]);
    let checked = 0;
    for (let z = 0; z < shape[0]; z++)
      for (let y = 0; y < shape[1]; y++)
        for (let x = 0; x < shape[2]; x++) {
          const i = idx(z, y, x);
          const p = probabilities.map((a) => a[i]);
          if (!inBox(z, y, x)) {
            expect(p).toEqual([1, 0, 0]);
            expect(result.segmentation.data[i]).toBe(0);
            continue;
          }
          const xn = (img.data[i] - mean) / std;
          const e = [1, Math.exp(xn), Math.exp(-xn)];
          const sum = e[0] + e[1] + e[2];
          e.forEach((v, c) => expect(p[c]).toBeCloseTo(v / sum, 5));
          expect(result.segmentation.data[i]).toBe(xn > 0 ? 1 : 2);
          checked++;
        }
    expect(checked).toBe(4 * 6 * 7);
  });

  it('fills enclosed holes only when asked', async () => {
    // bright rim, dark core: the network labels bright voxels 1 and dark ones background, leaving the core
    // (2×4×5 voxels) as a hole enclosed by label 1
    const img = image();
    const core = (z: number, y: number, x: number) => z >= box.z[0] + 1 && z < box.z[1] - 1 && y >= box.y[0] + 1 && y < box.y[1] - 1 && x >= box.x[0] + 1 && x < box.x[1] - 1;
    for (let z = 0; z < shape[0]; z++)
      for (let y = 0; y < shape[1]; y++) for (let x = 0; x < shape[2]; x++) if (inBox(z, y, x)) img.data[idx(z, y, x)] = core(z, y, x) ? 1 : 10;
    const threshold = async (input: Float32Array, s: readonly number[]) => {
      const n = s.slice(2).reduce((a, b) => a * b, 1);
      const out = new Float32Array(3 * n);
      for (let v = 0; v < n; v++) out[n + v] = input[v] > 0 ? 1 : -1;
      return out;
    };
    const m = { ...model, folds: [{ fold: '0', network: threshold }] };
    const holed = await predictCase([img], m);
    const filled = await predictCase([img], m, { fillHoles: true });
    let holes = 0;
    for (let z = 0; z < shape[0]; z++)
      for (let y = 0; y < shape[1]; y++)
        for (let x = 0; x < shape[2]; x++) {
          const i = idx(z, y, x);
          expect(holed.segmentation.data[i]).toBe(inBox(z, y, x) && !core(z, y, x) ? 1 : 0);
          expect(filled.segmentation.data[i]).toBe(inBox(z, y, x) ? 1 : 0);
          if (core(z, y, x)) holes++;
        }
    expect(holes).toBe(40);
  });

  it('postprocessing on the crop box gives what nnU-Net gets on the whole image', async () => {
    // two bright blobs of different size inside the box, dark elsewhere; label 1 where bright
    const img = image();
    for (let z = 0; z < shape[0]; z++)
      for (let y = 0; y < shape[1]; y++)
        for (let x = 0; x < shape[2]; x++) {
          if (!inBox(z, y, x)) continue;
          const big = y < 4 && x < 6;
          const small = y >= 6 && x >= 8;
          img.data[idx(z, y, x)] = big || small ? 10 : 1;
        }
    const threshold = async (input: Float32Array, s: readonly number[]) => {
      const n = s.slice(2).reduce((a, b) => a * b, 1);
      const out = new Float32Array(3 * n);
      for (let v = 0; v < n; v++) out[n + v] = input[v] > 0 ? 1 : -1;
      return out;
    };
    const steps: PostprocessingStep[] = [{ fn: LARGEST_COMPONENT_FN, labels: [1] }];
    const plain = await predictCase([img], { ...model, folds: [{ fold: '0', network: threshold }] });
    const post = await predictCase([img], { ...model, folds: [{ fold: '0', network: threshold }], postprocessing: steps });
    const reference = applyPostprocessing(plain.segmentation.data.slice(), shape, steps);
    expect(Array.from(post.segmentation.data)).toEqual(Array.from(reference));
    const count = (a: ArrayLike<number>) => Array.from(a).filter((v) => v === 1).length;
    expect(count(plain.segmentation.data)).toBeGreaterThan(count(post.segmentation.data)); // the small blob is gone
    expect(count(post.segmentation.data)).toBe(4 * 2 * 3); // z 1..4, y 2..3, x 3..5
  });
});

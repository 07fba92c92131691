/**
 * Prediction benchmark: a 3d_fullres PlainConvUNet with nnU-Net's default features (32 … 320, 6 stages,
 * 3×3×3 kernels) on a 256×256×128 CT-like case, through the whole predictor (preprocessing, sliding window
 * with Gaussian weighting, export to the original grid, postprocessing). Prints the time split and
 *  - network time ÷ compute floor, where the floor = network FLOPs of all tiles ÷ the onnxruntime GFLOP/s
 *    measured on one warm patch in this same run;
 *  - total ÷ network time (goal ≤ 1.3).
 * Env: BENCH_PATCH (default 128: a cube edge, or z,y,x), BENCH_TTA=1 for mirroring (8× the network calls),
 * BENCH_THREADS (onnxruntime intra-op threads), BENCH_SHAPE (z,y,x, default 128,256,256),
 * BENCH_FEATURES (features per stage, default 32,64,128,256,320,320).
 * Memory check (issue: a 512×512×600 CT ≤ 6 GB RSS; memory does not depend on the network's width, so a
 * narrow one keeps it quick): BENCH_SHAPE=600,512,512 BENCH_FEATURES=4,8,16,32 BENCH_PATCH=64,128,128.
 * Run: `npm run build && npm run bench -- predict`.
 */
import { buildOnnxModel } from '../server/src/engines/onnx/graph.js';
import { OnnxSession } from '../server/src/engines/onnx/session.js';
import type { Vec3, Volume } from '../server/src/imaging/volume.js';
import { computeSteps } from '../server/src/nnunet/inference/sliding-window.js';
import { predictCase } from '../server/src/nnunet/inference/predict-case.js';
import { computeFlops } from '../server/src/nnunet/network/flops.js';
import { networkSpecFromPlans } from '../server/src/nnunet/network/from-plans.js';
import { parsePlans } from '../server/src/nnunet/plans/plans.js';

const list = (v: string) => v.split(',').map(Number);
const patchEnv = list(process.env.BENCH_PATCH ?? '128');
const patch = patchEnv.length === 1 ? [patchEnv[0], patchEnv[0], patchEnv[0]] : patchEnv;
const shape = list(process.env.BENCH_SHAPE ?? '128,256,256') as Vec3;
const threads = process.env.BENCH_THREADS ? Number(process.env.BENCH_THREADS) : undefined;
const tta = process.env.BENCH_TTA === '1';
const features = list(process.env.BENCH_FEATURES ?? '32,64,128,256,320,320');
const nStages = features.length;

const plansRaw = {
  dataset_name: 'Dataset999_Bench',
  plans_name: 'nnUNetPlans',
  transpose_forward: [0, 1, 2],
  transpose_backward: [0, 1, 2],
  foreground_intensity_properties_per_channel: { '0': { mean: 60, std: 40, percentile_00_5: -100, percentile_99_5: 300, min: -1000, max: 1000, median: 55 } },
  configurations: {
    '3d_fullres': {
      data_identifier: 'nnUNetPlans_3d_fullres',
      spacing: [1, 1, 1],
      patch_size: patch,
      normalization_schemes: ['CTNormalization'],
      use_mask_for_norm: [false],
      resampling_fn_data_kwargs: { is_seg: false, order: 3, order_z: 0, force_separate_z: null },
      resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
      resampling_fn_probabilities_kwargs: { is_seg: false, order: 1, order_z: 0, force_separate_z: null },
      architecture: {
        network_class_name: 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
        arch_kwargs: {
          n_stages: nStages,
          features_per_stage: features,
          conv_op: 'torch.nn.modules.conv.Conv3d',
          kernel_sizes: Array.from({ length: nStages }, () => [3, 3, 3]),
          strides: [[1, 1, 1], ...Array.from({ length: nStages - 1 }, () => [2, 2, 2])],
          n_conv_per_stage: Array(nStages).fill(2),
          n_conv_per_stage_decoder: Array(nStages - 1).fill(2),
          conv_bias: true,
          norm_op: 'torch.nn.modules.instancenorm.InstanceNorm3d',
          norm_op_kwargs: { eps: 1e-5, affine: true },
          dropout_op: null,
          dropout_op_kwargs: null,
          nonlin: 'torch.nn.LeakyReLU',
          nonlin_kwargs: { inplace: true },
        },
        _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
      },
    },
  },
};
const datasetJson = { channel_names: { '0': 'CT' }, labels: { background: 0, liver: 1, kidney: 2 }, file_ending: '.nii.gz' };

// deterministic small random weights: outputs stay finite and the segmentation non-trivial
const spec = networkSpecFromPlans(plansRaw, '3d_fullres', datasetJson);
let seed = 7;
const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296 - 0.5) * 0.1;
const weights = new Map(spec.params.map((p) => [p.name, Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, rnd)]));
const session = await OnnxSession.create(buildOnnxModel(spec, weights), { intraOpThreads: threads, device: 'cpu' });

const flopsPerPatch = computeFlops(spec, patch).total;
const probe = new Float32Array(patch[0] * patch[1] * patch[2]).map(rnd);
await session.run(probe, [1, 1, ...patch]); // warm-up
let t = performance.now();
await session.run(probe, [1, 1, ...patch]);
const peakSeconds = (performance.now() - t) / 1000;
const gflops = flopsPerPatch / peakSeconds / 1e9;

const n = shape[0] * shape[1] * shape[2];
const data = new Float32Array(n);
for (let k = 0, v = 0; k < shape[0]; k++)
  for (let j = 0; j < shape[1]; j++)
    for (let i = 0; i < shape[2]; i++, v++) {
      const fx = (i - shape[2] / 2) / (shape[2] * 0.43), fy = (j - shape[1] / 2) / (shape[1] * 0.35);
      data[v] = fx * fx + fy * fy < 1 ? 40 + rnd() * 200 : -1000;
    }
const image: Volume = { data, shape, spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
const tiles = computeSteps(shape, patch, 0.5).reduce((a, s) => a * s.length, 1) * (tta ? 8 : 1);

t = performance.now();
const result = await predictCase(
  [image],
  {
    plans: parsePlans(plansRaw),
    configuration: '3d_fullres',
    datasetJson,
    folds: [{ fold: '0', network: async (input, s) => (await session.run(input, [...s])).data }],
    mirrorAxes: [0, 1, 2],
    postprocessing: [{ fn: 'remove_all_but_largest_component_from_segmentation', labels: [1, 2] }],
  },
  { useMirroring: tta },
);
const total = (performance.now() - t) / 1000;
await session.release();

const tm = result.timings;
const floor = (tiles * flopsPerPatch) / (gflops * 1e9);
console.log(`case ${shape.join('×')}, patch ${patch.join('×')}, ${tiles} network calls (TTA ${tta ? 'on' : 'off'}), ${(flopsPerPatch / 1e9).toFixed(1)} GFLOP per patch`);
console.log(`onnxruntime peak on one warm patch: ${gflops.toFixed(1)} GFLOP/s (${peakSeconds.toFixed(2)} s)`);
console.log(`preprocess ${tm.preprocessing.toFixed(2)} s | network ${tm.predicting.toFixed(2)} s | export ${tm.exporting.toFixed(2)} s | postprocess ${tm.postprocessing.toFixed(2)} s | total ${total.toFixed(2)} s`);
console.log(`network time / compute floor: ${(tm.predicting / floor).toFixed(2)}`);
console.log(`total / network time: ${(total / tm.predicting).toFixed(2)} (goal ≤ 1.3)`);
const rssMB = process.resourceUsage().maxRSS / 1024;
console.log(`peak RSS ${rssMB.toFixed(0)} MB = ${(rssMB / ((n * 4) / 2 ** 20)).toFixed(2)}× the case as float32 (${((n * 4) / 2 ** 20).toFixed(0)} MB), ${datasetJson.labels ? Object.keys(datasetJson.labels).length : 0} classes`);

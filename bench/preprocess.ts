/**
 * Preprocessing benchmark: one CT-like 512×512×300 float32 case (spacing 2.5 × 0.7 × 0.7 mm, three labels)
 * through nnU-Net's default 3d_fullres preprocessing to 2.5 × 0.8 × 0.8 mm (crop, CT normalization,
 * order-3 in-plane / order-0 z resampling, one-hot label resampling, class locations). Prints the time as a
 * ratio to one plain typed-array copy of the same data (the memory-traffic floor) and the peak RSS as a
 * multiple of the case's float32 size (target < 4×).
 * Run: `npm run build && npm run bench -- preprocess` (BENCH_SLICES=… for a smaller case).
 */
import { preprocessCase } from '../server/src/nnunet/preprocessing/default-preprocessor.js';
import { cropToNonzero } from '../server/src/nnunet/preprocessing/cropping.js';
import { normalizeChannel } from '../server/src/nnunet/preprocessing/normalization.js';
import { resampleDataOrSegToShape } from '../server/src/nnunet/preprocessing/resampling.js';
import { sampleForegroundLocations } from '../server/src/nnunet/preprocessing/class-locations.js';
import type { Vec3, Volume } from '../server/src/imaging/volume.js';
import { parsePlans } from '../server/src/nnunet/plans/plans.js';

const NX = 512, NY = 512, NZ = Number(process.env.BENCH_SLICES ?? 300);
const shape: Vec3 = [NZ, NY, NX];
const spacing: Vec3 = [2.5, 0.7, 0.7];
const n = NX * NY * NZ;
const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;

// CT-like: circular field of view with 0 outside (crop has work to do only along x/y corners), air -1000,
// body ellipse ~40 HU with noise, a liver (1) and kidneys (2, 3)
const img = new Float32Array(n);
const seg = new Uint8Array(n);
let s = 12345;
for (let k = 0, v = 0; k < NZ; k++)
  for (let j = 0; j < NY; j++)
    for (let i = 0; i < NX; i++, v++) {
      const fx = (i - 256) / 250, fy = (j - 256) / 250;
      if (fx * fx + fy * fy > 1) continue;
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const noise = (s / 4294967296 - 0.5) * 30;
      const bx = (i - 256) / 200, by = (j - 260) / 140;
      if (bx * bx + by * by > 1) {
        img[v] = -1000 + noise;
        continue;
      }
      let hu = 40, lab = 0;
      const lx = (i - 200) / 70, ly = (j - 240) / 60, lz = (k - NZ / 2) / (NZ / 3);
      const r1 = (i - 330) ** 2 + (j - 300) ** 2 + ((k - NZ / 2) * 2.5 / 0.7) ** 2;
      const r2 = (i - 180) ** 2 + (j - 300) ** 2 + ((k - NZ / 2) * 2.5 / 0.7) ** 2;
      if (lx * lx + ly * ly + lz * lz <= 1) [hu, lab] = [90, 1];
      else if (r1 <= 900) [hu, lab] = [180, 2];
      else if (r2 <= 900) [hu, lab] = [180, 3];
      img[v] = hu + noise;
      seg[v] = lab;
    }
const geo = { shape, spacing, origin: [0, 0, 0] as Vec3, direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
const image: Volume = { data: img, ...geo };
const label: Volume = { data: seg, ...geo };

const plans = parsePlans({
  plans_name: 'nnUNetPlans',
  transpose_forward: [0, 1, 2],
  foreground_intensity_properties_per_channel: { '0': { mean: 70, std: 60, percentile_00_5: -100, percentile_99_5: 250 } },
  configurations: {
    '3d_fullres': {
      data_identifier: 'nnUNetPlans_3d_fullres',
      spacing: [2.5, 0.8, 0.8],
      normalization_schemes: ['CTNormalization'],
      use_mask_for_norm: [false],
      resampling_fn_data: 'resample_data_or_seg_to_shape',
      resampling_fn_data_kwargs: { is_seg: false, order: 3, order_z: 0, force_separate_z: null },
      resampling_fn_seg: 'resample_data_or_seg_to_shape',
      resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
    },
  },
});
const labels = { labels: { background: 0, liver: 1, kidney_r: 2, kidney_l: 3 } };

const rss0 = process.memoryUsage().rss;
let t = performance.now();
const testShape = preprocessCase([image], undefined, plans, '3d_fullres', labels, 'bench').shape;
const inferMs = performance.now() - t;
t = performance.now();
const train = preprocessCase([image], label, plans, '3d_fullres', labels, 'bench');
const trainMs = performance.now() - t;
// peak before the copies below, which would add their own
const peak = process.resourceUsage().maxRSS * 1024;

// memory-traffic floor: the best of three plain copies of the float32 case
let copyMs = Infinity;
for (let r = 0; r < 3; r++) {
  const t = performance.now();
  const c = new Float32Array(img);
  copyMs = Math.min(copyMs, performance.now() - t);
  if (c[n >> 1] !== img[n >> 1]) throw new Error('copy');
}


console.log(`case ${NX}×${NY}×${NZ} float32 = ${mb(4 * n)}, spacing ${spacing.join('×')} → 3d_fullres spacing 2.5×0.8×0.8`);
console.log(`preprocessed shape [${train.shape.join(', ')}] (inference case [${testShape.join(', ')}]), bbox ${JSON.stringify(train.properties.bbox_used_for_cropping)}`);
console.log(`plain copy (floor): ${copyMs.toFixed(0)} ms`);
console.log(`inference case (image only): ${(inferMs / 1000).toFixed(2)} s = ${(inferMs / copyMs).toFixed(1)}× the copy`);
console.log(`training case (image + labels + class locations): ${(trainMs / 1000).toFixed(2)} s = ${(trainMs / copyMs).toFixed(1)}× the copy`);
console.log(`peak RSS ${mb(peak)} = ${(peak / (4 * n)).toFixed(2)}× the case's float32 size (RSS before preprocessing ${mb(rss0)} = ${(rss0 / (4 * n)).toFixed(2)}×, input image + labels included)`);
console.log(`class locations: ${Object.entries(train.properties.class_locations ?? {}).map(([k, v]) => `${k}: ${v.length / 4}`).join(', ')}`);

// where the time goes (same steps, called one by one, after the peak-RSS measurement)
const lap = (): (() => string) => {
  const t0 = performance.now();
  return () => `${((performance.now() - t0) / 1000).toFixed(2)} s`;
};
let l = lap();
const cropped = cropToNonzero(img, 1, shape);
const tCrop = l();
l = lap();
normalizeChannel('CTNormalization', cropped.data, { intensityProperties: plans.foreground_intensity_properties_per_channel['0'] });
const tNorm = l();
const target: Vec3 = [train.shape[0], train.shape[1], train.shape[2]];
l = lap();
resampleDataOrSegToShape(cropped.data, 1, cropped.shape, target, spacing, [2.5, 0.8, 0.8], { is_seg: false, order: 3, order_z: 0, force_separate_z: null });
const tData = l();
l = lap();
const segOut = resampleDataOrSegToShape(cropped.seg, 1, cropped.shape, target, spacing, [2.5, 0.8, 0.8], { is_seg: true, order: 1, order_z: 0, force_separate_z: null });
const tSeg = l();
l = lap();
sampleForegroundLocations(train.seg!, target, [1, 2, 3]);
const tLocs = l();
console.log(`steps: crop_to_nonzero ${tCrop}, CT normalization ${tNorm}, image resampling (order 3 in-plane) ${tData}, label resampling (one-hot linear) ${tSeg} [${segOut.length} voxels], class locations ${tLocs}`);

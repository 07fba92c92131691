import type { Vec3, Volume } from '../../../../server/src/imaging/volume.js';
import { classesToSample, preprocessCase } from '../../../../server/src/nnunet/preprocessing/default-preprocessor.js';
import { parsePlans, resolveConfiguration } from '../../../../server/src/nnunet/plans/plans.js';

function plans(over: Record<string, unknown> = {}, transpose = [0, 1, 2]): ReturnType<typeof parsePlans> {
  return parsePlans({
    plans_name: 'nnUNetPlans',
    transpose_forward: transpose,
    foreground_intensity_properties_per_channel: { '0': { mean: 100, std: 50, percentile_00_5: -50, percentile_99_5: 400 } },
    configurations: {
      '3d_fullres': {
        data_identifier: 'nnUNetPlans_3d_fullres',
        spacing: [3, 2, 2],
        normalization_schemes: ['CTNormalization'],
        use_mask_for_norm: [false],
        resampling_fn_data: 'resample_data_or_seg_to_shape',
        resampling_fn_data_kwargs: { is_seg: false, order: 3, order_z: 0, force_separate_z: null },
        resampling_fn_seg: 'resample_data_or_seg_to_shape',
        resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
        ...over,
      },
      '2d': { inherits_from: '3d_fullres', data_identifier: 'nnUNetPlans_2d', spacing: [2, 2] },
    },
  });
}

function volume(shape: Vec3, spacing: Vec3, f: (z: number, y: number, x: number) => number, Ctor: typeof Float32Array | typeof Int16Array = Float32Array): Volume {
  const data = new Ctor(shape[0] * shape[1] * shape[2]);
  let p = 0;
  for (let z = 0; z < shape[0]; z++) for (let y = 0; y < shape[1]; y++) for (let x = 0; x < shape[2]; x++) data[p++] = f(z, y, x);
  return { data, shape, spacing, origin: [1, 2, 3], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
}

const labels = { labels: { background: 0, liver: 1, tumor: 2 } };
// body: nonzero in z 1..4, y 2..9, x 3..12 of a [6, 12, 16] image; constant 200 HU inside, a label box
const inBody = (z: number, y: number, x: number): boolean => z >= 1 && z <= 4 && y >= 2 && y <= 9 && x >= 3 && x <= 12;
const image = volume([6, 12, 16], [3, 1, 1], (z, y, x) => (inBody(z, y, x) ? 200 : 0));
const seg = volume([6, 12, 16], [3, 1, 1], (z, y, x) => (inBody(z, y, x) && y >= 4 && y <= 7 && x >= 5 && x <= 10 ? 1 : 0), Int16Array);

test('crop → CT normalization → resampling, with nnU-Net properties', () => {
  const before = image.data.slice();
  const res = preprocessCase([image], seg, plans(), '3d_fullres', labels, 'c1');
  expect(Array.from(image.data)).toEqual(Array.from(before)); // inputs untouched
  expect(res.properties.shape_before_cropping).toEqual([6, 12, 16]);
  expect(res.properties.bbox_used_for_cropping).toEqual([[1, 5], [2, 10], [3, 13]]);
  expect(res.properties.shape_after_cropping_and_before_resampling).toEqual([4, 8, 10]);
  // spacing 3,1,1 → 3,2,2: [4, 4, 5]
  expect(res.shape).toEqual([4, 4, 5]);
  expect(res.channels).toBe(1);
  // the cropped body is constant 200 → (200 - 100) / 50 = 2 everywhere (order 3 of a constant, clipped)
  for (const v of res.data) expect(v).toBeCloseTo(2, 5);
  expect(res.properties.spacing).toEqual([3, 1, 1]);
  expect(res.properties.sitk_stuff).toEqual({ spacing: [1, 1, 3], origin: [1, 2, 3], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] });
  // label box y 2..5, x 2..7 in cropped coordinates → halved in-plane
  const segOut = res.seg!;
  expect(segOut.length).toBe(4 * 4 * 5);
  const locs = res.properties.class_locations!;
  expect(Object.keys(locs)).toEqual(['1', '2']);
  expect(locs['2'].length).toBe(0);
  const n1 = segOut.filter((v) => v === 1).length;
  expect(locs['1'].length / 4).toBe(n1); // fewer than 10000 voxels: all of them, in random order
  for (let i = 0; i < locs['1'].length; i += 4) {
    const [c, z, y, x] = locs['1'].subarray(i, i + 4);
    expect(c).toBe(0);
    expect(segOut[(z * 4 + y) * 5 + x]).toBe(1);
  }
});

test('inference case: no seg returned, the nonzero mask still drives normalization', () => {
  const p = plans({ normalization_schemes: ['ZScoreNormalization'], use_mask_for_norm: [true] });
  const res = preprocessCase([image], undefined, p, '3d_fullres', labels);
  expect(res.seg).toBeUndefined();
  expect(res.properties.class_locations).toBeUndefined();
  // constant inside the mask → std floor → 0
  for (const v of res.data) expect(v).toBeCloseTo(0, 6);
});

test('transpose_forward permutes data and spacing before everything else', () => {
  const img = volume([2, 3, 4], [5, 1, 2], (z, y, x) => 1 + z * 100 + y * 10 + x);
  const p = plans({ spacing: [2, 5, 1], normalization_schemes: ['NoNormalization'] }, [2, 0, 1]);
  const res = preprocessCase([img], undefined, p, '3d_fullres', labels);
  // new axes (x, z, y), spacing (2, 5, 1): already the target spacing, no resampling
  expect(res.shape).toEqual([4, 2, 3]);
  expect(res.properties.shape_before_cropping).toEqual([4, 2, 3]);
  // element (a=x, b=z, c=y)
  expect(res.data[(3 * 2 + 1) * 3 + 2]).toBe(1 + 100 + 20 + 3);
  expect(res.data[(1 * 2 + 0) * 3 + 2]).toBe(1 + 0 + 20 + 1);
});

test('2d configuration inherits from 3d_fullres and keeps the slice spacing', () => {
  const p = plans();
  expect(resolveConfiguration(p, '2d').normalization_schemes).toEqual(['CTNormalization']);
  const res = preprocessCase([image], seg, p, '2d', labels);
  expect(res.shape).toEqual([4, 4, 5]);
});

test('region datasets sample regions; ignore label adds all labels', () => {
  expect(classesToSample({ labels: { background: 0, whole: [1, 2, 3], core: [2, 3], enh: [3] }, regions_class_order: [1, 2, 3] })).toEqual([[1, 2, 3], [2, 3], [3]]);
  expect(classesToSample({ labels: { background: 0, a: 1, b: 2, ignore: 3 } })).toEqual([1, 2, [0, 1, 2]]);
});

test('bad input names the problem', () => {
  expect(() => preprocessCase([image], seg, plans(), '3d_lowres', labels)).toThrow(/no configuration "3d_lowres"; available: 3d_fullres, 2d/);
  expect(() => preprocessCase([image, image], seg, plans(), '3d_fullres', labels, 'case7')).toThrow(/case7: 2 channel\(s\) but configuration "3d_fullres" has 1/);
  const small = volume([6, 12, 15], [3, 1, 1], () => 1, Int16Array);
  expect(() => preprocessCase([image], small, plans(), '3d_fullres', labels, 'case8')).toThrow(/case8: segmentation shape \[6, 12, 15\]/);
  expect(() => parsePlans({ plans_name: 'x', transpose_forward: [0, 0, 1], configurations: {}, foreground_intensity_properties_per_channel: {} })).toThrow(
    /permutation/,
  );
  expect(() => parsePlans({ plans_name: 'x' })).toThrow(/transpose_forward/);
});

test('labels are merged like crop_to_nonzero(data, seg): transposed, -1 only for background outside the mask', async () => {
  const { cropToNonzero } = await import('../../../../server/src/nnunet/preprocessing/cropping.js');
  // image nonzero on a box, a zero hole column inside the bbox, labels 1/2 (one label voxel where the image is 0)
  const shape: Vec3 = [5, 6, 7];
  const img = volume(shape, [1, 1, 1], (z, y, x) => (z >= 1 && z <= 3 && y >= 1 && y <= 4 && x >= 1 && x <= 5 && !(y === 1 && x === 1) ? 10 : 0));
  const lab = volume(shape, [1, 1, 1], (z, y, x) => (y === 1 && x === 1 && z === 2 ? 2 : z === 2 && y === 3 ? 1 : 0), Int16Array);
  lab.data = Uint8Array.from(lab.data); // any integer type
  const p = plans({ spacing: [1, 1, 1], normalization_schemes: ['NoNormalization'] }, [2, 0, 1]);
  const res = preprocessCase([img], lab, p, '3d_fullres', labels);
  // reference: transpose by hand, then crop_to_nonzero with the seg
  const tShape: Vec3 = [7, 5, 6];
  const tImg = new Float32Array(img.data.length);
  const tLab = new Int16Array(img.data.length);
  let o = 0;
  for (let x = 0; x < 7; x++)
    for (let z = 0; z < 5; z++)
      for (let y = 0; y < 6; y++, o++) {
        tImg[o] = img.data[(z * 6 + y) * 7 + x];
        tLab[o] = lab.data[(z * 6 + y) * 7 + x];
      }
  const ref = cropToNonzero(tImg, 1, tShape, tLab);
  expect(res.shape).toEqual(ref.shape);
  expect(Array.from(res.seg!)).toEqual(Array.from(ref.seg));
  expect(Array.from(res.seg!)).toContain(-1);
  expect(Array.from(res.seg!)).toContain(2);
});

import { rmSync } from 'node:fs';
import { writePreprocessedCase } from '../../../../server/src/io/nnunet-preprocessed.js';
import type { Vec3 } from '../../../../server/src/imaging/volume.js';
import { sampleForegroundLocations } from '../../../../server/src/nnunet/preprocessing/class-locations.js';
import { configureAugmentation } from '../../../../server/src/training/data/sampling.js';
import { createTrainingLoader, createValidationLoader, nnunetAugmentation, type TrainingBatch } from '../../../../server/src/training/data/index.js';
import { makeTempDir } from '../../../helpers/tmp.js';

const SHAPE: Vec3 = [10, 40, 36];
/** ch0 = 1 + 10000 z + 100 y + x (never 0, so padding is recognisable), ch1 = -ch0 */
const value = (k: number, j: number, i: number) => 1 + 10000 * k + 100 * j + i;

function writeCases(folder: string): string[] {
  const ids = ['c0', 'c1', 'c2'];
  const [nz, ny, nx] = SHAPE;
  const n = nz * ny * nx;
  ids.forEach((id, c) => {
    const data = new Float32Array(2 * n);
    const seg = new Int16Array(n);
    for (let k = 0, v = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++, v++) {
          data[v] = value(k, j, i);
          data[n + v] = -value(k, j, i);
          // a small label-1 cube away from the centre, a label-2 cube only in c2, -1 in a strip (outside mask)
          if (k >= 6 && k < 8 && j >= 30 && j < 34 && i >= 2 + c && i < 6 + c) seg[v] = 1;
          if (c === 2 && k < 2 && j < 3 && i < 3) seg[v] = 2;
          if (i === nx - 1) seg[v] = -1;
        }
    const locs = sampleForegroundLocations(seg, SHAPE, [1, 2]);
    writePreprocessedCase(folder, id, {
      data,
      channels: 2,
      shape: SHAPE,
      seg,
      properties: {
        spacing: [1, 1, 1],
        sitk_stuff: { spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] },
        shape_before_cropping: [...SHAPE],
        bbox_used_for_cropping: [[0, nz], [0, ny], [0, nx]],
        shape_after_cropping_and_before_resampling: [...SHAPE],
        class_locations: Object.fromEntries(locs),
      },
    });
  });
  return ids;
}

let folder: string;
let cleanup: () => void;
let ids: string[];
beforeAll(() => {
  ({ dir: folder, cleanup } = makeTempDir('loader-'));
  ids = writeCases(folder);
});
afterAll(() => cleanup());

function checkCrop(b: TrainingBatch, s: number, patch: number[]): void {
  // every voxel of sample s is either padding (0) or a crop of the case at one consistent offset
  const [pz, py, px] = patch;
  const n = pz * py * px;
  let off: number | undefined;
  let bad = 0;
  for (let k = 0, v = 0; k < pz; k++)
    for (let j = 0; j < py; j++)
      for (let i = 0; i < px; i++, v++) {
        const x = b.data[s * 2 * n + v];
        if (b.data[s * 2 * n + n + v] + x !== 0) bad++;
        if (x === 0) continue;
        const o = x - (10000 * k + 100 * j + i);
        off ??= o;
        if (o !== off) bad++;
      }
  expect(off).toBeDefined();
  expect(bad).toBe(0);
}

describe('createValidationLoader (no augmentation)', () => {
  it('cuts exact crops with nnU-Net oversampling, -1 → 0 and deep-supervision targets', async () => {
    const src = createValidationLoader({ preprocessedFolder: folder, caseIds: ids, patchSize: [4, 16, 16], batchSize: 3, deepSupervisionScales: [[1, 1, 1], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]], workers: 0, seed: 1 });
    try {
      for (let t = 0; t < 10; t++) {
        const b = await src.next();
        expect(b.shape).toEqual({ batch: 3, channels: 2, patch: [4, 16, 16], targetPatches: [[4, 16, 16], [2, 8, 8], [1, 4, 4]] });
        expect(b.data.length).toBe(3 * 2 * 4 * 16 * 16);
        expect(b.targets.map((x) => x.length)).toEqual([3 * 1024, 3 * 128, 3 * 16]);
        expect(b.keys.every((k) => ids.includes(k))).toBe(true);
        for (let s = 0; s < 3; s++) checkCrop(b, s, [4, 16, 16]);
        expect(b.targets[0].every((v) => v >= 0)).toBe(true);
        // the last sample (round(3 · 0.67) = 2) is forced to contain foreground
        expect(b.targets[0].subarray(2 * 1024).some((v) => v > 0)).toBe(true);
      }
    } finally {
      await src.close();
    }
  });

  it('patches larger than the case are padded (data 0, seg -1 → 0)', async () => {
    const src = createValidationLoader({ preprocessedFolder: folder, caseIds: ids, patchSize: [12, 16, 16], batchSize: 1, oversampleForegroundPercent: 0, deepSupervisionScales: [[1, 1, 1]], workers: 0, seed: 2 });
    const b = await src.next();
    // z: need_to_pad = 2 → one padded slice on each side
    const plane = 256;
    expect(b.data.subarray(0, plane).every((v) => v === 0)).toBe(true);
    expect(b.data.subarray(11 * plane, 12 * plane).every((v) => v === 0)).toBe(true);
    expect(b.data.subarray(plane, 2 * plane).some((v) => v !== 0)).toBe(true);
    await src.close();
  });

  it('is reproducible from the seed', async () => {
    const o = { preprocessedFolder: folder, caseIds: ids, patchSize: [4, 16, 16], batchSize: 2, deepSupervisionScales: [[1, 1, 1]], workers: 0, seed: 5 };
    const a = createValidationLoader(o);
    const b = createValidationLoader(o);
    for (let t = 0; t < 3; t++) {
      const x = await a.next();
      const y = await b.next();
      expect(x.data).toEqual(y.data);
      expect(x.keys).toEqual(y.keys);
    }
  });
});

describe('createTrainingLoader', () => {
  const aug = nnunetAugmentation(configureAugmentation([4, 16, 16]));

  it('augmented batches have the final patch; labels are valid; deterministic per seed', async () => {
    const o = { preprocessedFolder: folder, caseIds: ids, patchSize: [4, 16, 16], batchSize: 3, deepSupervisionScales: [[1, 1, 1], [0.5, 0.5, 0.5]], augmentation: aug, workers: 0, seed: 11 };
    const a = createTrainingLoader(o);
    const b = createTrainingLoader(o);
    for (let t = 0; t < 5; t++) {
      const x = await a.next();
      const y = await b.next();
      expect(x.shape.patch).toEqual([4, 16, 16]);
      expect(x.data.length).toBe(3 * 2 * 1024);
      expect(x.targets[1].length).toBe(3 * 128);
      expect(x.targets[0].every((v) => v >= 0 && v <= 2)).toBe(true);
      expect(x.data).toEqual(y.data);
      expect(x.targets[0]).toEqual(y.targets[0]);
    }
  });

  it('worker threads make the same batches as the main thread, ahead of time', async () => {
    const o = { preprocessedFolder: folder, caseIds: ids, patchSize: [4, 16, 16], batchSize: 2, deepSupervisionScales: [[1, 1, 1], [0.5, 0.5, 0.5]], augmentation: aug, seed: 3 };
    const local = createTrainingLoader({ ...o, workers: 0 });
    const pooled = createTrainingLoader({ ...o, workers: 2, prefetch: 3 });
    try {
      for (let t = 0; t < 4; t++) {
        const x = await local.next();
        const y = await pooled.next();
        expect(y.data).toEqual(x.data);
        expect(y.targets[1]).toEqual(x.targets[1]);
        expect(y.keys).toEqual(x.keys);
      }
    } finally {
      await pooled.close();
      await local.close();
    }
    await expect(pooled.next()).rejects.toThrow(/closed/);
  });

  it('2D configuration: single-slice patches, 2-axis scales', async () => {
    const cfg = configureAugmentation([24, 20]);
    const src = createTrainingLoader({ preprocessedFolder: folder, caseIds: ids, patchSize: [24, 20], batchSize: 4, deepSupervisionScales: [[1, 1], [0.5, 0.5]], augmentation: nnunetAugmentation(cfg), workers: 0, seed: 4, is2d: true });
    const b = await src.next();
    expect(b.shape).toEqual({ batch: 4, channels: 2, patch: [24, 20], targetPatches: [[24, 20], [12, 10]] });
    expect(b.data.length).toBe(4 * 2 * 480);
    expect(b.targets[1].length).toBe(4 * 120);
    await src.close();
    // forced samples (the last one of 4: round(4 · 0.67) = 3) contain foreground before augmentation (a
    // rotation may turn a voxel at the case's corner out of the patch, in nnU-Net too)
    const val = createValidationLoader({ preprocessedFolder: folder, caseIds: ids, patchSize: [24, 20], batchSize: 4, deepSupervisionScales: [[1, 1]], workers: 0, seed: 4, is2d: true });
    for (let t = 0; t < 5; t++) {
      const v = await val.next();
      expect(v.targets[0].subarray(3 * 480).some((x) => x > 0)).toBe(true);
      for (let s = 0; s < 4; s++) checkCrop(v, s, [1, 24, 20]);
    }
  });

  it('names a missing case file', () => {
    const { dir, cleanup: c2 } = makeTempDir('loader-missing-');
    try {
      writeCases(dir);
      rmSync(`${dir}/c1_seg.npy`);
      expect(() => createValidationLoader({ preprocessedFolder: dir, caseIds: ['c0', 'c1'], patchSize: [4, 16, 16], batchSize: 2, deepSupervisionScales: [[1, 1, 1]], workers: 0, seed: 1 })).toThrow(/case "c1" is missing .*c1_seg\.npy/);
    } finally {
      c2();
    }
  });

  it('rejects a patch of the wrong dimensionality', () => {
    expect(() => createTrainingLoader({ preprocessedFolder: folder, caseIds: ids, patchSize: [16, 16], batchSize: 2, deepSupervisionScales: [[1, 1]], augmentation: null, workers: 0, seed: 1 })).toThrow(/3 axes/);
  });
});

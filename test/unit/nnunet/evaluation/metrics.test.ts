import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { squaredDistanceTransform } from '../../../../server/src/imaging/distance-transform.js';
import { parsePythonJson } from '../../../../server/src/formats/python-json.js';
import {
  computeMetrics,
  hausdorff95,
  keyToLabelOrRegion,
  labelOrRegionKey,
  maskBorder,
  percentile,
  surfaceDice,
} from '../../../../server/src/nnunet/evaluation/index.js';

const here = dirname(fileURLToPath(import.meta.url));
// Python's json writes NaN as a bare token: read it the way summary.json is read
const fx = parsePythonJson(readFileSync(join(here, '../../../fixtures/evaluation/evaluation.json'), 'utf8')) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
const digits = (s: string) => Uint8Array.from(s, (c) => Number(c));
const shape = fx.shape as [number, number, number];
const spacing = fx.spacing as [number, number, number];

describe('computeMetrics (nnU-Net compute_metrics)', () => {
  it('hand-checked Dice/IoU/counts on a tiny array', () => {
    const ref = Uint8Array.of(0, 1, 1, 1, 2, 0, 0, 0);
    const pred = Uint8Array.of(0, 1, 1, 0, 2, 2, 1, 0);
    const m = computeMetrics(ref, pred, [1, 2, 4], [1, 2]);
    // label 1: ref {1,2,3}, pred {1,2,6}: tp 2, fp 1, fn 1, tn 4
    expect(m.get('1')).toEqual({ Dice: 4 / 6, IoU: 2 / 4, FP: 1, TP: 2, FN: 1, TN: 4, n_pred: 3, n_ref: 3 });
    // label 2: ref {4}, pred {4,5}: tp 1, fp 1, fn 0
    expect(m.get('2')).toMatchObject({ Dice: 2 / 3, IoU: 1 / 2, TP: 1, FP: 1, FN: 0, TN: 6 });
  });
  it('NaN Dice/IoU when the label is absent from both; 0 when only one has it', () => {
    const m = computeMetrics(Uint8Array.of(0, 1), Uint8Array.of(0, 0), [1, 1, 2], [1, 3]);
    expect(m.get('1')!.Dice).toBe(0);
    expect(m.get('3')!.Dice).toBeNaN();
    expect(m.get('3')!.IoU).toBeNaN();
    expect(m.get('3')!.TN).toBe(2);
  });
  it('matches the numpy fixture for labels, a region and an absent label', () => {
    const m = computeMetrics(digits(fx.reference), digits(fx.prediction), shape, [1, 2, [1, 2], 3]);
    for (const [k, expected] of Object.entries(fx.metrics as Record<string, Record<string, number | null>>)) {
      const got = m.get(k)!;
      for (const [name, v] of Object.entries(expected)) {
        const g = (got as unknown as Record<string, number>)[name];
        if (v === null || Number.isNaN(v)) expect(g).toBeNaN();
        else expect(g).toBeCloseTo(v, 12);
      }
    }
  });
  it('ignore label: reference voxels with it are not counted', () => {
    const m = computeMetrics(digits(fx.reference_ignore), digits(fx.prediction_ignore), shape, [1, 2], { ignoreLabel: 4 });
    for (const [k, expected] of Object.entries(fx.metrics_ignore as Record<string, Record<string, number>>))
      for (const [name, v] of Object.entries(expected)) expect((m.get(k) as unknown as Record<string, number>)[name]).toBeCloseTo(v, 12);
  });
  it('names the problem on bad input', () => {
    expect(() => computeMetrics(new Uint8Array(3), new Uint8Array(4), [1, 1, 4], [1])).toThrow(/reference has 3 voxels/);
    expect(() => computeMetrics(new Uint8Array(4), new Uint8Array(4), [1, 1, 4], [])).toThrow(/no labels/);
  });
});

describe('keys', () => {
  it('uses Python str() of labels and tuples', () => {
    expect(labelOrRegionKey(3)).toBe('3');
    expect(labelOrRegionKey([1, 2, 3])).toBe('(1, 2, 3)');
    expect(labelOrRegionKey([2])).toBe('(2,)');
    expect(keyToLabelOrRegion('(1, 2, 3)')).toEqual([1, 2, 3]);
    expect(keyToLabelOrRegion('(2,)')).toEqual([2]);
    expect(keyToLabelOrRegion('7')).toBe(7);
  });
});

describe('distance transform', () => {
  it('matches scipy distance_transform_edt with anisotropic sampling', () => {
    const features = digits(fx.reference).map((v) => (v === 2 ? 1 : 0));
    const d2 = squaredDistanceTransform(features, shape, spacing);
    const expected = fx.edt_label2 as number[];
    for (let i = 0; i < expected.length; i++) expect(Math.sqrt(d2[i])).toBeCloseTo(expected[i], 4);
  });
  it('is Infinity without features and exact on a line', () => {
    expect(squaredDistanceTransform(new Uint8Array(4), [1, 1, 4], [1, 1, 1]).every((v) => v === Infinity)).toBe(true);
    expect(Array.from(squaredDistanceTransform(Uint8Array.of(1, 0, 0, 0, 1), [1, 1, 5], [1, 1, 2]))).toEqual([0, 4, 16, 4, 0]);
  });
});

describe('HD95 and surface Dice', () => {
  it('match the medpy/scipy fixture (anisotropic spacing)', () => {
    const ref = digits(fx.reference);
    const pred = digits(fx.prediction);
    const m = computeMetrics(ref, pred, shape, [1, 2, [1, 2]], { spacing, hd95: true, surfaceDiceTolerance: 2 });
    for (const [k, e] of Object.entries(fx.extra as Record<string, { HD95: number; SurfaceDice: number }>)) {
      expect(m.get(k)!.HD95).toBeCloseTo(e.HD95, 4);
      expect(m.get(k)!.SurfaceDice).toBeCloseTo(e.SurfaceDice, 10);
    }
  });
  it('two cubes shifted by 3 voxels along x (spacing 2 mm) are 6 mm apart', () => {
    const s: [number, number, number] = [12, 12, 16];
    const cube = (x0: number) => {
      const m = new Uint8Array(12 * 12 * 16);
      for (let z = 3; z < 9; z++) for (let y = 3; y < 9; y++) for (let x = x0; x < x0 + 6; x++) m[(z * 12 + y) * 16 + x] = 1;
      return m;
    };
    const a = cube(2);
    const b = cube(5);
    // every border voxel of a lies on b's border or 3 voxels away from it along x: max distance 6 mm
    const hd = hausdorff95(a, b, s, [1, 1, 2]);
    expect(hd).toBeCloseTo(6, 6);
    expect(hausdorff95(a, a, s, [1, 1, 2])).toBe(0);
    expect(surfaceDice(a, a, s, [1, 1, 2], 0.5)).toBe(1);
    expect(surfaceDice(a, b, s, [1, 1, 2], 7)).toBe(1);
    expect(surfaceDice(a, new Uint8Array(a.length), s, [1, 1, 2], 1)).toBe(0);
    expect(hausdorff95(a, new Uint8Array(a.length), s, [1, 1, 2])).toBeNaN();
  });
  it('border of a filled box is its shell; a single slice is treated as 2-D', () => {
    const box = new Uint8Array(27).fill(1);
    // only the centre has all six face neighbours inside the image
    expect(maskBorder(box, [3, 3, 3]).reduce((a, b) => a + b, 0)).toBe(26);
    expect(maskBorder(box, [3, 3, 3])[13]).toBe(0);
    const plane = new Uint8Array(25);
    for (let y = 1; y < 4; y++) for (let x = 1; x < 4; x++) plane[y * 5 + x] = 1;
    const b = maskBorder(plane, [1, 5, 5]);
    expect(b[12]).toBe(0);
    expect(b.reduce((a, c) => a + c, 0)).toBe(8);
  });
  it('percentile interpolates linearly like numpy', () => {
    expect(percentile(Float64Array.of(1, 2, 3, 4), 95)).toBeCloseTo(3.85, 12);
  });
  it('volumes in mm³', () => {
    const m = computeMetrics(Uint8Array.of(1, 1, 0), Uint8Array.of(1, 1, 1), [1, 1, 3], [1], { spacing: [2, 1, 1.5], volumes: true });
    expect(m.get('1')).toMatchObject({ volume_ref_mm3: 6, volume_pred_mm3: 9, volume_difference_mm3: 3 });
  });
});

import { readFileSync } from 'node:fs';
import { Rng } from '../../../../server/src/training/data/rng.js';
import { configureAugmentation, cropAndPad, deepSupervisionScales, forceForeground, getBbox, getPatchSize } from '../../../../server/src/training/data/sampling.js';

interface PatchFixture {
  patch: number[];
  rotation: [number, number];
  dummy2d: boolean;
  mirror: number[];
  initial: number[];
}
const fixtures = JSON.parse(readFileSync(new URL('../../../fixtures/training-data/patch_sizes.json', import.meta.url), 'utf8')) as PatchFixture[];

describe('configureAugmentation / getPatchSize (nnU-Net initial patch)', () => {
  it.each(fixtures.map((f) => [f.patch.join('x'), f] as const))('%s matches nnU-Net', (_p, f) => {
    const c = configureAugmentation(f.patch);
    expect(c.initialPatchSize).toEqual(f.initial);
    expect(c.dummy2d).toBe(f.dummy2d);
    expect(c.mirrorAxes).toEqual(f.mirror);
    expect(c.rotation[0]).toBeCloseTo(f.rotation[0], 12);
    expect(c.rotation[1]).toBeCloseTo(f.rotation[1], 12);
  });

  it('hand-checked: a square 2D patch rotated ≥ 90° keeps its size, then / 0.85', () => {
    expect(getPatchSize([100, 100], [-Math.PI, Math.PI], [0, 0], [0, 0], [0.85, 1.25])).toEqual([117, 117]);
    expect(getPatchSize([100, 100], [0, 0], [0, 0], [0, 0], [1, 1])).toEqual([100, 100]);
  });
});

describe('forceForeground (_oversample_last_XX_percent)', () => {
  it('forces the last third of a batch of 2 and 3, python rounding', () => {
    // round(2 · 0.67) = 1 → sample 1 forced; round(3 · 0.67) = round(2.01) = 2
    expect([0, 1].map((j) => forceForeground(j, 2, 0.33))).toEqual([false, true]);
    expect([0, 1, 2].map((j) => forceForeground(j, 3, 0.33))).toEqual([false, false, true]);
    // round(2 · 0.5) with percent 0.5 → 1; round(0.5) → 0 (half to even) forces a batch of 1
    expect(forceForeground(0, 1, 0.5)).toBe(true);
    expect(forceForeground(0, 4, 0)).toBe(false);
  });
});

describe('getBbox', () => {
  it('random patches stay within [-need_to_pad/2, shape + need_to_pad/2 - patch]', () => {
    const rng = new Rng(1);
    for (let t = 0; t < 500; t++) {
      const { lbs, ubs } = getBbox([10, 20, 30], [8, 24, 16], [2, 4, 0], false, undefined, false, rng);
      // need_to_pad y grows to 24 - 20 = 4; lbs ≥ -2, ubs ≤ shape + 2
      expect(lbs[0]).toBeGreaterThanOrEqual(-1);
      expect(ubs[0]).toBeLessThanOrEqual(11);
      expect(lbs[1]).toBeGreaterThanOrEqual(-2);
      expect(ubs[1]).toBeLessThanOrEqual(22);
      expect(lbs[2]).toBeGreaterThanOrEqual(0);
      expect(ubs[2]).toBeLessThanOrEqual(30);
      expect(ubs.map((u, d) => u - lbs[d])).toEqual([8, 24, 16]);
    }
  });

  it('forced foreground centres the patch on a voxel of a present class', () => {
    const rng = new Rng(2);
    const locations = { '1': new Int32Array([0, 5, 50, 60]), '2': new Int32Array(0) };
    for (let t = 0; t < 50; t++) {
      const { lbs, selectedClass } = getBbox([20, 100, 100], [8, 16, 16], [0, 0, 0], true, locations, false, rng);
      expect(selectedClass).toBe('1');
      expect(lbs).toEqual([5 - 4, 50 - 8, 60 - 8]);
    }
  });

  it('a case without foreground falls back to a random patch', () => {
    const r = getBbox([20, 100, 100], [8, 16, 16], [0, 0, 0], true, { '1': new Int32Array(0) }, false, new Rng(3));
    expect(r.selectedClass).toBeNull();
  });

  it('with an ignore label, unforced samples come from annotated voxels; forced ones skip that key', () => {
    const locations = { '1': new Int32Array([0, 3, 3, 3]), '[-1,0,1,2]': new Int32Array([0, 9, 9, 9]) };
    const a = getBbox([20, 20, 20], [4, 4, 4], [0, 0, 0], false, locations, true, new Rng(4));
    expect(a.selectedClass).toBe('[-1,0,1,2]');
    expect(a.lbs).toEqual([7, 7, 7]);
    const b = getBbox([20, 20, 20], [4, 4, 4], [0, 0, 0], true, locations, true, new Rng(4));
    expect(b.selectedClass).toBe('1');
  });
});

describe('cropAndPad', () => {
  it('copies the inside and pads outside, also from a slab of slices', () => {
    // case 1×3×2×2, values 100·z + 10·y + x
    const full = [3, 2, 2];
    const src = new Float32Array(12).map((_, v) => 100 * Math.floor(v / 4) + 10 * (Math.floor(v / 2) % 2) + (v % 2));
    const out = new Float32Array(2 * 2 * 3);
    cropAndPad(src, 1, full, 0, 3, [2, -1, 0], [2, 2, 3], -7, out, 0);
    // z = 2 exists, z = 3 does not; y = -1 padded; x = 2 padded
    expect(Array.from(out)).toEqual([-7, -7, -7, 200, 201, -7, -7, -7, -7, -7, -7, -7]);
    // the same from a slab holding only slice 2
    const slab = src.subarray(8, 12);
    const out2 = new Float32Array(12);
    cropAndPad(slab, 1, full, 2, 1, [2, -1, 0], [2, 2, 3], -7, out2, 0);
    expect(out2).toEqual(out);
  });
});

describe('deepSupervisionScales (nnUNetTrainer._get_deep_supervision_scales)', () => {
  it('1 / cumprod of the pooling kernels, lowest resolution dropped', () => {
    const s = deepSupervisionScales([[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]]);
    expect(s).toEqual([[1, 1, 1], [1, 0.5, 0.5], [0.5, 0.25, 0.25]]);
    expect(deepSupervisionScales([[1, 1], [2, 2], [2, 2]])).toEqual([[1, 1], [0.5, 0.5]]);
  });
});

import {
  affine2d,
  augmentSample,
  contrast,
  downsampleSegForDS,
  gamma,
  gaussianFilter,
  gaussianKernel,
  gaussianNoise,
  mirror,
  nnunetAugmentation,
  removeLabel,
  resize,
  spatialTransform,
  type AugmentationParams,
  affine3d,
} from '../../../../server/src/training/data/augmentation.js';
import { Rng } from '../../../../server/src/training/data/rng.js';

const NONE: AugmentationParams = {
  ...nnunetAugmentation({ rotation: [-Math.PI, Math.PI], dummy2d: false, mirrorAxes: [] }),
  pRotation: 0,
  pScaling: 0,
  pElasticDeform: 0,
  pNoise: 0,
  pBlur: 0,
  pBrightness: 0,
  pContrast: 0,
  pLowRes: 0,
  pGammaInverted: 0,
  pGamma: 0,
};

/** A (z, y, x) volume with a label cube and an image that is 1000 inside the cube (plus an offset ramp outside-free). */
function cubeCase(shape: number[], lo: number[], hi: number[]): { image: Float32Array; seg: Int16Array } {
  const [nz, ny, nx] = shape;
  const image = new Float32Array(nz * ny * nx);
  const seg = new Int16Array(nz * ny * nx);
  for (let k = 0, v = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++, v++) {
        const inside = k >= lo[0] && k < hi[0] && j >= lo[1] && j < hi[1] && i >= lo[2] && i < hi[2];
        seg[v] = inside ? 1 : 0;
        image[v] = inside ? 1000 : 0;
      }
  return { image, seg };
}

/** seg == 1 exactly where the image (interpolated indicator · 1000) is above 500. */
function mismatches(image: Float32Array, seg: Int16Array): number {
  let bad = 0;
  for (let v = 0; v < seg.length; v++) if ((seg[v] === 1) !== image[v] > 500 && Math.abs(image[v] - 500) > 1e-3) bad++;
  return bad;
}

describe('spatialTransform', () => {
  const inShape = [24, 30, 28];
  const patch = [16, 20, 20];
  const { image, seg } = cubeCase(inShape, [8, 10, 9], [16, 21, 18]);

  it('no transform is the centre crop (floor(S/2) - floor(P/2)), identity when sizes agree', () => {
    const r = spatialTransform(image, seg, 1, inShape, patch, { matrix: null, inPlane: false, displacement: null });
    const lo = [4, 5, 4];
    for (const [k, j, i] of [[0, 0, 0], [7, 9, 8], [15, 19, 19]]) {
      expect(r.image[(k * 20 + j) * 20 + i]).toBe(image[((k + lo[0]) * 30 + j + lo[1]) * 28 + i + lo[2]]);
      expect(r.seg![(k * 20 + j) * 20 + i]).toBe(seg[((k + lo[0]) * 30 + j + lo[1]) * 28 + i + lo[2]]);
    }
    const same = spatialTransform(image, seg, 1, inShape, inShape, { matrix: null, inPlane: false, displacement: null });
    expect(same.image).toEqual(image);
    expect(same.seg).toEqual(seg);
  });

  it('the identity matrix resamples to the same centre crop (one interpolation pass is exact on the grid)', () => {
    const a = spatialTransform(image, seg, 1, inShape, patch, { matrix: affine3d([0, 0, 0], [1, 1, 1]), inPlane: false, displacement: null });
    const b = spatialTransform(image, seg, 1, inShape, patch, { matrix: null, inPlane: false, displacement: null });
    expect(a.seg).toEqual(b.seg);
    for (let v = 0; v < a.image.length; v++) expect(a.image[v]).toBeCloseTo(b.image[v], 3);
  });

  it.each([
    ['3D rotation + scaling', { matrix: affine3d([0.3, -0.4, 0.5], [1.2, 1.2, 1.2]), inPlane: false, displacement: null }],
    ['3D zoom in', { matrix: affine3d([0, 0, 0.2], [0.7, 0.7, 0.7]), inPlane: false, displacement: null }],
    ['in-plane (dummy 2D) rotation', { matrix: affine2d(2.5, [0.9, 0.9]), inPlane: true, displacement: null }],
  ])('label and image stay aligned under %s', (_name, sp) => {
    const r = spatialTransform(image, seg, 1, inShape, patch, sp);
    let ones = 0;
    for (const s of r.seg!) ones += s;
    expect(ones).toBeGreaterThan(100);
    expect(mismatches(r.image, r.seg!)).toBe(0);
  });

  it('label and image stay aligned under elastic deformation (augmentSample with p_elastic 1)', () => {
    const p: AugmentationParams = { ...NONE, pElasticDeform: 1, elasticScale: [0.1, 0.2], elasticMagnitude: [0.05, 0.1], pRotation: 1, rotation: [-0.5, 0.5] };
    const r = augmentSample(image, seg, 1, inShape, patch, p, new Rng(5));
    const crop = spatialTransform(image, seg, 1, inShape, patch, { matrix: null, inPlane: false, displacement: null });
    expect(r.seg).not.toEqual(crop.seg);
    expect(mismatches(r.image, r.seg!)).toBe(0);
  });

  it('a 90° in-plane rotation moves a marked voxel where expected; twice equals 180° (both in-plane axes flipped)', () => {
    const shape = [1, 5, 5];
    const img = new Float32Array(25);
    img[1 * 5 + 4] = 1; // y = 1, x = 4
    const r90 = spatialTransform(img, null, 1, shape, shape, { matrix: affine2d(Math.PI / 2, [1, 1]), inPlane: true, displacement: null });
    // output (x, y) reads source (x, y)·R: centred (gx, gy) → (gy, -gx); the source voxel (4, 1) = centred (2, -1) is read by (gx, gy) = (1, 2)
    const at = (a: Float32Array, y: number, x: number) => a[y * 5 + x];
    expect(at(r90.image, 4, 3)).toBeCloseTo(1, 6);
    const twice = spatialTransform(r90.image, null, 1, shape, shape, { matrix: affine2d(Math.PI / 2, [1, 1]), inPlane: true, displacement: null });
    const flipped = Float32Array.from(img);
    mirror(flipped, 1, shape, 1);
    mirror(flipped, 1, shape, 2);
    for (let v = 0; v < 25; v++) expect(twice.image[v]).toBeCloseTo(flipped[v], 5);
  });

  it('zeros outside the source for the image; the smallest label outside for the seg', () => {
    const small = cubeCase([4, 4, 4], [0, 0, 0], [4, 4, 4]);
    const r = spatialTransform(small.image, small.seg, 1, [4, 4, 4], [4, 12, 12], { matrix: affine3d([0, 0, 0], [1, 1, 1]), inPlane: false, displacement: null });
    expect(r.image[0]).toBe(0);
    expect(r.seg![0]).toBe(1); // the only label present
    expect(r.image[(2 * 12 + 6) * 12 + 6]).toBeCloseTo(1000, 3);
  });
});

describe('augmentSample', () => {
  const inShape = [20, 24, 24];
  const patch = [12, 16, 16];
  const base = cubeCase(inShape, [5, 6, 6], [14, 18, 17]);
  const img = Float32Array.from(base.image, (v, i) => v + (i % 7));

  it('identity parameters give the centre crop, unchanged', () => {
    const r = augmentSample(img, base.seg, 1, inShape, patch, NONE, new Rng(1));
    const c = spatialTransform(img, base.seg, 1, inShape, patch, { matrix: null, inPlane: false, displacement: null });
    expect(r.image).toEqual(c.image);
    expect(r.seg).toEqual(c.seg);
  });

  it('intensity transforms leave the labels unchanged', () => {
    const p: AugmentationParams = { ...NONE, pNoise: 1, pBlur: 1, pBrightness: 1, pContrast: 1, pLowRes: 1, pGammaInverted: 1, pGamma: 1 };
    const c = spatialTransform(img, base.seg, 1, inShape, patch, { matrix: null, inPlane: false, displacement: null });
    for (const seed of [1, 2, 3]) {
      const r = augmentSample(img, base.seg, 1, inShape, patch, p, new Rng(seed));
      expect(r.seg).toEqual(c.seg);
      expect(r.image).not.toEqual(c.image);
    }
  });

  it('is deterministic for a seed (full nnU-Net defaults, every transform on)', () => {
    const p: AugmentationParams = { ...nnunetAugmentation({ rotation: [-0.5, 0.5], dummy2d: false, mirrorAxes: [0, 1, 2] }), pRotation: 1, pScaling: 1, pNoise: 1, pBlur: 1, pLowRes: 1, pGamma: 1 };
    const a = augmentSample(img, base.seg, 1, inShape, patch, p, new Rng(9));
    const b = augmentSample(img, base.seg, 1, inShape, patch, p, new Rng(9));
    const c = augmentSample(img, base.seg, 1, inShape, patch, p, new Rng(10));
    expect(a.image).toEqual(b.image);
    expect(a.seg).toEqual(b.seg);
    expect(a.image).not.toEqual(c.image);
  });

  it('mirroring keeps image and label aligned', () => {
    const p: AugmentationParams = { ...NONE, mirrorAxes: [0, 1, 2] };
    for (const seed of [1, 2, 3, 4]) {
      const r = augmentSample(base.image, base.seg, 1, inShape, patch, p, new Rng(seed));
      expect(mismatches(r.image, r.seg!)).toBe(0);
    }
  });

  it('2D patches (1, y, x) mirror over [y, x] and rotate in-plane', () => {
    const two = cubeCase([1, 30, 30], [0, 8, 10], [1, 20, 16]);
    const p: AugmentationParams = { ...NONE, pRotation: 1, rotation: [-Math.PI, Math.PI], mirrorAxes: [0, 1], pScaling: 1 };
    for (const seed of [1, 2, 3]) {
      const r = augmentSample(two.image, two.seg, 1, [1, 30, 30], [1, 24, 24], p, new Rng(seed), true);
      expect(r.seg!.length).toBe(576);
      expect(mismatches(r.image, r.seg!)).toBe(0);
    }
  });
});

describe('single transforms', () => {
  it('mirroring twice is the identity on every axis', () => {
    const shape = [3, 4, 5];
    const a = Float32Array.from({ length: 2 * 60 }, (_, i) => i);
    for (const axis of [0, 1, 2]) {
      const b = Float32Array.from(a);
      mirror(b, 2, shape, axis);
      expect(b).not.toEqual(a);
      mirror(b, 2, shape, axis);
      expect(b).toEqual(a);
    }
    const x = Float32Array.from({ length: 60 }, (_, i) => i);
    mirror(x, 1, shape, 2);
    expect(x[0]).toBe(4);
    mirror(x, 1, shape, 0);
    expect(x[0]).toBe(2 * 20 + 4);
  });

  it('contrast preserves the range and the mean (before clipping)', () => {
    const a = new Float32Array([0, 1, 2, 3, 4]);
    contrast(a, 0, 5, 0.5);
    expect(Array.from(a)).toEqual([1, 1.5, 2, 2.5, 3]);
    const b = new Float32Array([0, 1, 2, 3, 4]);
    contrast(b, 0, 5, 2);
    expect(Array.from(b)).toEqual([0, 0, 2, 4, 4]);
  });

  it('gamma retains mean and (unbiased) std; γ = 1 is the identity', () => {
    const a = new Float32Array([1, 2, 4, 8, 16]);
    const ref = Float32Array.from(a);
    gamma(a, 0, 5, 1, false);
    for (let i = 0; i < 5; i++) expect(a[i]).toBeCloseTo(ref[i], 4);
    const b = Float32Array.from(ref);
    gamma(b, 0, 5, 1.5, true);
    const mean = (x: Float32Array) => x.reduce((s, v) => s + v, 0) / x.length;
    const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + (v - mean(x)) ** 2, 0) / (x.length - 1));
    expect(mean(b)).toBeCloseTo(mean(ref), 4);
    expect(std(b)).toBeCloseTo(std(ref), 4);
    expect(b).not.toEqual(ref);
  });

  it("gaussian kernel: bgv2's size rule (nearest odd to 6σ + 0.5), sums to 1; a constant volume stays constant", () => {
    const k = gaussianKernel(0.7);
    expect(k.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    // 4.7 → 5; 3.5 → round 4 (half to even) → 3; 6.5 → round 6 → 7
    expect([0.7, 0.5, 1].map((s) => gaussianKernel(s).length)).toEqual([5, 3, 7]);
    expect(gaussianKernel(1)[3] / gaussianKernel(1)[4]).toBeCloseTo(Math.exp(0.5), 12);
    const v = new Float32Array(4 * 5 * 6).fill(3);
    gaussianFilter(v, [4, 5, 6], [1, 0.5, 0.8]);
    for (const x of v) expect(x).toBeCloseTo(3, 5);
  });

  it('resize: torch nearest-exact and linear (align_corners False)', () => {
    expect(Array.from(resize(new Float32Array([0, 1]), [1, 1, 2], [1, 1, 4], 'linear'))).toEqual([0, 0.25, 0.75, 1]);
    expect(Array.from(resize(new Float32Array([0, 1, 2, 3, 4, 5]), [1, 1, 6], [1, 1, 3], 'nearest'))).toEqual([1, 3, 5]);
    expect(Array.from(resize(new Float32Array([7, 8]), [1, 1, 2], [1, 1, 2], 'linear'))).toEqual([7, 8]);
  });

  it('deep-supervision targets: nearest-exact to round(patch · scale)', () => {
    const seg = Int16Array.from({ length: 16 }, (_, i) => i);
    const r = downsampleSegForDS(seg, [1, 4, 4], [1, 0.5, 0.5]);
    expect(r.shape).toEqual([1, 2, 2]);
    expect(Array.from(r.seg)).toEqual([5, 7, 13, 15]);
    expect(downsampleSegForDS(seg, [1, 4, 4], [1, 1, 1]).seg).toBe(seg);
  });

  it('gaussian noise: the same field on every channel (synchronize_channels), σ as the standard deviation', () => {
    const n = 20000;
    const a = new Float32Array(2 * n);
    gaussianNoise(a, 2, 0.1, new Rng(3));
    for (let i = 0; i < n; i += 997) expect(a[n + i]).toBe(a[i]);
    const mean = a.subarray(0, n).reduce((s, v) => s + v, 0) / n;
    const std = Math.sqrt(a.subarray(0, n).reduce((s, v) => s + (v - mean) ** 2, 0) / n);
    expect(Math.abs(mean)).toBeLessThan(0.005);
    expect(std).toBeCloseTo(0.1, 2);
  });

  it('removeLabel turns -1 into background and keeps an ignore label', () => {
    const s = new Int16Array([-1, 0, 1, 3, -1]);
    removeLabel(s);
    expect(Array.from(s)).toEqual([0, 0, 1, 3, 0]);
  });
});

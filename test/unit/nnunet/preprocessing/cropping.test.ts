import { bboxFromMask, cropArray, cropToNonzero, fillHoles3d, nonzeroMask } from '../../../../server/src/nnunet/preprocessing/cropping.js';
import type { Vec3 } from '../../../../server/src/imaging/volume.js';
import { mulberry32 } from '../../../helpers/prng.js';

const idx = (shape: Vec3, k: number, j: number, i: number): number => (k * shape[1] + j) * shape[2] + i;

/** A hollow cube shell: set on the faces of [lo, hi] in every axis, empty inside. */
function shell(shape: Vec3, lo: number, hi: number): Uint8Array {
  const m = new Uint8Array(shape[0] * shape[1] * shape[2]);
  for (let k = lo; k <= hi; k++)
    for (let j = lo; j <= hi; j++)
      for (let i = lo; i <= hi; i++) {
        const onFace = k === lo || k === hi || j === lo || j === hi || i === lo || i === hi;
        if (onFace) m[idx(shape, k, j, i)] = 1;
      }
  return m;
}

describe('fillHoles3d', () => {
  it('fills an enclosed cavity', () => {
    const shape: Vec3 = [7, 7, 7];
    const filled = fillHoles3d(shell(shape, 1, 5), shape);
    expect(filled[idx(shape, 3, 3, 3)]).toBe(1);
    expect(filled[idx(shape, 2, 2, 2)]).toBe(1);
    expect(filled[idx(shape, 0, 0, 0)]).toBe(0);
    expect(filled[idx(shape, 6, 3, 3)]).toBe(0);
    expect(filled.reduce((a, b) => a + b, 0)).toBe(5 * 5 * 5);
  });

  it('leaves a cavity open to the border (6-connected) unfilled', () => {
    const shape: Vec3 = [7, 7, 7];
    const m = shell(shape, 1, 5);
    // punch a hole through the x = 5 face and let it reach the array border at x = 6
    m[idx(shape, 3, 3, 5)] = 0;
    const filled = fillHoles3d(m, shape);
    expect(filled[idx(shape, 3, 3, 3)]).toBe(0);
    expect(filled[idx(shape, 3, 3, 5)]).toBe(0);
    expect(filled.reduce((a, b) => a + b, 0)).toBe(m.reduce((a, b) => a + b, 0));
  });

  it('fills a cavity whose shell lies on the array border', () => {
    const shape: Vec3 = [5, 5, 5];
    const m = shell(shape, 0, 4); // the shell touches the array border; its inside is enclosed
    const filled = fillHoles3d(m, shape);
    expect(filled.every((v) => v === 1)).toBe(true);
  });

  it('fills nothing when nz = 1 (scipy treats the z faces as border)', () => {
    const shape: Vec3 = [1, 5, 5];
    const m = new Uint8Array(25);
    for (let j = 0; j < 5; j++) for (let i = 0; i < 5; i++) if (j === 1 || j === 3 || i === 1 || i === 3) m[j * 5 + i] = j >= 1 && j <= 3 && i >= 1 && i <= 3 ? 1 : 0;
    expect(m[2 * 5 + 2]).toBe(0);
    expect(fillHoles3d(m, shape)).toEqual(m);
  });
});

describe('bboxFromMask and cropArray', () => {
  it('finds the half-open box and crops every channel to it', () => {
    const shape: Vec3 = [4, 5, 6];
    const mask = new Uint8Array(120);
    mask[idx(shape, 1, 2, 3)] = 1;
    mask[idx(shape, 2, 3, 5)] = 1;
    const bbox = bboxFromMask(mask, shape);
    expect(bbox).toEqual([[1, 3], [2, 4], [3, 6]]);
    const data = new Float32Array(2 * 120).map((_, v) => v);
    const crop = cropArray(data, 2, shape, bbox);
    expect(crop.length).toBe(2 * 2 * 2 * 3);
    // first voxel of channel 1 is (c=1, z=1, y=2, x=3)
    expect(crop[12]).toBe(120 + idx(shape, 1, 2, 3));
    expect(crop[11]).toBe(idx(shape, 2, 3, 5));
    expect(crop).toBeInstanceOf(Float32Array);
  });

  it('returns the whole array for an empty mask (acvl_utils behaviour)', () => {
    expect(bboxFromMask(new Uint8Array(24), [2, 3, 4])).toEqual([[0, 2], [0, 3], [0, 4]]);
  });

  it('rejects a box outside the array', () => {
    expect(() => cropArray(new Float32Array(8), 1, [2, 2, 2], [[0, 3], [0, 2], [0, 2]])).toThrow(/does not fit/);
  });
});

describe('cropToNonzero', () => {
  it('crops to the union of channels and marks background outside the filled mask with -1', () => {
    const shape: Vec3 = [3, 4, 5];
    const n = 60;
    const data = new Float32Array(2 * n);
    data[idx(shape, 1, 1, 1)] = 5; // channel 0
    data[n + idx(shape, 1, 2, 3)] = -2; // channel 1
    const seg = new Int16Array(n);
    seg[idx(shape, 1, 1, 1)] = 2;
    seg[idx(shape, 1, 1, 2)] = 1; // labelled but outside the nonzero mask: stays 1
    const out = cropToNonzero(data, 2, shape, seg);
    expect(out.bbox).toEqual([[1, 2], [1, 3], [1, 4]]);
    expect(out.shape).toEqual([1, 2, 3]);
    expect(Array.from(out.data.subarray(0, 6))).toEqual([5, 0, 0, 0, 0, 0]);
    expect(Array.from(out.data.subarray(6))).toEqual([0, 0, 0, 0, 0, -2]);
    expect(Array.from(out.seg)).toEqual([2, 1, -1, -1, -1, 0]);
  });

  it('without a segmentation returns the mask as seg: 0 inside, -1 outside', () => {
    const shape: Vec3 = [1, 3, 3];
    const data = new Float32Array([0, 1, 0, 1, 0, 0, 0, 0, 0]);
    const out = cropToNonzero(data, 1, shape);
    expect(out.bbox).toEqual([[0, 1], [0, 2], [0, 2]]);
    expect(Array.from(out.seg)).toEqual([-1, 0, 0, -1]);
    expect(Array.from(out.data)).toEqual([0, 1, 1, 0]);
  });

  it('keeps a filled cavity inside the mask (seg 0 there, not -1)', () => {
    const shape: Vec3 = [7, 7, 7];
    const m = shell(shape, 1, 5);
    const data = Float32Array.from(m);
    const out = cropToNonzero(data, 1, shape, new Int16Array(343));
    expect(out.bbox).toEqual([[1, 6], [1, 6], [1, 6]]);
    expect(out.seg.every((v) => v === 0)).toBe(true);
    expect(nonzeroMask(out.data, 1, out.shape).reduce((a, b) => a + b, 0)).toBe(m.reduce((a, b) => a + b, 0));
  });
});

/** Per-voxel BFS reference (the straightforward definition) to check the scanline fill against. */
function fillHolesReference(mask: Uint8Array, shape: Vec3): Uint8Array {
  const [nz, ny, nx] = shape;
  const reached = new Uint8Array(mask.length);
  const queue: number[][] = [];
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const border = k === 0 || k === nz - 1 || j === 0 || j === ny - 1 || i === 0 || i === nx - 1;
        if (border && mask[idx(shape, k, j, i)] === 0) {
          reached[idx(shape, k, j, i)] = 1;
          queue.push([k, j, i]);
        }
      }
  while (queue.length > 0) {
    const [k, j, i] = queue.pop()!;
    for (const [dk, dj, di] of [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]) {
      const [a, b, c] = [k + dk, j + dj, i + di];
      if (a < 0 || b < 0 || c < 0 || a >= nz || b >= ny || c >= nx) continue;
      const v = idx(shape, a, b, c);
      if (mask[v] === 0 && reached[v] === 0) {
        reached[v] = 1;
        queue.push([a, b, c]);
      }
    }
  }
  return mask.map((m, v) => (m !== 0 || reached[v] === 0 ? 1 : 0));
}

const rng = mulberry32;

describe('fillHoles3d connectivity edge cases', () => {
  it('fills a cavity connected to the outside only diagonally (6-connectivity)', () => {
    const shape: Vec3 = [7, 7, 7];
    const m = shell(shape, 1, 5);
    // open the corner voxel (1,1,1) of the shell: it touches the border-connected background, and the
    // cavity voxel (2,2,2) touches it only diagonally, so the cavity stays enclosed
    m[idx(shape, 1, 1, 1)] = 0;
    const filled = fillHoles3d(m, shape);
    expect(filled[idx(shape, 3, 3, 3)]).toBe(1);
    expect(filled[idx(shape, 2, 2, 2)]).toBe(1);
    expect(filled[idx(shape, 1, 1, 1)]).toBe(0);
    expect(filled).toEqual(fillHolesReference(m, shape));
  });

  it('leaves a cavity open through a winding tunnel (turning back in x, y and z) unfilled', () => {
    const shape: Vec3 = [9, 9, 12];
    const m = new Uint8Array(shape[0] * shape[1] * shape[2]).fill(1);
    // tunnel from the border: z=0 face down at (k, 7, 10), then x back to 2, y back to 2, up z, then x forward
    const open = (k: number, j: number, i: number): void => void (m[idx(shape, k, j, i)] = 0);
    for (let k = 0; k <= 6; k++) open(k, 7, 10);
    for (let i = 2; i <= 10; i++) open(6, 7, i);
    for (let j = 2; j <= 7; j++) open(6, j, 2);
    for (let k = 2; k <= 6; k++) open(k, 2, 2);
    for (let i = 2; i <= 8; i++) open(2, 2, i);
    open(4, 4, 5); // an enclosed single-voxel hole
    const filled = fillHoles3d(m, shape);
    expect(filled[idx(shape, 2, 2, 8)]).toBe(0);
    expect(filled[idx(shape, 6, 4, 2)]).toBe(0);
    expect(filled[idx(shape, 4, 4, 5)]).toBe(1);
    expect(filled).toEqual(fillHolesReference(m, shape));
  });

  it('matches the per-voxel reference on random masks of many shapes and densities', () => {
    const rand = rng(12345);
    const shapes: Vec3[] = [[1, 1, 1], [1, 6, 7], [2, 3, 4], [3, 1, 5], [4, 4, 1], [6, 7, 8], [10, 9, 11], [5, 16, 3]];
    for (const shape of shapes) {
      for (const density of [0.2, 0.5, 0.7, 0.85]) {
        const n = shape[0] * shape[1] * shape[2];
        const m = new Uint8Array(n);
        for (let v = 0; v < n; v++) m[v] = rand() < density ? 1 : 0;
        expect(fillHoles3d(m, shape)).toEqual(fillHolesReference(m, shape));
      }
    }
  });

  it('does not modify its input and treats any nonzero mask value as foreground', () => {
    const shape: Vec3 = [5, 5, 5];
    const m = shell(shape, 1, 3).map((v) => v * 7);
    const copy = m.slice();
    const filled = fillHoles3d(m, shape);
    expect(m).toEqual(copy);
    expect(filled[idx(shape, 2, 2, 2)]).toBe(1);
    expect(filled[idx(shape, 1, 1, 1)]).toBe(1);
    expect(filled[0]).toBe(0);
  });
});

describe('bboxFromMask and cropArray on random data', () => {
  it('agree with a per-voxel bbox and crop, including full-width (contiguous) boxes', () => {
    const rand = rng(777);
    const shape: Vec3 = [5, 6, 7];
    const n = 5 * 6 * 7;
    for (let trial = 0; trial < 40; trial++) {
      const mask = new Uint8Array(n);
      const density = trial % 4 === 0 ? 0.3 : 0.02;
      for (let v = 0; v < n; v++) mask[v] = rand() < density ? 1 : 0;
      let lo = [Infinity, Infinity, Infinity], hi = [-1, -1, -1];
      for (let k = 0; k < 5; k++)
        for (let j = 0; j < 6; j++)
          for (let i = 0; i < 7; i++)
            if (mask[idx(shape, k, j, i)]) {
              lo = [Math.min(lo[0], k), Math.min(lo[1], j), Math.min(lo[2], i)];
              hi = [Math.max(hi[0], k), Math.max(hi[1], j), Math.max(hi[2], i)];
            }
      const expected = hi[0] < 0 ? [[0, 5], [0, 6], [0, 7]] : [0, 1, 2].map((a) => [lo[a], hi[a] + 1]);
      const bbox = bboxFromMask(mask, shape);
      expect(bbox).toEqual(expected);
      const data = new Int16Array(2 * n).map((_, v) => v);
      const crop = cropArray(data, 2, shape, bbox);
      const naive: number[] = [];
      for (let c = 0; c < 2; c++)
        for (let k = bbox[0][0]; k < bbox[0][1]; k++)
          for (let j = bbox[1][0]; j < bbox[1][1]; j++)
            for (let i = bbox[2][0]; i < bbox[2][1]; i++) naive.push(c * n + idx(shape, k, j, i));
      expect(Array.from(crop)).toEqual(naive);
      expect(crop).toBeInstanceOf(Int16Array);
    }
  });

  it('nonzeroMask takes the union over channels', () => {
    const data = new Float32Array([0, 1, 0, -0, 0, 0, NaN, 0, 0, 2, 0, 0]);
    expect(Array.from(nonzeroMask(data, 3, [1, 1, 4]))).toEqual([0, 1, 1, 0]);
  });
});

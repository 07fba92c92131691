import { generatePhantom } from '../../../server/src/demo/phantom.js';
import type { Vec3 } from '../../../server/src/imaging/volume.js';

function stats(img: Int16Array, lab: Uint8Array, label: number): { n: number; mean: number } {
  let n = 0;
  let s = 0;
  for (let i = 0; i < lab.length; i++)
    if (lab[i] === label) {
      n++;
      s += img[i];
    }
  return { n, mean: s / n };
}

describe('generatePhantom', () => {
  const shape: Vec3 = [24, 64, 64];
  const spacing: Vec3 = [2.5, 1.5, 1.5];

  it('is deterministic for a seed and varies between seeds', () => {
    const a = generatePhantom({ shape, spacing, seed: 7 });
    const b = generatePhantom({ shape, spacing, seed: 7 });
    const c = generatePhantom({ shape, spacing, seed: 8 });
    expect(a.image.data).toEqual(b.image.data);
    expect(a.label.data).toEqual(b.label.data);
    let diff = 0;
    for (let i = 0; i < a.label.data.length; i++) if (a.label.data[i] !== c.label.data[i]) diff++;
    expect(diff).toBeGreaterThan(100);
  });

  it('has CT-like intensities per structure', () => {
    const p = generatePhantom({ shape, spacing, seed: 1 });
    const liver = stats(p.image.data, p.label.data, 1);
    const kidney = stats(p.image.data, p.label.data, 2);
    expect(liver.n).toBeGreaterThan(2000);
    expect(kidney.n).toBeGreaterThan(300);
    expect(Math.abs(liver.mean - 60)).toBeLessThan(12);
    expect(Math.abs(kidney.mean - 160)).toBeLessThan(25);
    // corner voxel is air
    expect(p.image.data[0]).toBeLessThan(-950);
    expect(p.labels).toEqual({ background: 0, liver: 1, kidney: 2 });
  });

  it('puts the liver on the patient right (low x in LPS) and a kidney on each side', () => {
    const p = generatePhantom({ shape, spacing, seed: 3 });
    const [nz, ny, nx] = shape;
    let liverX = 0;
    let liverN = 0;
    let kLeft = 0;
    let kRight = 0;
    for (let k = 0, v = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++, v++) {
          const x = p.image.origin[0] + i * spacing[2];
          if (p.label.data[v] === 1) {
            liverX += x;
            liverN++;
          } else if (p.label.data[v] === 2) {
            if (x > 0) kLeft++;
            else kRight++;
          }
        }
    expect(liverX / liverN).toBeLessThan(0);
    expect(kLeft).toBeGreaterThan(100);
    expect(kRight).toBeGreaterThan(100);
  });

  it('2D variant (nz = 1) is an axial slice through liver and kidneys', () => {
    for (const seed of [0, 1, 2, 3, 4]) {
      const p = generatePhantom({ shape: [1, 96, 96], spacing: [1, 1, 1], seed });
      expect(stats(p.image.data, p.label.data, 1).n).toBeGreaterThan(300);
      expect(stats(p.image.data, p.label.data, 2).n).toBeGreaterThan(30);
    }
  });

  it('adds a lesion label inside the liver when asked', () => {
    const p = generatePhantom({ shape, spacing, seed: 5, lesion: true });
    expect(p.labels.lesion).toBe(3);
    const lesion = stats(p.image.data, p.label.data, 3);
    expect(lesion.n).toBeGreaterThan(10);
    expect(lesion.mean).toBeLessThan(40);
  });

  it('rejects a bad shape', () => {
    expect(() => generatePhantom({ shape: [0, 4, 4], spacing, seed: 1 })).toThrow(/shape/);
  });
});

/**
 * A deterministic CT-like abdominal phantom (seeded), for demo training and tests: air outside
 * (-1000 HU), a body ellipsoid of soft tissue (~20 HU) with a subcutaneous fat rim (~-100 HU), a
 * vertebra (~450 HU, unlabelled), a "liver" (label 1, ~60 HU: a smooth, lumpy blob on the patient's
 * right), two "kidneys" (label 2, ~160 HU, contrast phase) posterior left and right, and optionally a
 * hypodense "lesion" inside the liver (label 3, ~10 HU). Gaussian noise (σ 12 HU). Pose and size vary
 * per seed. Anatomy is defined in mm relative to the in-plane field of view, so any spacing and shape
 * give the same patient; a volume with nz = 1 is an axial slice through the organs (the 2D variant).
 * Pure: no I/O.
 */
import { IDENTITY_DIRECTION, type Vec3, type Volume } from '../imaging/volume.js';
import { Rng } from '../training/data/rng.js';

export const PHANTOM_LABELS = { background: 0, liver: 1, kidney: 2, lesion: 3 } as const;

export interface PhantomOptions {
  /** [nz, ny, nx] */
  shape: Vec3;
  /** [sz, sy, sx] mm */
  spacing: Vec3;
  seed: number;
  /** add a liver lesion with its own label (3); default false */
  lesion?: boolean;
  /** noise standard deviation in HU; default 12 */
  noiseHu?: number;
}

export interface Phantom {
  image: Volume<Int16Array>;
  label: Volume<Uint8Array>;
  /** dataset.json `labels` for this phantom */
  labels: Record<string, number>;
}

interface Ellipsoid {
  c: Vec3; // centre x, y, z mm
  r: Vec3; // semi-axes mm
  cos: number; // in-plane rotation
  sin: number;
}

function inside(e: Ellipsoid, x: number, y: number, z: number, wobble = 0): number {
  const dx = x - e.c[0];
  const dy = y - e.c[1];
  const u = (e.cos * dx + e.sin * dy) / e.r[0];
  const v = (-e.sin * dx + e.cos * dy) / e.r[1];
  const w = (z - e.c[2]) / e.r[2];
  return u * u + v * v + w * w - 1 + wobble;
}

export function generatePhantom(o: PhantomOptions): Phantom {
  const [nz, ny, nx] = o.shape;
  const [sz, sy, sx] = o.spacing;
  if (o.shape.some((s) => !Number.isInteger(s) || s < 1)) throw new Error(`phantom: shape must be positive integers, got [${o.shape.join(', ')}]`);
  if (o.spacing.some((s) => !(s > 0))) throw new Error(`phantom: spacing must be positive, got [${o.spacing.join(', ')}]`);
  const rng = new Rng(o.seed);
  const noise = o.noiseHu ?? 12;
  // the volume is centred on the patient-space origin of the body
  const origin: Vec3 = [(-(nx - 1) * sx) / 2, (-(ny - 1) * sy) / 2, (-(nz - 1) * sz) / 2];
  const half = Math.min(nx * sx, ny * sy) / 2;
  const size = rng.uniform(0.78, 0.9) * half; // body half-width (x)
  const j = (f: number) => rng.uniform(-f, f);
  const rot = (deg: number) => {
    const a = (j(deg) * Math.PI) / 180;
    return { cos: Math.cos(a), sin: Math.sin(a) };
  };
  const bc: Vec3 = [j(0.04) * half, j(0.04) * half, 0];
  const body: Ellipsoid = { c: bc, r: [size, size * rng.uniform(0.68, 0.8), size * 3], ...rot(5) };
  const fatRim = rng.uniform(0.05, 0.09);
  const inner: Ellipsoid = { ...body, r: [body.r[0] * (1 - fatRim), body.r[1] * (1 - fatRim * 1.2), body.r[2]] };
  const spine: Ellipsoid = { c: [bc[0], bc[1] + body.r[1] * 0.55, 0], r: [size * 0.12, size * 0.11, size * 3], cos: 1, sin: 0 };
  const liver: Ellipsoid = {
    c: [bc[0] - size * rng.uniform(0.3, 0.4), bc[1] - body.r[1] * rng.uniform(0.0, 0.15), j(0.08) * size],
    r: [size * rng.uniform(0.38, 0.48), body.r[1] * rng.uniform(0.5, 0.62), size * rng.uniform(0.45, 0.6)],
    ...rot(20),
  };
  // low-frequency lumps on the liver surface
  const lumps = Array.from({ length: 3 }, () => ({ k: [rng.uniform(0.02, 0.06), rng.uniform(0.02, 0.06), rng.uniform(0.02, 0.06)], p: rng.uniform(0, 2 * Math.PI), a: rng.uniform(0.08, 0.16) }));
  const kidneyZ = -size * rng.uniform(0.1, 0.25);
  const kidneys: Ellipsoid[] = [-1, 1].map((side) => ({
    c: [bc[0] + side * size * rng.uniform(0.38, 0.46), bc[1] + body.r[1] * rng.uniform(0.35, 0.45), kidneyZ + j(0.05) * size],
    r: [size * rng.uniform(0.11, 0.14), size * rng.uniform(0.14, 0.18), size * rng.uniform(0.3, 0.38)],
    ...rot(25),
  }));
  const lesion: Ellipsoid = {
    c: [liver.c[0] + j(0.3) * liver.r[0], liver.c[1] + j(0.3) * liver.r[1], liver.c[2] + j(0.2) * liver.r[2]],
    r: [0, 0, 0].map(() => liver.r[0] * rng.uniform(0.15, 0.25)) as Vec3,
    cos: 1,
    sin: 0,
  };
  const hu = { soft: 20 + j(10), fat: -100 + j(15), bone: 450 + j(60), liver: 60 + j(8), kidney: 160 + j(20), lesion: 10 + j(5) };
  const img = new Int16Array(nx * ny * nz);
  const lab = new Uint8Array(nx * ny * nz);
  let v = 0;
  for (let k = 0; k < nz; k++) {
    const z = origin[2] + k * sz;
    for (let jj = 0; jj < ny; jj++) {
      const y = origin[1] + jj * sy;
      for (let i = 0; i < nx; i++, v++) {
        const x = origin[0] + i * sx;
        let value = -1000;
        let label = 0;
        if (inside(body, x, y, z) <= 0) {
          value = inside(inner, x, y, z) <= 0 ? hu.soft : hu.fat;
          if (inside(spine, x, y, z) <= 0) value = hu.bone;
          // the lumps move the surface by at most Σa < 0.5: far voxels skip the sines
          const dLiver = inside(liver, x, y, z);
          let wob = 0;
          if (dLiver < 0.5 && dLiver > -0.5)
            for (const l of lumps) wob += l.a * Math.sin(l.k[0] * x + l.p) * Math.sin(l.k[1] * y + 2 * l.p) * Math.sin(l.k[2] * z + 3 * l.p);
          if (dLiver + wob <= 0 && inside(inner, x, y, z) <= 0) {
            value = hu.liver;
            label = 1;
            if (o.lesion && inside(lesion, x, y, z) <= 0) {
              value = hu.lesion;
              label = 3;
            }
          }
          for (const kd of kidneys)
            if (inside(kd, x, y, z) <= 0) {
              value = hu.kidney;
              label = 2;
            }
          value += noise * rng.normal();
        } else value += noise * 0.5 * rng.normal();
        img[v] = Math.max(-1024, Math.min(3071, Math.round(value)));
        lab[v] = label;
      }
    }
  }
  const geometry = { shape: [...o.shape] as Vec3, spacing: [...o.spacing] as Vec3, origin, direction: [...IDENTITY_DIRECTION] };
  const labels: Record<string, number> = { background: 0, liver: 1, kidney: 2 };
  if (o.lesion) labels.lesion = 3;
  return { image: { data: img, ...geometry }, label: { data: lab, ...geometry, origin: [...origin] as Vec3, direction: [...IDENTITY_DIRECTION] }, labels };
}

/**
 * A small Medical Segmentation Decathlon-style task folder written byte by byte, as the MSD ships them:
 * `TaskXX_Name/{imagesTr,imagesTs}/<case>.nii.gz` 4D float32 (x, y, z, channel), `labelsTr/<case>.nii.gz`
 * 3D uint8, and the MSD dataset.json (labels value → name, `modality`, training/test file lists). Like
 * BrainTumour: four channels; here a sphere (label 1) with a core (label 2), each channel its own contrast.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'fflate';
import { mulberry32 } from './prng.js';

export interface NiftiGeometry {
  /** voxel size x, y, z (mm) */
  spacing: [number, number, number];
  /** qoffset x, y, z (RAS mm) */
  offset: [number, number, number];
}

/** A NIfTI-1 single file (x fastest), identity rotation in RAS with qform and sform set. */
export function niftiBytes(dims: number[], datatype: 2 | 16, data: Uint8Array | Float32Array, g: NiftiGeometry): Uint8Array {
  const h = new ArrayBuffer(352);
  const v = new DataView(h);
  v.setInt32(0, 348, true);
  v.setInt16(40, dims.length, true);
  dims.forEach((d, i) => v.setInt16(42 + 2 * i, d, true));
  for (let i = dims.length; i < 7; i++) v.setInt16(42 + 2 * i, 1, true);
  v.setInt16(70, datatype, true);
  v.setInt16(72, datatype === 16 ? 32 : 8, true);
  v.setFloat32(76, 1, true); // qfac
  [g.spacing[0], g.spacing[1], g.spacing[2], 1].forEach((s, i) => v.setFloat32(80 + 4 * i, s, true));
  v.setFloat32(108, 352, true);
  v.setUint8(123, 10); // xyzt_units: mm, s
  v.setInt16(252, 1, true); // qform_code scanner
  v.setInt16(254, 1, true); // sform_code scanner
  g.offset.forEach((o, i) => v.setFloat32(268 + 4 * i, o, true)); // qoffset
  const srow = [
    [g.spacing[0], 0, 0, g.offset[0]],
    [0, g.spacing[1], 0, g.offset[1]],
    [0, 0, g.spacing[2], g.offset[2]],
  ];
  srow.flat().forEach((x, i) => v.setFloat32(280 + 4 * i, x, true));
  new Uint8Array(h).set([0x6e, 0x2b, 0x31, 0], 344); // "n+1\0"
  const out = new Uint8Array(352 + data.byteLength);
  out.set(new Uint8Array(h));
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 352);
  return out;
}

export const MSD_CHANNELS = ['FLAIR', 'T1w', 't1gd', 'T2w'];

/** Writes `<root>/Task<id>_<name>` with `training` + `test` cases of `n`³ voxels; returns the folder. */
export function writeMsdTask(root: string, o: { id: number; name: string; training: number; test: number; n?: number; seed?: number }): string {
  const n = o.n ?? 24;
  const rnd = mulberry32(o.seed ?? 5);
  const folder = join(root, `Task${String(o.id).padStart(2, '0')}_${o.name}`);
  for (const sub of ['imagesTr', 'imagesTs', 'labelsTr']) mkdirSync(join(folder, sub), { recursive: true });
  const geometry: NiftiGeometry = { spacing: [1, 1, 1.5], offset: [10, -20, 30] };
  const cases = Array.from({ length: o.training + o.test }, (_, i) => `${o.name.toLowerCase()}_${String(i).padStart(3, '0')}`);
  cases.forEach((id, i) => {
    const c = [n / 2 + (rnd() - 0.5) * 4, n / 2 + (rnd() - 0.5) * 4, n / 2 + (rnd() - 0.5) * 4];
    const r = n / 4 + rnd() * 2;
    const labels = new Uint8Array(n ** 3);
    const image = new Float32Array(4 * n ** 3);
    for (let z = 0; z < n; z++)
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++) {
          const d = Math.hypot(x - c[0]!, y - c[1]!, z - c[2]!);
          const l = d < r / 2 ? 2 : d < r ? 1 : 0;
          const v = (z * n + y) * n + x;
          labels[v] = l;
          for (let ch = 0; ch < 4; ch++) image[ch * n ** 3 + v] = 100 + 50 * ch * l + (l === 2 && ch === 2 ? 300 : 0) + rnd() * 20;
        }
    const training = i < o.training;
    writeFileSync(join(folder, training ? 'imagesTr' : 'imagesTs', `${id}.nii.gz`), gzipSync(niftiBytes([n, n, n, 4], 16, image, geometry)));
    if (training) writeFileSync(join(folder, 'labelsTr', `${id}.nii.gz`), gzipSync(niftiBytes([n, n, n], 2, labels, geometry)));
  });
  writeFileSync(
    join(folder, 'dataset.json'),
    JSON.stringify(
      {
        name: o.name,
        description: 'synthetic spheres in four MR-like channels',
        tensorImageSize: '4D',
        modality: Object.fromEntries(MSD_CHANNELS.map((m, i) => [String(i), m])),
        labels: { '0': 'background', '1': 'sphere', '2': 'core' },
        numTraining: o.training,
        numTest: o.test,
        training: cases.slice(0, o.training).map((id) => ({ image: `./imagesTr/${id}.nii.gz`, label: `./labelsTr/${id}.nii.gz` })),
        test: cases.slice(o.training).map((id) => `./imagesTs/${id}.nii.gz`),
      },
      null,
      4,
    ),
  );
  return folder;
}

/**
 * Hole filling for a multi-label segmentation (an option of `predict`, not part of nnU-Net's postprocessing).
 *
 * A hole is a connected component of background (label 0, face connectivity, as scipy's
 * binary_fill_holes) that does not touch the image border and whose face neighbours all carry ONE label:
 * it is filled with that label. Background enclosed by two different labels is left alone, so a structure
 * is never grown into another one (a lesion inside an organ stays a lesion; the gap between them stays).
 */
import { labelComponents, type Shape3 } from '../../imaging/connected-components.js';

export function fillEnclosedBackground<T extends Uint8Array | Uint16Array>(seg: T, shape: Shape3): T {
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  if (seg.length !== n) throw new Error(`fill holes: segmentation has ${seg.length} voxels, shape [${shape.join(', ')}] needs ${n}`);
  const background = new Uint8Array(n);
  for (let i = 0; i < n; i++) background[i] = seg[i] === 0 ? 1 : 0;
  const { labels, count } = labelComponents(background, shape, 6);
  if (count === 0) return seg;
  // per component: 0 = no labelled neighbour yet, -1 = touches the border or mixed neighbours, else the label
  const enclosing = new Int32Array(count + 1);
  const sliceStride = ny * nx;
  const twoD = nz === 1; // a single slice is a 2-D image: its z faces are no border
  const see = (k: number, label: number) => {
    const e = enclosing[k];
    if (e === -1) return;
    if (label === 0) return;
    enclosing[k] = e === 0 || e === label ? label : -1;
  };
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const i = (z * ny + y) * nx + x;
        const k = labels[i];
        if (k === 0 || enclosing[k] === -1) continue;
        if ((!twoD && (z === 0 || z === nz - 1)) || y === 0 || y === ny - 1 || x === 0 || x === nx - 1) {
          enclosing[k] = -1;
          continue;
        }
        see(k, seg[i - 1]);
        see(k, seg[i + 1]);
        see(k, seg[i - nx]);
        see(k, seg[i + nx]);
        if (!twoD) {
          see(k, seg[i - sliceStride]);
          see(k, seg[i + sliceStride]);
        }
      }
  let changed = false;
  for (let k = 1; k <= count; k++) if (enclosing[k] > 0) changed = true;
  if (!changed) return seg;
  const out = seg.slice() as T;
  for (let i = 0; i < n; i++) {
    const k = labels[i];
    if (k !== 0 && enclosing[k] > 0) out[i] = enclosing[k];
  }
  return out;
}

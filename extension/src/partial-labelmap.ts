/**
 * Partial results: the server sends slabs of uint8 labels on its series grid, planes ordered by position
 * along the slice normal (row × column cosines, ascending; server/src/dicom/geometry.ts stackGeometry).
 * The viewer keeps one labelmap image per displayed image, in its own order. `serverPlaneOrder` maps server
 * plane k → viewer image index; `writeSlab` copies a slab into the viewer's labelmap pixel arrays.
 */

export interface PlaneGeometry {
  ImagePositionPatient?: readonly number[];
  ImageOrientationPatient?: readonly number[];
}

/** For each server plane k (ascending along the normal), the index of the viewer image showing it. */
export function serverPlaneOrder(images: readonly PlaneGeometry[]): number[] {
  if (images.length === 0) return [];
  const iop = images.find((i) => i.ImageOrientationPatient?.length === 6)?.ImageOrientationPatient;
  if (!iop) throw new Error('the displayed images have no ImageOrientationPatient: cannot place partial results');
  const n = [iop[1] * iop[5] - iop[2] * iop[4], iop[2] * iop[3] - iop[0] * iop[5], iop[0] * iop[4] - iop[1] * iop[3]];
  const d = images.map((img, i) => {
    const p = img.ImagePositionPatient;
    if (!p || p.length !== 3) throw new Error(`displayed image ${i} has no ImagePositionPatient: cannot place partial results`);
    return p[0] * n[0] + p[1] * n[1] + p[2] * n[2];
  });
  return d.map((_, i) => i).sort((a, b) => d[a] - d[b]);
}

/**
 * Copies slab planes [z0, z0+nz) into `planes[order[k]]` (each a ny·nx pixel array, x fastest). Returns
 * the viewer image indices written. Throws when the slab does not fit the viewer's grid.
 */
export function writeSlab(
  planes: readonly { [i: number]: number; length: number }[],
  order: readonly number[],
  slab: { z0: number; shape: readonly [number, number, number]; labels: Uint8Array },
): number[] {
  const [nz, ny, nx] = slab.shape;
  const plane = ny * nx;
  if (slab.labels.length !== nz * plane) throw new Error(`partial slab holds ${slab.labels.length} bytes, its shape ${slab.shape.join('×')} needs ${nz * plane}`);
  if (slab.z0 + nz > order.length) throw new Error(`partial slab planes ${slab.z0}…${slab.z0 + nz - 1} exceed the ${order.length} displayed images`);
  const written: number[] = [];
  for (let k = 0; k < nz; k++) {
    const target = planes[order[slab.z0 + k]];
    if (!target || target.length !== plane) throw new Error(`labelmap image for plane ${slab.z0 + k} has ${target?.length ?? 0} pixels, the slab has ${plane} per plane`);
    const src = slab.labels.subarray(k * plane, (k + 1) * plane);
    if (ArrayBuffer.isView(target) && typeof (target as unknown as Uint8Array).set === 'function') (target as unknown as Uint8Array).set(src);
    else for (let i = 0; i < plane; i++) target[i] = src[i];
    written.push(order[slab.z0 + k]);
  }
  return written;
}

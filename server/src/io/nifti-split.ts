/**
 * Splitting a 4D NIfTI-1 file (x, y, z, channel) into one 3D file per channel, as nnU-Net's
 * convert_MSD_dataset.split_4d_nifti does for the Medical Segmentation Decathlon. Done on the bytes: the 3D
 * files keep the 4D file's header (datatype, scaling, qform and sform, so the geometry of the first three axes
 * is exactly the source's) with dim[0] = 3, and each takes its channel's block of voxels. A file is untrusted:
 * sizes and offsets are checked against the bytes present before anything is written.
 */
import { readFileSync } from 'node:fs';
import { Gunzip, gzipSync } from 'fflate';
import { writeFileAtomic } from '../formats/atomic-file.js';

const HEADER_BYTES = 348;
/** NIfTI-1 single-file data offset with an empty extension block */
const DATA_OFFSET = 352;
const MAX_DIM = 1 << 16;

export interface NiftiLayout {
  /** dim[1..4]: x, y, z, channels (1 for a 3D file) */
  dims: [number, number, number, number];
  bytesPerVoxel: number;
  voxOffset: number;
}

/** Reads the NIfTI-1 layout of an (ungzipped) file; refuses what it cannot split safely, naming why. */
export function niftiLayout(bytes: Uint8Array, source: string): NiftiLayout {
  if (bytes.length < HEADER_BYTES) throw new Error(`${source}: ${bytes.length} bytes, too short for a NIfTI-1 header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getInt32(0, true) !== HEADER_BYTES)
    throw new Error(`${source}: not a little-endian NIfTI-1 file (sizeof_hdr ${view.getInt32(0, true)}, big-endian and NIfTI-2 are not supported)`);
  const magic = String.fromCharCode(...bytes.subarray(344, 347));
  if (magic !== 'n+1') throw new Error(`${source}: NIfTI magic "${magic}" is not the single-file "n+1"`);
  const rank = view.getInt16(40, true);
  if (rank < 3 || rank > 4) throw new Error(`${source}: ${rank} dimensions; only 3D and 4D (channels last) files are split`);
  const dims = [1, 2, 3, 4].map((i) => (i <= rank ? view.getInt16(40 + 2 * i, true) : 1)) as NiftiLayout['dims'];
  if (dims.some((d) => d < 1 || d > MAX_DIM)) throw new Error(`${source}: dimensions [${dims.join(', ')}] out of range`);
  for (let i = rank + 1; i <= 7; i++)
    if (view.getInt16(40 + 2 * i, true) > 1) throw new Error(`${source}: dim[${i}] = ${view.getInt16(40 + 2 * i, true)} beyond dim[0] = ${rank}`);
  const bitpix = view.getInt16(72, true);
  if (bitpix % 8 !== 0 || bitpix < 8 || bitpix > 128) throw new Error(`${source}: bitpix ${bitpix} is not a whole number of bytes`);
  const voxOffset = Math.round(view.getFloat32(108, true));
  if (!(voxOffset >= DATA_OFFSET && voxOffset <= bytes.length)) throw new Error(`${source}: vox_offset ${view.getFloat32(108, true)} is outside the file`);
  const layout: NiftiLayout = { dims, bytesPerVoxel: bitpix / 8, voxOffset };
  const needed = voxOffset + dims.reduce((a, b) => a * b, 1) * layout.bytesPerVoxel;
  if (needed > bytes.length) throw new Error(`${source}: the header declares ${needed} bytes, the file has ${bytes.length} (truncated)`);
  return layout;
}

/** The 3D NIfTI-1 file of channel `c` of a 4D file (its header with dim[0] = 3, dim[4] = 1, no extensions). */
export function niftiChannel(bytes: Uint8Array, layout: NiftiLayout, c: number): Uint8Array {
  const [x, y, z] = layout.dims;
  const block = x * y * z * layout.bytesPerVoxel;
  const out = new Uint8Array(DATA_OFFSET + block);
  out.set(bytes.subarray(0, HEADER_BYTES));
  const view = new DataView(out.buffer);
  view.setInt16(40, 3, true);
  view.setInt16(48, 1, true);
  view.setFloat32(108, DATA_OFFSET, true);
  // extension flag bytes 348..351 stay zero: no extensions
  out.set(bytes.subarray(layout.voxOffset + c * block, layout.voxOffset + (c + 1) * block), DATA_OFFSET);
  return out;
}

const isGz = (b: Uint8Array) => b.length > 2 && b[0] === 0x1f && b[1] === 0x8b;

/** Largest decompressed file split (an MSD 4D volume is well under 1 GiB; a gzip bomb is not). */
export const MAX_NIFTI_BYTES = 4 * 2 ** 30;

/** gunzip that stops at `maxBytes` instead of allocating whatever the stream expands to. */
function gunzipBounded(gz: Uint8Array, maxBytes: number, source: string): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const g = new Gunzip((chunk) => {
    total += chunk.length;
    if (total > maxBytes) throw new Error(`${source}: expands to more than ${maxBytes} bytes; refused`);
    chunks.push(chunk);
  });
  for (let off = 0; off < gz.length; off += 1 << 20) g.push(gz.subarray(off, Math.min(gz.length, off + (1 << 20))), off + (1 << 20) >= gz.length);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * split_4d_nifti: `<base>.nii.gz` → `<outputFolder>/<base>_0000.nii.gz`, `_0001`, … (a 3D file is copied as
 * `_0000`). Returns the files written.
 */
export function splitNifti4d(file: string, outputFolder: string, base: string): string[] {
  const raw = new Uint8Array(readFileSync(file));
  const bytes = isGz(raw) ? gunzipBounded(raw, MAX_NIFTI_BYTES, file) : raw;
  const layout = niftiLayout(bytes, file);
  const written: string[] = [];
  for (let c = 0; c < layout.dims[3]; c++) {
    const path = `${outputFolder}/${base}_${String(c).padStart(4, '0')}.nii.gz`;
    writeFileAtomic(path, layout.dims[3] === 1 && isGz(raw) ? raw : gzipSync(niftiChannel(bytes, layout, c), { level: 6 }));
    written.push(path);
  }
  return written;
}

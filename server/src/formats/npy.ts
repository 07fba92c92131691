/**
 * NumPy's NPY format (version 1.0 written; 1.0–3.0 read), little-endian, C order: the header is parsed from
 * the first bytes and the array is one read into an aligned buffer (no decoding), or a slab of slices.
 * Written to a temporary name and renamed, so a crashed writer leaves no half array behind.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { writeAll, writeFileAtomicWith } from './atomic-file.js';

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

export type NpyArray = Float32Array | Int8Array | Int16Array | Uint8Array | Int32Array;
const DTYPES: Record<string, { ctor: new (b: ArrayBuffer, o: number, n: number) => NpyArray; size: number }> = {
  '<f4': { ctor: Float32Array, size: 4 },
  '|i1': { ctor: Int8Array, size: 1 },
  '<i2': { ctor: Int16Array, size: 2 },
  '|u1': { ctor: Uint8Array, size: 1 },
  '<i4': { ctor: Int32Array, size: 4 },
};

function dtypeOf(a: NpyArray): string {
  if (a instanceof Float32Array) return '<f4';
  if (a instanceof Int8Array) return '|i1';
  if (a instanceof Int16Array) return '<i2';
  if (a instanceof Uint8Array) return '|u1';
  return '<i4';
}

function assertLittleEndian(): void {
  if (endianness() !== 'LE') throw new Error('NPY I/O: big-endian hosts are not supported');
}

/** The NPY 1.0 header (magic, version, length, dict) padded with spaces so the data starts 64-aligned, as numpy does. */
export function npyHeader(dtype: string, shape: readonly number[]): Buffer {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // numpy leaves room for the first axis to grow to 21 digits (GROWTH_AXIS_MAX_DIGITS), then aligns to 64
  const growth = Math.max(0, 21 - String(shape[0] ?? '').length);
  const unpadded = 10 + dict.length + growth + 1;
  const total = Math.ceil(unpadded / 64) * 64;
  if (total - 10 > 0xffff) throw new Error('NPY header too long');
  const h = Buffer.alloc(total, 0x20);
  NPY_MAGIC.copy(h, 0);
  h[6] = 1;
  h[7] = 0;
  h.writeUInt16LE(total - 10, 8);
  h.write(dict, 10, 'latin1');
  h[total - 1] = 0x0a;
  return h;
}

export function writeNpy(path: string, array: NpyArray, shape: readonly number[]): void {
  assertLittleEndian();
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== array.length) throw new Error(`${path}: array has ${array.length} values, shape [${shape.join(', ')}] needs ${n}`);
  writeFileAtomicWith(path, (fd) => {
    writeAll(fd, npyHeader(dtypeOf(array), shape));
    writeAll(fd, new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  });
}

export interface NpyInfo {
  dtype: string;
  shape: number[];
  /** byte offset of the first element */
  dataOffset: number;
}

/** Parses the header of an open NPY file (little-endian, C order, the dtypes above). */
function readNpyInfo(fd: number, path: string): NpyInfo {
  const pre = Buffer.alloc(12);
  readSync(fd, pre, 0, 12, 0);
  if (!pre.subarray(0, 6).equals(NPY_MAGIC)) throw new Error(`${path}: not an NPY file (bad magic)`);
  const major = pre[6];
  let hlen: number;
  let start: number;
  if (major === 1) {
    hlen = pre.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    hlen = pre.readUInt32LE(8);
    start = 12;
  } else throw new Error(`${path}: NPY version ${major} is not supported`);
  const hb = Buffer.alloc(hlen);
  readSync(fd, hb, 0, hlen, start);
  const header = hb.toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined) throw new Error(`${path}: unreadable NPY header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw new Error(`${path}: Fortran-ordered NPY arrays are not supported`);
  if (!DTYPES[descr]) throw new Error(`${path}: NPY dtype ${descr} is not supported (supported: ${Object.keys(DTYPES).join(', ')})`);
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  return { dtype: descr, shape, dataOffset: start + hlen };
}

export function readNpyHeader(path: string): NpyInfo {
  const fd = openSync(path, 'r');
  try {
    return readNpyInfo(fd, path);
  } finally {
    closeSync(fd);
  }
}

function readInto(fd: number, view: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < view.length) {
    const r = readSync(fd, view, done, Math.min(view.length - done, 1 << 30), position + done);
    if (r === 0) throw new Error(`${path}: file ends before the array does (truncated NPY)`);
    done += r;
  }
}

/** Reads a whole NPY array with one read into a fresh buffer. */
export function readNpy(path: string): { data: NpyArray; shape: number[]; dtype: string } {
  assertLittleEndian();
  const fd = openSync(path, 'r');
  try {
    const info = readNpyInfo(fd, path);
    const { ctor, size } = DTYPES[info.dtype];
    const n = info.shape.reduce((a, b) => a * b, 1);
    const size0 = fstatSync(fd).size;
    if (size0 < info.dataOffset + n * size) throw new Error(`${path}: ${size0} bytes, shape [${info.shape.join(', ')}] needs ${info.dataOffset + n * size}`);
    const buf = new ArrayBuffer(n * size);
    readInto(fd, new Uint8Array(buf), info.dataOffset, path);
    return { data: new ctor(buf, 0, n), shape: info.shape, dtype: info.dtype };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads slices [z0, z1) of every channel of a (c, z, y, x) NPY array (c reads, no full load): what a
 * patch loader needs for a patch spanning those slices.
 */
export function readNpySlab(path: string, z0: number, z1: number): { data: NpyArray; shape: number[] } {
  assertLittleEndian();
  const fd = openSync(path, 'r');
  try {
    const info = readNpyInfo(fd, path);
    if (info.shape.length !== 4) throw new Error(`${path}: expected a (c, z, y, x) array, shape is [${info.shape.join(', ')}]`);
    const [c, nz, ny, nx] = info.shape;
    if (!(Number.isInteger(z0) && Number.isInteger(z1) && z0 >= 0 && z1 <= nz && z0 < z1))
      throw new Error(`${path}: slab [${z0}, ${z1}) is outside z = [0, ${nz})`);
    const { ctor, size } = DTYPES[info.dtype];
    const plane = ny * nx;
    const per = (z1 - z0) * plane;
    const buf = new ArrayBuffer(c * per * size);
    for (let ch = 0; ch < c; ch++) {
      const pos = info.dataOffset + ((ch * nz + z0) * plane) * size;
      readInto(fd, new Uint8Array(buf, ch * per * size, per * size), pos, path);
    }
    return { data: new ctor(buf, 0, c * per), shape: [c, z1 - z0, ny, nx] };
  } finally {
    closeSync(fd);
  }
}

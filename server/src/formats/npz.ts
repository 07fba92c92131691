/**
 * NPZ files as `np.savez_compressed` writes and `np.load` reads them: a zip of `<name>.npy` members.
 * nnU-Net stores exported probabilities this way (`<case>.npz` with key `probabilities`, (c, z, y, x) float32).
 *
 * The writer streams: an array is appended in pieces (one class channel at a time), so a probability map
 * never has to exist whole in memory to be saved.
 */
import { closeSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { Zip, ZipDeflate, unzipSync } from 'fflate';
import { halfToFloat } from './pickle.js';
import { npyHeader } from './npy.js';

export class NpzWriter {
  private readonly fd: number;
  private readonly zip: Zip;
  private member: ZipDeflate | null = null;
  private remaining = 0;
  private memberName = '';
  private failure: Error | null = null;

  /** Written to `<path>.tmp-<pid>` and renamed on `close`, so a crash never leaves a half file under `path`. */
  constructor(
    readonly path: string,
    private readonly level: 0 | 1 | 6 | 9 = 1,
  ) {
    this.fd = openSync(this.tmpPath, 'w');
    this.zip = new Zip((err, chunk) => {
      if (err) this.failure = err;
      else if (chunk.length) {
        let done = 0;
        while (done < chunk.length) done += writeSync(this.fd, chunk, done);
      }
    });
  }

  private get tmpPath(): string {
    return `${this.path}.tmp-${process.pid}`;
  }

  /** Starts member `name` (stored as `name.npy`) of float32 values with the given C-order shape. */
  beginFloat32(name: string, shape: readonly number[]): void {
    if (this.member) throw new Error(`${this.path}: member ${this.memberName} is not complete (${this.remaining} values missing)`);
    this.member = new ZipDeflate(`${name}.npy`, { level: this.level });
    this.zip.add(this.member);
    this.memberName = name;
    this.remaining = shape.reduce((a, b) => a * b, 1);
    this.member.push(new Uint8Array(npyHeader('<f4', shape)), this.remaining === 0);
    if (this.remaining === 0) this.member = null;
    this.check();
  }

  /** Appends the next values of the current member in C order. */
  append(values: Float32Array): void {
    if (!this.member) throw new Error(`${this.path}: no member started`);
    if (values.length > this.remaining)
      throw new Error(`${this.path}: member ${this.memberName} gets ${values.length} values, only ${this.remaining} remain`);
    this.remaining -= values.length;
    // copy: fflate may keep the chunk until it is compressed
    this.member.push(new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)), this.remaining === 0);
    if (this.remaining === 0) this.member = null;
    this.check();
  }

  close(): void {
    try {
      if (this.member) throw new Error(`${this.path}: member ${this.memberName} is not complete (${this.remaining} values missing)`);
      this.zip.end();
      this.check();
    } finally {
      closeSync(this.fd);
    }
    renameSync(this.tmpPath, this.path);
  }

  private check(): void {
    if (this.failure) throw new Error(`${this.path}: ${this.failure.message}`);
  }
}

export interface NpyFloatArray {
  data: Float32Array;
  shape: number[];
}

/**
 * Reads every float32/float16/float64 member of an .npz into Float32Arrays, keyed by name without `.npy`;
 * small integer members (int8/uint8/int16, e.g. nnU-Net's preprocessed `seg`) are read exactly too.
 */
export function readNpz(path: string): Map<string, NpyFloatArray> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(new Uint8Array(readFileSync(path)));
  } catch (e) {
    throw new Error(`${path}: not a readable .npz (zip) file: ${(e as Error).message}`);
  }
  const out = new Map<string, NpyFloatArray>();
  for (const [member, bytes] of Object.entries(files)) {
    if (!member.endsWith('.npy')) continue;
    out.set(member.slice(0, -4), parseFloatNpy(bytes, `${path}:${member}`));
  }
  return out;
}

function parseFloatNpy(bytes: Uint8Array, where: string): NpyFloatArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) throw new Error(`${where}: not an NPY array`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const [hlen, start] = major === 1 ? [dv.getUint16(8, true), 10] : [dv.getUint32(8, true), 12];
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined) throw new Error(`${where}: unreadable NPY header`);
  if (fortran === 'True') throw new Error(`${where}: Fortran-ordered arrays are not supported`);
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const body = bytes.subarray(start + hlen);
  const width = ({ '<f4': 4, '<f2': 2, '<f8': 8, '|i1': 1, '|u1': 1, '<i2': 2 } as Record<string, number>)[descr];
  if (!width) throw new Error(`${where}: dtype ${descr} is not a little-endian float or small integer (<f2, <f4, <f8, |i1, |u1, <i2)`);
  if (body.length < n * width) throw new Error(`${where}: truncated (${body.length} bytes for ${n} values of ${descr})`);
  const data = new Float32Array(n);
  const bv = new DataView(body.buffer, body.byteOffset, n * width);
  if (descr === '|i1') for (let i = 0; i < n; i++) data[i] = bv.getInt8(i);
  else if (descr === '|u1') for (let i = 0; i < n; i++) data[i] = bv.getUint8(i);
  else if (descr === '<i2') for (let i = 0; i < n; i++) data[i] = bv.getInt16(i * 2, true);
  else if (width === 4) for (let i = 0; i < n; i++) data[i] = bv.getFloat32(i * 4, true);
  else if (width === 8) for (let i = 0; i < n; i++) data[i] = bv.getFloat64(i * 8, true);
  else for (let i = 0; i < n; i++) data[i] = halfToFloat(bv.getUint16(i * 2, true));
  return { data, shape };
}


/**
 * Materialize a torch tensor view (storage bytes + offset/shape/stride) as a contiguous Float32Array.
 * Handles every storage dtype (float16/bfloat16 widened, integers converted) and non-contiguous strides.
 */
import { DTYPE_BYTES, halfToFloat, type TorchTensorRef } from '../../formats/pickle.js';

export interface Float32Tensor {
  shape: number[];
  data: Float32Array;
}

/** Element reader over storage bytes, by element index. */
function elementReader(t: TorchTensorRef, bytes: Uint8Array, littleEndian: boolean): (i: number) => number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = littleEndian;
  switch (t.storage.dtype) {
    case 'float32':
      return (i) => dv.getFloat32(i * 4, le);
    case 'float64':
      return (i) => dv.getFloat64(i * 8, le);
    case 'float16':
      return (i) => halfToFloat(dv.getUint16(i * 2, le));
    case 'bfloat16': {
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      return (i) => {
        u[0] = dv.getUint16(i * 2, le) << 16;
        return f[0]!;
      };
    }
    case 'int64':
      return (i) => Number(dv.getBigInt64(i * 8, le));
    case 'int32':
      return (i) => dv.getInt32(i * 4, le);
    case 'int16':
      return (i) => dv.getInt16(i * 2, le);
    case 'int8':
      return (i) => dv.getInt8(i);
    case 'uint8':
    case 'bool':
      return (i) => dv.getUint8(i);
  }
}

/** `storageBytes` = the zip entry `data/<key>`; `name` only for error messages. */
export function materializeTensor(t: TorchTensorRef, storageBytes: Uint8Array, name: string, littleEndian = true): Float32Tensor {
  const esize = DTYPE_BYTES[t.storage.dtype];
  const nStorage = Math.floor(storageBytes.byteLength / esize);
  const shape = t.shape;
  const numel = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(numel);
  if (numel === 0) return { shape, data: out };
  if (shape.some((d) => d < 0) || t.stride.some((s) => s < 0) || t.storageOffset < 0)
    throw new Error(`tensor ${name}: negative size, stride or offset`);
  let maxIndex = t.storageOffset;
  shape.forEach((d, a) => (maxIndex += (d - 1) * t.stride[a]!));
  if (maxIndex >= nStorage)
    throw new Error(`tensor ${name}: view reaches element ${maxIndex} but storage ${t.storage.key} holds ${nStorage}`);

  // contiguous float32 little-endian on a little-endian host: one copy
  let contiguous = true;
  for (let a = shape.length - 1, expect = 1; a >= 0; a--) {
    if (shape[a] !== 1 && t.stride[a] !== expect) contiguous = false;
    expect *= shape[a]!;
  }
  if (contiguous && t.storage.dtype === 'float32' && littleEndian) {
    const start = storageBytes.byteOffset + t.storageOffset * 4;
    out.set(new Float32Array(storageBytes.buffer.slice(start, start + numel * 4)));
    return { shape, data: out };
  }
  const read = elementReader(t, storageBytes, littleEndian);
  if (contiguous) {
    for (let i = 0; i < numel; i++) out[i] = read(t.storageOffset + i);
    return { shape, data: out };
  }
  // general strided gather, odometer over the index
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let src = t.storageOffset;
  for (let i = 0; i < numel; i++) {
    out[i] = read(src);
    for (let a = nd - 1; a >= 0; a--) {
      idx[a]!++;
      src += t.stride[a]!;
      if (idx[a]! < shape[a]!) break;
      src -= shape[a]! * t.stride[a]!;
      idx[a] = 0;
    }
  }
  return { shape, data: out };
}

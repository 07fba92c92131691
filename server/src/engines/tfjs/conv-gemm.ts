/**
 * Convolutions as im2col + GEMM for the wasm backend. Measured on this machine (one core, 2×32³ voxels,
 * 16→16 channels, 3×3×3): wasm's `Conv3D` kernel runs 0.32 GFLOP/s, its `MatMul` 17.8 GFLOP/s. Building
 * the column matrix with tfjs ops (27 slices + concat) costs more than the conv itself, so the gather and
 * scatter run in plain loops over Float32Arrays and only the products go through `tf.matMul`.
 *
 * Every op carries its own gradient (forward and backward are GEMMs against the same column layout), so
 * none of wasm's wrong Conv3DBackprop kernels is involved. Rows of the column matrix are output voxels
 * (b, oz, oy, ox); columns are (kz, ky, kx, ci) — the row-major order of a [kz, ky, kx, ci, co] filter, which
 * is therefore used as a [K, co] matrix without copying. Rows are processed in chunks so that the column
 * matrix never exceeds `CHUNK_FLOATS`.
 */
import * as tf from '@tensorflow/tfjs';

type T5 = tf.Tensor5D;
type V3 = [number, number, number];

/** Largest column-matrix chunk, in floats (32 MiB). */
const CHUNK_FLOATS = 1 << 23;

/** Geometry of one convolution over an NDHWC input. */
interface ConvGeometry {
  batch: number;
  inSize: V3;
  channels: number;
  kernel: V3;
  stride: V3;
  padding: V3;
  outSize: V3;
}

function geometry(xShape: number[], kernel: V3, stride: V3, padding: V3): ConvGeometry {
  const inSize = [xShape[1]!, xShape[2]!, xShape[3]!] as V3;
  const outSize = inSize.map((n, a) => Math.floor((n + 2 * padding[a]! - kernel[a]!) / stride[a]!) + 1) as V3;
  if (outSize.some((n) => n < 1)) throw new Error(`conv3d: input [${inSize.join(', ')}] is smaller than kernel [${kernel.join(', ')}]`);
  return { batch: xShape[0]!, inSize, channels: xShape[4]!, kernel, stride, padding, outSize };
}

/**
 * Walk output rows [r0, r0 + n) and, for every kernel row (kz, ky) that lies inside the input, call
 * `visit(row, column, inOffset, length)` (row relative to r0) with the contiguous run of kx·C floats that
 * overlaps the input. Positions outside the input (the zero padding) are never visited.
 */
function forEachRun(g: ConvGeometry, r0: number, n: number, visit: (row: number, col: number, input: number, len: number) => void): void {
  const [Z, Y, X] = g.inSize;
  const [OZ, OY, OX] = g.outSize;
  const [KZ, KY, KX] = g.kernel;
  const C = g.channels;
  let ox = r0 % OX;
  let oy = Math.floor(r0 / OX) % OY;
  let oz = Math.floor(r0 / (OX * OY)) % OZ;
  let b = Math.floor(r0 / (OX * OY * OZ));
  for (let r = 0; r < n; r++) {
    const x0 = ox * g.stride[2] - g.padding[2];
    const kx0 = Math.max(0, -x0);
    const kx1 = Math.min(KX, X - x0);
    if (kx1 > kx0) {
      for (let kz = 0; kz < KZ; kz++) {
        const iz = oz * g.stride[0] - g.padding[0] + kz;
        if (iz < 0 || iz >= Z) continue;
        for (let ky = 0; ky < KY; ky++) {
          const iy = oy * g.stride[1] - g.padding[1] + ky;
          if (iy < 0 || iy >= Y) continue;
          visit(r, ((kz * KY + ky) * KX + kx0) * C, (((b * Z + iz) * Y + iy) * X + x0 + kx0) * C, (kx1 - kx0) * C);
        }
      }
    }
    if (++ox === OX) {
      ox = 0;
      if (++oy === OY) {
        oy = 0;
        if (++oz === OZ) {
          oz = 0;
          b++;
        }
      }
    }
  }
}

/** Column matrix [n, K] of rows [r0, r0 + n) into `cols` (zeroed first: padding positions stay 0). */
function im2col(x: Float32Array, g: ConvGeometry, k: number, r0: number, n: number, cols: Float32Array): void {
  cols.fill(0);
  forEachRun(g, r0, n, (r, c, i, len) => {
    const o = r * k + c;
    for (let j = 0; j < len; j++) cols[o + j] = x[i + j]!;
  });
}

/**
 * The same column matrix transposed, [K, n]: wasm's MatMul is ~15× slower with transposeA than on an
 * explicitly transposed operand, and the filter gradient is colsᵀ · dy.
 */
function im2colTransposed(x: Float32Array, g: ConvGeometry, r0: number, n: number, cols: Float32Array): void {
  cols.fill(0);
  forEachRun(g, r0, n, (r, c, i, len) => {
    for (let j = 0; j < len; j++) cols[(c + j) * n + r] = x[i + j]!;
  });
}

/** Scatter-add a column-matrix gradient [n, K] of rows [r0, r0 + n) back onto the input gradient. */
function col2imAdd(cols: Float32Array, g: ConvGeometry, k: number, r0: number, n: number, dx: Float32Array): void {
  forEachRun(g, r0, n, (r, c, i, len) => {
    const o = r * k + c;
    for (let j = 0; j < len; j++) dx[i + j]! += cols[o + j]!;
  });
}

function chunkRows(rows: number, k: number): number {
  return Math.max(1, Math.min(rows, Math.floor(CHUNK_FLOATS / k)));
}

const convCache = new Map<string, (x: tf.Tensor, f: tf.Tensor) => tf.Tensor>();

/** PyTorch Conv3d (zero padding, stride) on NDHWC by im2col + GEMM; filter [kz, ky, kx, ci, co]. */
export function conv3dGemm(x: T5, filter: tf.Tensor5D, stride: V3, padding: V3): T5 {
  const [kz, ky, kx, ci, co] = filter.shape;
  if (ci !== x.shape[4]) throw new Error(`conv3d: input has ${x.shape[4]} channels, filter expects ${ci}`);
  // a 1×1×1 conv without stride or padding is already a GEMM over voxels: plain ops, tfjs's own gradient
  if (kz * ky * kx === 1 && stride.every((s) => s === 1) && padding.every((p) => p === 0)) {
    const y = tf.matMul(tf.reshape(x, [-1, ci]), tf.reshape(filter, [ci, co]));
    const [b, z, yy, xx] = x.shape;
    return tf.reshape(y, [b, z, yy, xx, co]);
  }
  const key = `${stride.join(',')}|${padding.join(',')}`;
  let fn = convCache.get(key);
  if (!fn) convCache.set(key, (fn = makeConv3dGemm(stride, padding)));
  return fn(x, filter) as T5;
}

function makeConv3dGemm(stride: V3, padding: V3): (x: tf.Tensor, f: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as T5;
    const f = args[1] as tf.Tensor5D;
    const save = args[2] as tf.GradSaveFunc;
    const [KZ, KY, KX, , CO] = f.shape;
    const g = geometry(x.shape, [KZ, KY, KX], stride, padding);
    const K = KZ * KY * KX * g.channels;
    const rows = g.batch * g.outSize[0] * g.outSize[1] * g.outSize[2];
    const xData = x.dataSync() as Float32Array;
    const w = tf.reshape(f, [K, CO]);
    const step = chunkRows(rows, K);
    const cols = new Float32Array(step * K);
    const parts: tf.Tensor[] = [];
    for (let r0 = 0; r0 < rows; r0 += step) {
      const n = Math.min(step, rows - r0);
      const c = cols.subarray(0, n * K);
      im2col(xData, g, K, r0, n, c);
      parts.push(tf.tidy(() => tf.matMul(tf.tensor2d(c, [n, K]), w)));
    }
    const y = parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
    const value = tf.reshape(y, [g.batch, ...g.outSize, CO]) as T5;
    tf.dispose([w, ...parts, y]);
    save([x, f]);
    return {
      value,
      gradFunc: (dy: T5, saved: tf.Tensor[]) => {
        const [sx, sf] = saved as [T5, tf.Tensor5D];
        const sxData = sx.dataSync() as Float32Array;
        const dx = new Float32Array(sxData.length);
        // explicit transposes: wasm's MatMul with transposeA/B is ~10× slower
        const wT = tf.tidy(() => tf.transpose(tf.reshape(sf, [K, CO])));
        const dy2 = tf.reshape(dy, [rows, CO]);
        let dw = tf.zeros([K, CO]);
        for (let r0 = 0; r0 < rows; r0 += step) {
          const n = Math.min(step, rows - r0);
          const c = cols.subarray(0, n * K);
          im2colTransposed(sxData, g, r0, n, c);
          const [nextDw, dCols] = tf.tidy(() => {
            const dyChunk = rows === n ? dy2 : tf.slice(dy2, [r0, 0], [n, CO]);
            return [tf.add(dw, tf.matMul(tf.tensor2d(c, [K, n]), dyChunk)), tf.matMul(dyChunk, wT)];
          });
          dw.dispose();
          dw = nextDw!;
          col2imAdd(dCols!.dataSync() as Float32Array, g, K, r0, n, dx);
          dCols!.dispose();
        }
        const df = tf.reshape(dw, sf.shape);
        tf.dispose([wT, dy2, dw]);
        return [tf.tensor(dx, sx.shape), df];
      },
    };
  }) as (x: tf.Tensor, f: tf.Tensor) => tf.Tensor;
}

/**
 * Copy between a transposed conv's product matrix [voxel, (kz, ky, kx, co)] and its NDHWC output
 * (kernel = stride: every output voxel comes from exactly one input voxel and one kernel offset).
 * `toOutput` true scatters product → output, false gathers output → product.
 */
function shuffleTransposed(product: Float32Array, out: Float32Array, inShape: number[], k: V3, co: number, toOutput: boolean): void {
  const [B, Z, Y, X] = inShape as [number, number, number, number];
  const [KZ, KY, KX] = k;
  const OY = Y * KY;
  const OX = X * KX;
  const run = KX * co; // contiguous along x in both layouts
  let p = 0;
  for (let b = 0; b < B; b++)
    for (let z = 0; z < Z; z++)
      for (let y = 0; y < Y; y++)
        for (let x = 0; x < X; x++)
          for (let a = 0; a < KZ; a++)
            for (let c = 0; c < KY; c++) {
              const o = (((b * Z * KZ + z * KZ + a) * OY + y * KY + c) * OX + x * KX) * co;
              if (toOutput) for (let i = 0; i < run; i++) out[o + i] = product[p + i]!;
              else for (let i = 0; i < run; i++) product[p + i] = out[o + i]!;
              p += run;
            }
}

const transposeCache = new Map<string, (x: tf.Tensor, f: tf.Tensor) => tf.Tensor>();

/**
 * PyTorch ConvTranspose3d with kernel = stride on NDHWC by GEMM: product = x[voxel, ci] · W[ci, (k, co)],
 * then each row is scattered to its kz·ky·kx output voxels. Filter layout [kz, ky, kx, co, ci] as
 * tfjs's conv3dTranspose.
 */
export function convTranspose3dGemm(x: T5, filter: tf.Tensor5D, stride: V3): T5 {
  const key = stride.join(',');
  let fn = transposeCache.get(key);
  if (!fn) transposeCache.set(key, (fn = makeConvTranspose3dGemm(stride)));
  return fn(x, filter) as T5;
}

function makeConvTranspose3dGemm(stride: V3): (x: tf.Tensor, f: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as T5;
    const f = args[1] as tf.Tensor5D;
    const save = args[2] as tf.GradSaveFunc;
    const [KZ, KY, KX, CO, CI] = f.shape;
    if (CI !== x.shape[4]) throw new Error(`convTranspose3d: input has ${x.shape[4]} channels, filter expects ${CI}`);
    if (KZ !== stride[0] || KY !== stride[1] || KX !== stride[2])
      throw new Error(`convTranspose3d: kernel [${KZ}, ${KY}, ${KX}] must equal stride [${stride.join(', ')}]`);
    const k: V3 = [KZ, KY, KX];
    const cols = KZ * KY * KX * CO;
    const outShape: [number, number, number, number, number] = [x.shape[0], x.shape[1] * KZ, x.shape[2] * KY, x.shape[3] * KX, CO];
    // [kz, ky, kx, co, ci] → [ci, (kz, ky, kx, co)]
    const w = tf.tidy(() => tf.reshape(tf.transpose(f, [4, 0, 1, 2, 3]), [CI, cols]));
    const product = tf.matMul(tf.reshape(x, [-1, CI]), w);
    const out = new Float32Array(product.size);
    shuffleTransposed(product.dataSync() as Float32Array, out, x.shape, k, CO, true);
    tf.dispose([w, product]);
    save([x, f]);
    return {
      value: tf.tensor5d(out, outShape),
      gradFunc: (dy: T5, saved: tf.Tensor[]) => {
        const [sx, sf] = saved as [T5, tf.Tensor5D];
        const gathered = new Float32Array(dy.size);
        shuffleTransposed(gathered, dy.dataSync() as Float32Array, sx.shape, k, CO, false);
        return tf.tidy(() => {
          const dProduct = tf.tensor2d(gathered, [gathered.length / cols, cols]);
          const x2 = tf.reshape(sx, [-1, CI]);
          // explicit transposes: wasm's MatMul with transposeA/B is ~10× slower
          const wT = tf.transpose(tf.reshape(tf.transpose(sf, [4, 0, 1, 2, 3]), [CI, cols]));
          const dx = tf.reshape(tf.matMul(dProduct, wT), sx.shape);
          const dw = tf.matMul(tf.transpose(x2), dProduct); // [ci, (k, co)]
          const df = tf.transpose(tf.reshape(dw, [CI, KZ, KY, KX, CO]), [1, 2, 3, 4, 0]);
          return [dx, df];
        });
      },
    };
  }) as (x: tf.Tensor, f: tf.Tensor) => tf.Tensor;
}

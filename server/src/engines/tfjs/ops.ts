/**
 * Differentiable building blocks of the nnU-Net U-Net on TensorFlow.js, in channels-last 5-D layout
 * [batch, z, y, x, channels]. 2-D networks run as 3-D with a singleton z axis (kernel and stride 1 along
 * z): the wasm backend has no Conv2DBackpropFilter kernel, while every Conv3D kernel exists.
 *
 * Gaps filled here (DESIGN.md §3):
 *  - conv3dTranspose has no gradient (Conv3DBackpropInputV2) in cpu/wasm, and on wasm the
 *    Conv3DBackprop{Input,Filter}V2 kernels compute wrong values for stride > 1 (measured: zeros in most
 *    positions), which also breaks tf.conv3d's own gradients of strided convs there → strided `conv3d` and
 *    `convTranspose3d` carry custom gradients that only use stride-1 kernels on zero-dilated tensors;
 *    all are checked against finite differences.
 *  - PyTorch pads (k-1)//2 on both sides; TF's 'same' pads asymmetrically when stride > 1, so strided
 *    convs get an explicit tf.pad and 'valid'.
 *  - log-softmax has no kernel in wasm → x - logsumexp(x).
 */
import * as tf from '@tensorflow/tfjs';
import { conv3dGemm, convTranspose3dGemm } from './conv-gemm.js';

type T5 = tf.Tensor5D;
type V3 = [number, number, number];

/** wasm: im2col + GEMM (conv-gemm.ts) is ~50× faster than its Conv3D kernel; elsewhere the conv kernels. */
function useGemm(): boolean {
  return tf.getBackend() === 'wasm';
}

/** Insert stride-1 zeros after every element along spatial axis `axis` (1..3) of NDHWC. */
function dilate(x: T5, axis: 1 | 2 | 3, s: number): T5 {
  if (s === 1) return x;
  const shp = x.shape;
  const outer = shp.slice(0, axis + 1);
  const inner = shp.slice(axis + 1).reduce((a, b) => a * b, 1);
  const t = tf.reshape(x, [...outer, 1, inner]);
  const padded = tf.pad(t, [...outer.map(() => [0, 0] as [number, number]), [0, s - 1], [0, 0]]);
  const out = [...shp] as [number, number, number, number, number];
  out[axis] = shp[axis]! * s;
  return tf.reshape(padded, out) as T5;
}

/** Keep the first `size` entries of each spatial axis (trailing dilation zeros / unused input rows). */
function cropTo(x: T5, size: number[]): T5 {
  if (size.every((n, a) => n === x.shape[a + 1])) return x;
  return tf.slice(x, [0, 0, 0, 0, 0], [x.shape[0], size[0]!, size[1]!, size[2]!, x.shape[4]]) as T5;
}

/** Zero-dilate every spatial axis by its stride, without trailing zeros: length (L-1)·s + 1. */
function dilateAll(x: T5, stride: V3): T5 {
  let d = x;
  for (const a of [1, 2, 3] as const) d = dilate(d, a, stride[a - 1]!);
  return cropTo(d, [1, 2, 3].map((a) => (x.shape[a]! - 1) * stride[a - 1]! + 1));
}

/**
 * Filter gradient at stride 1 as a forward Conv3D (the one conv kernel that is right on every backend):
 * df[a, ci, co] = Σ_{b,p} x[b, p + a, ci] · dy[b, p, co] — batch and channels swapped so that x is the
 * input ([ci, Z, Y, X, b]) and dy the filter ([Pz, Py, Px, b, co]).
 */
function filterGradStride1(x: T5, dy: T5, filterShape: number[]): tf.Tensor5D {
  const k = filterShape.slice(0, 3);
  const xs = cropTo(x, [1, 2, 3].map((a, i) => dy.shape[a]! + k[i]! - 1));
  const input = tf.transpose(xs, [4, 1, 2, 3, 0]) as T5;
  const filt = tf.transpose(dy, [1, 2, 3, 0, 4]) as tf.Tensor5D;
  return tf.transpose(tf.conv3d(input, filt, 1, 'valid'), [1, 2, 3, 0, 4]) as tf.Tensor5D;
}

/** Flip spatially and swap in/out channels: the filter of the input-gradient ("full") convolution. */
function flipFilter(f: tf.Tensor5D): tf.Tensor5D {
  return tf.transpose(tf.reverse(f, [0, 1, 2]), [0, 1, 2, 4, 3]) as tf.Tensor5D;
}

/**
 * PyTorch Conv3d (cross-correlation, zero padding `padding` per axis, stride) on NDHWC, with a custom
 * gradient built only from forward Conv3D (tfjs's own gradient kernels are wrong on wasm, see the header):
 * input gradient = stride-1 "full" convolution of the zero-dilated dy with the flipped, in/out-swapped
 * filter; filter gradient = `filterGradStride1` of the padded input with the dilated dy.
 */
export function conv3d(x: T5, filter: tf.Tensor5D, stride: V3, padding: V3): T5 {
  if (useGemm()) return conv3dGemm(x, filter, stride, padding);
  const key = `${stride.join(',')}|${padding.join(',')}`;
  let fn = convCache.get(key);
  if (!fn) convCache.set(key, (fn = makeConv3d(stride, padding)));
  return fn(x, filter) as T5;
}

const convCache = new Map<string, (x: tf.Tensor, f: tf.Tensor) => tf.Tensor>();

function makeConv3d(stride: V3, padding: V3): (x: tf.Tensor, f: tf.Tensor) => tf.Tensor {
  const pads: [number, number][] = [[0, 0], [padding[0], padding[0]], [padding[1], padding[1]], [padding[2], padding[2]], [0, 0]];
  const anyPad = padding.some((p) => p > 0);
  const unitStride = stride.every((s) => s === 1);
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as T5;
    const f = args[1] as tf.Tensor5D;
    const save = args[2] as tf.GradSaveFunc;
    const k = f.shape.slice(0, 3);
    // TF's 'same' equals PyTorch's symmetric padding only at stride 1 with odd kernels
    const same = unitStride && k.every((kk, a) => (kk - 1) / 2 === padding[a]);
    const value = same ? tf.conv3d(x, f, 1, 'same') : tf.conv3d(anyPad ? (tf.pad(x, pads) as T5) : x, f, stride, 'valid');
    save([x, f]);
    return {
      value,
      gradFunc: (dy: T5, saved: tf.Tensor[]) => {
        const [sx, sf] = saved as [T5, tf.Tensor5D];
        const xp = anyPad ? (tf.pad(sx, pads) as T5) : sx;
        const d = unitStride ? dy : dilateAll(dy, stride);
        // correlate d, padded by k-1 in front and up to the padded input length behind, with the flipped
        // filter → gradient on the padded grid; then cut the padding off
        const full: [number, number][] = [[0, 0]];
        for (let a = 0; a < 3; a++) full.push([k[a]! - 1, xp.shape[a + 1]! - d.shape[a + 1]!]);
        full.push([0, 0]);
        let dx = tf.conv3d(tf.pad(d, full) as T5, flipFilter(sf), 1, 'valid');
        if (anyPad) dx = tf.slice(dx, [0, padding[0], padding[1], padding[2], 0], sx.shape);
        return [dx, filterGradStride1(xp, d, sf.shape)];
      },
    };
  }) as (x: tf.Tensor, f: tf.Tensor) => tf.Tensor;
}

/**
 * PyTorch ConvTranspose3d with kernel = stride (no overlap, no padding) on NDHWC; `filter` is
 * [kz, ky, kx, outChannels, inChannels] (tfjs conv3dTranspose layout). Built from forward Conv3D only:
 * value = stride-1 "full" correlation of the zero-dilated x with the flipped filter; dx = strided conv3d of
 * dy with the same filter; df = `filterGradStride1` with dy as the input and dilate(x) as the output
 * gradient (the transposed conv is the input-gradient of a conv, so x and dy swap roles).
 */
export function convTranspose3d(x: T5, filter: tf.Tensor5D, stride: V3): T5 {
  if (useGemm()) return convTranspose3dGemm(x, filter, stride);
  const key = stride.join(',');
  let fn = transposeCache.get(key);
  if (!fn) transposeCache.set(key, (fn = makeConvTranspose3d(stride)));
  return fn(x, filter) as T5;
}

const transposeCache = new Map<string, (x: tf.Tensor, f: tf.Tensor) => tf.Tensor>();

function makeConvTranspose3d(stride: V3): (x: tf.Tensor, f: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as T5;
    const f = args[1] as tf.Tensor5D;
    const save = args[2] as tf.GradSaveFunc;
    const [kz, ky, kx, cout, cin] = f.shape;
    if (cin !== x.shape[4]) throw new Error(`convTranspose3d: input has ${x.shape[4]} channels, filter expects ${cin}`);
    if (kz !== stride[0] || ky !== stride[1] || kx !== stride[2])
      throw new Error(`convTranspose3d: kernel [${kz}, ${ky}, ${kx}] must equal stride [${stride.join(', ')}]`);
    void cout;
    // "full" stride-1 correlation of the dilated input with the flipped filter: (L-1)·s + 1 + 2(k-1) - k + 1 = L·s
    const xd = dilateAll(x, stride);
    const padded = tf.pad(xd, [[0, 0], [kz - 1, kz - 1], [ky - 1, ky - 1], [kx - 1, kx - 1], [0, 0]]) as T5;
    const value = tf.conv3d(padded, flipFilter(f), 1, 'valid');
    save([x, f]);
    return {
      value,
      gradFunc: (dy: T5, saved: tf.Tensor[]) => {
        const [sx, sf] = saved as [T5, tf.Tensor5D];
        const dx = tf.conv3d(dy, sf, stride, 'valid');
        const df = filterGradStride1(dy, dilateAll(sx, stride), sf.shape);
        return [dx, df];
      },
    };
  }) as (x: tf.Tensor, f: tf.Tensor) => tf.Tensor;
}

/**
 * Σ over every axis but the last (channels). wasm transposes for any reduction over the batch axis that
 * keeps the innermost one (~12 ms for 2×16×32×32×4, 40× the cost of reducing the spatial axes alone), so
 * reduce the spatial axes first and the batch axis on the small [b, c] result.
 */
export function channelSum(x: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const spatial = Array.from({ length: x.rank - 2 }, (_, i) => i + 1);
    return tf.sum(spatial.length ? tf.sum(x, spatial) : x, 0) as tf.Tensor1D;
  });
}

/** x + bias per channel; tfjs's broadcast gradient would reduce the bias gradient the slow way. */
export const addChannelBias = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, bias] = args as [tf.Tensor, tf.Tensor1D];
  return { value: tf.add(x, bias), gradFunc: (dy: tf.Tensor) => [dy, channelSum(dy)] };
}) as (x: T5, bias: tf.Tensor) => T5;

/** x · scale + shift per channel, gradients reduced with `channelSum`. */
const affineChannels = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, scale, shift, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, scale]);
  return {
    value: tf.add(tf.mul(x, scale), shift),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[1]!), channelSum(tf.mul(dy, saved[0]!)), channelSum(dy)],
  };
}) as (x: T5, scale: tf.Tensor1D, shift: tf.Tensor1D) => T5;

/** InstanceNorm (affine, biased variance, no running stats) over the spatial axes of NDHWC. */
export function instanceNorm(x: T5, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): T5 {
  return tf.tidy(() => {
    const mean = tf.mean(x, [1, 2, 3], true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), [1, 2, 3], true);
    return affineChannels(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), gamma, beta);
  });
}

/**
 * Concatenate along channels. The gradient is a split along the innermost axis, which wasm runs ~30×
 * slower than the concat (196 ms for 2×16×32×32×8); on the JS-memory backends it is de-interleaved in a loop.
 */
export const concatChannels = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b] = args as [T5, T5];
  const ca = a.shape[4];
  const cb = b.shape[4];
  return {
    value: tf.concat([a, b], 4),
    gradFunc: (dy: tf.Tensor) => {
      const backend = tf.getBackend();
      if (backend !== 'wasm' && backend !== 'cpu') return tf.split(dy, [ca, cb], 4);
      const d = dy.dataSync() as Float32Array;
      const voxels = d.length / (ca + cb);
      const da = new Float32Array(voxels * ca);
      const db = new Float32Array(voxels * cb);
      for (let v = 0, i = 0; v < voxels; v++) {
        for (let c = 0; c < ca; c++) da[v * ca + c] = d[i++]!;
        for (let c = 0; c < cb; c++) db[v * cb + c] = d[i++]!;
      }
      return [tf.tensor(da, a.shape), tf.tensor(db, b.shape)];
    },
  };
}) as (a: T5, b: T5) => T5;

/** AvgPool with kernel = stride (BasicBlockD skip path), NDHWC. */
export function avgPool3d(x: T5, stride: V3): T5 {
  return tf.avgPool3d(x, stride, stride, 'valid');
}

/** log-softmax over the last axis, stable, built from kernels every backend has. */
export function logSoftmax(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    // the max shift cancels in the gradient; it only keeps exp() finite
    const m = tf.max(x, axis, true);
    const shifted = tf.sub(x, m);
    return tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), axis, true)));
  });
}

/**
 * Differentiable building blocks of the nnU-Net U-Net on TensorFlow.js, in channels-last 5-D layout
 * [batch, z, y, x, channels]. 2-D networks run as 3-D with a singleton z axis (kernel and stride 1 along
 * z): the wasm backend has no Conv2DBackpropFilter kernel, while every Conv3D kernel exists.
 *
 * Gaps filled here (DESIGN.md §3):
 *  - conv3dTranspose has no gradient (Conv3DBackpropInputV2) in cpu/wasm, and on wasm that kernel even
 *    computes wrong values (measured: zeros in most positions), which also breaks tf.conv3d's own input
 *    gradient there → `conv3d` carries a custom gradient and `convTranspose3d` (kernel = stride) is a
 *    matmul + depth-to-space, both checked against finite differences.
 *  - PyTorch pads (k-1)//2 on both sides; TF's 'same' pads asymmetrically when stride > 1, so strided
 *    convs get an explicit tf.pad and 'valid'.
 *  - log-softmax has no kernel in wasm → x - logsumexp(x).
 */
import * as tf from '@tensorflow/tfjs';

type T5 = tf.Tensor5D;

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

/**
 * PyTorch Conv3d (cross-correlation, zero padding `padding` per axis, stride) on NDHWC. Gradients are our
 * own: the wasm backend's Conv3DBackpropInputV2 kernel returns wrong values (mostly zeros; see the tests),
 * so the input gradient is a stride-1 "full" convolution of the zero-dilated dy with the flipped,
 * in/out-swapped filter; the filter gradient uses Conv3DBackpropFilterV2 except on wasm, where that
 * kernel is wrong too for strided convs (measured), and `filterGradient` replaces it.
 */
export function conv3d(x: T5, filter: tf.Tensor5D, stride: V3, padding: V3): T5 {
  const key = `${stride.join(',')}|${padding.join(',')}`;
  let fn = convCache.get(key);
  if (!fn) convCache.set(key, (fn = makeConv3d(stride, padding)));
  return fn(x, filter) as T5;
}

type V3 = [number, number, number];

/**
 * df[a, ci, co] = Σ_{b,i} xp[b, s·i + a, ci] · dy[b, i, co] for a padded input xp: one strided slice and one
 * matmul per kernel offset.
 */
export function filterGradient(xp: T5, dy: T5, filterShape: number[], stride: V3): tf.Tensor5D {
  return tf.tidy(() => {
    const [kz, ky, kx, ci, co] = filterShape as [number, number, number, number, number];
    const [b, oz, oy, ox] = dy.shape;
    const n = b * oz * oy * ox;
    const dym = tf.reshape(dy, [n, co]);
    const parts: tf.Tensor[] = [];
    for (let az = 0; az < kz; az++)
      for (let ay = 0; ay < ky; ay++)
        for (let ax = 0; ax < kx; ax++) {
          const patch = tf.stridedSlice(
            xp,
            [0, az, ay, ax, 0],
            [b, az + stride[0] * (oz - 1) + 1, ay + stride[1] * (oy - 1) + 1, ax + stride[2] * (ox - 1) + 1, ci],
            [1, stride[0], stride[1], stride[2], 1],
          );
          parts.push(tf.matMul(tf.reshape(patch, [n, ci]), dym, true, false));
        }
    return tf.reshape(tf.stack(parts), [kz, ky, kx, ci, co]) as tf.Tensor5D;
  });
}

const convCache = new Map<string, (x: tf.Tensor, f: tf.Tensor) => tf.Tensor>();

function makeConv3d(stride: V3, padding: V3): (x: tf.Tensor, f: tf.Tensor) => tf.Tensor {
  const pads: [number, number][] = [[0, 0], [padding[0], padding[0]], [padding[1], padding[1]], [padding[2], padding[2]], [0, 0]];
  const anyPad = padding.some((p) => p > 0);
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as T5;
    const f = args[1] as tf.Tensor5D;
    const save = args[2] as tf.GradSaveFunc;
    const k = f.shape.slice(0, 3) as V3;
    const sameOk = stride.every((s) => s === 1) && k.every((kk, a) => (kk - 1) / 2 === padding[a]);
    const value = sameOk ? tf.conv3d(x, f, 1, 'same') : tf.conv3d(anyPad ? tf.pad(x, pads) : x, f, stride, 'valid');
    save([x, f]);
    return {
      value,
      gradFunc: (dy: T5, saved: tf.Tensor[]) => {
        const [sx, sf] = saved as [T5, tf.Tensor5D];
        const xp = sameOk || !anyPad ? sx : (tf.pad(sx, pads) as T5);
        // input gradient on the padded grid, then the padding cut off
        let d = dy;
        for (const a of [1, 2, 3] as const) d = dilate(d, a, stride[a - 1]!);
        const full: [number, number][] = [[0, 0]];
        const lp = [1, 2, 3].map((a) => sx.shape[a]! + 2 * padding[a - 1]!);
        for (let a = 0; a < 3; a++) {
          // dilated length D·s; correlation output must be lp → total length lp + k - 1
          full.push([k[a]! - 1, lp[a]! + k[a]! - 1 - (k[a]! - 1) - d.shape[a + 1]!]);
        }
        full.push([0, 0]);
        // a negative right pad (stride > kernel) means trailing dilation zeros to drop
        const cut = full.map(([, r]) => Math.min(r, 0));
        if (cut.some((c) => c < 0)) {
          d = tf.slice(d, [0, 0, 0, 0, 0], d.shape.map((n, i) => n + cut[i]!)) as T5;
        }
        const dPadded = tf.pad(d, full.map(([l, r]) => [l, Math.max(r, 0)] as [number, number])) as T5;
        const flipped = tf.transpose(tf.reverse(sf, [0, 1, 2]), [0, 1, 2, 4, 3]) as tf.Tensor5D;
        let dx = tf.conv3d(dPadded, flipped, 1, 'valid');
        if (anyPad) dx = tf.slice(dx, [0, padding[0], padding[1], padding[2], 0], sx.shape);
        const df =
          tf.getBackend() === 'wasm'
            ? filterGradient(sameOk && anyPad ? (tf.pad(sx, pads) as T5) : xp, dy, sf.shape, stride)
            : (tf.engine().runKernel('Conv3DBackpropFilterV2', { x: sameOk ? sx : xp, dy }, {
                strides: stride,
                pad: sameOk ? 'same' : 'valid',
                filterShape: sf.shape,
              }) as tf.Tensor5D);
        return [dx, df];
      },
    };
  }) as (x: tf.Tensor, f: tf.Tensor) => tf.Tensor;
}

/**
 * PyTorch ConvTranspose3d with kernel = stride (no overlap, no padding) on NDHWC; `filter` is
 * [kz, ky, kx, outChannels, inChannels] (tfjs conv3dTranspose layout). Without overlap every input voxel
 * writes its own k-block: a matmul [voxels, in] × [in, k·out] followed by a depth-to-space transpose. This
 * avoids Conv3DBackpropInputV2 (wrong on wasm, no gradient on cpu/wasm) and is differentiable through
 * matMul/reshape/transpose on every backend.
 */
export function convTranspose3d(x: T5, filter: tf.Tensor5D, stride: V3): T5 {
  return tf.tidy(() => {
    const [b, d, h, w, cin] = x.shape;
    const [kz, ky, kx, cout, fin] = filter.shape;
    if (fin !== cin) throw new Error(`convTranspose3d: input has ${cin} channels, filter expects ${fin}`);
    if (kz !== stride[0] || ky !== stride[1] || kx !== stride[2])
      throw new Error(`convTranspose3d: kernel [${kz}, ${ky}, ${kx}] must equal stride [${stride.join(', ')}]`);
    // [kz,ky,kx,out,in] → [in, kz·ky·kx·out]
    const fm = tf.reshape(tf.transpose(filter, [4, 0, 1, 2, 3]), [cin, kz * ky * kx * cout]);
    const y = tf.matMul(tf.reshape(x, [b * d * h * w, cin]), fm);
    const blocks = tf.reshape(y, [b, d, h, w, kz, ky, kx, cout]);
    return tf.reshape(tf.transpose(blocks, [0, 1, 4, 2, 5, 3, 6, 7]), [b, d * kz, h * ky, w * kx, cout]) as T5;
  });
}

/** InstanceNorm (affine, biased variance, no running stats) over the spatial axes of NDHWC. */
export function instanceNorm(x: T5, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): T5 {
  return tf.tidy(() => {
    const mean = tf.mean(x, [1, 2, 3], true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), [1, 2, 3], true);
    return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), gamma), beta) as T5;
  });
}

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

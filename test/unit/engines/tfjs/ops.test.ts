/**
 * Gradient checks of the custom ops against central finite differences (float32: small shapes, loose but
 * discriminating tolerance), on the cpu and wasm backends.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../../server/src/engines/tfjs/backend.js';
import { addChannelBias, avgPool3d, channelSum, concatChannels, conv3d, convTranspose3d, instanceNorm, logSoftmax } from '../../../../server/src/engines/tfjs/ops.js';
import { within } from '../../../helpers/patience.js';

function rand(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

/** Max relative error between the analytic gradient of f w.r.t. input `which` and finite differences. */
function gradCheck(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], which: number, h = 1e-2): number {
  // random projection makes the scalar depend on every output element differently
  const out = f(...inputs);
  const r = rand(out.shape, 99);
  const scalar = (...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r));
  const analytic = tf.grads(scalar)(inputs)[which]!.dataSync();
  const base = inputs[which]!.dataSync().slice();
  let worst = 0;
  const scale = Math.max(1e-3, ...Array.from(analytic).map(Math.abs));
  for (let i = 0; i < base.length; i++) {
    const at = (delta: number) => {
      const p = base.slice();
      p[i]! += delta;
      const xs = inputs.slice();
      xs[which] = tf.tensor(p, inputs[which]!.shape);
      return scalar(...xs).dataSync()[0]!;
    };
    const numeric = (at(h) - at(-h)) / (2 * h);
    worst = Math.max(worst, Math.abs(numeric - analytic[i]!) / scale);
  }
  return worst;
}

describe.each(['cpu', 'wasm'] as const)('custom ops on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend({ prefer: backend, log: null });
  });

  it('convTranspose3d equals torch ConvTranspose3d (kernel = stride) on a hand-checked case', () => {
    // x: 1×1×1×2 voxels, 1 channel, values 1 and 2; stride [1,1,2], filter [1,1,2,out 1,in 1] = [3, 5]
    const x = tf.tensor5d([1, 2], [1, 1, 1, 2, 1]);
    const f = tf.tensor5d([3, 5], [1, 1, 2, 1, 1]);
    expect(Array.from(convTranspose3d(x, f, [1, 1, 2]).dataSync())).toEqual([3, 5, 6, 10]);
  });

  it('convTranspose3d gradient w.r.t. input and filter matches finite differences', () => {
    const x = rand([2, 2, 3, 2, 3], 1) as tf.Tensor5D;
    const f = rand([2, 1, 2, 4, 3], 2) as tf.Tensor5D;
    const op = (a: tf.Tensor, b: tf.Tensor) => convTranspose3d(a as tf.Tensor5D, b as tf.Tensor5D, [2, 1, 2]);
    expect(gradCheck(op, [x, f], 0)).toBeLessThan(2e-2);
    expect(gradCheck(op, [x, f], 1)).toBeLessThan(2e-2);
  });

  it('conv3d with PyTorch padding: stride-2 output matches a direct sum and its gradients check', () => {
    // 1-D along x: input [1..4], kernel [1, 10, 100], stride 2, pad 1 → out[0] = 0·1+1·10+2·100, out[1] = 2+30+400
    const x = tf.tensor5d([1, 2, 3, 4], [1, 1, 1, 4, 1]);
    const f = tf.tensor5d([1, 10, 100], [1, 1, 3, 1, 1]);
    expect(Array.from(conv3d(x, f, [1, 1, 2], [0, 0, 1]).dataSync())).toEqual([210, 432]);
    const xs = rand([1, 4, 4, 4, 2], 3) as tf.Tensor5D;
    const fs = rand([3, 3, 3, 2, 3], 4) as tf.Tensor5D;
    const op = (a: tf.Tensor, b: tf.Tensor) => conv3d(a as tf.Tensor5D, b as tf.Tensor5D, [2, 2, 2], [1, 1, 1]);
    expect(gradCheck(op, [xs, fs], 0)).toBeLessThan(2e-2);
    expect(gradCheck(op, [xs, fs], 1)).toBeLessThan(2e-2);
  });

  it.each([
    ['stride 1, 3×3×3', [1, 1, 1], [3, 3, 3], [1, 1, 1]],
    ['anisotropic 1×3×3 stride 1×2×2', [1, 2, 2], [1, 3, 3], [0, 1, 1]],
    ['kernel 1 with stride 2 (stride > kernel)', [2, 1, 1], [1, 3, 1], [0, 1, 0]],
  ] as const)('conv3d gradients check: %s', (_n, stride, k, pad) => {
    const xs = rand([2, 4, 5, 4, 2], 8) as tf.Tensor5D;
    const fs = rand([...k, 2, 3], 9) as tf.Tensor5D;
    const op = (a: tf.Tensor, b: tf.Tensor) =>
      conv3d(a as tf.Tensor5D, b as tf.Tensor5D, [...stride] as [number, number, number], [...pad] as [number, number, number]);
    expect(gradCheck(op, [xs, fs], 0)).toBeLessThan(2e-2);
    expect(gradCheck(op, [xs, fs], 1)).toBeLessThan(2e-2);
  });

  it('instanceNorm normalises per sample and channel and its gradients check', () => {
    const x = rand([2, 2, 3, 2, 2], 5) as tf.Tensor5D;
    const g = tf.tensor1d([1.5, -0.5]);
    const b = tf.tensor1d([0.2, 0.1]);
    const y = instanceNorm(x, g, b, 1e-5);
    const { mean, variance } = tf.moments(tf.sub(y, b), [1, 2, 3]);
    const m = mean.dataSync();
    const v = variance.dataSync();
    for (let i = 0; i < 4; i++) {
      expect(Math.abs(m[i]!)).toBeLessThan(1e-5);
      expect(v[i]!).toBeCloseTo(i % 2 === 0 ? 2.25 : 0.25, 3);
    }
    const op = (a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => instanceNorm(a as tf.Tensor5D, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-5);
    for (const which of [0, 1, 2]) expect(gradCheck(op, [x, g, b], which, 5e-3)).toBeLessThan(3e-2);
  });

  it('addChannelBias, channelSum and concatChannels: values and gradients check', () => {
    const x = rand([2, 2, 3, 2, 3], 10) as tf.Tensor5D;
    const bias = tf.tensor1d([1, -2, 0.5]);
    expect(Array.from(channelSum(tf.ones([2, 2, 3, 2, 3])).dataSync())).toEqual([24, 24, 24]);
    expect(gradCheck((a, b) => addChannelBias(a as tf.Tensor5D, b!), [x, bias], 0)).toBeLessThan(2e-2);
    expect(gradCheck((a, b) => addChannelBias(a as tf.Tensor5D, b!), [x, bias], 1)).toBeLessThan(2e-2);
    const y = rand([2, 2, 3, 2, 2], 11) as tf.Tensor5D;
    const cat = (a: tf.Tensor, b: tf.Tensor) => concatChannels(a as tf.Tensor5D, b as tf.Tensor5D);
    expect(Array.from(cat(x, y).dataSync())).toEqual(Array.from(tf.concat([x, y], 4).dataSync()));
    expect(gradCheck(cat, [x, y], 0)).toBeLessThan(2e-2);
    expect(gradCheck(cat, [x, y], 1)).toBeLessThan(2e-2);
  });

  it('avgPool3d and logSoftmax gradients check; logSoftmax equals log(softmax)', () => {
    const x = rand([1, 2, 4, 2, 2], 6) as tf.Tensor5D;
    expect(gradCheck((a) => avgPool3d(a as tf.Tensor5D, [2, 2, 1]), [x], 0)).toBeLessThan(2e-2);
    const l = rand([3, 4], 7);
    const ls = logSoftmax(l).dataSync();
    const ref = tf.log(tf.softmax(l)).dataSync();
    for (let i = 0; i < ls.length; i++) expect(ls[i]).toBeCloseTo(ref[i]!, 5);
    expect(gradCheck((a) => logSoftmax(a), [l], 0)).toBeLessThan(2e-2);
  });
});

/** What a backend's conv3d gives for value and both gradients (projected on a fixed random tensor). */
async function convOnBackend(backend: 'cpu' | 'wasm', xs: number[], fs: number[], stride: [number, number, number], pad: [number, number, number]) {
  await selectBackend({ prefer: backend, log: null });
  return tf.tidy(() => {
    const x = rand(xs, 21);
    const f = rand(fs, 22);
    const y = conv3d(x as tf.Tensor5D, f as tf.Tensor5D, stride, pad);
    const r = rand(y.shape, 23);
    const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv3d(a as tf.Tensor5D, b as tf.Tensor5D, stride, pad), r)))([x, f]);
    return [y, dx!, df!].map((t) => t.dataSync() as Float32Array);
  });
}

describe('wasm im2col + GEMM convolution (engines/tfjs/conv-gemm.ts)', () => {
  // 32 768 output rows × K = 27·16 = 14.2 M floats: two column-matrix chunks of at most 8 M
  it.each([
    ['stride 1 over two chunks', [1, 32, 32, 32, 16], [3, 3, 3, 16, 4], [1, 1, 1], [1, 1, 1]],
    ['stride 2, anisotropic kernel', [2, 5, 9, 8, 3], [1, 3, 3, 3, 5], [1, 2, 2], [0, 1, 1]],
  ] as const)('equals the cpu backend\'s Conv3D path in value and gradients: %s', async (_n, xs, fs, stride, pad) => {
    const cpu = await convOnBackend('cpu', [...xs], [...fs], [...stride], [...pad]);
    const wasm = await convOnBackend('wasm', [...xs], [...fs], [...stride], [...pad]);
    for (let t = 0; t < 3; t++) {
      const a = cpu[t]!;
      const b = wasm[t]!;
      expect(b.length).toBe(a.length);
      let scale = 0;
      let worst = 0;
      for (let i = 0; i < a.length; i++) {
        scale = Math.max(scale, Math.abs(a[i]!));
        worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      }
      expect(worst / scale).toBeLessThan(1e-4);
    }
  }, within(60_000));
});

import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../server/src/engines/tfjs/backend.js';
import { NesterovSgd, NNUNET_SGD, polyLr } from '../../../server/src/training/optimizer.js';

beforeAll(async () => {
  await selectBackend({ prefer: 'cpu', log: null });
});

describe('polyLr', () => {
  it('is PolyLRScheduler: 1e-2·(1 − e/E)^0.9', () => {
    expect(polyLr(1e-2, 0, 1000)).toBe(1e-2);
    expect(polyLr(1e-2, 500, 1000)).toBeCloseTo(1e-2 * 0.5 ** 0.9, 12);
    expect(polyLr(1e-2, 999, 1000)).toBeCloseTo(1e-2 * 0.001 ** 0.9, 12);
  });
});

describe('NesterovSgd (torch.optim.SGD momentum 0.99 nesterov, wd 3e-5, clip 12)', () => {
  it('matches torch SGD by hand for two steps', () => {
    const p = tf.variable(tf.tensor1d([1, -2]));
    const opt = new NesterovSgd(new Map([['w', p]]), { ...NNUNET_SGD, clipNorm: null });
    opt.lr = 0.1;
    // step 1: g = [0.5, 0.5] + 3e-5·p; buf = g; d = g + 0.99·buf = 1.99·g
    opt.apply({ w: tf.tensor1d([0.5, 0.5]) });
    const g1 = [0.5 + 3e-5 * 1, 0.5 + 3e-5 * -2];
    const p1 = [1 - 0.1 * 1.99 * g1[0]!, -2 - 0.1 * 1.99 * g1[1]!];
    const a = p.dataSync();
    expect(a[0]).toBeCloseTo(p1[0]!, 6);
    expect(a[1]).toBeCloseTo(p1[1]!, 6);
    // step 2: g = [1, 0] + wd·p1; buf = 0.99·g1 + g; d = g + 0.99·buf
    opt.apply({ w: tf.tensor1d([1, 0]) });
    const g2 = [1 + 3e-5 * p1[0]!, 3e-5 * p1[1]!];
    const buf = [0.99 * g1[0]! + g2[0]!, 0.99 * g1[1]! + g2[1]!];
    const p2 = [p1[0]! - 0.1 * (g2[0]! + 0.99 * buf[0]!), p1[1]! - 0.1 * (g2[1]! + 0.99 * buf[1]!)];
    const b = p.dataSync();
    expect(b[0]).toBeCloseTo(p2[0]!, 6);
    expect(b[1]).toBeCloseTo(p2[1]!, 6);
    expect(opt.step).toBe(2);
  });

  it('clips the global gradient norm to 12 (clip_grad_norm_) and reports the pre-clip norm', () => {
    const a = tf.variable(tf.zeros([1]));
    const b = tf.variable(tf.zeros([1]));
    const opt = new NesterovSgd(new Map([['a', a], ['b', b]]), { ...NNUNET_SGD, weightDecay: 0, momentum: 0, nesterov: false });
    opt.lr = 1;
    // norm of (30, 40) = 50 → scaled by 12/50 → update (−7.2, −9.6)
    expect(opt.apply({ a: tf.tensor1d([30]), b: tf.tensor1d([40]) })).toBeCloseTo(50, 5);
    expect(a.dataSync()[0]).toBeCloseTo(-7.2, 4);
    expect(b.dataSync()[0]).toBeCloseTo(-9.6, 4);
  });

  it('state round-trips: a restored optimizer continues identically', () => {
    const mk = () => tf.variable(tf.tensor1d([1, 2, 3]));
    const p = mk();
    const opt = new NesterovSgd(new Map([['w', p]]));
    opt.apply({ w: tf.tensor1d([1, 1, 1]) });
    const q = tf.variable(tf.tensor(p.dataSync(), [3]));
    const opt2 = new NesterovSgd(new Map([['w', q]]));
    opt2.setState(opt.getState());
    opt.apply({ w: tf.tensor1d([0.3, -1, 2]) });
    opt2.apply({ w: tf.tensor1d([0.3, -1, 2]) });
    expect(Array.from(q.dataSync())).toEqual(Array.from(p.dataSync()));
    expect(opt2.step).toBe(2);
    expect(() => opt2.setState({ step: 1, buffers: new Map([['nope', new Float32Array(3)]]) })).toThrow(/unknown parameter nope/);
  });
});

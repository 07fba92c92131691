import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../../server/src/engines/tfjs/backend.js';
import { dcAndCeLoss, deepSupervisionLoss, deepSupervisionWeights, diceCounts } from '../../../server/src/training/loss.js';

const LN3 = Math.log(3);

beforeAll(async () => {
  await selectBackend({ prefer: 'cpu', log: null });
});

/** Independent loop implementation of DC_and_CE_loss (NDHWC flattened to [b][v][c]). */
function reference(logits: number[][][], target: number[][], batchDice: boolean, ignore: number | null, smooth = 1e-5): number {
  const b = logits.length;
  const c = logits[0]![0]!.length;
  let ceSum = 0;
  let ceN = 0;
  const I: number[][] = [];
  const P: number[][] = [];
  const G: number[][] = [];
  for (let i = 0; i < b; i++) {
    I.push(new Array(c - 1).fill(0));
    P.push(new Array(c - 1).fill(0));
    G.push(new Array(c - 1).fill(0));
    logits[i]!.forEach((l, v) => {
      const t = target[i]![v]!;
      const m = ignore !== null && t === ignore ? 0 : 1;
      const td = m ? t : 0;
      const mx = Math.max(...l);
      const z = l.reduce((a, x) => a + Math.exp(x - mx), 0);
      const p = l.map((x) => Math.exp(x - mx) / z);
      if (m) {
        ceSum -= Math.log(p[t]!);
        ceN++;
      }
      for (let k = 1; k < c; k++) {
        I[i]![k - 1] += p[k]! * (td === k ? 1 : 0) * m;
        P[i]![k - 1] += p[k]! * m;
        G[i]![k - 1] += (td === k ? 1 : 0) * m;
      }
    });
  }
  const dcs: number[] = [];
  if (batchDice) {
    for (let k = 0; k < c - 1; k++) {
      const ii = I.reduce((a, r) => a + r[k]!, 0);
      const pp = P.reduce((a, r) => a + r[k]!, 0);
      const gg = G.reduce((a, r) => a + r[k]!, 0);
      dcs.push((2 * ii + smooth) / Math.max(gg + pp + smooth, 1e-8));
    }
  } else for (let i = 0; i < b; i++) for (let k = 0; k < c - 1; k++) dcs.push((2 * I[i]![k]! + smooth) / Math.max(G[i]![k]! + P[i]![k]! + smooth, 1e-8));
  const dc = dcs.reduce((a, x) => a + x, 0) / dcs.length;
  return (ceN ? ceSum / ceN : 0) - dc;
}

describe('dcAndCeLoss', () => {
  it('hand-computed: two voxels, softmax 0.75 on the right class each', () => {
    // voxel 0: logits [0, ln3] → p(1) = 0.75, label 1; voxel 1: [ln3, 0] → p(0) = 0.75, label 0
    const logits = tf.tensor([0, LN3, LN3, 0], [1, 1, 1, 2, 2]);
    const target = tf.tensor([1, 0], [1, 1, 1, 2], 'int32');
    // Dice fg: I = 0.75, P = 0.75 + 0.25 = 1, G = 1 → (1.5 + 1e-5) / (2 + 1e-5); CE = −ln 0.75
    const expected = -Math.log(0.75) - (1.5 + 1e-5) / (2 + 1e-5);
    expect(dcAndCeLoss(logits, target, { numClasses: 2, batchDice: false }).dataSync()[0]).toBeCloseTo(expected, 6);
    expect(expected).toBeCloseTo(-0.4623192, 6);
  });

  it('hand-computed: the ignore label drops the voxel from CE and from all Dice sums', () => {
    const logits = tf.tensor([0, LN3, LN3, 0], [1, 1, 1, 2, 2]);
    const target = tf.tensor([1, 2], [1, 1, 1, 2], 'int32');
    // only voxel 0 counts: I = 0.75, P = 0.75, G = 1 → (1.5 + 1e-5)/(1.75 + 1e-5); CE = −ln 0.75
    const expected = -Math.log(0.75) - (1.5 + 1e-5) / (1.75 + 1e-5);
    expect(dcAndCeLoss(logits, target, { numClasses: 2, batchDice: false, ignoreLabel: 2 }).dataSync()[0]).toBeCloseTo(expected, 6);
  });

  it.each([
    [false, null],
    [true, null],
    [true, 3],
    [false, 3],
  ] as const)('random 3-class batch (batch_dice %s, ignore %s) equals a loop implementation', (batchDice, ignore) => {
    const b = 2;
    const nv = 12;
    const logitsT = tf.randomNormal([b, 1, 3, 4, 3], 0, 2, 'float32', 11);
    const labels = Array.from({ length: b * nv }, (_, i) => (i * 7 + 3) % (ignore === null ? 3 : 4));
    const lf = logitsT.dataSync();
    const nested = Array.from({ length: b }, (_, i) => Array.from({ length: nv }, (_, v) => Array.from(lf.slice((i * nv + v) * 3, (i * nv + v + 1) * 3))));
    const tgt = Array.from({ length: b }, (_, i) => labels.slice(i * nv, (i + 1) * nv));
    const got = dcAndCeLoss(logitsT, tf.tensor(labels, [b, 1, 3, 4], 'int32'), { numClasses: 3, batchDice, ignoreLabel: ignore }).dataSync()[0]!;
    expect(got).toBeCloseTo(reference(nested, tgt, batchDice, ignore), 5);
  });

  it('names a target that does not match the logits', () => {
    expect(() => dcAndCeLoss(tf.zeros([1, 1, 2, 2, 2]), tf.zeros([1, 1, 2, 3], 'int32'), { numClasses: 2, batchDice: true })).toThrow(/target shape/);
  });
});

describe('deep supervision', () => {
  it('weights 1/2^i with the lowest resolution dropped, normalised', () => {
    expect(deepSupervisionWeights(3)).toEqual([2 / 3, 1 / 3, 0]);
    const w5 = deepSupervisionWeights(5);
    expect(w5[4]).toBe(0);
    expect(w5[0]! / w5[3]!).toBeCloseTo(8, 10);
    expect(w5.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(deepSupervisionWeights(1)).toEqual([1]);
  });

  it('the wrapper sums the weighted per-scale losses', () => {
    const o = { numClasses: 2, batchDice: true };
    const outs = [tf.randomNormal([1, 1, 4, 4, 2], 0, 1, 'float32', 1), tf.randomNormal([1, 1, 2, 2, 2], 0, 1, 'float32', 2), tf.randomNormal([1, 1, 1, 1, 2], 0, 1, 'float32', 3)];
    const tg = [tf.tensor(Array.from({ length: 16 }, (_, i) => i % 2), [1, 1, 4, 4], 'int32'), tf.tensor([0, 1, 1, 0], [1, 1, 2, 2], 'int32'), tf.tensor([1], [1, 1, 1, 1], 'int32')];
    const l0 = dcAndCeLoss(outs[0]!, tg[0]!, o).dataSync()[0]!;
    const l1 = dcAndCeLoss(outs[1]!, tg[1]!, o).dataSync()[0]!;
    expect(deepSupervisionLoss(outs, tg, o).dataSync()[0]).toBeCloseTo((2 / 3) * l0 + (1 / 3) * l1, 6);
  });
});

describe('diceCounts (pseudo Dice)', () => {
  it('counts argmax tp/fp/fn per foreground class, skipping ignored voxels', () => {
    // 4 voxels, 3 classes; argmax = [1, 2, 0, 1]; labels = [1, 1, 2, 9 (ignored)]
    const logits = Float32Array.from([0, 5, 1, 0, 1, 5, 5, 0, 0, 0, 5, 0]);
    const r = diceCounts(logits, [1, 1, 2, 9], 3, 9);
    expect(Array.from(r.tp)).toEqual([1, 0]);
    expect(Array.from(r.fp)).toEqual([0, 1]);
    expect(Array.from(r.fn)).toEqual([1, 1]);
  });
});

import {
  applyInferenceNonlin,
  averageProbabilities,
  ensembleLogits,
  logitsToSegmentation,
  MeanAccumulator,
  probabilitiesToSegmentation,
  softmaxChannels,
} from '../../../../server/src/nnunet/inference/index.js';

describe('ensembling', () => {
  it('averages fold logits element-wise', () => {
    const m = ensembleLogits([Float32Array.of(1, 2, 3), Float32Array.of(3, 2, 0), Float32Array.of(2, 5, 0)]);
    expect(Array.from(m)).toEqual([2, 3, 1]);
  });
  it('averages configuration probabilities and rejects mismatched members', () => {
    expect(Array.from(averageProbabilities([Float32Array.of(0.25, 0.75), Float32Array.of(0.75, 0.25)]))).toEqual([0.5, 0.5]);
    const acc = new MeanAccumulator();
    acc.add(new Float32Array(3));
    expect(() => acc.add(new Float32Array(4))).toThrow(/member 1 has 4 values/);
    expect(() => ensembleLogits([])).toThrow(/at least one/);
  });

  it('copies the first member unless it is handed over (consume)', () => {
    const first = Float32Array.of(1, 2);
    const kept = new MeanAccumulator();
    kept.add(first);
    kept.add(Float32Array.of(3, 4));
    expect(Array.from(kept.mean())).toEqual([2, 3]);
    expect(Array.from(first)).toEqual([1, 2]);
    const owned = Float32Array.of(1, 2);
    const consumed = new MeanAccumulator();
    consumed.add(owned, { consume: true });
    consumed.add(Float32Array.of(3, 4));
    expect(consumed.mean()).toBe(owned); // no extra array
    expect(Array.from(owned)).toEqual([2, 3]);
  });
});

describe('softmax / argmax', () => {
  // 3 classes × 4 voxels
  const logits = Float32Array.of(
    0, 5, 1, 2, // class 0
    1, 5, 0, 2, // class 1
    2, 0, 0, 1, // class 2
  );
  it('softmax sums to one per voxel', () => {
    const p = softmaxChannels(logits, 3);
    for (let v = 0; v < 4; v++) expect(p[v] + p[4 + v] + p[8 + v]).toBeCloseTo(1, 6);
    const e = [Math.exp(0), Math.exp(1), Math.exp(2)];
    expect(p[0]).toBeCloseTo(e[0] / (e[0] + e[1] + e[2]), 6);
  });
  it('argmax picks the first maximum on ties, like numpy', () => {
    expect(Array.from(logitsToSegmentation(logits, { channels: 3 }))).toEqual([2, 0, 0, 0]);
    expect(Array.from(probabilitiesToSegmentation(applyInferenceNonlin(logits, { channels: 3 }), { channels: 3 }))).toEqual([2, 0, 0, 0]);
  });
});

describe('regions', () => {
  // two regions (e.g. whole tumour (1,2,3) painted as 1, then enhancing (3) painted as 3), 3 voxels
  const logits = Float32Array.of(
    2, -1, 3, // region 0
    -2, 4, 1, // region 1
  );
  const handling = { channels: 2, regionsClassOrder: [1, 3] };
  it('sigmoid > 0.5 paints regions in regions_class_order, later ones win', () => {
    expect(Array.from(logitsToSegmentation(logits, handling))).toEqual([1, 3, 3]);
    const probs = applyInferenceNonlin(logits, handling);
    expect(probs[0]).toBeCloseTo(1 / (1 + Math.exp(-2)), 6);
    expect(Array.from(probabilitiesToSegmentation(probs, handling))).toEqual([1, 3, 3]);
  });
  it('a logit of exactly 0 (probability 0.5) is not painted', () => {
    expect(Array.from(logitsToSegmentation(Float32Array.of(0), { channels: 1, regionsClassOrder: [1] }))).toEqual([0]);
  });
  it('rejects a regions_class_order that does not match the outputs', () => {
    expect(() => logitsToSegmentation(logits, { channels: 2, regionsClassOrder: [1] })).toThrow(/regions_class_order has 1 entries/);
  });
});

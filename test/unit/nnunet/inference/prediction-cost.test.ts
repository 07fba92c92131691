import { predictionCost } from '../../../../server/src/nnunet/inference/prediction-cost.js';

const base = { transposeForward: [0, 1, 2], stepSize: 0.5, mirrorAxes: [0, 1, 2], useMirroring: true, folds: 1 };

describe('predictionCost (hand-checked)', () => {
  it('an image the size of the patch: one tile, eight mirror variants, times the folds', () => {
    const c = predictionCost({ ...base, shape: [32, 32, 32], spacing: [1, 1, 1], patchSize: [32, 32, 32], targetSpacing: [1, 1, 1], folds: 5 });
    expect(c).toEqual({ voxels: 32 ** 3, tiles: 1, networkCalls: 1 * 8 * 5 });
  });

  it('resamples first: 100³ at 2 mm on a 1 mm model is 200³; steps ceil((200-64)/32)+1 = 6 per axis', () => {
    const c = predictionCost({ ...base, shape: [100, 100, 100], spacing: [2, 2, 2], patchSize: [64, 64, 64], targetSpacing: [1, 1, 1], useMirroring: false });
    expect(c).toEqual({ voxels: 200 ** 3, tiles: 6 ** 3, networkCalls: 6 ** 3 });
  });

  it('pads to the patch: a small image is one tile of patch size', () => {
    const c = predictionCost({ ...base, shape: [3, 16, 16], spacing: [1, 1, 1], patchSize: [32, 32, 32], targetSpacing: [1, 1, 1], mirrorAxes: null });
    expect(c).toEqual({ voxels: 32 ** 3, tiles: 1, networkCalls: 1 });
  });

  it('the issue\'s step 0.01 on 16×64×64 becomes millions of calls; step 0.5 a handful', () => {
    const at = (stepSize: number) => predictionCost({ ...base, shape: [16, 64, 64], spacing: [1, 1, 1], patchSize: [16, 32, 32], targetSpacing: [1, 1, 1], stepSize });
    // y, x: ceil((64 − 32) / (32·0.01)) + 1 = 101 each; z: 1
    expect(at(0.01).tiles).toBe(101 * 101);
    expect(at(0.01).networkCalls).toBe(101 * 101 * 8);
    expect(at(0.5).tiles).toBe(3 * 3);
  });

  it('a 2D configuration tiles every slice, at its in-plane spacing; transpose_forward applies first', () => {
    // shape [z, y, x] = [10, 50, 100] read, transposed (2, 1, 0) → [100, 50, 10]; the 2D patch covers the last two
    const c = predictionCost({ ...base, shape: [10, 50, 100], spacing: [3, 1, 1], transposeForward: [2, 1, 0], patchSize: [32, 32], targetSpacing: [1, 1.5], mirrorAxes: [0, 1] });
    // planes: 100 (first axis kept); in-plane [50·1/1, 10·3/1.5] = [50, 20] → padded [50, 32]; steps: ceil(18/16)+1 = 3, 1
    expect(c).toEqual({ voxels: 100 * 50 * 32, tiles: 100 * 3, networkCalls: 100 * 3 * 4 });
  });
});

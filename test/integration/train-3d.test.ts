/**
 * End to end on the cpu/wasm backend, 3D: a 3d_fullres configuration of CT phantoms (liver, kidneys;
 * server/src/demo) planned and preprocessed by our pipeline, trained by the nnseg trainer and validated
 * through the real predictor (summary.json).
 *
 * Overrides for CI time (documented, not nnU-Net defaults) — the recipe of server/demo-model/train-demo.sh:
 * 12 phantoms of 32×64×64 at 5×4×4 mm, features 4·2^s capped at 8, 3 stages, patch 16×24×24, batch 2,
 * 40 epochs × 25 iterations, 2 validation iterations. TRAIN3D_EPOCHS / TRAIN3D_ITERS change the length.
 */
import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { writePhantomDataset } from '../../server/src/demo/phantom-dataset.js';
import { shrinkPlans } from '../../server/src/training/prepare.js';
import { train } from '../../server/src/training/trainer.js';
import { ensurePreprocessed } from '../../server/src/pipelines/plan-and-preprocess.js';

const EPOCHS = Number(process.env.TRAIN3D_EPOCHS ?? 40);
const ITERS = Number(process.env.TRAIN3D_ITERS ?? 25);

describe('train a 3D configuration (wasm backend)', () => {
  const tmp = makeTempDir('nnseg-train3d-');
  afterAll(() => tmp.cleanup());

  // issue #5: validation Dice ≥ 0.80 (nnU-Net's headline number, the foreground mean of summary.json).
  // Measured with this recipe, seed 0 (= the committed demo model): liver 0.974, kidney 0.685, mean 0.830;
  // with patch 16³ and 1500 iterations: mean 0.803 (seed 0) and 0.822 (seed 12345). The kidney's false
  // positives are the vertebra: CT normalisation clips bone to the kidney's contrast-enhanced intensity, and
  // a 16×24×24 patch (80×96×96 mm) sees too little of the body to tell them apart.
  it('trains end to end to validation Dice ≥ 0.80 (foreground mean) on CT phantoms', async () => {
    const name = 'Dataset903_Phantom';
    const raw = join(tmp.dir, 'raw', name);
    await writePhantomDataset(raw, { numCases: 12, shape: [32, 64, 64], spacing: [5, 4, 4], seed: 0 });
    const pre = join(tmp.dir, 'preprocessed', name);
    const t00 = Date.now();
    const plans = await ensurePreprocessed({ rawDatasetFolder: raw, preprocessedDatasetFolder: pre, datasetName: name, configuration: '3d_fullres', workers: 0 });
    const small = shrinkPlans(plans, '3d_fullres', { baseFeatures: 4, maxFeatures: 8, maxStages: 3, batchSize: 2, patchSize: [16, 24, 24] });
    const t0 = Date.now();
    const result = await train({
      preprocessedDatasetFolder: pre,
      rawDatasetFolder: raw,
      resultsFolder: join(tmp.dir, 'results', name),
      configuration: '3d_fullres',
      fold: 0,
      plans: small,
      numEpochs: EPOCHS,
      iterationsPerEpoch: ITERS,
      validationIterations: 2,
      saveEvery: 10,
      seed: 0,
      loaderWorkers: 1,
      backend: 'wasm',
      log: (l) => {
        if (process.env.TRAIN_LOG) appendFileSync(process.env.TRAIN_LOG, `${l}\n`);
      },
    });
    const v = result.validation!;
    process.stderr.write(
      `train-3d: ${((Date.now() - t0) / 1000).toFixed(1)} s training + validation (${((Date.now() - t00) / 1000).toFixed(1)} s with planning and preprocessing), ` +
        `validation Dice liver ${v.mean['1']!.Dice.toFixed(3)} kidney ${v.mean['2']!.Dice.toFixed(3)} mean ${v.foreground_mean.Dice.toFixed(3)}\n`,
    );
    expect(existsSync(join(result.foldFolder, 'validation', 'summary.json'))).toBe(true);
    expect(v.foreground_mean.Dice).toBeGreaterThanOrEqual(0.8);
    expect(v.mean['1']!.Dice).toBeGreaterThanOrEqual(0.9);
    expect(v.mean['2']!.Dice).toBeGreaterThanOrEqual(0.5);
  }, 1_800_000);
});

/**
 * End to end on the cpu/wasm backend: a 2D configuration of a synthetic dataset (round lesion on a noisy
 * background) planned and preprocessed by our pipeline, trained by the nnseg trainer, validated through
 * the real predictor (ONNX + predictCase + summary.json) and imported into the model store.
 *
 * Overrides for CI time (documented, not nnU-Net defaults): features 4·2^s capped at 8, 2 stages with one
 * conv each, patch 32×32, batch 2, 8 epochs × 10 iterations, 1 validation iteration, loader in this thread.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.js';
import { shrinkPlans } from '../../server/src/training/prepare.js';
import { train } from '../../server/src/training/trainer.js';
import { ModelStore } from '../../server/src/models/model-store.js';
import { ensurePreprocessed } from '../../server/src/pipelines/plan-and-preprocess.js';
import { within } from '../helpers/patience.js';

const EPOCHS = Number(process.env.TRAIN2D_EPOCHS ?? 8);
const ITERS = Number(process.env.TRAIN2D_ITERS ?? 10);

describe('train a 2D configuration (wasm backend)', () => {
  const tmp = makeTempDir('nnseg-train2d-');
  afterAll(() => tmp.cleanup());

  it('reaches validation Dice ≥ 0.90 and registers the model', async () => {
    const ds = await writeSyntheticDataset(join(tmp.dir, 'raw'), { kind: '2d', numCases: 10 });
    const pre = join(tmp.dir, 'preprocessed', ds.name);
    const plans = await ensurePreprocessed({ rawDatasetFolder: ds.folder, preprocessedDatasetFolder: pre, datasetName: ds.name, configuration: '2d', workers: 0 });
    const small = shrinkPlans(plans, '2d', { baseFeatures: 4, maxFeatures: 8, maxStages: 2, batchSize: 2, patchSize: [32, 32], lean: true });
    const t0 = Date.now();
    const lines: string[] = [];
    const result = await train({
      preprocessedDatasetFolder: pre,
      rawDatasetFolder: ds.folder,
      resultsFolder: join(tmp.dir, 'results', ds.name),
      configuration: '2d',
      fold: 0,
      plans: small,
      numEpochs: EPOCHS,
      iterationsPerEpoch: ITERS,
      validationIterations: 1,
      saveEvery: 5,
      loaderWorkers: 0,
      backend: 'wasm',
      log: (l) => {
        lines.push(l);
        if (process.env.TRAIN_LOG) appendFileSync(process.env.TRAIN_LOG, `${l}\n`);
      },
    });
    process.stderr.write(`${lines.join('\n')}\ntrain-2d: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    expect(result.backend.kind).toBe('wasm');
    expect(result.validation).not.toBeNull();
    expect(result.validation!.foreground_mean.Dice).toBeGreaterThanOrEqual(0.9);
    for (const f of ['checkpoint_final.pth', 'checkpoint_best.pth', 'model.onnx', 'progress.png', 'training_log.json', 'validation/summary.json'])
      expect(existsSync(join(result.foldFolder, f))).toBe(true);
    expect(existsSync(join(result.foldFolder, 'checkpoint_latest.pth'))).toBe(false);
    const png = readFileSync(join(result.foldFolder, 'progress.png'));
    expect(Array.from(png.subarray(1, 4))).toEqual([80, 78, 71]);
    const log = JSON.parse(readFileSync(join(result.foldFolder, 'training_log.json'), 'utf8')) as { lrs: number[] };
    expect(log.lrs.length).toBe(EPOCHS);
    expect(log.lrs[0]).toBe(0.01);

    const stored = await new ModelStore(join(tmp.dir, 'store')).importModel(result.outputFolder, { name: 'synth2d' });
    expect(stored.card.configurations.map((c) => c.configuration)).toEqual(['2d']);
  }, within(900_000));
});

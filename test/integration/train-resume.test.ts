/**
 * Kill-and-resume: a run interrupted after epoch 2 (its AbortSignal fires, as a cancelled job would) is
 * continued with `resume` from the fold's checkpoint state and ends with the same schedule as an
 * uninterrupted run: one lr per epoch following the poly schedule, the optimizer step count of all epochs,
 * and the same number of log entries. Tiny network and few iterations: this tests the bookkeeping.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.js';
import { shrinkPlans } from '../../server/src/training/prepare.js';
import { train, type TrainOptions } from '../../server/src/training/trainer.js';
import { polyLr } from '../../server/src/training/optimizer.js';
import { readTrainingState } from '../../server/src/training/training-state.js';
import { readNnunetCheckpoint } from '../../server/src/models/checkpoint/reader.js';
import { ensurePreprocessed } from '../../server/src/pipelines/plan-and-preprocess.js';
import { within } from '../helpers/patience.js';

describe('train: kill and resume', () => {
  const tmp = makeTempDir('nnseg-train-resume-');
  afterAll(() => tmp.cleanup());

  it('continues from checkpoint_latest with the same lr schedule and optimizer step', async () => {
    const ds = await writeSyntheticDataset(join(tmp.dir, 'raw'), { kind: '2d', numCases: 5 });
    const pre = join(tmp.dir, 'preprocessed', ds.name);
    const plans = await ensurePreprocessed({ rawDatasetFolder: ds.folder, preprocessedDatasetFolder: pre, datasetName: ds.name, configuration: '2d', workers: 0 });
    const small = shrinkPlans(plans, '2d', { baseFeatures: 2, maxFeatures: 4, maxStages: 2, batchSize: 2, patchSize: [16, 16], lean: true });
    const base: TrainOptions = {
      preprocessedDatasetFolder: pre,
      resultsFolder: join(tmp.dir, 'results'),
      configuration: '2d',
      fold: 0,
      plans: small,
      numEpochs: 4,
      iterationsPerEpoch: 2,
      validationIterations: 1,
      saveEvery: 1,
      loaderWorkers: 0,
      backend: 'cpu',
      log: () => {},
    };
    const abort = new AbortController();
    await expect(
      train({ ...base, signal: abort.signal, onEpoch: (r) => r.epoch === 1 && abort.abort() }),
    ).rejects.toThrow(/cancelled/);
    const fold = join(tmp.dir, 'results', 'nnUNetTrainer__nnUNetPlans__2d', 'fold_0');
    expect(existsSync(join(fold, 'checkpoint_latest.pth'))).toBe(true);
    const mid = readTrainingState(fold);
    expect(mid.epoch).toBe(2);
    expect(mid.optimizer.step).toBe(4);
    expect(readNnunetCheckpoint(new Uint8Array(readFileSync(join(fold, 'checkpoint_latest.pth')))).currentEpoch).toBe(2);

    const resumedEpochs: number[] = [];
    const result = await train({ ...base, resume: true, onEpoch: (r) => resumedEpochs.push(r.epoch) });
    expect(resumedEpochs).toEqual([2, 3]);
    expect(result.log.lrs).toHaveLength(4);
    result.log.lrs.forEach((lr, e) => expect(lr).toBeCloseTo(polyLr(0.01, e, 4), 12));
    expect(result.log.train_losses).toHaveLength(4);
    const end = readTrainingState(fold);
    expect(end.epoch).toBe(4);
    expect(end.optimizer.step).toBe(8);
    expect(existsSync(join(fold, 'checkpoint_final.pth'))).toBe(true);
    expect(existsSync(join(fold, 'checkpoint_latest.pth'))).toBe(false);
    // a finished run has nothing left to resume: resuming again runs no epoch
    const again: number[] = [];
    await train({ ...base, resume: true, onEpoch: (r) => again.push(r.epoch) });
    expect(again).toEqual([]);
  }, within(600_000));
});

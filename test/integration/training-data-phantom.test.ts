/**
 * The data side of training end to end: phantom raw dataset → fingerprint → plans → preprocessing
 * (real class locations) → splits_final.json → worker-prefetched training / validation batches.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writePhantomDataset } from '../../server/src/demo/phantom-dataset.js';
import { extractDatasetFingerprint, loadDatasetJson } from '../../server/src/io/nnunet-raw.js';
import { planExperiment } from '../../server/src/nnunet/experiment_planning/planner.js';
import { preprocessDataset } from '../../server/src/pipelines/preprocess-dataset.js';
import {
  configureAugmentation,
  createTrainingLoader,
  createValidationLoader,
  deepSupervisionScales,
  nnunetAugmentation,
  readOrCreateSplits,
  selectFold,
} from '../../server/src/training/data/index.js';
import { makeTempDir } from '../helpers/tmp.js';

describe('phantom dataset → preprocessing → training batches', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => {
    tmp = makeTempDir('training-data-phantom-');
  });
  afterAll(() => tmp.cleanup());

  it('produces nnU-Net batches for both configurations', async () => {
    const raw = join(tmp.dir, 'Dataset900_Phantom');
    const ds = await writePhantomDataset(raw, { numCases: 5, shape: [16, 48, 48], spacing: [2.5, 1.5, 1.5], seed: 1 });
    const fp = await extractDatasetFingerprint(raw, { totalForegroundSamples: 5000 });
    const plans = planExperiment(loadDatasetJson(raw), fp, { datasetName: 'Dataset900_Phantom' }) as unknown as {
      configurations: Record<string, { patch_size: number[]; data_identifier: string; architecture: { arch_kwargs: { strides: number[][] } } }>;
    };
    const pre = join(tmp.dir, 'preprocessed');
    const configs = ['3d_fullres', '2d'].filter((c) => c in plans.configurations);
    expect(configs).toEqual(['3d_fullres', '2d']);
    const r = await preprocessDataset({ rawDatasetFolder: raw, plans, configurations: configs, outputFolder: pre, numWorkers: 0 });

    const splits = readOrCreateSplits(pre, ds.caseIds);
    expect(existsSync(join(pre, 'splits_final.json'))).toBe(true);
    const fold = selectFold(splits, 0, ds.caseIds);
    expect(fold.train).toHaveLength(4);
    expect(fold.val).toHaveLength(1);

    for (const c of configs) {
      const cfg = plans.configurations[c];
      const patch = cfg.patch_size;
      const is2d = patch.length === 2;
      const scales = deepSupervisionScales(cfg.architecture.arch_kwargs.strides);
      const base = { preprocessedFolder: r.folders[c], patchSize: patch, batchSize: 3, deepSupervisionScales: scales, is2d, workers: 2, seed: 7 };
      const tr = createTrainingLoader({ ...base, caseIds: fold.train, augmentation: nnunetAugmentation(configureAugmentation(patch)) });
      const va = createValidationLoader({ ...base, caseIds: fold.val });
      try {
        for (let t = 0; t < 3; t++) {
          const b = await tr.next();
          const n = patch.reduce((a, x) => a * x, 1);
          expect(b.shape.patch).toEqual(patch);
          expect(b.data.length).toBe(3 * n);
          expect(b.data.every((v) => Number.isFinite(v))).toBe(true);
          expect(b.targets).toHaveLength(scales.length);
          expect(b.targets[0].every((v) => v >= 0 && v <= 2)).toBe(true);
          const v = await va.next();
          expect(v.keys.every((k) => fold.val.includes(k))).toBe(true);
          // the last sample of 3 is forced to foreground; without augmentation it must contain some
          expect(v.targets[0].subarray(2 * n).some((x) => x > 0)).toBe(true);
        }
      } finally {
        await tr.close();
        await va.close();
      }
    }
  });
});

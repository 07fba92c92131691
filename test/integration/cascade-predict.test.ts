/**
 * The cascade (3d_lowres → 3d_cascade_fullres) end to end: a real results folder with both configurations,
 * imported into a real model store and predicted with onnxruntime. The full-resolution stage's network takes
 * 1 + 2 input channels (image + one-hot of the low-resolution segmentation's foreground labels 1 and 2), so
 * the run fails unless the previous stage ran and its one-hot was appended. Known answers from the head
 * biases: the low-resolution stage says label 1 inside the nonzero box, the cascade stage says label 2.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Volume } from '../../server/src/imaging/volume.js';
import { writeNnunetCheckpoint } from '../../server/src/models/checkpoint/writer.js';
import { LoadedModel } from '../../server/src/models/loaded-model.js';
import { ModelStore } from '../../server/src/models/model-store.js';
import { networkSpecFromPlans } from '../../server/src/nnunet/network/from-plans.js';
import { TEST_MODEL_DATASET, testModelDatasetJson, testModelPlans } from '../helpers/test-model.js';
import { makeTempDir } from '../helpers/tmp.js';

function cascadePlans(): Record<string, unknown> {
  const plans = testModelPlans() as { configurations: Record<string, Record<string, unknown>> };
  plans.configurations['3d_lowres'] = { inherits_from: '3d_fullres', data_identifier: 'nnUNetPlans_3d_lowres', spacing: [2, 2, 2], next_stage: '3d_cascade_fullres' };
  plans.configurations['3d_cascade_fullres'] = { inherits_from: '3d_fullres', previous_stage: '3d_lowres' };
  return plans;
}

function writeConfiguration(root: string, plans: Record<string, unknown>, configuration: string, headBias: number[]): void {
  const datasetJson = testModelDatasetJson();
  const spec = networkSpecFromPlans(plans as never, configuration, datasetJson as never);
  const weights = new Map(spec.params.map((p) => [p.name, new Float32Array(p.shape.reduce((a, b) => a * b, 1))]));
  weights.get(spec.params.filter((p) => /^decoder\.seg_layers\.\d+\.bias$/.test(p.name)).pop()!.name)!.set(headBias);
  const folder = join(root, `nnUNetTrainer__nnUNetPlans__${configuration}`);
  mkdirSync(join(folder, 'fold_0'), { recursive: true });
  writeFileSync(join(folder, 'plans.json'), JSON.stringify(plans));
  writeFileSync(join(folder, 'dataset.json'), JSON.stringify(datasetJson));
  writeFileSync(
    join(folder, 'fold_0', 'checkpoint_final.pth'),
    writeNnunetCheckpoint({ spec, weights, plans, configuration, fold: 0, datasetJson, inferenceAllowedMirroringAxes: [0, 1, 2] }),
  );
}

function boxImage(): Volume<Float32Array> {
  const shape: [number, number, number] = [20, 24, 28];
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let z = 3; z < 17; z++) for (let y = 4; y < 20; y++) for (let x = 5; x < 23; x++) data[(z * 24 + y) * 28 + x] = 50 + ((x * 7 + y * 3 + z) % 40);
  return { data, shape, spacing: [1.5, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
}

describe('cascade prediction', () => {
  const tmp = makeTempDir();
  afterAll(tmp.cleanup);

  it('runs 3d_lowres first and feeds its one-hot segmentation to 3d_cascade_fullres', async () => {
    const root = join(tmp.dir, 'results', TEST_MODEL_DATASET);
    const plans = cascadePlans();
    writeConfiguration(root, plans, '3d_lowres', [0, 3, 1]);
    writeConfiguration(root, plans, '3d_cascade_fullres', [0, 1, 4]);
    const stored = await new ModelStore(join(tmp.dir, 'store')).importModel(root, { name: 'cascade' });
    const cascade = stored.card.configurations.find((c) => c.configuration === '3d_cascade_fullres')!;
    expect(cascade.previousStage).toBe('3d_lowres');

    const image = boxImage();
    const low = await LoadedModel.load(stored, { configuration: '3d_lowres', intraOpThreads: 1 });
    const full = await LoadedModel.load(stored, { configuration: '3d_cascade_fullres', intraOpThreads: 1 });
    try {
      const lowSeg = (await low.predict([image])).segmentation;
      const stages: string[] = [];
      const fullSeg = (await full.predict([image], { onProgress: (p) => stages.push(p.stage) })).segmentation;
      expect(stages[0]).toBe('preprocessing');
      expect(fullSeg.shape).toEqual(image.shape);
      let inside = 0;
      for (let i = 0; i < image.data.length; i++) {
        const expected = image.data[i] !== 0 ? 1 : 0;
        expect(lowSeg.data[i]).toBe(expected);
        expect(fullSeg.data[i]).toBe(expected * 2);
        inside += expected;
      }
      expect(inside).toBe(14 * 16 * 18);
    } finally {
      await low.release();
      await full.release();
    }
  });

  it('names a cascade whose previous stage is missing from the results folder', async () => {
    const root = join(tmp.dir, 'results-no-lowres', TEST_MODEL_DATASET);
    const plans = cascadePlans();
    writeConfiguration(root, plans, '3d_cascade_fullres', [0, 1, 4]);
    await expect(new ModelStore(join(tmp.dir, 'store2')).importModel(root, { name: 'broken-cascade' })).rejects.toThrow(/3d_lowres/);
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { extractDatasetFingerprint, loadDatasetJson } from '../../server/src/io/nnunet-raw.js';
import { DatasetFingerprintSchema } from '../../server/src/nnunet/experiment_planning/fingerprint.js';
import { planExperiment } from '../../server/src/nnunet/experiment_planning/planner.js';
import { makeTempDir } from '../helpers/tmp.js';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.js';
import { PlansSchema } from '../../server/src/nnunet/plans/plans.js';

describe('fingerprint + plans on a synthetic raw dataset', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());

  it('3D CT-like dataset: crop shapes, spacings, CT normalization, 3d_fullres + 2d', async () => {
    const ds = await writeSyntheticDataset(tmp.dir, { kind: '3d', numCases: 3 });
    const fp = await extractDatasetFingerprint(ds.folder, { totalForegroundSamples: 30000 });
    DatasetFingerprintSchema.parse(fp);
    // the 2-voxel zero border is cropped on every side
    expect(fp.shapes_after_crop).toEqual(ds.cases.map((c) => c.shape.map((s) => s - 4)));
    expect(fp.spacings).toEqual(ds.cases.map((c) => c.spacing));
    const props = fp.foreground_intensity_properties_per_channel['0'];
    expect(props.min).toBeGreaterThanOrEqual(75);
    expect(props.max).toBeLessThanOrEqual(195);
    const plans = PlansSchema.parse(planExperiment(loadDatasetJson(ds.folder), fp, { datasetName: ds.name }));
    expect(Object.keys(plans.configurations)).toEqual(['2d', '3d_fullres']);
    expect(plans.configurations['3d_fullres'].normalization_schemes).toEqual(['CTNormalization']);
    expect(plans.transpose_forward).toEqual([0, 1, 2]);
    // z is coarse (3 > 3·0.75) and short (median crop z 10·3 < 32) → 10th percentile of [2.5, 3, 3.5] = 2.6
    const sp = plans.configurations['3d_fullres'].spacing as number[];
    expect(sp[0]).toBeCloseTo(2.6, 12);
    expect(sp.slice(1)).toEqual([0.75, 0.75]);
    expect(existsSync(join(ds.folder, 'dataset.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(ds.folder, 'dataset.json'), 'utf8')).labels).toEqual({ background: 0, liver: 1, kidney: 2 });
  });

  it('2D dataset gets only the 2d configuration', async () => {
    const ds = await writeSyntheticDataset(tmp.dir, { kind: '2d', numCases: 3 });
    const fp = await extractDatasetFingerprint(ds.folder, { totalForegroundSamples: 3000 });
    const plans = planExperiment(loadDatasetJson(ds.folder), fp, { datasetName: ds.name });
    expect(Object.keys(plans.configurations)).toEqual(['2d']);
    expect(plans.configurations['2d'].normalization_schemes).toEqual(['ZScoreNormalization']);
  });
});

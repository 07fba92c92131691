import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readPreprocessedCase } from '../../../server/src/io/nnunet-preprocessed.js';
import { preprocessCase } from '../../../server/src/nnunet/preprocessing/default-preprocessor.js';
import { preprocessDataset, type PreprocessProgress } from '../../../server/src/pipelines/preprocess-dataset.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { writeSyntheticDataset, type SyntheticDataset } from '../../helpers/synthetic-dataset.js';
import { parsePlans } from '../../../server/src/nnunet/plans/plans.js';

const plans = {
  plans_name: 'nnUNetPlans',
  dataset_name: 'Dataset901_SynthCT',
  transpose_forward: [0, 1, 2],
  transpose_backward: [0, 1, 2],
  foreground_intensity_properties_per_channel: { '0': { mean: 80, std: 50, percentile_00_5: 20, percentile_99_5: 200 } },
  configurations: {
    '2d': {
      data_identifier: 'nnUNetPlans_2d',
      spacing: [1.0, 1.0],
      normalization_schemes: ['CTNormalization'],
      use_mask_for_norm: [false],
      resampling_fn_data: 'resample_data_or_seg_to_shape',
      resampling_fn_data_kwargs: { is_seg: false, order: 3, order_z: 0, force_separate_z: null },
      resampling_fn_seg: 'resample_data_or_seg_to_shape',
      resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
    },
    '3d_fullres': { inherits_from: '2d', data_identifier: 'nnUNetPlans_3d_fullres', spacing: [3.0, 1.0, 1.0] },
  },
};
const labels = { labels: { background: 0, liver: 1, kidney: 2 } };

let tmp: ReturnType<typeof makeTempDir>;
let ds: SyntheticDataset;
beforeAll(async () => {
  tmp = makeTempDir();
  ds = await writeSyntheticDataset(tmp.dir, { kind: '3d', numCases: 3 });
});
afterAll(() => tmp.cleanup());

async function run(out: string, numWorkers: number): Promise<PreprocessProgress[]> {
  const progress: PreprocessProgress[] = [];
  const res = await preprocessDataset({
    rawDatasetFolder: ds.folder,
    plans,
    configurations: ['3d_fullres', '2d'],
    outputFolder: out,
    numWorkers,
    onProgress: (p) => progress.push(p),
  });
  expect(res.folders).toEqual({ '3d_fullres': join(out, 'nnUNetPlans_3d_fullres'), '2d': join(out, 'nnUNetPlans_2d') });
  expect(res.cases.map((c) => c.caseId)).toEqual(ds.cases.map((c) => c.id));
  return progress;
}

test.each([0, 2])('writes every case of every configuration, equal to preprocessCase (%i workers)', async (numWorkers) => {
  const out = join(tmp.dir, `pre${numWorkers}`);
  const progress = await run(out, numWorkers);
  expect(progress.map((p) => p.done)).toEqual([1, 2, 3]);
  expect(progress.every((p) => p.total === 3)).toBe(true);
  const p = parsePlans(plans);
  for (const configuration of ['3d_fullres', '2d']) {
    const folder = join(out, `nnUNetPlans_${configuration}`);
    expect(readdirSync(folder).sort()).toEqual(ds.cases.flatMap((c) => [`${c.id}.json`, `${c.id}.npy`, `${c.id}_seg.npy`]).sort());
    for (const c of ds.cases) {
      const expected = preprocessCase([c.image], c.label, p, configuration, labels, c.id);
      const got = readPreprocessedCase(folder, c.id);
      expect(got.shape).toEqual(expected.shape);
      expect(got.data).toEqual(expected.data);
      expect(Array.from(got.seg!)).toEqual(Array.from(expected.seg!));
      expect(got.properties.bbox_used_for_cropping).toEqual(expected.properties.bbox_used_for_cropping);
      expect(got.properties.class_locations!['1'].length).toBe(expected.properties.class_locations!['1'].length / 4);
    }
  }
});

test('a broken case fails with its id and the file named; the folder starts empty each run', async () => {
  const out = join(tmp.dir, 'broken');
  await expect(
    preprocessDataset({
      cases: [{ id: 'nope', images: [join(tmp.dir, 'missing_0000.nii.gz')] }],
      datasetJson: labels,
      plans,
      configurations: ['3d_fullres'],
      outputFolder: out,
      numWorkers: 1,
    }),
  ).rejects.toThrow(/nope: .*missing_0000.nii.gz/);
  expect(existsSync(join(out, 'nnUNetPlans_3d_fullres'))).toBe(true);
  expect(readdirSync(join(out, 'nnUNetPlans_3d_fullres'))).toEqual([]);
  await expect(preprocessDataset({ plans, configurations: ['3d_fullres'], outputFolder: out })).rejects.toThrow(/give rawDatasetFolder or cases/);
  await expect(preprocessDataset({ rawDatasetFolder: ds.folder, plans, configurations: ['3d_lowres'], outputFolder: out })).rejects.toThrow(/no configuration "3d_lowres"/);
});

import { preprocessCase } from '../../../server/src/nnunet/preprocessing/default-preprocessor.js';
import { createPreprocessPool, preprocessInWorker } from '../../../server/src/pipelines/preprocess-pool.js';
import { syntheticCase3d } from '../../helpers/synthetic-dataset.js';
import { parsePlans } from '../../../server/src/nnunet/plans/plans.js';

const plans = {
  plans_name: 'nnUNetPlans',
  transpose_forward: [0, 1, 2],
  foreground_intensity_properties_per_channel: { '0': { mean: 80, std: 50, percentile_00_5: 20, percentile_99_5: 200 } },
  configurations: {
    '3d_fullres': {
      data_identifier: 'nnUNetPlans_3d_fullres',
      spacing: [3.0, 1.0, 1.0],
      normalization_schemes: ['CTNormalization'],
      use_mask_for_norm: [false],
      resampling_fn_data_kwargs: { is_seg: false, order: 3, order_z: 0, force_separate_z: null },
      resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
    },
  },
};
const labels = { labels: { background: 0, liver: 1, kidney: 2 } };

test('preprocessing in a worker (transferred buffers) equals preprocessing in this thread', async () => {
  const pool = createPreprocessPool(1);
  try {
    const c = syntheticCase3d(1);
    const expected = preprocessCase([c.image], c.label, parsePlans(plans), '3d_fullres', labels, c.id);
    const image = { ...c.image, data: c.image.data.slice() };
    const got = await preprocessInWorker(pool, c.id, [image], { ...c.label, data: c.label.data.slice() }, plans, '3d_fullres', labels);
    expect(image.data.length).toBe(0); // transferred, detached here
    expect(got.shape).toEqual(expected.shape);
    expect(got.data).toEqual(expected.data);
    expect(got.seg).toEqual(expected.seg);
    expect(got.properties.class_locations).toEqual(expected.properties.class_locations);
    await expect(preprocessInWorker(pool, 'bad', [{ ...c.image, data: c.image.data.slice() }], undefined, plans, '2d', labels)).rejects.toThrow(
      /no configuration "2d"/,
    );
  } finally {
    await pool.close();
  }
});

import { configurationDict, parsePlans, resolveConfiguration } from '../../../../server/src/nnunet/plans/plans.js';

const kwargs = { is_seg: false, order: 3, order_z: 0, force_separate_z: null };
const fullres = {
  data_identifier: 'nnUNetPlans_3d_fullres',
  batch_size: 2,
  patch_size: [64, 128, 128],
  spacing: [2.5, 0.8, 0.8],
  normalization_schemes: ['CTNormalization'],
  use_mask_for_norm: [false],
  resampling_fn_data_kwargs: kwargs,
  resampling_fn_seg_kwargs: { ...kwargs, is_seg: true, order: 1 },
  batch_dice: true,
};
const raw = {
  plans_name: 'nnUNetPlans',
  transpose_forward: [0, 1, 2],
  configurations: {
    '3d_fullres': fullres,
    '3d_lowres': { inherits_from: '3d_fullres', data_identifier: 'nnUNetPlans_3d_lowres', spacing: [5, 1.6, 1.6] },
    '3d_cascade_fullres': { inherits_from: '3d_fullres', previous_stage: '3d_lowres' },
  },
  foreground_intensity_properties_per_channel: { '0': { mean: 40, std: 10, percentile_00_5: -100, percentile_99_5: 200 } },
};

describe('plans (PlansManager / ConfigurationManager)', () => {
  it('resolves inherits_from: the parent, updated with the child keys', () => {
    const plans = parsePlans(raw);
    const low = resolveConfiguration(plans, '3d_lowres');
    expect(low.spacing).toEqual([5, 1.6, 1.6]);
    expect(low.data_identifier).toBe('nnUNetPlans_3d_lowres');
    expect(low.patch_size).toEqual([64, 128, 128]); // inherited
    expect(low.batch_size).toBe(2);
    const cascade = resolveConfiguration(plans, '3d_cascade_fullres');
    expect(cascade.previous_stage).toBe('3d_lowres');
    expect(cascade.data_identifier).toBe('nnUNetPlans_3d_fullres');
    // unchecked keys are kept
    expect(configurationDict(plans, '3d_cascade_fullres').inherits_from).toBe('3d_fullres');
  });

  it('names a missing, cyclic or incomplete configuration', () => {
    expect(() => configurationDict(raw, '2d')).toThrow('no configuration "2d"; available: 3d_fullres, 3d_lowres, 3d_cascade_fullres');
    const cyclic = { configurations: { a: { inherits_from: 'b' }, b: { inherits_from: 'a' } } };
    expect(() => configurationDict(cyclic, 'a')).toThrow('configurations inherit in a cycle: a → b → a');
    const orphan = { configurations: { a: { inherits_from: 'gone' } } };
    expect(() => configurationDict(orphan, 'a')).toThrow('no configuration "gone" (inherited by "a")');
    const incomplete = { ...raw, configurations: { x: { spacing: [1, 1, 1] } } };
    expect(() => resolveConfiguration(parsePlans(incomplete), 'x')).toThrow(/configuration "x" is missing what preprocessing needs:[\s\S]*data_identifier/);
  });

  it('refuses a transpose that is not a permutation', () => {
    expect(() => parsePlans({ ...raw, transpose_forward: [0, 0, 1] })).toThrow('transpose_forward must be a permutation of [0, 1, 2], got [0, 0, 1]');
  });
});

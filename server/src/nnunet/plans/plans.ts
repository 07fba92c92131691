/**
 * The one owner of nnU-Net's plans.json: its schema, the inheritance of configurations and a typed view of
 * one configuration (nnunetv2/utilities/plans_handling/plans_handler.py: PlansManager, ConfigurationManager).
 * Every reader of plans (preprocessing, network building, training, model import and export) goes through
 * here. Pure: no I/O.
 */
import { z } from 'zod';

/** nnunetv2/configuration.py ANISO_THRESHOLD: spacing (or patch) ratio above which a case counts as anisotropic. */
export const ANISO_THRESHOLD = 3;

/**
 * Foreground intensity statistics of one channel (the dataset fingerprint's, copied into the plans).
 * nnU-Net writes all seven; normalization needs mean, std and the two percentiles.
 */
export const IntensityPropertiesSchema = z.looseObject({
  max: z.number().optional(),
  mean: z.number(),
  median: z.number().optional(),
  min: z.number().optional(),
  percentile_00_5: z.number(),
  percentile_99_5: z.number(),
  std: z.number(),
});
export type IntensityProperties = z.infer<typeof IntensityPropertiesSchema>;

const ResamplingKwargsSchema = z.looseObject({
  is_seg: z.boolean().optional(),
  order: z.number().int().optional(),
  order_z: z.number().int().optional(),
  force_separate_z: z.boolean().nullable().optional(),
  separate_z_anisotropy_threshold: z.number().optional(),
});
export type ResamplingKwargs = z.infer<typeof ResamplingKwargsSchema>;

/** The only resampling function nnU-Net's default plans name (default_resampling.py). */
export const RESAMPLING_FN = 'resample_data_or_seg_to_shape';

const permutation3 = z.array(z.number().int().min(0).max(2)).length(3);

/** plans.json. nnU-Net has no version field; everything not named here is kept as it is. */
export const PlansSchema = z.looseObject({
  dataset_name: z.string().optional(),
  plans_name: z.string().min(1),
  original_median_spacing_after_transp: z.array(z.number()).optional(),
  original_median_shape_after_transp: z.array(z.number().int()).optional(),
  image_reader_writer: z.string().optional(),
  transpose_forward: permutation3,
  transpose_backward: permutation3.optional(),
  /** a configuration as written: with `inherits_from`, only the keys it changes */
  configurations: z.record(z.string(), z.looseObject({ inherits_from: z.string().optional() })),
  experiment_planner_used: z.string().optional(),
  label_manager: z.string().optional(),
  foreground_intensity_properties_per_channel: z.record(z.string(), IntensityPropertiesSchema),
});
export type Plans = z.infer<typeof PlansSchema>;

/** A resolved configuration (after `inherits_from`), typed where nnseg reads it: ConfigurationManager's properties. */
export const ConfigurationSchema = z.looseObject({
  data_identifier: z.string().min(1),
  preprocessor_name: z.string().optional(),
  batch_size: z.number().optional(),
  patch_size: z.array(z.number().int()).optional(),
  median_image_size_in_voxels: z.array(z.number()).optional(),
  spacing: z.array(z.number().positive()).min(2).max(3),
  normalization_schemes: z.array(z.string()).min(1),
  use_mask_for_norm: z.array(z.boolean()).min(1),
  resampling_fn_data: z.literal(RESAMPLING_FN).optional(),
  resampling_fn_seg: z.literal(RESAMPLING_FN).optional(),
  resampling_fn_data_kwargs: ResamplingKwargsSchema,
  resampling_fn_seg_kwargs: ResamplingKwargsSchema,
  resampling_fn_probabilities: z.literal(RESAMPLING_FN).optional(),
  resampling_fn_probabilities_kwargs: ResamplingKwargsSchema.optional(),
  batch_dice: z.boolean().optional(),
  architecture: z.unknown().optional(),
  previous_stage: z.string().optional(),
  next_stage: z.union([z.string(), z.array(z.string())]).optional(),
});
export type Configuration = z.infer<typeof ConfigurationSchema>;

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

/** Parses plans.json, naming every missing or wrong field. */
export function parsePlans(raw: unknown, source = 'plans.json'): Plans {
  const r = PlansSchema.safeParse(raw);
  if (!r.success) throw new Error(`${source} is missing what preprocessing needs:\n${issues(r.error)}`);
  const tf = r.data.transpose_forward;
  if ([...tf].sort().join() !== '0,1,2') throw new Error(`${source}: transpose_forward must be a permutation of [0, 1, 2], got [${tf.join(', ')}]`);
  return r.data;
}

/** What the inheritance walk needs of plans: any plans-shaped value (parsed or not yet). */
export interface PlansConfigurations {
  configurations: Record<string, Record<string, unknown>>;
}

/**
 * PlansManager.get_configuration: a configuration with `inherits_from` is its parent (recursively) updated
 * with its own keys. Returns the merged dict unchecked: model import and export read architecture keys
 * that preprocessing does not need.
 */
export function configurationDict(plans: PlansConfigurations, name: string, source = 'plans.json'): Record<string, unknown> {
  const chain: Record<string, unknown>[] = [];
  const seen: string[] = [];
  let current: string | undefined = name;
  while (current !== undefined) {
    if (seen.includes(current)) throw new Error(`${source}: configurations inherit in a cycle: ${[...seen, current].join(' → ')}`);
    seen.push(current);
    const c: Record<string, unknown> | undefined = plans.configurations?.[current];
    if (!c)
      throw new Error(
        `${source}: no configuration "${current}"${current === name ? '' : ` (inherited by "${name}")`}; available: ${Object.keys(plans.configurations ?? {}).join(', ')}`,
      );
    chain.unshift(c);
    current = typeof c.inherits_from === 'string' ? c.inherits_from : undefined;
  }
  return Object.assign({}, ...chain);
}

/** The resolved, checked configuration `name` (ConfigurationManager): typed fields, the rest kept as is. */
export function resolveConfiguration(plans: PlansConfigurations, name: string, source = 'plans.json'): Configuration {
  const r = ConfigurationSchema.safeParse(configurationDict(plans, name, source));
  if (!r.success) throw new Error(`${source}: configuration "${name}" is missing what preprocessing needs:\n${issues(r.error)}`);
  return r.data;
}

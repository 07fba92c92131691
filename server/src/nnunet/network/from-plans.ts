/**
 * The network a configuration of plans.json describes, with nnU-Net's input/output counts
 * (nnunetv2/utilities/get_network_from_plans.py, determine_num_input_channels in
 * nnunetv2/utilities/label_handling/label_handling.py): channels = len(channel_names), plus one-hot
 * foreground labels of the previous stage for a cascade; outputs = segmentation heads.
 */
import { LabelManager } from '../dataset/labels.js';
import type { LabelValue } from '../dataset/dataset-json.js';
import { architectureFromLegacyConfiguration, parseArchitecture } from './architecture.js';
import { buildNetworkSpec, type NetworkSpec } from './spec.js';
import { configurationDict, type PlansConfigurations } from '../plans/plans.js';

export interface DatasetJsonLike {
  channel_names?: Record<string, string>;
  modality?: Record<string, string>;
  labels: Record<string, LabelValue>;
  regions_class_order?: number[] | null;
}

/** Most voxels one patch may have: nnU-Net's largest plans stay near 2²¹ (128³); 2²⁶ is a 400³ patch. */
export const MAX_PATCH_VOXELS = 2 ** 26;

/**
 * The inference-relevant facts of a resolved configuration are sane: a patch of 2 or 3 positive sizes of
 * bounded product, as many positive finite spacings, a sane batch size. Called before any weight is read,
 * so an absurd plans file is refused for being absurd rather than failing somewhere later.
 */
export function checkConfigurationSanity(configuration: Record<string, unknown>, name: string, dim: number): void {
  const where = `plans.json configuration "${name}"`;
  const { patch_size: patch, spacing, batch_size: batch } = configuration;
  if (patch !== undefined) {
    if (!Array.isArray(patch) || patch.length !== dim || !patch.every((v) => Number.isInteger(v) && v >= 1 && v <= 4096))
      throw new Error(`${where}: patch_size ${JSON.stringify(patch)} is not ${dim} integers in 1…4096`);
    const voxels = (patch as number[]).reduce((a, b) => a * b, 1);
    if (voxels > MAX_PATCH_VOXELS) throw new Error(`${where}: patch_size ${JSON.stringify(patch)} has ${voxels} voxels (at most ${MAX_PATCH_VOXELS})`);
  }
  if (spacing !== undefined && (!Array.isArray(spacing) || spacing.length !== dim || !spacing.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0 && v < 1e4)))
    throw new Error(`${where}: spacing ${JSON.stringify(spacing)} is not ${dim} positive finite numbers`);
  if (batch !== undefined && !(Number.isInteger(batch) && (batch as number) >= 1 && (batch as number) <= 4096))
    throw new Error(`${where}: batch_size ${JSON.stringify(batch)} is not an integer in 1…4096`);
}

export function networkSpecFromPlans(plans: PlansConfigurations, configurationName: string, datasetJson: DatasetJsonLike): NetworkSpec {
  const configuration = configurationDict(plans, configurationName);
  const architecture =
    configuration.architecture !== undefined
      ? parseArchitecture(configuration.architecture, `configurations.${configurationName}.architecture`)
      : architectureFromLegacyConfiguration(configuration);
  const channels = Object.keys(datasetJson.channel_names ?? datasetJson.modality ?? {}).length;
  if (channels === 0) throw new Error('dataset.json: channel_names is empty');
  const labels = new LabelManager(datasetJson.labels, datasetJson.regions_class_order ?? undefined);
  const previousStage = typeof configuration.previous_stage === 'string' ? configuration.previous_stage : undefined;
  const inputChannels = channels + (previousStage ? labels.foregroundLabels.length : 0);
  const spec = buildNetworkSpec(architecture, inputChannels, labels.numSegmentationHeads);
  checkConfigurationSanity(configuration, configurationName, spec.dim);
  return spec;
}

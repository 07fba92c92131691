/**
 * What `nnseg train` runs when a dataset has not been planned/preprocessed yet: the same steps as
 * `nnseg plan-and-preprocess` (fingerprint → plans → preprocessing of the requested configuration).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extractDatasetFingerprint, loadDatasetJson } from '../io/nnunet-raw.js';
import { planExperiment, PLANNER_PRESETS } from '../nnunet/experiment_planning/planner.js';
import { preprocessDataset } from '../nnunet/preprocessing/preprocess-dataset.js';
import { resolvePlansConfiguration } from '../nnunet/network/from-plans.js';

export interface EnsurePreprocessedOptions {
  rawDatasetFolder: string;
  /** nnUNet_preprocessed/<Dataset> */
  preprocessedDatasetFolder: string;
  datasetName: string;
  plansName?: string;
  configuration: string;
  workers?: number;
  log?: (line: string) => void;
  /** told when planning or preprocessing actually runs (skipped when their outputs exist) */
  onStage?: (stage: 'planning' | 'preprocessing') => void;
}

/** Plans (if missing) and preprocesses `configuration` (if its data folder is missing); returns the plans. */
export async function ensurePreprocessed(o: EnsurePreprocessedOptions): Promise<Record<string, unknown>> {
  const log = o.log ?? (() => {});
  const plansName = o.plansName ?? 'nnUNetPlans';
  const plansPath = join(o.preprocessedDatasetFolder, `${plansName}.json`);
  mkdirSync(o.preprocessedDatasetFolder, { recursive: true });
  let plans: Record<string, unknown>;
  if (existsSync(plansPath)) plans = JSON.parse(readFileSync(plansPath, 'utf8')) as Record<string, unknown>;
  else {
    const preset = PLANNER_PRESETS[plansName];
    if (!preset) throw new Error(`no ${plansPath} and "${plansName}" is not a planner preset (${Object.keys(PLANNER_PRESETS).join(', ')})`);
    log(`planning ${o.datasetName} (${plansName})`);
    o.onStage?.('planning');
    const dj = loadDatasetJson(o.rawDatasetFolder);
    const fp = await extractDatasetFingerprint(o.rawDatasetFolder, { concurrency: o.workers ?? 2 });
    writeFileSync(join(o.preprocessedDatasetFolder, 'dataset_fingerprint.json'), JSON.stringify(fp, null, 2));
    plans = planExperiment(dj, fp, { preset, datasetName: o.datasetName }) as unknown as Record<string, unknown>;
    writeFileSync(plansPath, JSON.stringify(plans, null, 4));
  }
  if (!existsSync(join(o.preprocessedDatasetFolder, 'dataset.json')))
    copyFileSync(join(o.rawDatasetFolder, 'dataset.json'), join(o.preprocessedDatasetFolder, 'dataset.json'));
  const config = resolvePlansConfiguration(plans as { configurations: Record<string, Record<string, unknown>> }, o.configuration);
  const dataFolder = join(o.preprocessedDatasetFolder, String(config.data_identifier));
  if (!existsSync(dataFolder)) {
    log(`preprocessing ${o.configuration} into ${dataFolder}`);
    o.onStage?.('preprocessing');
    await preprocessDataset({
      rawDatasetFolder: o.rawDatasetFolder,
      plans,
      configurations: [o.configuration],
      outputFolder: o.preprocessedDatasetFolder,
      numWorkers: o.workers ?? 2,
    });
  }
  return plans;
}

/**
 * A smaller network for quick runs and CI (documented override, not nnU-Net's plans): features capped at
 * `maxFeatures` (base·2^s), at most `maxStages` stages (patch shrunk to stay divisible), and
 * one conv per stage in encoder and decoder when `lean`.
 */
export function shrinkPlans(
  plans: Record<string, unknown>,
  configuration: string,
  o: { baseFeatures: number; maxFeatures: number; maxStages?: number; patchSize?: number[]; batchSize?: number; lean?: boolean },
): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(plans)) as { configurations: Record<string, Record<string, unknown>> };
  const resolved = resolvePlansConfiguration(copy, configuration);
  const arch = JSON.parse(JSON.stringify(resolved.architecture)) as { arch_kwargs: Record<string, unknown> };
  const k = arch.arch_kwargs;
  let n = k.n_stages as number;
  const cut = <T>(v: T) => (Array.isArray(v) ? (v.slice(0, n) as T) : v);
  if (o.maxStages !== undefined && o.maxStages < n) {
    n = o.maxStages;
    k.n_stages = n;
    for (const key of ['features_per_stage', 'kernel_sizes', 'strides', 'n_conv_per_stage', 'n_blocks_per_stage']) if (key in k) k[key] = cut(k[key]);
    if (Array.isArray(k.n_conv_per_stage_decoder)) k.n_conv_per_stage_decoder = (k.n_conv_per_stage_decoder as number[]).slice(0, n - 1);
  }
  k.features_per_stage = Array.from({ length: n }, (_, s) => Math.min(o.baseFeatures * 2 ** s, o.maxFeatures));
  if (o.lean) {
    if ('n_conv_per_stage' in k) k.n_conv_per_stage = new Array(n).fill(1);
    if ('n_blocks_per_stage' in k) k.n_blocks_per_stage = new Array(n).fill(1);
    k.n_conv_per_stage_decoder = new Array(n - 1).fill(1);
  }
  const own = copy.configurations[configuration]!;
  own.architecture = arch;
  // the patch must stay divisible by the total stride of the remaining stages
  const strides = (k.strides as number[][]).map((s) => (Array.isArray(s) ? s : []));
  const total = (resolved.patch_size as number[]).map((_, a) => strides.reduce((p, s) => p * (s[a] ?? 1), 1));
  const patch = (o.patchSize ?? (resolved.patch_size as number[])).map((p, a) => Math.max(total[a]!, Math.round(p / total[a]!) * total[a]!));
  own.patch_size = patch;
  if (o.batchSize !== undefined) own.batch_size = o.batchSize;
  return copy as unknown as Record<string, unknown>;
}

/**
 * nnUNetv2_plan_and_preprocess at the level of nnU-Net's `plan_and_preprocess_api.py`: fingerprint →
 * plans → preprocessed data, reading and writing nnU-Net's folders. The one path used by
 * `nnseg plan-and-preprocess` and by `nnseg train` (which plans and preprocesses what is missing).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../formats/atomic-file.js';
import { extractDatasetFingerprint, loadDatasetJson } from '../io/nnunet-raw.js';
import { planExperiment, PLANNER_PRESETS, type PlannerPreset } from '../nnunet/experiment_planning/planner.js';
import { parsePlans, resolveConfiguration, type Plans } from '../nnunet/plans/plans.js';
import { preprocessDataset } from './preprocess-dataset.js';

export interface PlanDatasetOptions {
  rawDatasetFolder: string;
  /** nnUNet_preprocessed/<Dataset> */
  preprocessedDatasetFolder: string;
  datasetName: string;
  preset: PlannerPreset;
  gpuMemoryTargetGB?: number;
  /** cases read concurrently for the fingerprint */
  concurrency?: number;
  onCase?: (caseId: string) => void;
}

/**
 * nnUNetv2_extract_fingerprint + nnUNetv2_plan_experiment: writes dataset_fingerprint.json, <plans>.json
 * and dataset.json into the preprocessed folder, formatted as nnU-Net's `save_json` writes them
 * (fingerprint with sorted keys, plans in planner order), and returns the plans.
 */
export async function planDataset(o: PlanDatasetOptions): Promise<Plans> {
  mkdirSync(o.preprocessedDatasetFolder, { recursive: true });
  const dj = loadDatasetJson(o.rawDatasetFolder);
  const fp = await extractDatasetFingerprint(o.rawDatasetFolder, { concurrency: o.concurrency, onCase: o.onCase });
  writeJsonAtomic(join(o.preprocessedDatasetFolder, 'dataset_fingerprint.json'), fp, { python: { sortKeys: true } });
  const plans = planExperiment(dj, fp, { preset: o.preset, gpuMemoryTargetGB: o.gpuMemoryTargetGB, datasetName: o.datasetName });
  writeJsonAtomic(join(o.preprocessedDatasetFolder, `${plans.plans_name}.json`), plans, { python: { sortKeys: false } });
  copyFileSync(join(o.rawDatasetFolder, 'dataset.json'), join(o.preprocessedDatasetFolder, 'dataset.json'));
  return plans;
}

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

/** Plans (if <plans>.json is missing) and preprocesses `configuration` (if its data folder is missing); returns the plans. */
export async function ensurePreprocessed(o: EnsurePreprocessedOptions): Promise<Plans> {
  const log = o.log ?? (() => {});
  const plansName = o.plansName ?? 'nnUNetPlans';
  const plansPath = join(o.preprocessedDatasetFolder, `${plansName}.json`);
  let plans: Plans;
  if (existsSync(plansPath)) plans = parsePlans(JSON.parse(readFileSync(plansPath, 'utf8')), plansPath);
  else {
    const preset = PLANNER_PRESETS[plansName];
    if (!preset) throw new Error(`no ${plansPath} and "${plansName}" is not a planner preset (${Object.keys(PLANNER_PRESETS).join(', ')})`);
    log(`planning ${o.datasetName} (${plansName})`);
    o.onStage?.('planning');
    plans = await planDataset({ ...o, preset, concurrency: o.workers ?? 2 });
  }
  if (!existsSync(join(o.preprocessedDatasetFolder, 'dataset.json')))
    copyFileSync(join(o.rawDatasetFolder, 'dataset.json'), join(o.preprocessedDatasetFolder, 'dataset.json'));
  const dataFolder = join(o.preprocessedDatasetFolder, resolveConfiguration(plans, o.configuration, plansPath).data_identifier);
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

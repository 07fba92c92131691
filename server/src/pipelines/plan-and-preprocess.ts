/**
 * nnU-Net's `plan_and_preprocess_api.py`: extract the fingerprint → plan the experiment → preprocess, each
 * reading and writing nnU-Net's folders as nnU-Net does, so a user can stop between steps and edit the plans.
 * The one path of `nnseg extract-fingerprint`, `plan-experiment`, `preprocess`, `plan-and-preprocess` and of
 * `nnseg train` (which plans and preprocesses what is missing).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../formats/atomic-file.js';
import { extractDatasetFingerprint, loadDatasetJson } from '../io/nnunet-raw.js';
import { DatasetFingerprintSchema, type DatasetFingerprint } from '../nnunet/experiment_planning/fingerprint.js';
import { planExperiment, PLANNER_PRESETS, type PlannerPreset } from '../nnunet/experiment_planning/planner.js';
import { parsePlans, resolveConfiguration, type Plans } from '../nnunet/plans/plans.js';
import { preprocessDataset, type PreprocessDatasetResult, type PreprocessProgress } from './preprocess-dataset.js';

export interface ExtractFingerprintOptions {
  rawDatasetFolder: string;
  /** nnUNet_preprocessed/<Dataset> */
  preprocessedDatasetFolder: string;
  /** cases read concurrently */
  concurrency?: number;
  onCase?: (caseId: string) => void;
  /** `--clean`: extract again although dataset_fingerprint.json exists */
  clean?: boolean;
}

/**
 * nnUNetv2_extract_fingerprint (DatasetFingerprintExtractor.run): writes dataset_fingerprint.json into the
 * preprocessed folder with sorted keys; an existing one is kept (and returned) unless `clean`.
 */
export async function extractFingerprint(o: ExtractFingerprintOptions): Promise<{ fingerprint: DatasetFingerprint; extracted: boolean }> {
  const file = join(o.preprocessedDatasetFolder, 'dataset_fingerprint.json');
  if (existsSync(file) && !o.clean) return { fingerprint: readFingerprint(file), extracted: false };
  mkdirSync(o.preprocessedDatasetFolder, { recursive: true });
  const fingerprint = await extractDatasetFingerprint(o.rawDatasetFolder, { concurrency: o.concurrency, onCase: o.onCase });
  writeJsonAtomic(file, fingerprint, { python: { sortKeys: true } });
  return { fingerprint, extracted: true };
}

function readFingerprint(file: string): DatasetFingerprint {
  const r = DatasetFingerprintSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!r.success) throw new Error(`${file}: not an nnU-Net dataset fingerprint (${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')})`);
  return r.data;
}

export interface PlanExperimentOptions {
  rawDatasetFolder: string;
  /** nnUNet_preprocessed/<Dataset>, holding dataset_fingerprint.json */
  preprocessedDatasetFolder: string;
  datasetName: string;
  preset: PlannerPreset;
  /** `-gpu_memory_target` */
  gpuMemoryTargetGB?: number;
  /** `-overwrite_plans_name`: the plans file's name and its data identifiers (`<name>_<configuration>`) */
  plansName?: string;
  /** `-overwrite_target_spacing`, z y x */
  overwriteTargetSpacing?: number[];
}

/**
 * nnUNetv2_plan_experiment (ExperimentPlanner.plan_experiment): the fingerprint and dataset.json → <plans>.json,
 * written in planner order as nnU-Net's save_json(sort_keys=False) does, and dataset.json copied beside it.
 */
export function planExperimentFolder(o: PlanExperimentOptions): Plans {
  const file = join(o.preprocessedDatasetFolder, 'dataset_fingerprint.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`nnseg extract-fingerprint\` first`);
  const plans = planExperiment(loadDatasetJson(o.rawDatasetFolder), readFingerprint(file), {
    preset: o.preset,
    gpuMemoryTargetGB: o.gpuMemoryTargetGB,
    datasetName: o.datasetName,
    plansName: o.plansName,
    overwriteTargetSpacing: o.overwriteTargetSpacing,
  });
  writeJsonAtomic(join(o.preprocessedDatasetFolder, `${plans.plans_name}.json`), plans, { python: { sortKeys: false } });
  copyFileSync(join(o.rawDatasetFolder, 'dataset.json'), join(o.preprocessedDatasetFolder, 'dataset.json'));
  return plans;
}

/** Fingerprint (unless present) then plans: the planning half of nnUNetv2_plan_and_preprocess. */
export async function planDataset(o: PlanExperimentOptions & Omit<ExtractFingerprintOptions, 'preprocessedDatasetFolder' | 'rawDatasetFolder'>): Promise<Plans> {
  await extractFingerprint(o);
  return planExperimentFolder(o);
}

export interface PreprocessFolderOptions {
  rawDatasetFolder: string;
  preprocessedDatasetFolder: string;
  /** `-plans_name` (default nnUNetPlans): reads <name>.json as it is, edited or not */
  plansName?: string;
  /** `-c` (default 2d 3d_fullres 3d_lowres); configurations the plans lack are skipped, as nnU-Net does */
  configurations?: string[];
  numWorkers?: number;
  onProgress?: (p: PreprocessProgress) => void;
  /** refuse, naming them, configurations the plans lack (instead of skipping them as nnU-Net does) */
  refuseMissing?: boolean;
}

/** nnU-Net's default `-c` of nnUNetv2_preprocess and nnUNetv2_plan_and_preprocess (3d_cascade_fullres reuses 3d_fullres data). */
export const DEFAULT_PREPROCESS_CONFIGURATIONS = ['2d', '3d_fullres', '3d_lowres'];

/**
 * nnUNetv2_preprocess (preprocess_dataset): the plans file as it is on disk → <data_identifier>/ per
 * configuration. Returns what was preprocessed and which requested configurations the plans do not have.
 */
export async function preprocessFolder(o: PreprocessFolderOptions): Promise<{ result: PreprocessDatasetResult | undefined; skipped: string[] }> {
  const plansFile = join(o.preprocessedDatasetFolder, `${o.plansName ?? 'nnUNetPlans'}.json`);
  if (!existsSync(plansFile)) throw new Error(`${plansFile} is missing: plan the dataset first (\`nnseg plan-experiment\`)`);
  const plans = parsePlans(JSON.parse(readFileSync(plansFile, 'utf8')), plansFile);
  const requested = o.configurations ?? DEFAULT_PREPROCESS_CONFIGURATIONS;
  const configurations = requested.filter((c) => c in plans.configurations);
  const skipped = requested.filter((c) => !(c in plans.configurations));
  if (skipped.length && o.refuseMissing)
    throw new Error(`${plansFile}: plans have no configuration ${skipped.join(', ')} (available: ${Object.keys(plans.configurations).join(', ')})`);
  if (!existsSync(join(o.preprocessedDatasetFolder, 'dataset.json')))
    copyFileSync(join(o.rawDatasetFolder, 'dataset.json'), join(o.preprocessedDatasetFolder, 'dataset.json'));
  if (configurations.length === 0) return { result: undefined, skipped };
  const result = await preprocessDataset({
    rawDatasetFolder: o.rawDatasetFolder,
    plans,
    configurations,
    outputFolder: o.preprocessedDatasetFolder,
    numWorkers: o.numWorkers,
    onProgress: o.onProgress,
  });
  return { result, skipped };
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

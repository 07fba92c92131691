/**
 * nnUNetv2_find_best_configuration (nnunetv2/evaluation/find_best_configuration.py): accumulate each trained
 * configuration's cross-validation, pick the best foreground mean Dice (the first on a tie: single
 * configurations come before ensembles), determine postprocessing for it, and write
 * `inference_information.json` and `inference_instructions.txt` under nnUNet_results/<Dataset> as nnU-Net does.
 *
 * Ensembles of two configurations need every fold's validation probabilities (nnU-Net's `--npz`); nnseg's
 * trainer does not write them yet, so a pair without them is left out and said so (nnU-Net would fail).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../formats/atomic-file.js';
import { accumulateCrossvalResults, crossvalFolderName } from './accumulate-crossval.js';
import { determinePostprocessing } from './determine-postprocessing.js';
import { trainedModelFolderName } from '../io/nnunet-paths.js';

export interface TrainedModelId {
  trainer: string;
  plans: string;
  configuration: string;
}

/** nnU-Net's default_trained_models */
export const DEFAULT_TRAINED_MODELS: readonly TrainedModelId[] = ['2d', '3d_fullres', '3d_lowres', '3d_cascade_fullres'].map((configuration) => ({
  plans: 'nnUNetPlans',
  configuration,
  trainer: 'nnUNetTrainer',
}));

/** nnU-Net's default_num_processes, as its instructions print it */
const NNUNET_DEFAULT_NUM_PROCESSES = 8;

export interface FindBestOptions {
  datasetName: string;
  resultsRoot: string;
  preprocessedRoot: string;
  /** the training cases' reference labels */
  referenceFolder: string;
  models?: readonly TrainedModelId[];
  folds?: readonly string[];
  allowEnsembling?: boolean;
  concurrency?: number;
  log?: (line: string) => void;
}

export interface FindBestResult {
  allResults: Record<string, number>;
  /** `<Trainer>__<Plans>__<Configuration>` of the best */
  best: string;
  /** what inference_information.json holds */
  information: Record<string, unknown>;
  instructions: string;
  postprocessingFile: string;
}

export async function findBestConfiguration(o: FindBestOptions): Promise<FindBestResult> {
  const log = o.log ?? (() => {});
  const folds = o.folds ?? ['0', '1', '2', '3', '4'];
  const models = filterAvailableModels(o, o.models ?? DEFAULT_TRAINED_MODELS, log);
  if (models.length === 0) throw new Error(`${o.datasetName}: none of the configurations asked for is in its plans`);
  const results = new Map<string, { source: string; dice: number }>();
  for (const m of models) {
    const folder = modelFolder(o, m);
    const { outputFolder, summary } = await accumulateCrossvalResults({ modelFolder: folder, folds, referenceFolder: o.referenceFolder, concurrency: o.concurrency });
    results.set(trainedModelFolderName(m.trainer, m.plans, m.configuration), { source: outputFolder, dice: summary.foreground_mean.Dice ?? NaN });
  }
  if (o.allowEnsembling ?? true)
    for (let i = 0; i < models.length; i++)
      for (let j = i + 1; j < models.length; j++) {
        const pair = [models[i]!, models[j]!];
        const withoutProbabilities = pair.filter((m) => !folds.every((f) => hasValidationProbabilities(join(modelFolder(o, m), `fold_${f}`, 'validation'))));
        const names = pair.map((m) => trainedModelFolderName(m.trainer, m.plans, m.configuration));
        if (withoutProbabilities.length)
          log(`ensemble of ${names.join(' + ')} left out: its folds' validation has no probabilities (nnU-Net's --npz; nnseg's trainer does not write them yet)`);
        else log(`ensemble of ${names.join(' + ')} left out: cross-validation ensembling is not implemented in nnseg yet`);
      }

  let best = '';
  let bestDice = -Infinity;
  for (const [k, v] of results) if (v.dice > bestDice) [best, bestDice] = [k, v.dice];
  log('***All results:***');
  for (const [k, v] of results) log(`${k}: ${v.dice}`);
  log(`*Best*: ${best}: ${bestDice}`);

  const source = results.get(best)!.source;
  const pp = await determinePostprocessing({ predictionFolder: source, referenceFolder: o.referenceFolder, concurrency: o.concurrency, keepPostprocessed: true, log });
  const [trainer, plans, configuration] = best.split('__') as [string, string, string];
  const foldNumbers = folds.map((f) => (/^\d+$/.test(f) ? Number(f) : f));
  const information = {
    folds: foldNumbers,
    dataset_name_or_id: o.datasetName,
    considered_models: models.map((m) => ({ plans: m.plans, configuration: m.configuration, trainer: m.trainer })),
    ensembling_allowed: o.allowEnsembling ?? true,
    all_results: Object.fromEntries([...results].map(([k, v]) => [k, v.dice])),
    best_model_or_ensemble: {
      result_on_crossval_pre_pp: bestDice,
      result_on_crossval_post_pp: pp.after.foreground_mean.Dice,
      postprocessing_file: join(source, 'postprocessing.pkl'),
      some_plans_file: join(source, 'plans.json'),
      selected_model_or_models: [{ configuration, trainer, plans_identifier: plans }],
    },
  };
  const datasetResults = join(o.resultsRoot, o.datasetName);
  // save_json's default sort_keys=True
  writeJsonAtomic(join(datasetResults, 'inference_information.json'), information, { python: { sortKeys: true } });
  const instructions = inferenceInstructions(o.datasetName, { trainer, plans, configuration }, foldNumbers, information.best_model_or_ensemble);
  writeFileAtomic(join(datasetResults, 'inference_instructions.txt'), instructions);
  return { allResults: information.all_results, best, information, instructions, postprocessingFile: information.best_model_or_ensemble.postprocessing_file };
}

function modelFolder(o: Pick<FindBestOptions, 'resultsRoot' | 'datasetName'>, m: TrainedModelId): string {
  return join(o.resultsRoot, o.datasetName, trainedModelFolderName(m.trainer, m.plans, m.configuration));
}

/** filter_available_models: configurations the plans lack are skipped; a configuration the plans have must be trained. */
function filterAvailableModels(o: FindBestOptions, models: readonly TrainedModelId[], log: (l: string) => void): TrainedModelId[] {
  const valid: TrainedModelId[] = [];
  for (const m of models) {
    const plansFile = join(o.preprocessedRoot, o.datasetName, `${m.plans}.json`);
    if (!existsSync(plansFile)) throw new Error(`${plansFile} is missing: plan the dataset (nnseg plan-experiment) with plans ${m.plans}`);
    const configurations = (JSON.parse(readFileSync(plansFile, 'utf8')) as { configurations?: Record<string, unknown> }).configurations ?? {};
    if (!(m.configuration in configurations)) {
      log(`configuration ${m.configuration} not found in plans ${m.plans} (${plansFile})`);
      continue;
    }
    const folder = modelFolder(o, m);
    if (!existsSync(folder)) throw new Error(`trained model ${trainedModelFolderName(m.trainer, m.plans, m.configuration)} has no output folder (${folder}): train it first`);
    valid.push(m);
  }
  return valid;
}

function hasValidationProbabilities(folder: string): boolean {
  return existsSync(folder) && readdirSync(folder).some((f) => f.endsWith('.npz'));
}

/** print_inference_instructions for a single configuration, line for line as nnU-Net writes the file. */
export function inferenceInstructions(
  dataset: string,
  m: TrainedModelId,
  folds: readonly (number | string)[],
  best: { postprocessing_file: string; some_plans_file: string },
): string {
  const foldStr = folds.map((f) => ` ${f}`).join('');
  return [
    '***Run inference like this:***\n',
    `nnUNetv2_predict -d ${dataset} -i INPUT_FOLDER -o OUTPUT_FOLDER -f ${foldStr} -tr ${m.trainer} -c ${m.configuration} -p ${m.plans}`,
    '\n***Once inference is completed, run postprocessing like this:***\n',
    `nnUNetv2_apply_postprocessing -i OUTPUT_FOLDER -o OUTPUT_FOLDER_PP -pp_pkl_file ${best.postprocessing_file} -np ${NNUNET_DEFAULT_NUM_PROCESSES} -plans_json ${best.some_plans_file}`,
  ]
    .map((line) => `${line}\n`)
    .join('');
}

export { crossvalFolderName };

/**
 * nnUNetv2_find_best_configuration (nnunetv2/evaluation/find_best_configuration.py): accumulate each trained
 * configuration's cross-validation, pick the best foreground mean Dice (the first on a tie: single
 * configurations come before ensembles), determine postprocessing for it, and write
 * `inference_information.json` and `inference_instructions.txt` under nnUNet_results/<Dataset> as nnU-Net does.
 *
 * Ensembles of two configurations need every fold's validation probabilities (`nnseg train --npz`, nnU-Net's
 * `--npz`); a pair without them is left out and named (nnU-Net would stop there).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../formats/atomic-file.js';
import { accumulateCrossvalResults, evaluateAgainstReferences } from './accumulate-crossval.js';
import { determinePostprocessing } from './determine-postprocessing.js';
import { casesWithProbabilities, ensembleCrossvalidations } from './ensemble-folders.js';
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
  /** `<Trainer>__<Plans>__<Configuration>` of the best, or `ensemble___<m1>___<m2>___<folds>` */
  best: string;
  /** the model, or the two ensemble members, to predict with */
  selected: TrainedModelId[];
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
        const folders = [modelFolder(o, models[i]!), modelFolder(o, models[j]!)];
        const names = folders.map((f) => basename(f));
        const without = folders.filter((f) => !folds.every((fold) => casesWithProbabilities(join(f, `fold_${fold}`, 'validation')).length > 0));
        if (without.length) {
          // nnU-Net fails here; leaving the pair out keeps the single configurations comparable
          log(`ensemble of ${names.join(' + ')} left out: ${without.map((f) => basename(f)).join(', ')} saved no validation probabilities (train with --npz)`);
          continue;
        }
        const id = `ensemble___${names[0]}___${names[1]}___${folds.join('_')}`;
        const out = join(o.resultsRoot, o.datasetName, 'ensembles', id);
        await ensembleCrossvalidations(folders, out, folds);
        const summary = await evaluateAgainstReferences(out, o.referenceFolder, o.concurrency);
        results.set(id, { source: out, dice: summary.foreground_mean.Dice ?? NaN });
      }

  let best = '';
  let bestDice = -Infinity;
  for (const [k, v] of results) if (v.dice > bestDice) [best, bestDice] = [k, v.dice];
  log('***All results:***');
  for (const [k, v] of results) log(`${k}: ${v.dice}`);
  log(`*Best*: ${best}: ${bestDice}`);

  const source = results.get(best)!.source;
  const pp = await determinePostprocessing({ predictionFolder: source, referenceFolder: o.referenceFolder, concurrency: o.concurrency, keepPostprocessed: true, log });
  // convert_identifier_to_trainer_plans_config, for one model or both ensemble members
  const selected = (best.startsWith('ensemble___') ? best.split('___').slice(1, 3) : [best]).map((id) => {
    const [trainer, plans, configuration] = id.split('__') as [string, string, string];
    return { trainer, plans, configuration };
  });
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
      selected_model_or_models: selected.map((m) => ({ configuration: m.configuration, trainer: m.trainer, plans_identifier: m.plans })),
    },
  };
  const datasetResults = join(o.resultsRoot, o.datasetName);
  // save_json's default sort_keys=True
  writeJsonAtomic(join(datasetResults, 'inference_information.json'), information, { python: { sortKeys: true } });
  const instructions = inferenceInstructions(o.datasetName, selected, foldNumbers, information.best_model_or_ensemble);
  writeFileAtomic(join(datasetResults, 'inference_instructions.txt'), instructions);
  return { allResults: information.all_results, best, selected, information, instructions, postprocessingFile: information.best_model_or_ensemble.postprocessing_file };
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

/** print_inference_instructions, line for line as nnU-Net writes the file (one model, or an ensemble of two). */
export function inferenceInstructions(
  dataset: string,
  selected: readonly TrainedModelId[],
  folds: readonly (number | string)[],
  best: { postprocessing_file: string; some_plans_file: string },
): string {
  const foldStr = folds.map((f) => ` ${f}`).join('');
  const ensemble = selected.length > 1;
  const lines = ['***Run inference like this:***\n'];
  if (ensemble) lines.push('An ensemble won! What a surprise! Run the following commands to run predictions with the ensemble members:\n');
  const outputs = selected.map((_, j) => (ensemble ? `OUTPUT_FOLDER_MODEL_${j + 1}` : 'OUTPUT_FOLDER'));
  selected.forEach((m, j) =>
    lines.push(`nnUNetv2_predict -d ${dataset} -i INPUT_FOLDER -o ${outputs[j]} -f ${foldStr} -tr ${m.trainer} -c ${m.configuration} -p ${m.plans}${ensemble ? ' --save_probabilities' : ''}`),
  );
  if (ensemble) {
    lines.push('\nThe run ensembling with:\n');
    lines.push(`nnUNetv2_ensemble -i ${outputs.join(' ')} -o OUTPUT_FOLDER -np ${NNUNET_DEFAULT_NUM_PROCESSES}`);
  }
  lines.push('\n***Once inference is completed, run postprocessing like this:***\n');
  lines.push(
    `nnUNetv2_apply_postprocessing -i OUTPUT_FOLDER -o OUTPUT_FOLDER_PP -pp_pkl_file ${best.postprocessing_file} -np ${NNUNET_DEFAULT_NUM_PROCESSES} -plans_json ${best.some_plans_file}`,
  );
  return lines.map((line) => `${line}\n`).join('');
}

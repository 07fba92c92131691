/** `nnseg accumulate-crossval-results`: nnUNetv2_accumulate_crossval_results for a model under nnUNet_results. */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { datasetNameIn, nnunetRoot, requireNnunetRoot } from '../../io/nnunet-paths.js';
import { accumulateCrossvalResults } from '../../pipelines/accumulate-crossval.js';
import { findBestConfiguration } from '../../pipelines/find-best-configuration.js';
import { acceptNnunetSpelling, positiveInteger } from '../nnunet-flags.js';
import { trainedModelFolderName } from '../../io/nnunet-paths.js';

/** Where nnU-Net looks for the references of a dataset's training cases: raw labelsTr, else gt_segmentations. */
export function referenceFolderOf(dataset: string): string {
  const raw = nnunetRoot('nnUNet_raw');
  if (raw && existsSync(join(raw, dataset, 'labelsTr'))) return join(raw, dataset, 'labelsTr');
  const pre = nnunetRoot('nnUNet_preprocessed');
  if (pre && existsSync(join(pre, dataset, 'gt_segmentations'))) return join(pre, dataset, 'gt_segmentations');
  throw new Error(`no references for ${dataset}: neither nnUNet_raw/${dataset}/labelsTr nor nnUNet_preprocessed/${dataset}/gt_segmentations exists`);
}

export function register(program: Command): void {
  acceptNnunetSpelling('accumulate-crossval-results', { '-tr': '--trainer', '-np': '--np' });
  program
    .command('accumulate-crossval-results <dataset>')
    .description('nnUNetv2_accumulate_crossval_results: the folds\' validation predictions in one folder, evaluated together (summary.json)')
    .requiredOption('-c, --configuration <name>', 'configuration')
    .option('-o, --output <folder>', 'merged folder (default <model folder>/crossval_results_folds_<folds>)')
    .option('-f, --folds <folds...>', 'folds', ['0', '1', '2', '3', '4'])
    .option('-p, --plans <name>', 'plans identifier', 'nnUNetPlans')
    .option('--trainer <name>', 'trainer class (also -tr)', 'nnUNetTrainer')
    .option('--np <n>', 'cases evaluated concurrently (also -np)', positiveInteger('--np'), 2)
    .action(async (dataset: string, o: { configuration: string; output?: string; folds: string[]; plans: string; trainer: string; np: number }) => {
      const name = datasetNameIn('nnUNet_results', dataset);
      const modelFolder = join(requireNnunetRoot('nnUNet_results'), name, trainedModelFolderName(o.trainer, o.plans, o.configuration));
      if (!existsSync(modelFolder)) throw new Error(`${modelFolder}: no such trained model`);
      const { outputFolder, summary, cases } = await accumulateCrossvalResults({
        modelFolder,
        folds: o.folds,
        referenceFolder: referenceFolderOf(name),
        outputFolder: o.output,
        concurrency: o.np,
      });
      process.stderr.write(`${cases} cases of folds ${o.folds.join(', ')} → ${outputFolder}; foreground mean Dice ${summary.foreground_mean.Dice}\n`);
    });

  acceptNnunetSpelling('find-best-configuration', { '-tr': '--trainers', '-np': '--np', '--disable_ensembling': '--disable-ensembling' });
  program
    .command('find-best-configuration <dataset>')
    .description('nnUNetv2_find_best_configuration: the best cross-validated configuration, its postprocessing and inference instructions')
    .option('-p, --plans <names...>', 'plans identifiers', ['nnUNetPlans'])
    .option('-c, --configurations <names...>', 'configurations (those the plans lack are skipped)', ['2d', '3d_fullres', '3d_lowres', '3d_cascade_fullres'])
    .option('--trainers <names...>', 'trainer classes (also -tr)', ['nnUNetTrainer'])
    .option('-f, --folds <folds...>', 'folds', ['0', '1', '2', '3', '4'])
    .option('--np <n>', 'cases evaluated concurrently (also -np)', positiveInteger('--np'), 2)
    .option('--disable-ensembling', 'do not consider ensembles of two configurations (also --disable_ensembling)')
    .action(async (dataset: string, o: { plans: string[]; configurations: string[]; trainers: string[]; folds: string[]; np: number; disableEnsembling?: boolean }) => {
      const name = datasetNameIn('nnUNet_results', dataset);
      // dumb_trainer_config_plans_to_trained_models_dict: trainers × configurations × plans
      const models = o.trainers.flatMap((trainer) => o.configurations.flatMap((configuration) => o.plans.map((plans) => ({ trainer, configuration, plans }))));
      const r = await findBestConfiguration({
        datasetName: name,
        resultsRoot: requireNnunetRoot('nnUNet_results'),
        preprocessedRoot: requireNnunetRoot('nnUNet_preprocessed'),
        referenceFolder: referenceFolderOf(name),
        models,
        folds: o.folds,
        allowEnsembling: !o.disableEnsembling,
        concurrency: o.np,
        log: (l) => process.stderr.write(`${l}\n`),
      });
      const ensemble = r.selected.length > 1;
      const outputs = r.selected.map((_, j) => (ensemble ? `OUTPUT_FOLDER_MODEL_${j + 1}` : 'OUTPUT_FOLDER'));
      const lines = r.selected.map(
        (m, j) => `  nnseg predict -d ${name} -i INPUT_FOLDER -o ${outputs[j]} -f ${o.folds.join(' ')} -tr ${m.trainer} -c ${m.configuration} -p ${m.plans}${ensemble ? ' --save_probabilities' : ''}`,
      );
      if (ensemble) lines.push(`  nnseg ensemble -i ${outputs.join(' ')} -o OUTPUT_FOLDER`);
      lines.push(`  nnseg apply-postprocessing -i OUTPUT_FOLDER -o OUTPUT_FOLDER_PP -pp_pkl_file ${r.postprocessingFile}`);
      process.stdout.write(r.instructions);
      process.stdout.write(`\nWith nnseg:\n${lines.join('\n')}\n`);
    });
}

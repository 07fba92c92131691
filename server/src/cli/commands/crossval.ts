/** `nnseg accumulate-crossval-results`: nnUNetv2_accumulate_crossval_results for a model under nnUNet_results. */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { datasetNameById, nnunetRoot, requireNnunetRoot } from '../../io/nnunet-paths.js';
import { trainedModelFolderName } from '../../models/results-folder.js';
import { accumulateCrossvalResults } from '../../pipelines/accumulate-crossval.js';
import { acceptNnunetSpelling, positiveInteger } from '../nnunet-flags.js';

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
      const name = /^\d+$/.test(dataset) ? datasetNameById('nnUNet_results', Number(dataset)) : dataset;
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
}

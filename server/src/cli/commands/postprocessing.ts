/**
 * `nnseg determine-postprocessing` and `nnseg apply-postprocessing`: nnUNetv2_determine_postprocessing and
 * nnUNetv2_apply_postprocessing (pipelines/determine-postprocessing.ts).
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPostprocessingToFolder, determinePostprocessing, readPostprocessingFile } from '../../pipelines/determine-postprocessing.js';
import { acceptNnunetSpelling, positiveInteger } from '../nnunet-flags.js';

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

export function register(program: Command): void {
  acceptNnunetSpelling('determine-postprocessing', { '-ref': '--ref', '-dataset_json': '--dataset-json', '-plans_json': '--plans-json', '-np': '--np', '--remove_postprocessed': '--remove-postprocessed' });
  program
    .command('determine-postprocessing')
    .description('nnUNetv2_determine_postprocessing: which largest-component removals raise Dice on cross-validation predictions → postprocessing.pkl/.json')
    .requiredOption('-i, --input <folder>', 'predictions (e.g. a crossval_results_folds_* folder or fold_k/validation)')
    .requiredOption('--ref <folder>', 'reference label files (also -ref)')
    .option('--dataset-json <file>', 'dataset.json (also -dataset_json; default <input>/dataset.json)')
    .option('--plans-json <file>', 'accepted for nnU-Net compatibility (also -plans_json): labels come from dataset.json, files are read by their ending')
    .option('--np <n>', 'cases scored concurrently (also -np)', positiveInteger('--np'), 2)
    .option('--remove-postprocessed', 'do not keep <input>/postprocessed (also --remove_postprocessed)')
    .action(async (o: { input: string; ref: string; datasetJson?: string; np: number; removePostprocessed?: boolean }) => {
      const { steps, before, after } = await determinePostprocessing({
        predictionFolder: o.input,
        referenceFolder: o.ref,
        datasetJson: o.datasetJson ? readJson(o.datasetJson) : undefined,
        concurrency: o.np,
        keepPostprocessed: !o.removePostprocessed,
        log: (l) => process.stderr.write(`${l}\n`),
      });
      process.stderr.write(
        `${steps.length} postprocessing step(s); foreground mean Dice ${before.foreground_mean.Dice} → ${after.foreground_mean.Dice}; wrote ${join(o.input, 'postprocessing.pkl')} and postprocessing.json\n`,
      );
    });

  acceptNnunetSpelling('apply-postprocessing', { '-pp_pkl_file': '--pp-pkl-file', '-dataset_json': '--dataset-json', '-plans_json': '--plans-json', '-np': '--np' });
  program
    .command('apply-postprocessing')
    .description('nnUNetv2_apply_postprocessing: the steps of a postprocessing.pkl (or .json) applied to a folder of predictions')
    .requiredOption('-i, --input <folder>', 'predictions')
    .requiredOption('-o, --output <folder>', 'output folder')
    .requiredOption('--pp-pkl-file <file>', 'postprocessing.pkl (read as data) or postprocessing.json (also -pp_pkl_file)')
    .option('--dataset-json <file>', 'dataset.json for the file ending (also -dataset_json; default <input>/dataset.json)')
    .option('--plans-json <file>', 'accepted for nnU-Net compatibility (also -plans_json)')
    .option('--np <n>', 'accepted for nnU-Net compatibility (also -np)', positiveInteger('--np'), 2)
    .action(async (o: { input: string; output: string; ppPklFile: string; datasetJson?: string }) => {
      const steps = readPostprocessingFile(o.ppPklFile);
      const fileEnding = String(readJson(o.datasetJson ?? join(o.input, 'dataset.json')).file_ending);
      const files = await applyPostprocessingToFolder(o.input, o.output, steps, fileEnding);
      process.stderr.write(`${steps.length} postprocessing step(s) applied to ${files.length} file(s) → ${o.output}\n`);
    });
}

import type { Command } from 'commander';
import { ensembleFolders } from '../../pipelines/ensemble-folders.js';
import { ProgressBar } from '../progress.js';

/**
 * nnUNetv2_ensemble: average the probabilities (`<case>.npz`) that `predict --save-probabilities` wrote in
 * several folders (other configurations, trainers or folds) and segment from the mean. Like nnU-Net, the
 * first folder's dataset.json and plans.json describe the labels, and every folder must hold every case.
 */
export function register(program: Command): void {
  program
    .command('ensemble')
    .description('average saved probabilities of several predictions (nnUNetv2_ensemble equivalent)')
    .requiredOption('-i, --input <folders...>', 'prediction folders written with predict --save-probabilities')
    .requiredOption('-o, --output <folder>', 'output folder')
    .option('--save-npz', 'also write the averaged probabilities (<case>.npz + <case>.pkl)')
    .action(async (o: { input: string[]; output: string; saveNpz?: boolean }) => {
      let bar: ProgressBar | undefined;
      await ensembleFolders({ inputs: o.input, output: o.output, saveNpz: o.saveNpz, onCase: (done, total) => (bar ??= new ProgressBar('ensembling', total)).update(done) });
    });
}

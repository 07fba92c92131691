/**
 * `nnseg evaluate`: nnU-Net's `nnUNetv2_evaluate_simple` — Dice/IoU/TP/FP/FN/TN per label or region
 * for a folder of predictions against a folder of references, written as summary.json.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { evaluateFolder } from '../../pipelines/evaluate-folder.js';
import type { LabelOrRegion } from '../../imaging/connected-components.js';
import { acceptNnunetSpelling, positiveNumber } from '../nnunet-flags.js';
import { ProgressBar } from '../progress.js';

/** "1" → label 1; "1,2,3" → region (1, 2, 3). */
export function parseLabelOrRegion(text: string): LabelOrRegion {
  const parts = text.replace(/[()]/g, '').split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) throw new Error(`-l: "${text}" is not a label (e.g. 1) or a region (e.g. 1,2,3)`);
  return parts.length === 1 && !text.includes(',') ? Number(parts[0]) : parts.map(Number);
}

export function register(program: Command): void {
  acceptNnunetSpelling('evaluate', { '-ref': '--ref', '-pred': '--pred', '-il': '--il', '-np': '--np' });
  program
    .command('evaluate')
    .description('compare predicted label files with references: nnU-Net metrics per label/region → summary.json')
    .requiredOption('--ref <folder>', 'folder with reference segmentations (also -ref)')
    .requiredOption('--pred <folder>', 'folder with predicted segmentations, same file names (also -pred)')
    .requiredOption('-l, --labels <label...>', 'labels to evaluate, e.g. -l 1 2; a region as 1,2,3')
    .option('--il, --ignore-label <label>', 'reference voxels with this label are not counted (also -il)', (v) => {
      if (!/^\d+$/.test(v)) throw new Error(`ignore label must be a non-negative integer, got "${v}"`);
      return Number(v);
    })
    .option('-o, --output <file>', 'summary file (default: <pred>/summary.json)')
    .option('--file-ending <ending>', 'file ending of the label files', '.nii.gz')
    .option('--chill', 'do not fail when references have no prediction; evaluate the predicted cases only')
    .option('--hd95', 'also compute the 95th percentile Hausdorff distance (mm), key HD95')
    .option('--surface-dice <mm>', 'also compute surface Dice at this tolerance in mm, key SurfaceDice', positiveNumber('--surface-dice'))
    .option('--volumes', 'also write volumes in mm³ (volume_pred_mm3, volume_ref_mm3, volume_difference_mm3)')
    .option('--np, --num-processes <n>', 'cases evaluated concurrently (also -np)', positiveNumber('--np'), 2)
    .action(async (opts: {
      ref: string;
      pred: string;
      labels: string[];
      ignoreLabel?: number;
      output?: string;
      fileEnding: string;
      chill?: boolean;
      hd95?: boolean;
      surfaceDice?: number;
      volumes?: boolean;
      numProcesses: number;
    }) => {
      const labelsOrRegions = opts.labels.map(parseLabelOrRegion);
      const output = opts.output ?? join(opts.pred, 'summary.json');
      let bar: ProgressBar | null = null;
      const summary = await evaluateFolder({
        referenceFolder: opts.ref,
        predictionFolder: opts.pred,
        labelsOrRegions,
        ignoreLabel: opts.ignoreLabel ?? null,
        fileEnding: opts.fileEnding,
        outputFile: output,
        chill: !!opts.chill,
        hd95: !!opts.hd95,
        surfaceDiceTolerance: opts.surfaceDice ?? null,
        volumes: !!opts.volumes,
        concurrency: Math.floor(opts.numProcesses),
        onCaseDone: (done, total) => {
          bar ??= new ProgressBar('evaluate', total);
          bar.tick();
          void done;
        },
      });
      const fg = summary.foreground_mean;
      process.stdout.write(
        `${summary.metric_per_case.length} cases; foreground mean Dice ${fg.Dice?.toFixed(4)}, IoU ${fg.IoU?.toFixed(4)}` +
          `${fg.HD95 !== undefined ? `, HD95 ${fg.HD95.toFixed(2)} mm` : ''}${fg.SurfaceDice !== undefined ? `, surface Dice ${fg.SurfaceDice.toFixed(4)}` : ''}\n` +
          `summary written to ${output}\n`,
      );
    });
}

/**
 * nnUNetv2_accumulate_crossval_results (nnunetv2/evaluation/accumulate_cv_results.py): the validation
 * predictions of several folds of one trained configuration, gathered into one folder
 * (`crossval_results_folds_0_1_2_3_4` by default) with the plans and dataset.json, and evaluated together
 * against the references → summary.json. A case predicted by two folds is refused, as nnU-Net does.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LabelManager } from '../nnunet/dataset/labels.js';
import type { LabelValue } from '../nnunet/dataset/dataset-json.js';
import type { Summary } from '../nnunet/evaluation/summary.js';
import { evaluateFolder } from './evaluate-folder.js';

/** folds_tuple_to_string: `crossval_results_folds_0_1_2_3_4`. */
export function crossvalFolderName(folds: readonly string[]): string {
  return `crossval_results_folds_${folds.join('_')}`;
}

export interface AccumulateCrossvalOptions {
  /** the `<Trainer>__<Plans>__<Configuration>` folder */
  modelFolder: string;
  folds: readonly string[];
  /** reference label files (nnUNet_raw/<Dataset>/labelsTr, else nnUNet_preprocessed/<Dataset>/gt_segmentations) */
  referenceFolder: string;
  /** default `<modelFolder>/crossval_results_folds_<folds>`; replaced when it exists */
  outputFolder?: string;
  concurrency?: number;
}

export async function accumulateCrossvalResults(o: AccumulateCrossvalOptions): Promise<{ outputFolder: string; summary: Summary; cases: number }> {
  const out = o.outputFolder ?? join(o.modelFolder, crossvalFolderName(o.folds));
  const dj = JSON.parse(readFileSync(join(o.modelFolder, 'dataset.json'), 'utf8')) as { labels: Record<string, LabelValue>; regions_class_order?: number[]; file_ending: string };
  for (const f of o.folds)
    if (!existsSync(join(o.modelFolder, `fold_${f}`, 'validation'))) throw new Error(`fold ${f} of ${o.modelFolder} has no validation predictions: train (and validate) it first`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const f of ['dataset.json', 'plans.json']) copyFileSync(join(o.modelFolder, f), join(out, f));
  const seen = new Map<string, string>();
  for (const fold of o.folds) {
    const validation = join(o.modelFolder, `fold_${fold}`, 'validation');
    for (const file of readdirSync(validation).filter((n) => n.endsWith(dj.file_ending)).sort()) {
      const other = seen.get(file);
      if (other !== undefined) throw new Error(`case ${file} is predicted by fold ${other} and fold ${fold}: the folds overlap`);
      seen.set(file, fold);
      copyFileSync(join(validation, file), join(out, file));
    }
  }
  const summary = await evaluateAgainstReferences(out, o.referenceFolder, o.concurrency);
  return { outputFolder: out, summary, cases: seen.size };
}

/**
 * compute_metrics_on_folder for a folder of predictions that holds its dataset.json: foreground labels (or
 * regions), the ignore label excluded, references outside the folder's cases not required → summary.json.
 */
export async function evaluateAgainstReferences(folder: string, referenceFolder: string, concurrency?: number): Promise<Summary> {
  const dj = JSON.parse(readFileSync(join(folder, 'dataset.json'), 'utf8')) as { labels: Record<string, LabelValue>; regions_class_order?: number[]; file_ending: string };
  const labels = new LabelManager(dj.labels, dj.regions_class_order ?? null);
  return evaluateFolder({
    referenceFolder,
    predictionFolder: folder,
    labelsOrRegions: labels.hasRegions ? labels.foregroundRegions! : labels.foregroundLabels,
    ignoreLabel: labels.ignoreLabel ?? null,
    fileEnding: dj.file_ending,
    outputFile: join(folder, 'summary.json'),
    // compute_metrics_on_folder's chill=True: references of cases outside these predictions are not required
    chill: true,
    concurrency,
  });
}

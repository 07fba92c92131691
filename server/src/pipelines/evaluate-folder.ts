/**
 * Evaluates a folder of predicted label files against a folder of references, like nnU-Net's
 * `compute_metrics_on_folder`: every prediction file (by file ending, sorted) is paired with the
 * reference of the same name; unless `chill`, every reference must have a prediction. Geometry of
 * each pair is checked (nnU-Net does not; a mismatch silently gives wrong numbers).
 */
import { readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readImage } from '../io/image-file.js';
import type { LabelOrRegion } from '../imaging/connected-components.js';
import type { Volume } from '../imaging/volume.js';
import { computeMetrics, type MetricsOptions } from '../nnunet/evaluation/metrics.js';
import { serializeSummary, summarize, type CaseResult, type Summary } from '../nnunet/evaluation/summary.js';

export interface EvaluateFolderOptions extends Omit<MetricsOptions, 'spacing'> {
  referenceFolder: string;
  predictionFolder: string;
  labelsOrRegions: readonly LabelOrRegion[];
  /** default '.nii.gz' */
  fileEnding?: string;
  /** write summary.json here */
  outputFile?: string | null;
  /** allow references without prediction */
  chill?: boolean;
  /** cases evaluated concurrently (default 2) */
  concurrency?: number;
  /** relative tolerance for spacing/origin/direction agreement (default 1e-4) */
  geometryTolerance?: number;
  onCaseDone?: (done: number, total: number, file: string) => void;
  /** applied to each prediction before it is scored (determine-postprocessing scores candidate steps this way) */
  transformPrediction?: (prediction: Volume) => Volume;
}

async function listFiles(folder: string, ending: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (e) {
    throw new Error(`${folder}: cannot list folder (${(e as Error).message})`);
  }
  return names.filter((n) => n.endsWith(ending)).sort();
}

/** Throws naming the case when reference and prediction do not share a grid. */
export function checkSameGeometry(ref: Volume, pred: Volume, caseName: string, tolerance = 1e-4): void {
  if (ref.shape.some((s, i) => s !== pred.shape[i]))
    throw new Error(`${caseName}: prediction shape [${pred.shape.join(', ')}] differs from reference shape [${ref.shape.join(', ')}]`);
  const close = (a: readonly number[], b: readonly number[], scale: number) => a.every((v, i) => Math.abs(v - b[i]) <= tolerance * Math.max(scale, Math.abs(v), Math.abs(b[i])));
  if (!close(ref.spacing, pred.spacing, 1))
    throw new Error(`${caseName}: prediction spacing [${pred.spacing.join(', ')}] differs from reference spacing [${ref.spacing.join(', ')}]`);
  if (!close(ref.origin, pred.origin, 1))
    throw new Error(`${caseName}: prediction origin [${pred.origin.join(', ')}] differs from reference origin [${ref.origin.join(', ')}]`);
  if (!close(ref.direction, pred.direction, 1))
    throw new Error(`${caseName}: prediction direction [${pred.direction.join(', ')}] differs from reference direction [${ref.direction.join(', ')}]`);
}

export async function evaluateFolder(options: EvaluateFolderOptions): Promise<Summary> {
  const ending = options.fileEnding ?? '.nii.gz';
  if (options.outputFile && !options.outputFile.endsWith('.json')) throw new Error(`output file ${options.outputFile} should end with .json`);
  if (options.labelsOrRegions.length === 0) throw new Error('evaluate: give at least one label or region');
  const predFiles = await listFiles(options.predictionFolder, ending);
  const refFiles = await listFiles(options.referenceFolder, ending);
  if (predFiles.length === 0) throw new Error(`${options.predictionFolder}: no prediction files ending in ${ending}`);
  const refSet = new Set(refFiles);
  const missingRef = predFiles.filter((f) => !refSet.has(f));
  if (missingRef.length) throw new Error(`no reference in ${options.referenceFolder} for prediction(s): ${missingRef.join(', ')}`);
  if (!options.chill) {
    const predSet = new Set(predFiles);
    const missingPred = refFiles.filter((f) => !predSet.has(f));
    if (missingPred.length)
      throw new Error(`no prediction in ${options.predictionFolder} for reference(s): ${missingPred.join(', ')} (use chill to evaluate only the predicted cases)`);
  }

  const results: CaseResult[] = new Array(predFiles.length);
  let next = 0;
  let done = 0;
  let failed = false;
  const worker = async () => {
    while (next < predFiles.length && !failed) {
      const idx = next++;
      const name = predFiles[idx];
      const refPath = join(options.referenceFolder, name);
      const predPath = join(options.predictionFolder, name);
      if (!existsSync(refPath)) throw new Error(`${name}: reference file ${refPath} is missing`);
      const [ref, read] = await Promise.all([readImage(refPath), readImage(predPath)]);
      const pred = options.transformPrediction ? options.transformPrediction(read) : read;
      checkSameGeometry(ref, pred, name, options.geometryTolerance);
      let metrics;
      try {
        metrics = computeMetrics(ref.data, pred.data, ref.shape, options.labelsOrRegions, { ...options, spacing: ref.spacing });
      } catch (e) {
        throw new Error(`${name}: ${(e as Error).message}`);
      }
      results[idx] = { reference_file: refPath, prediction_file: predPath, metrics };
      options.onCaseDone?.(++done, predFiles.length, name);
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency ?? 2, predFiles.length));
  // on the first failure stop handing out cases and let in-flight ones settle before reporting it
  // (a read finishing after the caller reacted to the error could otherwise undo its exit code)
  const settled = await Promise.allSettled(
    Array.from({ length: workers }, () =>
      worker().catch((e: unknown) => {
        failed = true;
        throw e;
      }),
    ),
  );
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw failure.reason;

  const summary = summarize(results);
  if (options.outputFile) await writeFile(options.outputFile, serializeSummary(summary));
  return summary;
}

/**
 * Preprocesses a whole dataset like `nnUNetv2_preprocess` (DefaultPreprocessor.run): for every requested
 * configuration, every training case goes to `<outputFolder>/<data_identifier>/` (data_identifier is
 * `<plans_name>_<configuration>` in nnU-Net's plans) in our preprocessed format (io/nnunet-preprocessed.ts).
 * Cases run in worker threads, one case per task; each case's files are read once for all configurations.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { listTrainingCases, loadDatasetJson } from '../io/nnunet-raw.js';
import { WorkerPool, workerScriptUrl } from '../workers/pool.js';
import { type DatasetJsonLabels } from '../nnunet/preprocessing/default-preprocessor.js';
import { runPreprocessTask, type FilesTask, type FilesTaskResult } from './preprocess-task.js';
import { parsePlans, resolveConfiguration } from '../nnunet/plans/plans.js';

export interface DatasetCase {
  id: string;
  images: string[];
  /** absent for cases without a reference segmentation */
  label?: string;
}

export interface PreprocessProgress {
  done: number;
  total: number;
  caseId: string;
  seconds: number;
}

export interface PreprocessDatasetOptions {
  /** a raw dataset folder (dataset.json, imagesTr, labelsTr); or give `cases` and `datasetJson` */
  rawDatasetFolder?: string;
  cases?: DatasetCase[];
  datasetJson?: DatasetJsonLabels;
  /** the plans.json object */
  plans: unknown;
  configurations: string[];
  /** the preprocessed dataset folder (nnUNet_preprocessed/DatasetXXX_Name) */
  outputFolder: string;
  /** worker threads; 0 runs in this thread. Default: available parallelism, at most one per case */
  numWorkers?: number;
  onProgress?: (p: PreprocessProgress) => void;
}

export interface PreprocessDatasetResult {
  /** configuration → folder its cases were written to */
  folders: Record<string, string>;
  cases: FilesTaskResult[];
}

export async function preprocessDataset(opts: PreprocessDatasetOptions): Promise<PreprocessDatasetResult> {
  const plans = parsePlans(opts.plans);
  if (opts.configurations.length === 0) throw new Error('preprocessDataset: no configurations given');
  let datasetJson = opts.datasetJson;
  let cases: DatasetCase[];
  if (opts.rawDatasetFolder) {
    const folder = resolve(opts.rawDatasetFolder);
    const dj = loadDatasetJson(folder);
    datasetJson ??= dj;
    cases = opts.cases ?? [...listTrainingCases(folder, dj)].map(([id, c]) => ({ id, images: c.images, label: c.label }));
  } else {
    if (!opts.cases) throw new Error('preprocessDataset: give rawDatasetFolder or cases');
    if (!datasetJson) throw new Error('preprocessDataset: cases without rawDatasetFolder need datasetJson (for the labels)');
    cases = opts.cases;
  }

  const folders: Record<string, string> = {};
  for (const name of opts.configurations) {
    const config = resolveConfiguration(plans, name);
    const folder = join(resolve(opts.outputFolder), config.data_identifier);
    // nnU-Net starts every configuration from an empty folder
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
    folders[name] = folder;
  }

  const tasks: FilesTask[] = cases.map((c) => ({
    kind: 'files',
    caseId: c.id,
    images: c.images,
    label: c.label,
    plans: opts.plans,
    outputs: folders,
    datasetJson: { labels: datasetJson.labels, regions_class_order: datasetJson.regions_class_order ?? null },
  }));
  const total = tasks.length;
  const numWorkers = Math.min(opts.numWorkers ?? availableParallelism(), total);
  const results: FilesTaskResult[] = new Array(total);
  let done = 0;
  const finished = (i: number, r: FilesTaskResult): void => {
    results[i] = r;
    done++;
    opts.onProgress?.({ done, total, caseId: r.caseId, seconds: r.seconds });
  };

  if (numWorkers <= 0) {
    for (let i = 0; i < total; i++) finished(i, (await runPreprocessTask(tasks[i])).output as FilesTaskResult);
    return { folders, cases: results };
  }
  const pool = new WorkerPool<FilesTask, FilesTaskResult>(workerScriptUrl('./preprocess-worker.js', import.meta.url), numWorkers);
  try {
    const errors: string[] = [];
    await Promise.all(
      tasks.map((t, i) =>
        pool.run(t).then(
          (r) => finished(i, r),
          (e: Error) => {
            errors.push(`${t.caseId}: ${e.message}`);
          },
        ),
      ),
    );
    if (errors.length > 0) throw new Error(`preprocessing failed for ${errors.length} of ${total} case(s):\n${errors.join('\n')}`);
  } finally {
    await pool.close();
  }
  return { folders, cases: results };
}

/**
 * The `nnseg` command lines a train job runs in child processes (pure: no I/O). A child process, not a
 * thread: a run takes hours and its memory is the network's, a crash or a cancel (SIGTERM, then SIGKILL)
 * takes nothing else down, and the CLI is exactly what an admin would run by hand.
 */
import type { TrainRequest } from '../../contract/train-request.js';

/** The folders of one train job, all under `<workDir>/training/<id>/` except a dataset given by name. */
export interface TrainJobPaths {
  /** the nnU-Net raw dataset folder (built from corrections into the job folder, or under the datasets root) */
  rawDatasetFolder: string;
  /** nnUNet_preprocessed-like root of this job */
  preprocessedRoot: string;
  /** nnUNet_results-like root of this job */
  resultsRoot: string;
  /** the model store the result is registered in */
  store: string;
}

/** Resume state every n epochs: about 20 saves per run, at most nnU-Net's 50 apart. */
export function defaultSaveEvery(epochs: number): number {
  return Math.max(1, Math.min(50, Math.round(epochs / 20)));
}

export function trainArgs(r: TrainRequest, p: TrainJobPaths, o: { resume: boolean }): string[] {
  const epochs = r.epochs ?? 1000;
  const args = [
    'train',
    '-d', p.rawDatasetFolder,
    '-c', r.configuration,
    '-f', String(r.fold),
    '--preprocessed', p.preprocessedRoot,
    '--results', p.resultsRoot,
    '--store', p.store,
    '--register-as', r.registerAs,
    '--epochs', String(epochs),
    '--save-every', String(r.saveEvery ?? defaultSaveEvery(epochs)),
    '--events-json',
  ];
  const opt = (flag: string, v: number | string | undefined) => {
    if (v !== undefined) args.push(flag, String(v));
  };
  opt('--iters', r.iterationsPerEpoch);
  opt('--val-iters', r.validationIterations);
  opt('--seed', r.seed);
  opt('--backend', r.backend);
  opt('--pretrained', r.pretrained);
  const n = r.network;
  opt('--base-features', n?.baseFeatures);
  opt('--max-features', n?.maxFeatures);
  opt('--max-stages', n?.maxStages);
  opt('--patch-size', n?.patchSize?.join(','));
  opt('--batch-size', n?.batchSize);
  if (o.resume) args.push('--resume');
  return args;
}

/** `nnseg corrections dataset` into the job's raw root (the server config file carries work dir and PACS). */
export function correctionsDatasetArgs(r: TrainRequest, o: { datasetName: string; rawRoot: string; workDir: string; configFile: string }): string[] {
  if (r.source.kind !== 'corrections') throw new Error('correctionsDatasetArgs: the source is not corrections');
  const args = ['corrections', 'dataset', '--name', o.datasetName, '-o', o.rawRoot, '--work-dir', o.workDir, '--config', o.configFile, '--overwrite'];
  if (r.source.model !== undefined) args.push('--model', r.source.model);
  return args;
}

/** The dataset folder name a corrections run builds: `Dataset<id>_<registerAs>` (safe characters only). */
export function correctionsDatasetName(registerAs: string, datasetId = 500): string {
  return `Dataset${datasetId}_${registerAs.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 100)}`;
}

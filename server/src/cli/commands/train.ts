/** `nnseg train`: nnU-Net's training recipe on TensorFlow.js (nnUNetv2_train equivalent). */
import { join } from 'node:path';
import type { Command } from 'commander';
import { preprocessedDatasetFolder, requireNnunetRoot, resolveRawDataset } from '../../io/nnunet-paths.js';
import { ModelStore } from '../../models/model-store.js';
import { modelStoreRoot } from '../../models/store-location.js';
import { ensurePreprocessed, shrinkPlans } from '../../training/prepare.js';
import { train } from '../../training/trainer.js';
import type { TfjsBackendName } from '../../engines/tfjs/backend.js';
import { ProgressBar } from '../progress.js';

const int = (name: string, min = 1) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`${name} must be an integer ≥ ${min}, got "${v}"`);
  return Number(v);
};

interface Opts {
  dataset: string;
  configuration: string;
  fold: string;
  epochs?: number;
  iters?: number;
  valIters?: number;
  saveEvery?: number;
  pretrained?: string;
  resume?: boolean;
  store?: string;
  registerAs?: string;
  preprocessed?: string;
  results?: string;
  plans: string;
  backend?: TfjsBackendName;
  batchSize?: number;
  baseFeatures?: number;
  maxFeatures?: number;
  maxStages?: number;
  patchSize?: string;
  seed?: number;
  workers?: number;
  validation: boolean;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train an nnU-Net model on TensorFlow.js (nnUNetv2_train equivalent); plans and preprocesses first when needed')
    .requiredOption('-d, --dataset <id|name|folder>', 'dataset id, Dataset901_Name (under nnUNet_raw) or a raw dataset folder')
    .requiredOption('-c, --configuration <name>', 'configuration (2d, 3d_fullres, 3d_lowres)')
    .requiredOption('-f, --fold <fold>', "fold 0-4 of splits_final.json, or 'all'")
    .option('--epochs <n>', 'epochs (nnU-Net: 1000)', int('--epochs'))
    .option('--iters <n>', 'training iterations per epoch (nnU-Net: 250)', int('--iters'))
    .option('--val-iters <n>', 'validation iterations per epoch (nnU-Net: 50)', int('--val-iters'))
    .option('--save-every <n>', 'write checkpoint_latest every n epochs (nnU-Net: 50)', int('--save-every'))
    .option('--pretrained <model>', 'fine-tune from a stored model with the same plans')
    .option('--resume', 'continue from the fold\'s last checkpoint (same schedule)')
    .option('--store <folder>', 'model store (default $NNSEG_MODEL_STORE or ~/.nnseg/models)')
    .option('--register-as <name>', 'import the trained model into the store under this name')
    .option('--preprocessed <folder>', 'preprocessed root (default $nnUNet_preprocessed)')
    .option('--results <folder>', 'results root (default $nnUNet_results)')
    .option('-p, --plans <name>', 'plans identifier', 'nnUNetPlans')
    .option('--backend <name>', 'tfjs backend: tensorflow-gpu, tensorflow, wasm or cpu (default: best available)')
    .option('--batch-size <n>', 'override the plans\' batch size', int('--batch-size'))
    .option('--base-features <n>', 'smaller network: features base·2^s (not nnU-Net; for quick runs)', int('--base-features'))
    .option('--max-features <n>', 'smaller network: cap on features per stage', int('--max-features'))
    .option('--max-stages <n>', 'smaller network: at most n resolution stages', int('--max-stages'))
    .option('--patch-size <list>', 'override the patch size, e.g. 32,64,64')
    .option('--seed <n>', 'seed for initialisation and data sampling', int('--seed', 0))
    .option('--workers <n>', 'data-loader worker threads (default 2)', (v) => Number(v))
    .option('--no-validation', 'skip the final validation through the predictor')
    .action(async (o: Opts) => {
      const ds = resolveRawDataset(o.dataset);
      const pre = preprocessedDatasetFolder(ds.name, o.preprocessed);
      const resultsRoot = o.results ?? requireNnunetRoot('nnUNet_results');
      const fold = o.fold === 'all' ? 'all' : Number(o.fold);
      if (fold !== 'all' && !(Number.isInteger(fold) && fold >= 0)) throw new Error(`-f must be a fold number or 'all', got "${o.fold}"`);
      const log = (l: string) => process.stderr.write(`${l}\n`);
      let plans = await ensurePreprocessed({
        rawDatasetFolder: ds.folder,
        preprocessedDatasetFolder: pre,
        datasetName: ds.name,
        plansName: o.plans,
        configuration: o.configuration,
        workers: o.workers,
        log,
      });
      const shrink = o.baseFeatures !== undefined || o.maxFeatures !== undefined || o.maxStages !== undefined || o.patchSize !== undefined;
      if (shrink) {
        const patchSize = o.patchSize?.split(',').map((v) => int('--patch-size')(v.trim()));
        plans = shrinkPlans(plans, o.configuration, {
          baseFeatures: o.baseFeatures ?? 32,
          maxFeatures: o.maxFeatures ?? 320,
          maxStages: o.maxStages,
          patchSize,
        });
      }
      const store = new ModelStore(modelStoreRoot(o.store));
      const pretrainedModel = o.pretrained ? store.get(o.pretrained) : undefined;
      let bar: ProgressBar | null = null;
      const result = await train({
        preprocessedDatasetFolder: pre,
        rawDatasetFolder: o.validation ? ds.folder : undefined,
        resultsFolder: join(resultsRoot, ds.name),
        configuration: o.configuration,
        fold,
        plansName: o.plans,
        plans: shrink ? plans : undefined,
        numEpochs: o.epochs,
        iterationsPerEpoch: o.iters,
        validationIterations: o.valIters,
        saveEvery: o.saveEvery,
        batchSize: o.batchSize,
        seed: o.seed,
        resume: o.resume,
        pretrainedModel,
        loaderWorkers: o.workers,
        backend: o.backend,
        log,
        onIteration: (phase, done, total) => {
          if (phase !== 'train') return;
          if (done === 1) bar = new ProgressBar('train', total);
          bar?.tick();
        },
      });
      process.stderr.write(`results in ${result.outputFolder} (backend ${result.backend.kind})\n`);
      if (o.registerAs) {
        const stored = await store.importModel(result.outputFolder, { name: o.registerAs, replace: true, onProgress: log });
        process.stderr.write(`registered as "${stored.card.name}" in ${store.root}\n`);
      }
    });
}

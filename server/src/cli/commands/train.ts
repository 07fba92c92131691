/** `nnseg train`: nnU-Net's training recipe on TensorFlow.js (nnUNetv2_train equivalent). */
import { join } from 'node:path';
import type { Command } from 'commander';
import { preprocessedDatasetFolder, requireNnunetRoot, resolveRawDataset } from '../../io/nnunet-paths.js';
import { ModelStore } from '../../models/model-store.js';
import { modelStoreRoot } from '../../models/store-location.js';
import { shrinkPlans } from '../../training/prepare.js';
import { formatTrainingEvent, type TrainingEventBody, type ValidationSummary } from '../../contract/training-events.js';
import { epochMetrics, epochsFromLog } from '../../training/epoch-metrics.js';
import type { Summary } from '../../nnunet/evaluation/summary.js';
import { train } from '../../training/trainer.js';
import type { TfjsBackendName } from '../../engines/tfjs/backend.js';
import { ProgressBar } from '../progress.js';
import { ensurePreprocessed } from '../../pipelines/plan-and-preprocess.js';

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
  npz?: boolean;
  eventsJson?: boolean;
}

function validationSummary(s: Summary): ValidationSummary {
  const dice = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
  return {
    foregroundMeanDice: dice(s.foreground_mean.Dice),
    dicePerLabel: Object.fromEntries(Object.entries(s.mean).map(([label, m]) => [label, dice(m.Dice)])),
    cases: s.metric_per_case.length,
  };
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
    .option('--npz', 'the final validation also saves probabilities (<case>.npz/.pkl), to ensemble configurations (find-best-configuration)')
    .option('--events-json', 'write progress as versioned JSON lines on stdout (training/events.ts; used by the server\'s train jobs)')
    .action(async (o: Opts) => {
      const emit = (e: TrainingEventBody) => {
        if (o.eventsJson) process.stdout.write(formatTrainingEvent(e));
      };
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
        onStage: (stage) => emit({ type: 'stage', stage }),
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
        saveValidationProbabilities: !!o.npz,
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
        onStart: ({ backend, startEpoch, resumed, restoredLog }) => {
          emit({ type: 'stage', stage: 'training' });
          emit({ type: 'backend', backend: backend.kind, resumedAtEpoch: resumed ? startEpoch : null });
          for (const metrics of epochsFromLog(restoredLog, o.epochs ?? 1000)) emit({ type: 'epoch', metrics });
        },
        onEpoch: (r) => emit({ type: 'epoch', metrics: epochMetrics(r) }),
        onValidation: () => emit({ type: 'stage', stage: 'validation' }),
        onIteration: (phase, done, total) => {
          emit({ type: 'iteration', phase, done, total });
          if (phase !== 'train') return;
          if (done === 1) bar = new ProgressBar('train', total);
          bar?.tick();
        },
      });
      process.stderr.write(`results in ${result.outputFolder} (backend ${result.backend.kind})\n`);
      let registered: { name: string; version: string } | null = null;
      if (o.registerAs) {
        emit({ type: 'stage', stage: 'registering' });
        const stored = await store.importModel(result.outputFolder, { name: o.registerAs, replace: true, onProgress: log });
        registered = { name: stored.card.name, version: stored.card.importedAt };
        process.stderr.write(`registered as "${stored.card.name}" in ${store.root}\n`);
      }
      emit({ type: 'done', outputFolder: result.outputFolder, validation: result.validation ? validationSummary(result.validation) : null, registered });
    });
}

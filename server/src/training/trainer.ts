/**
 * nnUNetTrainer on TensorFlow.js (nnunetv2/training/nnUNetTrainer/nnUNetTrainer.py):
 * run_training = for epoch in [current, num_epochs): lr = poly(epoch); `iterationsPerEpoch` train steps
 * (deep-supervision DC+CE, grad-norm clip 12, SGD Nesterov); `validationIterations` validation steps
 * (loss + hard tp/fp/fn on the full-resolution output); pseudo Dice = mean over foreground classes of
 * 2tp/(2tp+fp+fn) over all validation batches, EMA 0.9/0.1; checkpoint_latest every `saveEvery` epochs
 * (not at the last), checkpoint_best when the EMA improves, checkpoint_final at the end.
 *
 * Output: nnU-Net's results layout `<resultsFolder>/<Trainer>__<Plans>__<Configuration>/` with plans.json,
 * dataset.json (+ dataset_fingerprint.json when present) and `fold_<f>/` holding checkpoint_*.pth
 * (writeNnunetCheckpoint — nnU-Net can load them), model.onnx, training_log.json, progress.png,
 * debug.json, validation/summary.json, and our resume state (training-state.ts).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice, type TfjsBackendName } from '../engines/tfjs/backend.js';
import { initialWeights, TfjsUNet } from '../engines/tfjs/network.js';
import { buildOnnxModel, type NetworkWeights } from '../engines/onnx/graph.js';
import { writeNnunetCheckpoint } from '../models/checkpoint/writer.js';
import { LabelManager } from '../nnunet/dataset/labels.js';
import type { LabelValue } from '../nnunet/dataset/dataset-json.js';
import type { Summary } from '../nnunet/evaluation/summary.js';
import { networkSpecFromPlans } from '../nnunet/network/from-plans.js';
import type { NetworkSpec } from '../nnunet/network/spec.js';
import { emptyLog, writeCurvesPng, type TrainingLog } from './curves.js';
import type { BatchSource, LoaderOptions, TrainingBatch } from './data/types.js';
import { runFinalValidation } from './final-validation.js';
import { deepSupervisionLoss, diceCounts, type LossOptions } from './loss.js';
import { NesterovSgd, NNUNET_SGD, polyLr } from './optimizer.js';
import type { StoredModel } from '../models/model-store.js';
import { pretrainedWeights } from './pretrained.js';
import { hasTrainingState, readTrainingState, writeTrainingState } from './training-state.js';
import { parsePlans, resolveConfiguration } from '../nnunet/plans/plans.js';
import { writeFileAtomic, writeJsonAtomic } from '../formats/atomic-file.js';
import { trainedModelFolderName } from '../io/nnunet-paths.js';

export type LoaderFactory = (kind: 'train' | 'val', options: LoaderOptions) => Promise<BatchSource> | BatchSource;

export interface EpochRecord {
  epoch: number;
  numEpochs: number;
  trainLoss: number;
  valLoss: number;
  pseudoDice: number[];
  meanFgDice: number;
  emaFgDice: number;
  lr: number;
  seconds: number;
  newBest: boolean;
}

export interface TrainOptions {
  /** nnUNet_preprocessed/<Dataset> (plans, dataset.json, <data_identifier>/ case files, splits_final.json) */
  preprocessedDatasetFolder: string;
  /** raw dataset folder: the final validation predicts its imagesTr and evaluates against labelsTr */
  rawDatasetFolder?: string;
  /** nnUNet_results/<Dataset>: the `<Trainer>__<Plans>__<Configuration>` folder goes inside */
  resultsFolder: string;
  configuration: string;
  fold: number | 'all';
  plansName?: string;
  /** plans object to use instead of <plansName>.json (e.g. a smaller network); it is what gets saved */
  plans?: Record<string, unknown>;
  trainerName?: string;
  /** defaults as nnU-Net: 1000 × 250, 50 validation iterations, save every 50 */
  numEpochs?: number;
  iterationsPerEpoch?: number;
  validationIterations?: number;
  saveEvery?: number;
  initialLr?: number;
  /** batch size instead of the plans' */
  batchSize?: number;
  seed?: number;
  /** continue from the fold's resume state (fails when there is none) */
  resume?: boolean;
  /** fine-tuning: start from these weights (PyTorch layout, same network) */
  pretrainedWeights?: NetworkWeights;
  /** fine-tuning: start from a stored model with the same plans (its seg layers are re-initialised) */
  pretrainedModel?: StoredModel;
  /** data-loader worker threads (default 2) */
  loaderWorkers?: number;
  /** where batches come from; default: training/data's createTrainingLoader / createValidationLoader */
  loaders?: LoaderFactory;
  /** run the final validation through the predictor (default true when rawDatasetFolder is given) */
  finalValidation?: boolean;
  /** nnU-Net's `--npz`: the final validation also saves each case's probabilities (for ensembling configurations) */
  saveValidationProbabilities?: boolean;
  backend?: TfjsBackendName;
  /** once the network is built: the backend and the epoch training starts at (> 0 when resumed) */
  onStart?: (info: { backend: BackendChoice; startEpoch: number; resumed: boolean; restoredLog: TrainingLog }) => void;
  /** the final validation through the predictor begins */
  onValidation?: () => void;
  onEpoch?: (r: EpochRecord) => void;
  onIteration?: (phase: 'train' | 'val', done: number, total: number) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface TrainResult {
  outputFolder: string;
  foldFolder: string;
  backend: BackendChoice;
  epochsRun: number;
  log: TrainingLog;
  bestEma: number | null;
  validation: Summary | null;
  spec: NetworkSpec;
  weights: NetworkWeights;
}

function readJson(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** 1/cumprod(pool_op_kernel_sizes)[:-1] (nnUNetTrainer._get_deep_supervision_scales), from the spec's strides. */
export function deepSupervisionScales(spec: NetworkSpec): number[][] {
  const cum = new Array<number>(spec.dim).fill(1);
  const out: number[][] = [];
  for (const st of spec.encoder) {
    st.stride.forEach((s, a) => (cum[a]! *= s));
    out.push(cum.map((c) => 1 / c));
  }
  return out.slice(0, -1);
}

const nanMean = (v: number[]) => {
  const f = v.filter((x) => !Number.isNaN(x));
  return f.length ? f.reduce((a, b) => a + b, 0) / f.length : NaN;
};

async function defaultLoaders(kind: 'train' | 'val', options: LoaderOptions): Promise<BatchSource> {
  // the data package is loaded lazily: training/data/ is its own module set
  const mod = (await import('./data/index.js' as string)) as {
    createTrainingLoader?: (o: LoaderOptions) => BatchSource | Promise<BatchSource>;
    createValidationLoader?: (o: LoaderOptions) => BatchSource | Promise<BatchSource>;
  };
  const f = kind === 'train' ? mod.createTrainingLoader : mod.createValidationLoader;
  if (!f) throw new Error(`training/data does not export ${kind === 'train' ? 'createTrainingLoader' : 'createValidationLoader'}`);
  return f(options);
}

function to3(v: number[]): number[] {
  return v.length === 3 ? v : [1, ...v];
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const backend = await selectBackend({ prefer: o.backend, log });
  const plansName = o.plansName ?? 'nnUNetPlans';
  const trainerName = o.trainerName ?? 'nnUNetTrainer';
  const plans = o.plans ?? readJson(join(o.preprocessedDatasetFolder, `${plansName}.json`));
  const datasetJson = readJson(join(o.preprocessedDatasetFolder, 'dataset.json')) as { labels: Record<string, LabelValue>; regions_class_order?: number[] } & Record<string, unknown>;
  const parsedPlans = parsePlans(plans, `${plansName}.json`);
  const config = resolveConfiguration(parsedPlans, o.configuration, `${plansName}.json`);
  const labels = new LabelManager(datasetJson.labels, datasetJson.regions_class_order);
  if (labels.hasRegions) throw new Error('region-based training (regions in dataset.json labels) is not supported by the nnseg trainer');
  const spec = networkSpecFromPlans(parsedPlans, o.configuration, datasetJson);
  if (config.previous_stage) throw new Error(`configuration ${o.configuration} is a cascade stage; cascade training is not supported`);
  const { patch_size: patchSize, data_identifier: dataIdentifier } = config;
  if (!patchSize) throw new Error(`plans: configuration ${o.configuration} lacks patch_size`);
  const is2d = patchSize.length === 2;
  const batchSize = o.batchSize ?? config.batch_size;
  if (batchSize === undefined) throw new Error(`plans: configuration ${o.configuration} lacks batch_size`);
  const batchDice = Boolean(config.batch_dice);
  const numEpochs = o.numEpochs ?? 1000;
  const iterations = o.iterationsPerEpoch ?? 250;
  const valIterations = o.validationIterations ?? 50;
  const saveEvery = o.saveEvery ?? 50;
  const seed = o.seed ?? 12345;
  const initialLr = o.initialLr ?? NNUNET_SGD.initialLr;
  const dataFolder = join(o.preprocessedDatasetFolder, dataIdentifier);
  if (!existsSync(dataFolder)) throw new Error(`${dataFolder}: preprocessed data for ${o.configuration} is missing (run plan-and-preprocess)`);

  // splits: nnU-Net's splits_final.json in the preprocessed dataset folder (read if present, else written)
  const caseIds = readdirSync(dataFolder)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
  if (caseIds.length === 0) throw new Error(`${dataFolder}: no preprocessed cases`);
  const { readOrCreateSplits, selectFold } = await import('./data/splits.js');
  const split = selectFold(readOrCreateSplits(o.preprocessedDatasetFolder, caseIds), o.fold, caseIds);
  const valKeys = split.val.length ? split.val : split.train; // fold 'all' validates on the training cases, as nnU-Net

  const outputFolder = join(o.resultsFolder, trainedModelFolderName(trainerName, plansName, o.configuration));
  const foldFolder = join(outputFolder, `fold_${o.fold}`);
  mkdirSync(foldFolder, { recursive: true });
  // nnUNetTrainer: save_json(plans / dataset_json, ..., sort_keys=False)
  writeJsonAtomic(join(outputFolder, 'plans.json'), plans, { python: { sortKeys: false } });
  writeJsonAtomic(join(outputFolder, 'dataset.json'), datasetJson, { python: { sortKeys: false } });
  const fpPath = join(o.preprocessedDatasetFolder, 'dataset_fingerprint.json');
  if (existsSync(fpPath)) copyFileSync(fpPath, join(outputFolder, 'dataset_fingerprint.json'));

  const { configureAugmentation } = await import('./data/sampling.js');
  const { nnunetAugmentation } = await import('./data/augmentation.js');
  const aug = configureAugmentation(patchSize);
  const mirrorAxes = aug.mirrorAxes;

  const init = initialWeights(spec, seed);
  const startWeights = o.pretrainedWeights ?? (o.pretrainedModel ? pretrainedWeights(o.pretrainedModel, o.configuration, spec, init) : init);
  if (o.pretrainedModel) log(`fine-tuning from "${o.pretrainedModel.card.name}"`);
  const net = new TfjsUNet(spec, startWeights);
  const params = new Map<string, tf.Variable>([...net.variables]);
  const optimizer = new NesterovSgd(params, { ...NNUNET_SGD, initialLr });
  let trainingLog = emptyLog();
  let startEpoch = 0;
  let bestEma: number | null = null;
  if (o.resume) {
    if (!hasTrainingState(foldFolder)) throw new Error(`--resume: ${foldFolder} has no nnseg training state to continue from`);
    const st = readTrainingState(foldFolder);
    if (st.configuration !== o.configuration || String(st.fold) !== String(o.fold))
      throw new Error(`--resume: the state in ${foldFolder} is for ${st.configuration} fold ${st.fold}`);
    if (st.numEpochs !== numEpochs) log(`resume: the state was written for ${st.numEpochs} epochs, continuing with ${numEpochs}`);
    net.loadWeights(st.weights);
    optimizer.setState(st.optimizer);
    trainingLog = st.log;
    startEpoch = st.epoch;
    bestEma = st.bestEma;
    log(`resuming ${o.configuration} fold ${o.fold} at epoch ${startEpoch} (optimizer step ${st.optimizer.step})`);
  }

  const lossOptions: LossOptions = { numClasses: spec.numOutputs, batchDice, ignoreLabel: labels.ignoreLabel ?? null };
  const scales = deepSupervisionScales(spec);
  const loaderBase = {
    preprocessedFolder: dataFolder,
    patchSize,
    batchSize,
    oversampleForegroundPercent: 0.33,
    deepSupervisionScales: scales,
    workers: o.loaderWorkers ?? 2,
    is2d,
    ignoreLabel: labels.ignoreLabel ?? null,
  };
  const makeLoader = o.loaders ?? defaultLoaders;
  // the data stream restarts from a seed derived from the start epoch, so a resumed run does not replay batches
  const trainLoader = await makeLoader('train', { ...loaderBase, caseIds: split.train, augmentation: nnunetAugmentation(aug), seed: seed + 1000 * startEpoch });
  const valLoader = await makeLoader('val', { ...loaderBase, caseIds: valKeys, augmentation: null, seed: seed + 1 + 1000 * startEpoch });

  const toInput = (b: TrainingBatch) => TfjsUNet.inputFromChannelsFirst(b.data, [b.shape.batch, b.shape.channels, ...b.shape.patch]);
  const toTargets = (b: TrainingBatch) =>
    b.targets.map((t, i) => tf.tensor(Int32Array.from(t), [b.shape.batch, ...to3(b.shape.targetPatches[i]!)], 'int32'));

  const saveCheckpoint = (name: string, epoch: number) => {
    const weights = net.exportWeights();
    const bytes = writeNnunetCheckpoint({
      spec,
      weights,
      plans,
      configuration: o.configuration,
      fold: o.fold,
      datasetJson,
      trainerName,
      currentEpoch: epoch,
      inferenceAllowedMirroringAxes: mirrorAxes,
      bestEma,
      logging: trainingLog as unknown as Record<string, unknown>,
      archiveName: name.replace(/\.pth$/, ''),
    });
    // temp + rename: a crash never leaves a half-written checkpoint
    writeFileAtomic(join(foldFolder, name), bytes);
    return weights;
  };
  const saveState = (epochsDone: number, weights?: NetworkWeights) =>
    writeTrainingState(foldFolder, {
      epoch: epochsDone,
      numEpochs,
      iterationsPerEpoch: iterations,
      lr: optimizer.lr,
      initialLr,
      bestEma,
      seed,
      configuration: o.configuration,
      fold: o.fold,
      backend: backend.kind,
      weights: weights ?? net.exportWeights(),
      optimizer: optimizer.getState(),
      log: trainingLog,
    });
  const writeLogs = () => {
    writeFileSync(join(foldFolder, 'training_log.json'), JSON.stringify(trainingLog, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
    writeCurvesPng(join(foldFolder, 'progress.png'), trainingLog);
  };

  writeFileSync(
    join(foldFolder, 'debug.json'),
    JSON.stringify({ trainer: trainerName, backend: backend.kind, configuration: o.configuration, fold: o.fold, numEpochs, iterationsPerEpoch: iterations, validationIterations: valIterations, batchSize, patchSize, batchDice, seed, initialLr, deepSupervisionScales: scales, mirrorAxes, pretrained: o.pretrainedModel?.card.name ?? Boolean(o.pretrainedWeights) }, null, 2),
  );

  o.onStart?.({ backend, startEpoch, resumed: Boolean(o.resume), restoredLog: trainingLog });
  let epochsRun = 0;
  try {
    for (let epoch = startEpoch; epoch < numEpochs; epoch++) {
      if (o.signal?.aborted) throw new Error('training cancelled');
      const t0 = Date.now();
      trainingLog.epoch_start_timestamps.push(t0 / 1000);
      optimizer.lr = polyLr(initialLr, epoch, numEpochs);
      trainingLog.lrs.push(optimizer.lr);

      let lossSum = 0;
      for (let it = 0; it < iterations; it++) {
        if (o.signal?.aborted) throw new Error('training cancelled');
        const batch = await trainLoader.next();
        const lossValue = tf.tidy(() => {
          const x = toInput(batch);
          const targets = toTargets(batch);
          const vars = net.trainableVariables();
          const { value, grads } = tf.variableGrads(() => deepSupervisionLoss(net.forward(x, true), targets, lossOptions), vars);
          const byParam: Record<string, tf.Tensor> = {};
          for (const [name, v] of params) byParam[name] = grads[v.name]!;
          optimizer.apply(byParam);
          return value.dataSync()[0]!;
        });
        if (!Number.isFinite(lossValue)) throw new Error(`training diverged: loss ${lossValue} at epoch ${epoch} iteration ${it}`);
        lossSum += lossValue;
        o.onIteration?.('train', it + 1, iterations);
      }
      trainingLog.train_losses.push(lossSum / iterations);

      let valLossSum = 0;
      const nFg = spec.numOutputs - 1;
      const tp = new Float64Array(nFg);
      const fp = new Float64Array(nFg);
      const fn = new Float64Array(nFg);
      for (let it = 0; it < valIterations; it++) {
        const batch = await valLoader.next();
        const { l, logits } = tf.tidy(() => {
          const outs = net.forward(toInput(batch), true);
          const loss = deepSupervisionLoss(outs, toTargets(batch), lossOptions).dataSync()[0]!;
          return { l: loss, logits: outs[0]!.dataSync() as Float32Array };
        });
        valLossSum += l;
        const c = diceCounts(logits, batch.targets[0]!, spec.numOutputs, labels.ignoreLabel ?? null);
        for (let k = 0; k < nFg; k++) {
          tp[k]! += c.tp[k]!;
          fp[k]! += c.fp[k]!;
          fn[k]! += c.fn[k]!;
        }
        o.onIteration?.('val', it + 1, valIterations);
      }
      const perClass = Array.from(tp, (t, k) => (2 * t) / (2 * t + fp[k]! + fn[k]!));
      const meanFg = nanMean(perClass);
      const prevEma = trainingLog.ema_fg_dice.length ? trainingLog.ema_fg_dice[trainingLog.ema_fg_dice.length - 1]! : null;
      const ema = prevEma === null || Number.isNaN(prevEma) ? meanFg : prevEma * 0.9 + 0.1 * meanFg;
      trainingLog.val_losses.push(valIterations ? valLossSum / valIterations : NaN);
      trainingLog.mean_fg_dice.push(meanFg);
      trainingLog.dice_per_class_or_region.push(perClass);
      trainingLog.ema_fg_dice.push(ema);
      trainingLog.epoch_end_timestamps.push(Date.now() / 1000);

      let newBest = false;
      if (!Number.isNaN(ema) && (bestEma === null || ema > bestEma)) {
        bestEma = ema;
        newBest = true;
        saveCheckpoint('checkpoint_best.pth', epoch + 1);
      }
      if ((epoch + 1) % saveEvery === 0 && epoch !== numEpochs - 1) {
        const w = saveCheckpoint('checkpoint_latest.pth', epoch + 1);
        saveState(epoch + 1, w);
      }
      writeLogs();
      epochsRun++;
      const rec: EpochRecord = {
        epoch,
        numEpochs,
        trainLoss: trainingLog.train_losses[trainingLog.train_losses.length - 1]!,
        valLoss: trainingLog.val_losses[trainingLog.val_losses.length - 1]!,
        pseudoDice: perClass,
        meanFgDice: meanFg,
        emaFgDice: ema,
        lr: optimizer.lr,
        seconds: (Date.now() - t0) / 1000,
        newBest,
      };
      log(
        `epoch ${epoch}: train_loss ${rec.trainLoss.toFixed(4)} val_loss ${rec.valLoss.toFixed(4)} pseudo dice [${perClass.map((d) => d.toFixed(4)).join(', ')}] ema ${ema.toFixed(4)} lr ${optimizer.lr.toExponential(3)} ${rec.seconds.toFixed(1)} s${newBest ? ' (new best)' : ''}`,
      );
      o.onEpoch?.(rec);
    }
  } finally {
    await trainLoader.close();
    await valLoader.close();
  }

  const finalWeights = saveCheckpoint('checkpoint_final.pth', numEpochs);
  saveState(numEpochs, finalWeights);
  rmSync(join(foldFolder, 'checkpoint_latest.pth'), { force: true });
  writeFileSync(join(foldFolder, 'model.onnx'), buildOnnxModel(spec, finalWeights));
  writeLogs();
  net.dispose();
  optimizer.dispose();

  let validation: Summary | null = null;
  if (o.rawDatasetFolder && o.finalValidation !== false) {
    log(`final validation of ${valKeys.length} case(s) through the predictor`);
    o.onValidation?.();
    validation = await runFinalValidation({
      spec,
      weights: finalWeights,
      plans,
      configuration: o.configuration,
      rawDatasetFolder: o.rawDatasetFolder,
      caseIds: valKeys,
      foldFolder,
      mirrorAxes,
      saveProbabilities: o.saveValidationProbabilities,
      signal: o.signal,
    });
    log(`validation mean foreground Dice ${validation.foreground_mean.Dice}`);
  }
  return { outputFolder, foldFolder, backend, epochsRun, log: trainingLog, bestEma, validation, spec, weights: finalWeights };
}

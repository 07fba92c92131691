/**
 * Our resume state beside nnU-Net's checkpoint_latest.pth (which nnU-Net can read but which does not carry
 * our optimiser): `nnseg_training_state.json` (versioned, zod-checked) + `nnseg_training_state.bin`
 * (network parameters in PyTorch layout, then the SGD momentum buffers in tfjs layout, float32 LE, in the
 * order the JSON lists them). Written atomically (temp + rename), bin first, so a crash leaves either the
 * previous or the new state.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { NetworkWeights } from '../engines/onnx/graph.js';
import type { SgdState } from './optimizer.js';
import type { TrainingLog } from './curves.js';
import { writeFileAtomic, writeJsonAtomic } from '../formats/atomic-file.js';

export const TRAINING_STATE_FORMAT = 'nnseg-training-state';
export const TRAINING_STATE_VERSION = 1;
export const STATE_JSON = 'nnseg_training_state.json';
export const STATE_BIN = 'nnseg_training_state.bin';

const Entry = z.object({ name: z.string(), length: z.number().int().nonnegative() });

export const TrainingStateSchema = z.object({
  format: z.literal(TRAINING_STATE_FORMAT),
  version: z.literal(TRAINING_STATE_VERSION),
  /** epochs completed (the next epoch to run) */
  epoch: z.number().int().nonnegative(),
  numEpochs: z.number().int().positive(),
  iterationsPerEpoch: z.number().int().positive(),
  optimizerStep: z.number().int().nonnegative(),
  lr: z.number(),
  initialLr: z.number(),
  bestEma: z.number().nullable(),
  seed: z.number().int(),
  configuration: z.string(),
  fold: z.union([z.number().int(), z.literal('all')]),
  backend: z.string(),
  weights: z.array(Entry),
  momentum: z.array(Entry),
  log: z.object({
    train_losses: z.array(z.number().nullable()),
    val_losses: z.array(z.number().nullable()),
    mean_fg_dice: z.array(z.number().nullable()),
    ema_fg_dice: z.array(z.number().nullable()),
    dice_per_class_or_region: z.array(z.array(z.number().nullable())),
    lrs: z.array(z.number()),
    epoch_start_timestamps: z.array(z.number()),
    epoch_end_timestamps: z.array(z.number()),
  }),
});

export interface TrainingState {
  epoch: number;
  numEpochs: number;
  iterationsPerEpoch: number;
  lr: number;
  initialLr: number;
  bestEma: number | null;
  seed: number;
  configuration: string;
  fold: number | 'all';
  backend: string;
  weights: NetworkWeights;
  optimizer: SgdState;
  log: TrainingLog;
}

const nanToNull = (a: number[]) => a.map((x) => (Number.isFinite(x) ? x : null));
const nullToNan = (a: (number | null)[]) => a.map((x) => (x === null ? NaN : x));

export function writeTrainingState(folder: string, s: TrainingState): void {
  const weightEntries = [...s.weights].map(([name, w]) => ({ name, length: w.length }));
  const momentumEntries = [...s.optimizer.buffers].map(([name, w]) => ({ name, length: w.length }));
  const total = [...s.weights.values(), ...s.optimizer.buffers.values()].reduce((a, w) => a + w.length, 0);
  const bin = new Float32Array(total);
  let o = 0;
  for (const w of [...s.weights.values(), ...s.optimizer.buffers.values()]) {
    bin.set(w, o);
    o += w.length;
  }
  const json = {
    format: TRAINING_STATE_FORMAT,
    version: TRAINING_STATE_VERSION,
    epoch: s.epoch,
    numEpochs: s.numEpochs,
    iterationsPerEpoch: s.iterationsPerEpoch,
    optimizerStep: s.optimizer.step,
    lr: s.lr,
    initialLr: s.initialLr,
    bestEma: s.bestEma,
    seed: s.seed,
    configuration: s.configuration,
    fold: s.fold,
    backend: s.backend,
    weights: weightEntries,
    momentum: momentumEntries,
    log: {
      ...s.log,
      train_losses: nanToNull(s.log.train_losses),
      val_losses: nanToNull(s.log.val_losses),
      mean_fg_dice: nanToNull(s.log.mean_fg_dice),
      ema_fg_dice: nanToNull(s.log.ema_fg_dice),
      dice_per_class_or_region: s.log.dice_per_class_or_region.map(nanToNull),
    },
  };
  const binPath = join(folder, STATE_BIN);
  const jsonPath = join(folder, STATE_JSON);
  // the JSON names the bin's size; write bin then JSON, each via rename
  writeFileAtomic(binPath, new Uint8Array(bin.buffer));
  writeJsonAtomic(jsonPath, json);
}

export function hasTrainingState(folder: string): boolean {
  return existsSync(join(folder, STATE_JSON)) && existsSync(join(folder, STATE_BIN));
}

export function readTrainingState(folder: string): TrainingState {
  const jsonPath = join(folder, STATE_JSON);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(jsonPath, 'utf8'));
  } catch (e) {
    throw new Error(`${jsonPath}: cannot read training state (${(e as Error).message})`);
  }
  const r = TrainingStateSchema.safeParse(raw);
  if (!r.success)
    throw new Error(`${jsonPath}: not an ${TRAINING_STATE_FORMAT} v${TRAINING_STATE_VERSION} file: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const j = r.data;
  const buf = readFileSync(join(folder, STATE_BIN));
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const need = [...j.weights, ...j.momentum].reduce((a, e) => a + e.length, 0);
  if (all.length !== need) throw new Error(`${join(folder, STATE_BIN)}: ${all.length} values, the state lists ${need}`);
  let o = 0;
  const take = (entries: { name: string; length: number }[]) => {
    const m = new Map<string, Float32Array>();
    for (const e of entries) {
      m.set(e.name, all.slice(o, o + e.length));
      o += e.length;
    }
    return m;
  };
  const weights = take(j.weights);
  const buffers = take(j.momentum);
  return {
    epoch: j.epoch,
    numEpochs: j.numEpochs,
    iterationsPerEpoch: j.iterationsPerEpoch,
    lr: j.lr,
    initialLr: j.initialLr,
    bestEma: j.bestEma,
    seed: j.seed,
    configuration: j.configuration,
    fold: j.fold,
    backend: j.backend,
    weights,
    optimizer: { step: j.optimizerStep, buffers },
    log: {
      ...j.log,
      train_losses: nullToNan(j.log.train_losses),
      val_losses: nullToNan(j.log.val_losses),
      mean_fg_dice: nullToNan(j.log.mean_fg_dice),
      ema_fg_dice: nullToNan(j.log.ema_fg_dice),
      dice_per_class_or_region: j.log.dice_per_class_or_region.map(nullToNan),
    },
  };
}

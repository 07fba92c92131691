/** The trainer's epoch records as training-event payloads (contract/training-events.ts). */
import type { EpochMetrics } from '../contract/training-events.js';
import type { TrainingLog } from './curves.js';
import type { EpochRecord } from './trainer.js';

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** An epoch record of the trainer as an event payload (NaN → null). */
export function epochMetrics(r: EpochRecord): EpochMetrics {
  return {
    epoch: r.epoch,
    numEpochs: r.numEpochs,
    trainLoss: finite(r.trainLoss),
    valLoss: finite(r.valLoss),
    pseudoDice: r.pseudoDice.map(finite),
    meanFgDice: finite(r.meanFgDice),
    emaFgDice: finite(r.emaFgDice),
    lr: finite(r.lr),
    seconds: finite(r.seconds),
    newBest: r.newBest,
  };
}

/**
 * The epochs of a restored nnU-Net log (a resumed run re-sends them, so a follower's curve has no gap
 * where the saved state is ahead of what it was told). `newBest` is recomputed from the EMA.
 */
export function epochsFromLog(log: TrainingLog, numEpochs: number): EpochMetrics[] {
  let best = -Infinity;
  return log.train_losses.map((trainLoss, epoch) => {
    const ema = log.ema_fg_dice[epoch] ?? NaN;
    const newBest = Number.isFinite(ema) && ema > best;
    if (newBest) best = ema;
    return epochMetrics({
      epoch,
      numEpochs,
      trainLoss,
      valLoss: log.val_losses[epoch] ?? NaN,
      pseudoDice: log.dice_per_class_or_region[epoch] ?? [],
      meanFgDice: log.mean_fg_dice[epoch] ?? NaN,
      emaFgDice: ema,
      lr: log.lrs[epoch] ?? NaN,
      seconds: (log.epoch_end_timestamps[epoch] ?? NaN) - (log.epoch_start_timestamps[epoch] ?? NaN),
      newBest,
    });
  });
}

/** The JSON-lines events between a training child process and the server. */
import { formatTrainingEvent, parseTrainingEvent } from '../../../server/src/contract/training-events.js';
import { epochMetrics, epochsFromLog } from '../../../server/src/training/epoch-metrics.js';

describe('training events', () => {
  it('round-trips an epoch, NaN as null', () => {
    const metrics = epochMetrics({ epoch: 3, numEpochs: 10, trainLoss: -0.5, valLoss: NaN, pseudoDice: [0.9, NaN], meanFgDice: 0.9, emaFgDice: 0.7, lr: 0.007, seconds: 2.5, newBest: true });
    const line = formatTrainingEvent({ type: 'epoch', metrics });
    expect(line.endsWith('\n')).toBe(true);
    expect(parseTrainingEvent(line)).toEqual({ v: 1, type: 'epoch', metrics: { ...metrics, valLoss: null, pseudoDice: [0.9, null] } });
  });

  it('names what is wrong with a line', () => {
    expect(() => parseTrainingEvent('epoch 3: train_loss 0.1')).toThrow(/not JSON/);
    expect(() => parseTrainingEvent('{"v":2,"type":"stage","stage":"training"}')).toThrow(/version 2 is not 1/);
    expect(() => parseTrainingEvent('{"v":1,"type":"stage","stage":"sleeping"}')).toThrow(/stage/);
    expect(() => parseTrainingEvent('{"v":1,"type":"iteration","phase":"train","done":1}')).toThrow(/total/);
  });

  it('rebuilds the epochs of a restored nnU-Net log, newBest where the EMA rose', () => {
    const log = {
      train_losses: [1, 0.5, 0.2],
      val_losses: [1.1, 0.6, 0.3],
      mean_fg_dice: [0.2, 0.1, 0.8],
      ema_fg_dice: [0.2, 0.19, 0.251],
      dice_per_class_or_region: [[0.2], [0.1], [0.8]],
      lrs: [0.01, 0.0091, 0.0082],
      epoch_start_timestamps: [0, 10, 20],
      epoch_end_timestamps: [9, 19.5, 29],
    };
    const epochs = epochsFromLog(log, 5);
    expect(epochs.map((e) => [e.epoch, e.numEpochs, e.newBest, e.seconds])).toEqual([
      [0, 5, true, 9],
      [1, 5, false, 9.5],
      [2, 5, true, 9],
    ]);
    expect(epochs[2]).toMatchObject({ trainLoss: 0.2, valLoss: 0.3, pseudoDice: [0.8], meanFgDice: 0.8, emaFgDice: 0.251, lr: 0.0082 });
  });
});

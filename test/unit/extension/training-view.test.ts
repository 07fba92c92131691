/** The panel's view of a train job: curve merging, the status line, the EMA plot. */
import { emaPolyline, mergeEpochs, trainingStatusLine, type TrainingView } from '../../../extension/src/training-view.js';
import type { EpochMetrics } from '../../../server/src/contract/training-events.js';
import { parseTrainRequest } from '../../../server/src/contract/train-request.js';

const epoch = (n: number, ema: number | null, numEpochs = 5): EpochMetrics => ({
  epoch: n,
  numEpochs,
  trainLoss: 0.5,
  valLoss: 0.4,
  pseudoDice: [0.9],
  meanFgDice: 0.9,
  emaFgDice: ema,
  lr: 0.01,
  seconds: 3,
  newBest: false,
});

const view = (over: Partial<TrainingView['summary']>, epochs: EpochMetrics[] = []): TrainingView => ({
  summary: {
    formatVersion: 1,
    id: '8d9c5f28-2a72-45a3-9a9a-1f22972ffad1',
    owner: 'admin-1',
    state: 'running',
    request: parseTrainRequest({ source: { kind: 'corrections', model: 'liver' }, configuration: '3d_fullres', registerAs: 'liver' }),
    createdAt: '2026-12-06T02:00:00Z',
    runs: 1,
    epochsDone: epochs.length,
    ...over,
  },
  epochs,
});

describe('training view', () => {
  it('merges epochs: new ones append, a re-sent curve replaces from its first epoch on', () => {
    const a = mergeEpochs([], [epoch(0, 0.1), epoch(1, 0.2)]);
    expect(a.map((e) => e.epoch)).toEqual([0, 1]);
    expect(mergeEpochs(a, [epoch(2, 0.3)]).map((e) => e.epoch)).toEqual([0, 1, 2]);
    // a resumed run restored only epochs 0..1 of a curve the viewer had to 3
    const b = mergeEpochs([epoch(0, 0.1), epoch(1, 0.2), epoch(2, 0.3), epoch(3, 0.4)], [epoch(0, 0.1), epoch(1, 0.25)]);
    expect(b.map((e) => [e.epoch, e.emaFgDice])).toEqual([
      [0, 0.1],
      [1, 0.25],
    ]);
  });

  it('says where the job is, in the words a reader uses', () => {
    expect(trainingStatusLine(view({ state: 'queued' }))).toBe('Waiting for the trainer');
    expect(trainingStatusLine(view({ stage: 'dataset' }))).toBe('Building the dataset from the corrections');
    expect(trainingStatusLine(view({ stage: 'training' }, [epoch(0, 0.1), epoch(1, 0.4567)]))).toBe('Training · epoch 2/5 · EMA Dice 0.457');
    expect(trainingStatusLine(view({ state: 'succeeded', registered: { name: 'liver', version: 'v' }, validation: { foregroundMeanDice: 0.8123, dicePerLabel: {}, cases: 3 } }))).toBe(
      'Done: "liver" registered · validation Dice 0.812',
    );
    expect(trainingStatusLine(view({ state: 'failed', error: { code: 'BAD_DATASET', message: 'log line\nno stored corrections for model "liver"' } }))).toBe(
      'Failed (BAD_DATASET): no stored corrections for model "liver"',
    );
    expect(trainingStatusLine(view({ state: 'cancelled' }, [epoch(0, 0.1)]))).toMatch(/Cancelled after 1 epoch/);
  });

  it('plots the EMA Dice over the planned epochs, skipping epochs without one', () => {
    expect(emaPolyline([epoch(0, 0.5)], 100, 10)).toBe('');
    expect(emaPolyline([epoch(0, 0), epoch(1, null), epoch(2, 0.5), epoch(4, 1)], 100, 10)).toBe('0.0,10.0 50.0,5.0 100.0,0.0');
  });
});

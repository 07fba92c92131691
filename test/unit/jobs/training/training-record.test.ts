import { TRAINING_EVENTS_VERSION, type EpochMetrics } from '../../../../server/src/contract/training-events.js';
import { TRAINING_JOB_FORMAT_VERSION, type TrainingJobRecord } from '../../../../server/src/contract/train-request.js';
import { applyTrainingEvent } from '../../../../server/src/jobs/training/training-record.js';

const v = TRAINING_EVENTS_VERSION;
const record = (over: Partial<TrainingJobRecord> = {}): TrainingJobRecord =>
  ({
    formatVersion: TRAINING_JOB_FORMAT_VERSION,
    id: 'j',
    owner: 'admin',
    state: 'running',
    request: { source: { kind: 'dataset', name: 'Dataset001_X' }, configuration: '2d', fold: 0, registerAs: 'x' },
    createdAt: '2026-12-08T00:00:00.000Z',
    runs: 1,
    epochs: [],
    ...over,
  }) as TrainingJobRecord;
const epoch = (n: number): EpochMetrics => ({ epoch: n, numEpochs: 3, trainLoss: 1 - n / 10, valLoss: null, pseudoDice: [0.5], meanFgDice: 0.5, emaFgDice: 0.5, lr: 0.01, seconds: 1, newBest: n === 0 });

describe('applyTrainingEvent: a train job record following its event stream', () => {
  it('reaching a stage completes the one before it, and leaves the input record alone', () => {
    const before = record({ stage: 'planning', iteration: { phase: 'train', done: 1, total: 2 } });
    const out = applyTrainingEvent(before, { v, type: 'stage', stage: 'training' });
    expect(out).toMatchObject({ persist: true, notify: 'now' });
    expect(out.record.stage).toBe('training');
    expect(out.record.completedStage).toBe('preprocessing');
    expect(out.record.iteration).toBeUndefined();
    expect(before.stage).toBe('planning');
    expect(before.iteration).toEqual({ phase: 'train', done: 1, total: 2 });
  });

  it('an epoch replaces what the record had from that epoch on and travels with the update', () => {
    const out = applyTrainingEvent(record({ epochs: [epoch(0), epoch(1), epoch(2)] }), { v, type: 'epoch', metrics: epoch(1) });
    expect(out.record.epochs.map((e) => e.epoch)).toEqual([0, 1]);
    expect(out.epoch).toEqual(epoch(1));
  });

  it('a resume drops the epochs the saved state does not have', () => {
    const out = applyTrainingEvent(record({ epochs: [epoch(0), epoch(1), epoch(2)] }), { v, type: 'backend', backend: 'tensorflow', resumedAtEpoch: 2 });
    expect(out.record.epochs.map((e) => e.epoch)).toEqual([0, 1]);
    expect(out.record).toMatchObject({ backend: 'tensorflow', resumedAtEpoch: 2 });
  });

  it('iterations are not persisted; done records validation and the registered model; an ended job ignores events', () => {
    expect(applyTrainingEvent(record(), { v, type: 'iteration', phase: 'val', done: 3, total: 50 })).toMatchObject({ persist: false, notify: 'iteration' });
    const done = applyTrainingEvent(record(), { v, type: 'done', outputFolder: 'o', validation: { foregroundMeanDice: 0.9, dicePerLabel: { '1': 0.9 }, cases: 2 }, registered: { name: 'x', version: 'v1' } });
    expect(done.record).toMatchObject({ completedStage: 'registering', registered: { name: 'x', version: 'v1' }, validation: { foregroundMeanDice: 0.9 } });
    const ended = record({ state: 'cancelled' });
    expect(applyTrainingEvent(ended, { v, type: 'epoch', metrics: epoch(0) })).toEqual({ record: ended, persist: false, notify: 'no' });
  });
});

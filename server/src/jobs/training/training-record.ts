/**
 * How a train job's record follows the `nnseg train --events-json` stream: a pure reducer, no I/O, no clock.
 * The queue (training-jobs.ts) persists and notifies as the returned effect says.
 */
import { TRAINING_STAGES, type EpochMetrics, type TrainingEvent, type TrainingStage } from '../../contract/training-events.js';
import type { TrainingJobRecord } from '../../contract/train-request.js';

export const ENDED_TRAINING_STATES: ReadonlySet<TrainingJobRecord['state']> = new Set(['succeeded', 'failed', 'cancelled', 'interrupted']);

export const stageIndex = (s: TrainingStage | undefined): number => (s === undefined ? -1 : TRAINING_STAGES.indexOf(s));

export interface TrainingEventEffect {
  /** the record after the event (the input record is not modified) */
  record: TrainingJobRecord;
  /** write the record (training-job.json) */
  persist: boolean;
  /** tell subscribers: 'now', or 'iteration' (the caller rate-limits iteration updates), or not at all */
  notify: 'now' | 'iteration' | 'no';
  /** a new epoch to send with the update */
  epoch?: EpochMetrics;
}

/** Applies one training event to a job record. Events of an ended job change nothing. */
export function applyTrainingEvent(current: TrainingJobRecord, e: TrainingEvent): TrainingEventEffect {
  if (ENDED_TRAINING_STATES.has(current.state)) return { record: current, persist: false, notify: 'no' };
  const r = structuredClone(current);
  switch (e.type) {
    case 'stage': {
      // reaching a stage completes the ones before it
      if (stageIndex(e.stage) > 0) {
        const before = TRAINING_STAGES[stageIndex(e.stage) - 1]!;
        if (stageIndex(before) > stageIndex(r.completedStage)) r.completedStage = before;
      }
      r.stage = e.stage;
      delete r.iteration;
      return { record: r, persist: true, notify: 'now' };
    }
    case 'backend':
      r.backend = e.backend;
      if (e.resumedAtEpoch !== null) r.resumedAtEpoch = e.resumedAtEpoch;
      else delete r.resumedAtEpoch;
      // the restored epochs follow as 'epoch' events; what this record has beyond them was not saved
      r.epochs = r.epochs.filter((x) => x.epoch < (e.resumedAtEpoch ?? 0));
      return { record: r, persist: true, notify: 'now' };
    case 'iteration':
      // frequent: not persisted
      r.iteration = { phase: e.phase, done: e.done, total: e.total };
      return { record: r, persist: false, notify: 'iteration' };
    case 'epoch':
      r.epochs = r.epochs.filter((x) => x.epoch < e.metrics.epoch);
      r.epochs.push(e.metrics);
      return { record: r, persist: true, notify: 'now', epoch: e.metrics };
    case 'done':
      if (e.validation) r.validation = e.validation;
      else delete r.validation;
      if (e.registered) r.registered = e.registered;
      r.completedStage = 'registering';
      return { record: r, persist: true, notify: 'no' };
  }
}

/**
 * What the panel shows of a train job: the learning curve merged from `trainingUpdate`s, one status line,
 * and the points of a small EMA-Dice plot. Pure; the session keeps the state, the panel renders it.
 */
import type { EpochMetrics } from '../../server/src/contract/training-events.js';
import type { TrainingJobSummary } from '../../server/src/contract/train-request.js';

export interface TrainingView {
  summary: TrainingJobSummary;
  epochs: EpochMetrics[];
}

/**
 * Adds incoming epochs to a curve: an epoch replaces the one with its number and everything after it (a
 * re-subscription sends the whole curve again; a resumed run re-sends what it restored).
 */
export function mergeEpochs(curve: readonly EpochMetrics[], incoming: readonly EpochMetrics[]): EpochMetrics[] {
  let out = [...curve];
  for (const e of incoming) {
    out = out.filter((x) => x.epoch < e.epoch);
    out.push(e);
  }
  return out;
}

const STAGES: Record<string, string> = {
  dataset: 'Building the dataset from the corrections',
  planning: 'Planning',
  preprocessing: 'Preprocessing',
  training: 'Training',
  validation: 'Validating',
  registering: 'Registering the model',
};

const dice = (d: number | null | undefined) => (d === null || d === undefined ? '–' : d.toFixed(3));

/** One line: state, stage, epoch and Dice (e.g. "Training · epoch 12/100 · EMA Dice 0.790"). */
export function trainingStatusLine(v: TrainingView): string {
  const s = v.summary;
  const last = v.epochs[v.epochs.length - 1];
  switch (s.state) {
    case 'queued':
      return 'Waiting for the trainer';
    case 'succeeded':
      return `Done: "${s.registered?.name}" registered · validation Dice ${dice(s.validation?.foregroundMeanDice)}`;
    case 'failed':
      return `Failed (${s.error?.code}): ${s.error?.message.split('\n').slice(-1)[0] ?? ''}`;
    case 'cancelled':
      return `Cancelled after ${s.epochsDone} epoch(s); resume continues from the last saved one`;
    case 'interrupted':
      return `Interrupted by a server restart after ${s.epochsDone} epoch(s)`;
    case 'running': {
      const stage = STAGES[s.stage ?? ''] ?? 'Starting';
      if (s.stage !== 'training' || !last) return stage;
      return `${stage} · epoch ${last.epoch + 1}/${last.numEpochs} · EMA Dice ${dice(last.emaFgDice)}`;
    }
  }
}

/** Polyline points of the EMA pseudo Dice (0…1 upwards) in a width × height box; '' with fewer than 2 epochs. */
export function emaPolyline(epochs: readonly EpochMetrics[], width: number, height: number): string {
  const pts = epochs.filter((e) => e.emaFgDice !== null);
  if (pts.length < 2) return '';
  const n = Math.max(pts[pts.length - 1]!.numEpochs - 1, 1);
  return pts.map((e) => `${((e.epoch / n) * width).toFixed(1)},${((1 - Math.max(0, Math.min(1, e.emaFgDice!))) * height).toFixed(1)}`).join(' ');
}

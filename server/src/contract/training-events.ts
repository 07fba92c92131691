/**
 * What `nnseg train --events-json` writes to stdout, one JSON object per line: the boundary between a
 * training child process and the server that runs it (jobs/training). Versioned; human-readable logs stay on
 * stderr. No patient data: stages, epoch metrics and the registered model only.
 */
import { z } from 'zod';

export const TRAINING_EVENTS_VERSION = 1;

export const TRAINING_STAGES = ['dataset', 'planning', 'preprocessing', 'training', 'validation', 'registering'] as const;
export const TrainingStageSchema = z.enum(TRAINING_STAGES);
export type TrainingStage = z.infer<typeof TrainingStageSchema>;

/** One epoch as nnU-Net logs it (nnUNetLogger's keys, per epoch). NaN is sent as null. */
export const EpochMetricsSchema = z.strictObject({
  epoch: z.number().int().nonnegative(),
  numEpochs: z.number().int().positive(),
  trainLoss: z.number().nullable(),
  valLoss: z.number().nullable(),
  /** pseudo Dice per foreground label, in label order */
  pseudoDice: z.array(z.number().nullable()),
  meanFgDice: z.number().nullable(),
  emaFgDice: z.number().nullable(),
  lr: z.number().nullable(),
  seconds: z.number().nullable(),
  newBest: z.boolean(),
});
export type EpochMetrics = z.infer<typeof EpochMetricsSchema>;

export const ValidationSummarySchema = z.strictObject({
  /** foreground mean Dice of validation/summary.json */
  foregroundMeanDice: z.number().nullable(),
  /** label value → Dice */
  dicePerLabel: z.record(z.string(), z.number().nullable()),
  cases: z.number().int().nonnegative(),
});
export type ValidationSummary = z.infer<typeof ValidationSummarySchema>;

export const TrainingEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ v: z.literal(TRAINING_EVENTS_VERSION), type: z.literal('stage'), stage: TrainingStageSchema }),
  /** once the network is built: which tfjs backend trains it (the issue asks for it in the job) */
  z.strictObject({ v: z.literal(TRAINING_EVENTS_VERSION), type: z.literal('backend'), backend: z.string(), resumedAtEpoch: z.number().int().nonnegative().nullable() }),
  z.strictObject({ v: z.literal(TRAINING_EVENTS_VERSION), type: z.literal('iteration'), phase: z.enum(['train', 'val']), done: z.number().int(), total: z.number().int() }),
  z.strictObject({ v: z.literal(TRAINING_EVENTS_VERSION), type: z.literal('epoch'), metrics: EpochMetricsSchema }),
  z.strictObject({
    v: z.literal(TRAINING_EVENTS_VERSION),
    type: z.literal('done'),
    /** nnU-Net results folder `<Trainer>__<Plans>__<Configuration>` */
    outputFolder: z.string(),
    validation: ValidationSummarySchema.nullable(),
    /** the model store entry, when the run registered one */
    registered: z.strictObject({ name: z.string(), version: z.string() }).nullable(),
  }),
]);
export type TrainingEvent = z.infer<typeof TrainingEventSchema>;

/** An event as its writer builds it: the version is filled in by `formatTrainingEvent`. */
export type TrainingEventBody = TrainingEvent extends infer E ? (E extends TrainingEvent ? Omit<E, 'v'> : never) : never;

/** Serialises an event as one line (with the version filled in). */
export function formatTrainingEvent(e: TrainingEventBody): string {
  return `${JSON.stringify({ v: TRAINING_EVENTS_VERSION, ...e })}\n`;
}

/** Parses one stdout line; throws naming the problem (not JSON, wrong version, bad field). */
export function parseTrainingEvent(line: string): TrainingEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new Error(`training event is not JSON: ${line.slice(0, 120)}`);
  }
  const version = (raw as { v?: unknown } | null)?.v;
  if (version !== TRAINING_EVENTS_VERSION) throw new Error(`training event version ${String(version)} is not ${TRAINING_EVENTS_VERSION}`);
  const r = TrainingEventSchema.safeParse(raw);
  if (!r.success) throw new Error(`invalid training event: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

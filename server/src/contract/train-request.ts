/**
 * Train jobs (issue #5 item 4): what an admin asks for (`TrainRequest`, over HTTP or the WebSocket) and what
 * the server keeps about each run (`TrainingJobRecord`, `<workDir>/training/<id>/training-job.json`,
 * versioned). No Node-only imports: the viewer bundles the schemas.
 */
import { z } from 'zod';
import { EpochMetricsSchema, TrainingStageSchema, ValidationSummarySchema } from './training-events.js';

export const TRAINING_JOB_FORMAT_VERSION = 1;

/** nnU-Net dataset folder names, e.g. Dataset901_Liver (also rules out any path) */
export const DATASET_NAME_PATTERN = /^Dataset\d{3,}_[A-Za-z0-9_-]{1,100}$/;
const modelName = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'a model name (letters, digits, . _ -)');
const positive = (max: number) => z.number().int().positive().max(max);

export const TrainSourceSchema = z.discriminatedUnion('kind', [
  /** the corrections annotators sent from the viewer (optionally one model's), series pulled from the PACS */
  z.strictObject({ kind: z.literal('corrections'), model: modelName.optional() }),
  /** an nnU-Net raw dataset folder under the server's datasets root (nnUNet_raw) */
  z.strictObject({ kind: z.literal('dataset'), name: z.string().regex(DATASET_NAME_PATTERN, 'an nnU-Net dataset folder name (DatasetNNN_Name)') }),
]);
export type TrainSource = z.infer<typeof TrainSourceSchema>;

/** Overrides for a smaller network than planned (quick runs; recorded in the saved plans.json). */
export const NetworkOverridesSchema = z.strictObject({
  baseFeatures: positive(512).optional(),
  maxFeatures: positive(1024).optional(),
  maxStages: z.number().int().min(2).max(10).optional(),
  patchSize: z.array(positive(1024)).min(2).max(3).optional(),
  batchSize: positive(256).optional(),
});

export const TrainRequestSchema = z.strictObject({
  source: TrainSourceSchema,
  configuration: z.enum(['2d', '3d_fullres', '3d_lowres']),
  /** fold of splits_final.json, or 'all' (default 0) */
  fold: z.union([z.number().int().min(0).max(99), z.literal('all')]).default(0),
  /** the store name the trained model is registered under (a new version when it exists) */
  registerAs: modelName,
  /** fine-tune from this stored model (same plans) */
  pretrained: modelName.optional(),
  /** nnU-Net defaults 1000 × 250, 50 validation iterations */
  epochs: positive(10_000).optional(),
  iterationsPerEpoch: positive(100_000).optional(),
  validationIterations: positive(10_000).optional(),
  /** resume state every n epochs (default: about 20 saves per run) */
  saveEvery: positive(10_000).optional(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  backend: z.enum(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).optional(),
  network: NetworkOverridesSchema.optional(),
});
export type TrainRequest = z.output<typeof TrainRequestSchema>;
export type TrainRequestInput = z.input<typeof TrainRequestSchema>;

/** failed, cancelled and interrupted runs can be resumed (from their last saved epoch) */
export const TRAINING_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] as const;
export const TrainingStateSchema = z.enum(TRAINING_STATES);
export type TrainingState = z.infer<typeof TrainingStateSchema>;
export const RESUMABLE_STATES: readonly TrainingState[] = ['failed', 'cancelled', 'interrupted'];

export const TrainingErrorSchema = z.strictObject({
  code: z.enum(['BAD_DATASET', 'PACS_UNAVAILABLE', 'TRAINING_FAILED', 'INTERRUPTED']),
  message: z.string(),
});

export const TrainingJobRecordSchema = z.strictObject({
  formatVersion: z.literal(TRAINING_JOB_FORMAT_VERSION),
  id: z.uuid(),
  /** token subject of the admin who started it (never patient data) */
  owner: z.string(),
  state: TrainingStateSchema,
  request: TrainRequestSchema,
  createdAt: z.string(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  /** how many times it was started (1 + resumes) */
  runs: z.number().int().nonnegative(),
  stage: TrainingStageSchema.optional(),
  /** the last stage that completed (a resume skips what is done) */
  completedStage: TrainingStageSchema.optional(),
  /** the tfjs backend of the latest run */
  backend: z.string().optional(),
  /** the epoch the latest run continued at, when it resumed from a saved state */
  resumedAtEpoch: z.number().int().nonnegative().optional(),
  iteration: z.strictObject({ phase: z.enum(['train', 'val']), done: z.number().int(), total: z.number().int() }).optional(),
  /** every epoch so far (the learning curve) */
  epochs: z.array(EpochMetricsSchema),
  validation: ValidationSummarySchema.optional(),
  registered: z.strictObject({ name: z.string(), version: z.string() }).optional(),
  error: TrainingErrorSchema.optional(),
});
export type TrainingJobRecord = z.infer<typeof TrainingJobRecordSchema>;

/** A record without its learning curve (lists, live updates): `epochsDone` instead. */
export const TrainingJobSummarySchema = TrainingJobRecordSchema.omit({ epochs: true }).extend({ epochsDone: z.number().int().nonnegative() });
export type TrainingJobSummary = z.infer<typeof TrainingJobSummarySchema>;

export function parseTrainRequest(raw: unknown): TrainRequest {
  const r = TrainRequestSchema.safeParse(raw);
  if (!r.success) throw new Error(`invalid train request: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

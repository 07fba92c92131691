/**
 * zod schemas of what the job layer persists or sends across a process boundary: segment requests and job
 * records (journal lines, Redis job data), progress and per-segment statistics (also part of the WebSocket
 * protocol). The TypeScript types are inferred from them: one owner per shape.
 */
import { z } from 'zod';

export const JOB_ERROR_CODES = ['UNKNOWN_MODEL', 'BAD_SERIES', 'MODEL_FAILED', 'PACS_UNAVAILABLE', 'INTERRUPTED', 'LIMIT_EXCEEDED', 'INTERNAL'] as const;
export const JobErrorCodeSchema = z.enum(JOB_ERROR_CODES);
export type JobErrorCode = z.infer<typeof JobErrorCodeSchema>;

const uid = z.string().regex(/^[0-9]+(\.[0-9]+)*$/, 'a DICOM UID (digits and dots)').max(64);

/** Where the series of a segment job comes from. */
export const SeriesSourceSchema = z.discriminatedUnion('kind', [
  /** instances pushed by a client, spooled by the API into a job-owned temp folder (removed after the job) */
  z.object({ kind: z.literal('folder'), path: z.string().min(1) }),
  /** a series the server pulls itself from the configured DICOMweb PACS */
  z.object({ kind: z.literal('dicomweb'), studyInstanceUID: uid, seriesInstanceUID: uid }),
]);
export type SeriesSource = z.infer<typeof SeriesSourceSchema>;

/** Most folds one job may ensemble (nnU-Net trains 5; a few more for custom splits). */
export const MAX_FOLDS = 16;
/** Smallest sliding-window step: nnU-Net's default is 0.5; 0.1 already means ~1000× the tiles of a 3D step of 1. */
export const MIN_STEP = 0.1;

/** Fold names a job may ensemble, each once (shared by the WebSocket protocol and the job layer). */
export const FoldsSchema = z
  .array(z.string().regex(/^([0-9]{1,2}|all)$/))
  .min(1)
  .max(MAX_FOLDS)
  .refine((f) => new Set(f).size === f.length, 'folds must not repeat');
/** Sliding-window step as a fraction of the patch. */
export const StepSchema = z.number().gte(MIN_STEP).lte(1);

/** DICOM SEG flavours a job can write (dicom/seg-writer `SegType`). */
export const SEG_TYPES = ['binary', 'labelmap', 'fractional'] as const;

export const SegmentOptionsSchema = z.object({
  /** model name in the model store */
  model: z.string().min(1).max(128),
  configuration: z.string().min(1).max(64).optional(),
  /** fold names ('0'…'4', 'all'); default every stored fold */
  folds: FoldsSchema.optional(),
  /** mirroring test-time augmentation (default true, as nnU-Net) */
  tta: z.boolean().optional(),
  /** sliding-window step as a fraction of the patch (default 0.5) */
  step: StepSchema.optional(),
  /** DICOM SEG flavour of the result (default 'binary') */
  segType: z.enum(SEG_TYPES).optional(),
});
export type SegmentOptions = z.infer<typeof SegmentOptionsSchema>;

export const SegmentRequestSchema = z.object({
  /** fairness key: jobs are served round-robin across sessions, FIFO within one */
  sessionId: z.string().min(1).max(200),
  /** who asked (token subject), for the job list; never patient data */
  owner: z.string().max(200).optional(),
  series: SeriesSourceSchema,
  options: SegmentOptionsSchema,
});
export type SegmentRequest = z.infer<typeof SegmentRequestSchema>;

export const JOB_STAGES = ['queued', 'receiving', 'assembling', 'preprocessing', 'predicting', 'postprocessing', 'encoding'] as const;
export const JobStageSchema = z.enum(JOB_STAGES);
export type JobStage = z.infer<typeof JobStageSchema>;

export const JobProgressSchema = z.object({
  stage: JobStageSchema,
  /** 0…100 over the whole job */
  percent: z.number(),
  /** stage-local counters, e.g. network calls done/total while predicting */
  done: z.number().optional(),
  total: z.number().optional(),
  /** seconds until the job is expected to end, when it can be estimated */
  etaSeconds: z.number().optional(),
});
export type JobProgress = z.infer<typeof JobProgressSchema>;

/** Per-segment statistics on the source grid (intensities in the series' stored units, e.g. HU). */
export const SegmentStatisticsSchema = z.strictObject({
  segmentNumber: z.number().int(),
  label: z.number().int(),
  name: z.string(),
  voxelCount: z.number().int(),
  volumeMl: z.number(),
  meanIntensity: z.number().nullable(),
  minIntensity: z.number().nullable(),
  maxIntensity: z.number().nullable(),
});
export type SegmentStatistics = z.infer<typeof SegmentStatisticsSchema>;

/**
 * What a finished segment job tells beside its SEG bytes (they travel as a binary frame, a thread transfer or
 * a Redis key). One schema for the WebSocket result, the inference-thread message and the Redis return value.
 */
export const SegmentResultSummarySchema = z.strictObject({
  sopInstanceUID: z.string(),
  seriesInstanceUID: z.string(),
  /** the series the SEG references */
  referencedSeriesInstanceUID: z.string(),
  segments: z.array(SegmentStatisticsSchema),
  /** model name and card importedAt, so a result names the exact model version */
  model: z.strictObject({ name: z.string(), version: z.string(), configuration: z.string(), folds: z.array(z.string()) }),
  /** seconds per stage */
  timings: z.record(z.string(), z.number()),
});
export type SegmentResultSummary = z.infer<typeof SegmentResultSummarySchema>;

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** What is persisted and listed about a job (no pixel data, no patient data). */
export const JobRecordSchema = z.object({
  id: z.string().min(1),
  sessionId: z.string(),
  owner: z.string().optional(),
  state: z.enum(JOB_STATES),
  model: z.string(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  progress: JobProgressSchema.optional(),
  error: z.object({ code: JobErrorCodeSchema, message: z.string() }).optional(),
  /** set when succeeded */
  resultSeriesInstanceUID: z.string().optional(),
});
export type JobRecord = z.infer<typeof JobRecordSchema>;

/** Parses a request, throwing a message that names every bad field. */
export function parseSegmentRequest(raw: unknown): SegmentRequest {
  const r = SegmentRequestSchema.safeParse(raw);
  if (!r.success) throw new Error(`invalid segment request: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

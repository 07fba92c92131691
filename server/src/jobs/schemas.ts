/**
 * zod schemas of what the job layer persists or sends across a process boundary: segment requests and job
 * records (journal lines, Redis job data) and job events (Redis pub/sub). Checked against the TypeScript
 * types in types.ts at compile time (the `satisfies`-style assertions below).
 */
import { z } from 'zod';
import type { JobErrorCode, JobProgress, JobRecord, SegmentRequest, SegmentStatistics } from './types.js';

export const JOB_ERROR_CODES = ['UNKNOWN_MODEL', 'BAD_SERIES', 'MODEL_FAILED', 'PACS_UNAVAILABLE', 'INTERRUPTED', 'LIMIT_EXCEEDED', 'INTERNAL'] as const;
export const JobErrorCodeSchema = z.enum(JOB_ERROR_CODES);

const uid = z.string().regex(/^[0-9]+(\.[0-9]+)*$/, 'a DICOM UID (digits and dots)').max(64);

export const SeriesSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('folder'), path: z.string().min(1) }),
  z.object({ kind: z.literal('dicomweb'), studyInstanceUID: uid, seriesInstanceUID: uid }),
]);

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

export const SegmentOptionsSchema = z.object({
  model: z.string().min(1).max(128),
  configuration: z.string().min(1).max(64).optional(),
  folds: FoldsSchema.optional(),
  tta: z.boolean().optional(),
  step: StepSchema.optional(),
  segType: z.enum(['binary', 'labelmap', 'fractional']).optional(),
});

export const SegmentRequestSchema = z.object({
  sessionId: z.string().min(1).max(200),
  owner: z.string().max(200).optional(),
  series: SeriesSourceSchema,
  options: SegmentOptionsSchema,
});

export const JobProgressSchema = z.object({
  stage: z.enum(['queued', 'receiving', 'assembling', 'preprocessing', 'predicting', 'postprocessing', 'encoding']),
  percent: z.number(),
  done: z.number().optional(),
  total: z.number().optional(),
  etaSeconds: z.number().optional(),
});

/** `SegmentStatistics`, for results that cross a thread or Redis boundary. */
export const SegmentStatisticsSchema = z.object({
  segmentNumber: z.number(),
  label: z.number(),
  name: z.string(),
  voxelCount: z.number(),
  volumeMl: z.number(),
  meanIntensity: z.number().nullable(),
  minIntensity: z.number().nullable(),
  maxIntensity: z.number().nullable(),
});

export const JobRecordSchema = z.object({
  id: z.string().min(1),
  sessionId: z.string(),
  owner: z.string().optional(),
  state: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
  model: z.string(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  progress: JobProgressSchema.optional(),
  error: z.object({ code: JobErrorCodeSchema, message: z.string() }).optional(),
  resultSeriesInstanceUID: z.string().optional(),
});

// compile-time checks that the schemas and the contract types agree
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const check = <T extends true>(): T => true as T;
check<Same<z.infer<typeof SegmentRequestSchema>, SegmentRequest>>();
check<Same<z.infer<typeof SegmentStatisticsSchema>, SegmentStatistics>>();
check<Same<z.infer<typeof JobRecordSchema>, JobRecord>>();
check<Same<z.infer<typeof JobProgressSchema>, JobProgress>>();
check<Same<z.infer<typeof JobErrorCodeSchema>, JobErrorCode>>();

/** Parses a request, throwing a message that names every bad field. */
export function parseSegmentRequest(raw: unknown): SegmentRequest {
  const r = SegmentRequestSchema.safeParse(raw);
  if (!r.success) throw new Error(`invalid segment request: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

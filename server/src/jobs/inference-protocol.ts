/**
 * Messages between the server's main thread and its inference threads (inference-thread.ts), both ways,
 * with zod schemas: a thread boundary is a process boundary in miniature, and a malformed message must fail
 * the job with a clear error rather than be half-understood. Byte arrays travel as transferred buffers.
 *
 * main → thread: run / cancel / invalidate / fetched (answer to a fetch request) / fetchProgress
 * thread → main: ready / progress / partial / result / error / fetch (pull a DICOMweb series, the main thread
 *                holds the PACS client) / warm (what the thread's registry holds)
 */
import { z } from 'zod';
import { JobErrorCodeSchema, JobProgressSchema, SegmentRequestSchema, SegmentResultSummarySchema, SeriesSourceSchema } from '../contract/job-schemas.js';

export const INFERENCE_PROTOCOL_VERSION = 1;

const uint8 = z.instanceof(Uint8Array);

const SettingsSchema = z.object({
  memoryBudgetBytes: z.number().positive().optional(),
  memoryFactor: z.number().positive().optional(),
  sessionOverheadBytes: z.number().nonnegative().optional(),
  defaults: z.object({ device: z.enum(['cpu', 'cuda', 'auto']).optional(), intraOpThreads: z.number().int().positive().optional() }).optional(),
});

/** workerData of an inference thread. */
export const InferenceThreadConfigSchema = z.object({
  v: z.literal(INFERENCE_PROTOCOL_VERSION),
  kind: z.literal('nnseg-inference-thread'),
  storeRoot: z.string().min(1),
  registry: SettingsSchema,
  loadOptions: z.object({ device: z.enum(['cpu', 'cuda', 'auto']).optional(), intraOpThreads: z.number().int().positive().optional() }).optional(),
  spoolRoot: z.string().optional(),
  retainSeries: z.boolean().optional(),
  jobLimits: z.object({ maxNetworkCalls: z.number().positive(), maxVoxels: z.number().positive(), maxDecodedBytes: z.number().positive() }).optional(),
  /** the main thread can fetch DICOMweb series for the thread */
  canFetch: z.boolean(),
  /**
   * Int32 flag the thread sets while onnxruntime may be running (preprocessing → predicting): terminating a
   * thread then can abort the whole process (onnxruntime-node throws a C++ exception on a torn-down env), so
   * the main thread only terminates a thread while the flag is 0.
   */
  busy: z.instanceof(SharedArrayBuffer),
});
export type InferenceThreadConfig = z.infer<typeof InferenceThreadConfigSchema>;

export const ToThreadSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('run'), jobId: z.string().min(1), request: SegmentRequestSchema }),
  z.object({ type: z.literal('cancel'), jobId: z.string().min(1) }),
  z.object({ type: z.literal('invalidate'), model: z.string().min(1) }),
  z.object({ type: z.literal('fetchProgress'), jobId: z.string().min(1), instances: z.number().int().nonnegative() }),
  z.object({ type: z.literal('fetched'), jobId: z.string().min(1), ok: z.boolean(), message: z.string().optional(), aborted: z.boolean().optional() }),
]);
export type ToThread = z.infer<typeof ToThreadSchema>;


export const SegmentResultSchema = SegmentResultSummarySchema.extend({ seg: uint8 });

const WarmSchema = z.object({ key: z.string(), name: z.string(), version: z.string(), estimatedBytes: z.number(), inUse: z.number(), lastUsed: z.number() });

export const FromThreadSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('progress'), jobId: z.string(), progress: JobProgressSchema }),
  z.object({
    type: z.literal('partial'),
    jobId: z.string(),
    partial: z.object({ z0: z.number().int().nonnegative(), shape: z.tuple([z.number().int(), z.number().int(), z.number().int()]), labels: uint8 }),
  }),
  z.object({ type: z.literal('result'), jobId: z.string(), result: SegmentResultSchema }),
  /** `aborted`: the job stopped because it was cancelled (no error to report) */
  z.object({ type: z.literal('error'), jobId: z.string(), code: JobErrorCodeSchema, message: z.string(), aborted: z.boolean() }),
  z.object({ type: z.literal('fetch'), jobId: z.string(), source: SeriesSourceSchema, folder: z.string().min(1) }),
  z.object({ type: z.literal('warm'), models: z.array(WarmSchema) }),
]);
export type FromThread = z.infer<typeof FromThreadSchema>;

/** One line naming what is wrong with a message. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

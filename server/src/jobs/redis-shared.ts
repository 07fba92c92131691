/**
 * What the Redis producer (redis-queue.ts) and the workers (redis-worker.ts) agree on: the queue and key
 * names, the versioned shapes of job data, progress, return values and failure reasons, and connecting.
 */
import type { ConnectionOptions } from 'bullmq';
import { z } from 'zod';
import { JobErrorCodeSchema, JobProgressSchema, SegmentRequestSchema, SegmentResultSummarySchema } from '../contract/job-schemas.js';
import type { JobErrorCode } from './types.js';

export const DEFAULT_QUEUE_NAME = 'nnseg-segment';
export const FORMAT_VERSION = 1;

export const JobDataSchema = z.object({ v: z.literal(FORMAT_VERSION), request: SegmentRequestSchema, createdAt: z.string() });
export const ProgressDataSchema = z.object({ v: z.literal(FORMAT_VERSION), progress: JobProgressSchema });
export const ReturnValueSchema = z.object({
  v: z.literal(FORMAT_VERSION),
  resultKey: z.string(),
  result: SegmentResultSummarySchema,
});
const FailureSchema = z.object({ code: JobErrorCodeSchema, message: z.string() });

export type JobData = z.infer<typeof JobDataSchema>;
export type ReturnValue = z.infer<typeof ReturnValueSchema>;

export interface Names {
  queueName: string;
  prefix: string;
}
export const cancelChannel = (n: Names) => `${n.prefix}:${n.queueName}:cancel`;
export const resultKey = (n: Names, jobId: string) => `${n.prefix}:${n.queueName}:result:${jobId}`;

export function connectionOptions(url: string): ConnectionOptions {
  // BullMQ needs maxRetriesPerRequest null on blocking connections
  return { url, maxRetriesPerRequest: null } as ConnectionOptions;
}

export const parseMaybeJson = (v: unknown): unknown => {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
};

/** A worker's failure reason → code + message (a stall beyond the limit is an interruption). */
export function parseFailure(reason: string | undefined): { code: JobErrorCode; message: string } {
  const r = FailureSchema.safeParse(parseMaybeJson(reason ?? ''));
  if (r.success) return r.data;
  if (reason && /stalled more than allowable limit/i.test(reason)) return { code: 'INTERRUPTED', message: 'the worker running this job stopped (stalled too often)' };
  return { code: 'INTERNAL', message: reason || 'the job failed' };
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))),
  ]);
}

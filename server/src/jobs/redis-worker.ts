/**
 * `nnseg worker`: runs the jobs of the Redis queue (redis-queue.ts has the producer side and the design).
 * Each job runs in an inference thread (or on this thread), its SEG goes to Redis under its own expiring
 * key, its statistics in BullMQ's return value; a cancel arrives on the cancel channel and aborts the job.
 */
import { UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';
import { Redis } from 'ioredis';
import { isAbortError, JobError, toJobError, loggableMessage } from '../contract/job-errors.js';
import { createInferenceThreads, type JobExecutor } from './inference-proxy.js';
import {
  cancelChannel,
  connectionOptions,
  DEFAULT_QUEUE_NAME,
  FORMAT_VERSION,
  JobDataSchema,
  resultKey,
  withTimeout,
  type ReturnValue,
} from './redis-shared.js';
import { runSegmentJob, type JobRunnerOptions } from './run-job.js';
import type { JobProgress } from './types.js';

export interface RedisWorkerOptions extends JobRunnerOptions {
  url: string;
  queueName?: string;
  prefix?: string;
  /** jobs this process runs at once (default 1) */
  concurrency?: number;
  /** how long a job's lock lives without renewal: a dead worker's job is retried after about this (default 30 s) */
  lockDurationMs?: number;
  /** how often this worker looks for stalled jobs (default 30 s) */
  stalledIntervalMs?: number;
  /** stalls before a job fails with INTERRUPTED (default 1) */
  maxStalledCount?: number;
  /** how long the SEG bytes stay in Redis (default 1 h) */
  resultTtlMs?: number;
  /** give up connecting after this long (default 10 s) */
  connectTimeoutMs?: number;
  log?: (line: string) => void;
  /**
   * where jobs run (see inference-proxy.ts; default 'auto' = inference threads when built): threads keep this
   * process's event loop free to renew BullMQ's job locks while a long preprocessing step runs
   */
  executor?: JobExecutor;
}

export interface RedisWorker {
  readonly worker: Worker;
  /** finish running jobs (or abort them with `force`) and disconnect */
  close(force?: boolean): Promise<void>;
}

export async function startRedisWorker(options: RedisWorkerOptions): Promise<RedisWorker> {
  const names = { queueName: options.queueName ?? DEFAULT_QUEUE_NAME, prefix: options.prefix ?? 'nnseg' };
  const log = options.log ?? (() => {});
  const redis = new Redis(options.url, { maxRetriesPerRequest: null });
  const subscriber = new Redis(options.url, { maxRetriesPerRequest: null });
  const ttl = options.resultTtlMs ?? 3_600_000;
  const threads = createInferenceThreads(options.executor, { ...options, threads: options.concurrency ?? 1, log });

  const processor = async (job: BullJob, _token?: string, signal?: AbortSignal): Promise<ReturnValue> => {
    const d = JobDataSchema.safeParse(job.data);
    if (!d.success) throw new UnrecoverableError(JSON.stringify({ code: 'INTERNAL', message: `job ${job.id}: unreadable job data (format ${FORMAT_VERSION} expected)` }));
    const abort = signal ?? new AbortController().signal;
    try {
      const ctx = {
        signal: abort,
        onProgress: (progress: JobProgress) => {
          job.updateProgress({ v: FORMAT_VERSION, progress }).catch(() => {});
        },
      };
      const result = threads ? await threads.run(job.id!, d.data.request, ctx) : await runSegmentJob(d.data.request, options, ctx);
      const key = resultKey(names, job.id!);
      await redis.set(key, Buffer.from(result.seg.buffer, result.seg.byteOffset, result.seg.byteLength), 'PX', ttl);
      const { seg: _seg, ...rest } = result;
      return { v: FORMAT_VERSION, resultKey: key, result: rest };
    } catch (e) {
      if (isAbortError(e, abort)) throw new UnrecoverableError(JSON.stringify({ code: 'INTERNAL', message: 'cancelled' }));
      const err = toJobError(e);
      log(`job ${job.id}: ${err.code}: ${loggableMessage(err.message)}`);
      throw new UnrecoverableError(JSON.stringify({ code: err.code, message: err.message }));
    }
  };

  const worker = new Worker(names.queueName, processor, {
    connection: connectionOptions(options.url),
    prefix: names.prefix,
    concurrency: options.concurrency ?? 1,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 1,
    autorun: false,
  });
  worker.on('error', (e) => log(`redis worker: ${e.message}`));
  subscriber.on('message', (_channel: string, jobId: string) => {
    if (worker.cancelJob(jobId, 'cancelled by the client')) log(`job ${jobId}: cancelled`);
  });
  void worker.run();
  try {
    await withTimeout(Promise.all([worker.waitUntilReady(), subscriber.subscribe(cancelChannel(names))]), options.connectTimeoutMs ?? 10_000);
  } catch (e) {
    await worker.close(true).catch(() => {});
    await Promise.allSettled([subscriber.quit(), redis.quit(), threads?.close()]);
    throw new JobError('INTERNAL', `cannot reach Redis at ${options.url.replace(/\/\/[^@/]*@/, '//***@')}: ${(e as Error).message}`, { cause: e });
  }
  return {
    worker,
    close: async (force = false) => {
      if (force) worker.cancelAllJobs('worker shutting down');
      await worker.close(force);
      await Promise.allSettled([subscriber.quit(), redis.quit(), threads?.close()]);
    },
  };
}

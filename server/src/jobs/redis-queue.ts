/**
 * The JobQueue on BullMQ + Redis (`NNSEG_REDIS_URL`), for several worker processes or machines.
 *
 *   producer (nnseg serve)                       Redis                          workers (nnseg worker)
 *   submit → Queue.add(jobId, priority)  ──►  bull:<queue>:*  ──►  Worker → runSegmentJob
 *   events ◄── QueueEvents (active, progress, completed, failed, removed)  ◄── updateProgress / return
 *   cancel → Queue.remove (waiting) or PUBLISH <prefix>:<queue>:cancel  ──►  Worker.cancelJob → AbortSignal
 *   result ◄── GET <prefix>:<queue>:result:<jobId> (SEG bytes, expire after resultTtlMs)
 *
 * - Series: a pushed series is a spool folder path, so producer and workers must share that folder (same
 *   machine, or a shared mount); a DICOMweb series is fetched by the worker itself.
 * - Results: the SEG bytes go through Redis under their own key (expiring), the statistics in the job's
 *   return value; a producer delivers a job's terminal event once, whatever arrives later.
 * - Fairness: BullMQ serves by priority, FIFO within one; a job's priority is 1 + the jobs its session
 *   already has queued or running (counted by the producer that owns the session), so every session's
 *   first job is served before anyone's second.
 * - A worker dying mid-job: its lock expires, another worker's stalled check puts the job back in the wait
 *   list (maxStalledCount, default 1) and it runs again; only the run that completes while holding the lock
 *   is accepted by BullMQ, so one result reaches the producer. After more stalls the job fails with
 *   INTERRUPTED.
 * - Errors are not retried (attempts 1, UnrecoverableError): BAD_SERIES stays BAD_SERIES.
 * - Partial label maps are not sent in Redis mode (too large for progress events).
 * - Persistence is Redis's own; a restarted producer reloads the jobs still in Redis, so a client can
 *   re-subscribe. Closing a producer leaves jobs running on the workers.
 */
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { ModelRegistry } from '../models/model-registry.js';
import { JobError } from '../contract/job-errors.js';
import { DEFAULT_KEEP_ENDED_JOBS, isEnded, JobBook, type BookEntry, type JobListener } from './job-book.js';
import {
  cancelChannel,
  connectionOptions,
  DEFAULT_QUEUE_NAME,
  FORMAT_VERSION,
  JobDataSchema,
  parseFailure,
  parseMaybeJson,
  ProgressDataSchema,
  ReturnValueSchema,
  withTimeout,
  type JobData,
  type Names,
} from './redis-shared.js';
import { removeSpooledSeries } from './run-job.js';
import type { JobErrorCode, JobEvent, JobProgress, JobQueue, JobRecord, SegmentRequest, SegmentResult } from './types.js';

export { DEFAULT_QUEUE_NAME } from './redis-shared.js';

export interface RedisQueueOptions {
  /** redis://[user:password@]host:port[/db] (NNSEG_REDIS_URL) */
  url?: string;
  /** alias of `url` */
  redisUrl?: string;
  queueName?: string;
  /** key prefix (default "nnseg"; BullMQ's keys use it too) */
  prefix?: string;
  /** refuse unknown models at submit (the producer usually shares the workers' model store) */
  registry?: ModelRegistry;
  /** the workers can fetch DICOMweb series (the server has a PACS); without it such requests are refused at submit */
  pacsConfigured?: boolean;
  /** queued + running jobs one session may have (job-book.ts default) */
  maxJobsPerSession?: number;
  /** jobs this producer has waiting (job-book.ts default) */
  maxQueuedJobs?: number;
  /** finished jobs kept in Redis and here (job-book.ts default) */
  keepEndedJobs?: number;
  /** how long a finished job's result event is kept here; later, the SEG is read back from Redis (job-book.ts default) */
  resultTtlMs?: number;
  /** give up connecting after this long (default 10 s) */
  connectTimeoutMs?: number;
  /** keep the spooled series of a job cancelled while waiting (the workers' option for the others) */
  retainSeries?: boolean;
  log?: (line: string) => void;
}

/** `request` is known for jobs this producer submitted: a waiting job's spool is removed when it is cancelled. */
type LocalJob = BookEntry;

const now = () => new Date().toISOString();

export class RedisQueue implements JobQueue {
  private readonly book: JobBook<LocalJob>;
  private readonly jobs: Map<string, LocalJob>;
  private readonly log: (line: string) => void;
  private positionsTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly options: RedisQueueOptions,
    private readonly names: Names,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly redis: Redis,
  ) {
    this.log = options.log ?? (() => {});
    this.book = new JobBook({ resultTtlMs: options.resultTtlMs, keepEndedJobs: options.keepEndedJobs, log: this.log });
    this.jobs = this.book.entries;
  }

  static async create(options: RedisQueueOptions): Promise<RedisQueue> {
    const url = options.url ?? options.redisUrl;
    if (!url) throw new JobError('INTERNAL', 'the Redis queue needs a Redis URL (NNSEG_REDIS_URL)');
    options = { ...options, url };
    const names = { queueName: options.queueName ?? DEFAULT_QUEUE_NAME, prefix: options.prefix ?? 'nnseg' };
    const connection = connectionOptions(url);
    const redis = new Redis(url, { maxRetriesPerRequest: null });
    const queue = new Queue(names.queueName, { connection, prefix: names.prefix });
    const events = new QueueEvents(names.queueName, { connection, prefix: names.prefix });
    try {
      await withTimeout(Promise.all([queue.waitUntilReady(), events.waitUntilReady(), redis.ping()]), options.connectTimeoutMs ?? 10_000);
    } catch (e) {
      await Promise.allSettled([queue.close(), events.close(), redis.quit()]);
      throw new JobError('INTERNAL', `cannot reach Redis at ${url.replace(/\/\/[^@/]*@/, '//***@')}: ${(e as Error).message}`, { cause: e });
    }
    const q = new RedisQueue(options, names, queue, events, redis);
    q.listen();
    await q.reload();
    return q;
  }

  submit(request: SegmentRequest, onEvent: JobListener): { jobId: string } {
    if (this.closed) throw new JobError('INTERNAL', 'the job queue is shutting down');
    const req = this.book.admit(request, {
      registry: this.options.registry,
      pacsConfigured: this.options.pacsConfigured ?? false,
      maxJobsPerSession: this.options.maxJobsPerSession,
      maxQueuedJobs: this.options.maxQueuedJobs,
    });
    const active = this.book.activeJobs(req.sessionId);
    const record = this.book.newRecord(req);
    const id = record.id;
    const job: LocalJob = { record, listeners: new Set([onEvent]), request: req };
    this.jobs.set(id, job);
    const data: JobData = { v: FORMAT_VERSION, request: req, createdAt: record.createdAt };
    const keep = this.options.keepEndedJobs ?? DEFAULT_KEEP_ENDED_JOBS;
    this.queue
      .add('segment', data, { jobId: id, priority: 1 + active, attempts: 1, removeOnComplete: { count: keep }, removeOnFail: { count: keep } })
      .then(() => this.schedulePositions(0))
      .catch((e: Error) => this.end(job, 'failed', { type: 'error', jobId: id, code: 'INTERNAL', message: `could not queue the job: ${e.message}` }));
    return { jobId: id };
  }

  subscribe(jobId: string, onEvent: JobListener): boolean {
    const job = this.jobs.get(jobId);
    if (!job) return false;
    if (isEnded(job.record)) {
      if (!this.book.replayEnded(job, onEvent) && job.record.state === 'succeeded') void this.replayResult(job, onEvent);
      return true;
    }
    job.listeners.add(onEvent);
    if (job.record.progress) this.book.call(onEvent, { type: 'progress', jobId, progress: job.record.progress });
    else this.schedulePositions(0);
    return true;
  }

  cancel(jobId: string): boolean {
    const job = this.jobs.get(jobId);
    if (!job || isEnded(job.record)) return false;
    this.end(job, 'cancelled', { type: 'cancelled', jobId });
    // waiting: removed from Redis (and its spool here); active (locked, remove gives 0): the worker holding it aborts
    void this.queue
      .remove(jobId)
      .then((removed) => {
        if (!removed) return this.redis.publish(cancelChannel(this.names), jobId);
        if (job.request) removeSpooledSeries(job.request, this.options);
      })
      .catch(() => this.redis.publish(cancelChannel(this.names), jobId))
      .catch((e: Error) => this.log(`job ${jobId}: cancel could not reach Redis: ${e.message}`));
    return true;
  }

  get(jobId: string): JobRecord | undefined {
    return this.book.get(jobId);
  }

  list(): JobRecord[] {
    return this.book.list();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.positionsTimer) clearTimeout(this.positionsTimer);
    await Promise.allSettled([this.events.close(), this.queue.close()]);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private listen(): void {
    this.events.on('active', ({ jobId }) => {
      const job = this.jobs.get(jobId);
      if (job && job.record.state === 'queued') {
        job.record.state = 'running';
        job.record.startedAt = now();
      }
      this.schedulePositions(50);
    });
    this.events.on('progress', ({ jobId, data }) => {
      const job = this.jobs.get(jobId);
      if (!job || isEnded(job.record)) return;
      const r = ProgressDataSchema.safeParse(parseMaybeJson(data));
      if (!r.success) return;
      if (job.record.state === 'queued') job.record.state = 'running';
      job.record.progress = r.data.progress as JobProgress;
      this.book.emit(job, { type: 'progress', jobId, progress: job.record.progress });
    });
    this.events.on('completed', ({ jobId, returnvalue }) => {
      const job = this.jobs.get(jobId);
      if (!job || isEnded(job.record)) return;
      void this.deliverResult(job, returnvalue);
    });
    this.events.on('failed', ({ jobId, failedReason }) => {
      const job = this.jobs.get(jobId);
      if (!job || isEnded(job.record)) return;
      const f = parseFailure(failedReason);
      this.end(job, 'failed', { type: 'error', jobId, ...f }, f);
    });
    this.events.on('removed', ({ jobId }) => {
      const job = this.jobs.get(jobId);
      if (job && !isEnded(job.record)) this.end(job, 'cancelled', { type: 'cancelled', jobId });
    });
    this.events.on('error', (e) => this.log(`redis queue events: ${e.message}`));
  }

  private async fetchResult(jobId: string, returnvalue: unknown): Promise<SegmentResult> {
    const r = ReturnValueSchema.safeParse(parseMaybeJson(returnvalue));
    if (!r.success) throw new Error(`job ${jobId}: the worker returned an unreadable result`);
    const bytes = await this.redis.getBuffer(r.data.resultKey);
    if (!bytes) throw new Error(`job ${jobId}: the SEG has expired from Redis`);
    return { ...r.data.result, seg: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
  }

  private async deliverResult(job: LocalJob, returnvalue: unknown): Promise<void> {
    const jobId = job.record.id;
    try {
      const result = await this.fetchResult(jobId, returnvalue);
      job.record.resultSeriesInstanceUID = result.seriesInstanceUID;
      this.end(job, 'succeeded', { type: 'result', jobId, result });
    } catch (e) {
      this.end(job, 'failed', { type: 'error', jobId, code: 'INTERNAL', message: (e as Error).message }, { code: 'INTERNAL', message: (e as Error).message });
    }
  }

  /** A succeeded job reloaded after a restart: its result, while the SEG is still in Redis. */
  private async replayResult(job: LocalJob, onEvent: JobListener): Promise<void> {
    try {
      const bull = await this.queue.getJob(job.record.id);
      const result = await this.fetchResult(job.record.id, bull?.returnvalue);
      this.book.call(onEvent, { type: 'result', jobId: job.record.id, result });
    } catch (e) {
      this.book.call(onEvent, { type: 'error', jobId: job.record.id, code: 'INTERNAL', message: (e as Error).message });
    }
  }

  /** After a producer restart: the jobs Redis still holds. */
  private async reload(): Promise<void> {
    const keep = this.options.keepEndedJobs ?? DEFAULT_KEEP_ENDED_JOBS;
    const states = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;
    for (const state of states) {
      const jobs = await this.queue.getJobs([state], 0, keep - 1, true);
      for (const b of jobs) {
        if (!b?.id || this.jobs.has(b.id)) continue;
        const d = JobDataSchema.safeParse(b.data);
        if (!d.success) continue;
        const record: JobRecord = {
          id: b.id,
          sessionId: d.data.request.sessionId,
          state: state === 'active' ? 'running' : state === 'completed' ? 'succeeded' : state === 'failed' ? 'failed' : 'queued',
          model: d.data.request.options.model,
          createdAt: d.data.createdAt,
        };
        if (d.data.request.owner !== undefined) record.owner = d.data.request.owner;
        if (b.processedOn) record.startedAt = new Date(b.processedOn).toISOString();
        if (b.finishedOn) record.endedAt = new Date(b.finishedOn).toISOString();
        if (state === 'failed') record.error = parseFailure(b.failedReason);
        if (state === 'completed') {
          const r = ReturnValueSchema.safeParse(parseMaybeJson(b.returnvalue));
          if (r.success) record.resultSeriesInstanceUID = r.data.result.seriesInstanceUID;
        }
        this.jobs.set(b.id, { record, listeners: new Set() });
      }
    }
  }

  /** Positions of this producer's queued jobs in BullMQ's order (prioritized set, then the wait list). */
  private schedulePositions(delayMs: number): void {
    if (this.positionsTimer || this.closed) return;
    this.positionsTimer = setTimeout(() => {
      this.positionsTimer = null;
      void this.refreshPositions().catch((e: Error) => this.log(`redis queue positions: ${e.message}`));
    }, delayMs);
  }

  private lastPosition = new Map<string, number>();

  private async refreshPositions(): Promise<void> {
    const waiting = [...this.jobs.values()].some((j) => j.record.state === 'queued' && j.listeners.size);
    if (!waiting) return;
    const ordered = [...(await this.queue.getJobs(['prioritized'], 0, -1, true)), ...(await this.queue.getJobs(['wait'], 0, -1, true))];
    ordered.forEach((b, i) => {
      const job = b?.id ? this.jobs.get(b.id) : undefined;
      if (!job || job.record.state !== 'queued') return;
      if (this.lastPosition.get(job.record.id) === i + 1) return;
      this.lastPosition.set(job.record.id, i + 1);
      this.book.emit(job, { type: 'queued', jobId: job.record.id, position: i + 1 });
    });
  }

  private end(job: LocalJob, state: 'succeeded' | 'failed' | 'cancelled', event: JobEvent, error?: { code: JobErrorCode; message: string }): void {
    // the SEG bytes stay in Redis for late subscribers (replayResult) after the book drops them
    if (!this.book.end(job, state, event, undefined, error)) return;
    this.lastPosition.delete(job.record.id);
    this.schedulePositions(50);
  }
}

export function createRedisQueue(options: RedisQueueOptions): Promise<RedisQueue> {
  return RedisQueue.create(options);
}

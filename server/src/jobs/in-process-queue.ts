/**
 * The default JobQueue: jobs run inside the server process.
 *
 * - Concurrency: `concurrency` jobs at a time (default 1: one inference per CPU pool; onnxruntime already
 *   uses every core for one job).
 * - Fairness: one FIFO per sessionId; the next job comes from the waiting session served longest ago (or
 *   never), so a session that submits ten jobs does not starve the next radiologist: their first job runs
 *   after at most one more job of each other session.
 *   `queued` events carry the 1-based position in that projected order and are re-sent whenever it changes.
 * - Cancel: a queued job is removed at once; a running one is reported cancelled at once and its
 *   AbortSignal fires, which predictCase checks between patches; the pipeline then drops its arrays, the
 *   acquired model is released and the spooled series removed.
 * - Persistence (optional `journalPath`): see job-journal.ts. On start, a job that was running is failed
 *   with INTERRUPTED (re-running a job that may have brought the process down risks a crash loop); a job
 *   that was queued is queued again when its series is still there (its spool folder exists, or it is a
 *   DICOMweb reference), else failed with INTERRUPTED.
 * - Where jobs run (`executor`): by default in long-lived inference threads (inference-proxy.ts), one per
 *   concurrent job, so series parsing, preprocessing, export and SEG encoding never block the event loop;
 *   `'same-thread'` runs runSegmentJob on the main thread (debugging, profiling); the default `'auto'` falls
 *   back to it, with a log line, when the thread script is missing (a one-file bundle).
 * - Spooled series (a 'folder' source spooled by the API, or a DICOMweb series fetched into `spoolRoot`)
 *   are removed when the job ends, unless `retainSeries` (kept for training).
 */
import { existsSync } from 'node:fs';
import { JobError, toJobError, loggableMessage } from '../contract/job-errors.js';
import { isEnded, JobBook, type BookEntry, type JobListener } from './job-book.js';
import { createInferenceThreads, type InferenceThreads, type JobExecutor } from './inference-proxy.js';
import { JobJournal } from './job-journal.js';
import { removeSpooledSeries, runSegmentJob, type JobRunnerOptions } from './run-job.js';
import type { JobErrorCode, JobEvent, JobProgress, JobQueue, JobRecord, PartialLabelmap, SegmentRequest } from './types.js';

export type { DicomWebSource, FetchSeries } from './run-job.js';

export interface InProcessQueueOptions extends JobRunnerOptions {
  /** jobs running at once (default 1) */
  concurrency?: number;
  /** queued + running jobs one session may have (job-book.ts default) */
  maxJobsPerSession?: number;
  /** queued jobs over all sessions (job-book.ts default) */
  maxQueuedJobs?: number;
  /** JSON-lines journal; without it nothing survives a restart */
  journalPath?: string;
  /** ended jobs kept in memory and in the journal (job-book.ts default) */
  keepEndedJobs?: number;
  /** how long a finished job's result event (with the SEG bytes) is kept for a late subscriber (job-book.ts default) */
  resultTtlMs?: number;
  /** operational messages (no patient data) */
  log?: (line: string) => void;
  /**
   * where jobs run: 'inference-thread' (one worker thread per concurrent job), 'same-thread' (debugging), or
   * 'auto' (default: threads, unless their script is missing, e.g. in a one-file bundle; logged)
   */
  executor?: JobExecutor;
  /** inference-thread mode: how long a cancelled job's thread may take to stop before it is replaced (5000 ms) */
  cancelGraceMs?: number;
  /** inference-thread mode: V8 heap limits per thread */
  resourceLimits?: import('node:worker_threads').ResourceLimits;
}

interface Job extends BookEntry {
  request: SegmentRequest;
  controller?: AbortController;
  position?: number;
  /** submission order (ties in the round-robin) */
  seq: number;
  done?: Promise<void>;
}

const now = () => new Date().toISOString();

export class InProcessQueue implements JobQueue {
  private readonly book: JobBook<Job>;
  /** per-session FIFOs of queued jobs, and the round-robin order of sessions that have one */
  private readonly waiting = new Map<string, Job[]>();
  private readonly lastServed = new Map<string, number>();
  private tick = 0;
  private seq = 0;
  private readonly running = new Set<Job>();
  private readonly journal: JobJournal | null;
  private readonly concurrency: number;
  private readonly log: (line: string) => void;
  private closed = false;
  /** journal lines skipped at start (see job-journal.ts) */
  readonly journalProblems: string[] = [];
  /** the threads jobs run in (undefined in 'same-thread' mode) */
  readonly inferenceThreads: InferenceThreads | undefined;

  constructor(private readonly options: InProcessQueueOptions) {
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.log = options.log ?? (() => {});
    this.book = new JobBook({ resultTtlMs: options.resultTtlMs, keepEndedJobs: options.keepEndedJobs, log: this.log });
    this.inferenceThreads = createInferenceThreads(options.executor, { ...options, threads: this.concurrency, log: this.log });
    if (options.journalPath) {
      const opened = JobJournal.open(options.journalPath, { keepEnded: options.keepEndedJobs });
      this.journal = opened.journal;
      this.journalProblems.push(...opened.problems);
      for (const p of opened.problems) this.log(`job journal: skipped ${p}`);
      this.recover(opened.entries);
    } else {
      this.journal = null;
    }
    this.updatePositions();
    this.pump();
  }

  submit(request: SegmentRequest, onEvent: JobListener): { jobId: string } {
    if (this.closed) throw new JobError('INTERNAL', 'the job queue is shutting down');
    const req = this.book.admit(request, {
      registry: this.options.registry,
      pacsConfigured: !!this.options.fetchSeries,
      maxJobsPerSession: this.options.maxJobsPerSession,
      maxQueuedJobs: this.options.maxQueuedJobs,
    });
    const job: Job = { record: this.book.newRecord(req), request: req, listeners: new Set([onEvent]), seq: ++this.seq };
    const id = job.record.id;
    this.book.entries.set(id, job);
    this.persist(job);
    this.enqueue(job);
    this.updatePositions();
    this.pump();
    return { jobId: id };
  }

  subscribe(jobId: string, onEvent: JobListener): boolean {
    const job = this.book.entries.get(jobId);
    if (!job) return false;
    if (isEnded(job.record)) {
      this.book.replayEnded(job, onEvent);
      return true;
    }
    job.listeners.add(onEvent);
    if (job.record.state === 'queued' && job.position !== undefined) this.book.call(onEvent, { type: 'queued', jobId, position: job.position });
    else if (job.record.progress) this.book.call(onEvent, { type: 'progress', jobId, progress: job.record.progress });
    return true;
  }

  cancel(jobId: string): boolean {
    const job = this.book.entries.get(jobId);
    if (!job || isEnded(job.record)) return false;
    if (job.record.state === 'queued') {
      this.dequeue(job);
      this.end(job, 'cancelled', { type: 'cancelled', jobId });
      this.removeSpool(job);
      this.updatePositions();
    } else {
      // reported now; the pipeline stops at its next signal check and then frees everything (see run)
      this.end(job, 'cancelled', { type: 'cancelled', jobId });
      job.controller?.abort();
    }
    return true;
  }

  get(jobId: string): JobRecord | undefined {
    return this.book.get(jobId);
  }

  list(): JobRecord[] {
    return this.book.list();
  }

  liveSeriesFolders(): string[] {
    return [...this.book.entries.values()].filter((j) => !isEnded(j.record) && j.request.series.kind === 'folder').map((j) => (j.request.series as { path: string }).path);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stopping = [...this.running];
    for (const job of stopping) {
      if (isEnded(job.record)) continue;
      this.end(job, 'failed', { type: 'error', jobId: job.record.id, code: 'INTERRUPTED', message: 'the server is shutting down' }, { code: 'INTERRUPTED', message: 'the server is shutting down' });
      job.controller?.abort();
    }
    await Promise.all(stopping.map((j) => j.done));
    await this.inferenceThreads?.close();
    // queued jobs stay 'queued' in the journal: the next start queues them again
    this.journal?.close();
  }

  /** Restart: running → INTERRUPTED; queued → queued again when the series is still there. */
  private recover(entries: { job: JobRecord; request?: SegmentRequest }[]): void {
    for (const { job: record, request } of entries) {
      const job: Job = { record, request: request ?? ({ sessionId: record.sessionId, series: { kind: 'folder', path: '' }, options: { model: record.model } } as SegmentRequest), listeners: new Set(), seq: ++this.seq };
      this.book.entries.set(record.id, job);
      if (isEnded(record)) continue;
      const available = request && (request.series.kind === 'dicomweb' ? !!this.options.fetchSeries : existsSync(request.series.path));
      if (record.state === 'queued' && available) {
        this.log(`job ${record.id}: queued again after a restart`);
        this.enqueue(job);
        continue;
      }
      const message =
        record.state === 'running' ? 'the server stopped while this job was running' : 'the server restarted and the series of this queued job is gone';
      this.end(job, 'failed', { type: 'error', jobId: record.id, code: 'INTERRUPTED', message }, { code: 'INTERRUPTED', message });
      if (request) this.removeSpool(job);
    }
    this.book.trimEnded();
  }

  private enqueue(job: Job): void {
    const s = job.request.sessionId;
    const q = this.waiting.get(s);
    if (q) q.push(job);
    else this.waiting.set(s, [job]);
  }

  private dequeue(job: Job): void {
    const s = job.request.sessionId;
    const q = this.waiting.get(s);
    if (!q) return;
    const i = q.indexOf(job);
    if (i >= 0) q.splice(i, 1);
    if (q.length === 0) this.waiting.delete(s);
  }

  /**
   * Round-robin across sessions: the waiting session served longest ago (or never) goes next, ties broken by
   * submission order; FIFO within a session. `served` is the session → last-dispatch tick map to use.
   */
  private pickSession(served: Map<string, number>, heads: Map<string, Job | undefined>): string | undefined {
    let best: string | undefined;
    let bestKey: [number, number] = [Infinity, Infinity];
    for (const [s, head] of heads) {
      if (!head) continue;
      const key: [number, number] = [served.get(s) ?? -1, head.seq];
      if (key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) {
        best = s;
        bestKey = key;
      }
    }
    return best;
  }

  private takeNext(): Job | undefined {
    const heads = new Map([...this.waiting].map(([s, q]) => [s, q[0]]));
    const s = this.pickSession(this.lastServed, heads);
    if (s === undefined) return undefined;
    const job = this.waiting.get(s)![0];
    this.dequeue(job);
    this.lastServed.set(s, ++this.tick);
    if (this.lastServed.size > 10_000) this.pruneServed();
    return job;
  }

  /** Forget sessions with nothing queued or running (bounded memory with many short sessions). */
  private pruneServed(): void {
    const active = new Set([...this.waiting.keys(), ...[...this.running].map((j) => j.request.sessionId)]);
    for (const s of this.lastServed.keys()) if (!active.has(s)) this.lastServed.delete(s);
  }

  /** 1-based positions in the order takeNext would serve the waiting jobs; a 'queued' event when one changes. */
  private updatePositions(): void {
    const served = new Map(this.lastServed);
    const index = new Map([...this.waiting.keys()].map((s) => [s, 0]));
    const heads = new Map([...this.waiting].map(([s, q]) => [s, q[0]]));
    let tick = this.tick;
    for (let position = 1; ; position++) {
      const s = this.pickSession(served, heads);
      if (s === undefined) break;
      const q = this.waiting.get(s)!;
      const job = q[index.get(s)!];
      index.set(s, index.get(s)! + 1);
      heads.set(s, q[index.get(s)!]);
      served.set(s, ++tick);
      if (job.position !== position) {
        job.position = position;
        this.book.emit(job, { type: 'queued', jobId: job.record.id, position });
      }
    }
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.concurrency) {
      const job = this.takeNext();
      if (!job) break;
      job.position = undefined;
      this.running.add(job);
      job.done = this.run(job).finally(() => {
        this.running.delete(job);
        this.pump();
      });
      this.updatePositions();
    }
  }

  private async run(job: Job): Promise<void> {
    const controller = new AbortController();
    job.controller = controller;
    const { signal } = controller;
    const jobId = job.record.id;
    job.record.state = 'running';
    job.record.startedAt = now();
    this.persist(job);
    const progress = (p: JobProgress) => {
      if (isEnded(job.record)) return;
      job.record.progress = p;
      this.book.emit(job, { type: 'progress', jobId, progress: p });
    };
    try {
      const ctx = {
        signal,
        onProgress: progress,
        onPartial: (partial: PartialLabelmap) => {
          if (!isEnded(job.record)) this.book.emit(job, { type: 'partial', jobId, partial });
        },
      };
      const result = this.inferenceThreads
        ? await this.inferenceThreads.run(jobId, job.request, ctx)
        : await runSegmentJob(job.request, this.options, ctx);
      job.record.resultSeriesInstanceUID = result.seriesInstanceUID;
      this.end(job, 'succeeded', { type: 'result', jobId, result });
    } catch (e) {
      if (!isEnded(job.record)) {
        const err = toJobError(e);
        this.log(`job ${jobId}: ${err.code}: ${loggableMessage(err.message)}`);
        this.end(job, 'failed', { type: 'error', jobId, code: err.code, message: err.message }, { code: err.code, message: err.message });
      }
    } finally {
      job.controller = undefined;
    }
  }

  private end(job: Job, state: 'succeeded' | 'failed' | 'cancelled', event: JobEvent, error?: { code: JobErrorCode; message: string }): void {
    if (isEnded(job.record)) return;
    job.position = undefined;
    this.book.end(job, state, event, (j) => this.persist(j), error);
  }

  private removeSpool(job: Job): void {
    removeSpooledSeries(job.request, this.options);
  }

  private persist(job: Job): void {
    try {
      this.journal?.write({ job: job.record, request: job.request });
    } catch (e) {
      this.log(`job journal: could not write job ${job.record.id}: ${(e as Error).message}`);
    }
  }
}

export function createInProcessQueue(options: InProcessQueueOptions): InProcessQueue {
  return new InProcessQueue(options);
}

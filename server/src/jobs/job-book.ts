/**
 * The book both segment queues keep (in-process-queue.ts runs the jobs itself, redis-queue.ts hands them to
 * workers): job records and their states, admission of a request, listeners, the one way a job ends, and how
 * long its final event stays for a late subscriber. The queues differ only in where and in what order jobs run.
 */
import { randomUUID } from 'node:crypto';
import { JobError } from '../contract/job-errors.js';
import { parseSegmentRequest } from '../contract/job-schemas.js';
import type { ModelRegistry } from '../models/model-registry.js';
import type { JobErrorCode, JobEvent, JobRecord, JobState, SegmentRequest } from './types.js';

export type JobListener = (event: JobEvent) => void;

export const ENDED_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled']);
export const isEnded = (record: JobRecord): boolean => ENDED_STATES.has(record.state);

/** Defaults of a queue's admission (the server passes its `limits`). */
export const DEFAULT_MAX_JOBS_PER_SESSION = 4;
export const DEFAULT_MAX_QUEUED_JOBS = 1000;
/** How long a finished job's result event (with the SEG bytes) is kept for a late subscriber. */
export const DEFAULT_RESULT_TTL_MS = 15 * 60_000;
/** Ended jobs kept in the book (and the journal / Redis). */
export const DEFAULT_KEEP_ENDED_JOBS = 1000;

export interface AdmissionOptions {
  /** refuses unknown models at submit, not after waiting in line */
  registry?: Pick<ModelRegistry, 'get'>;
  /** a DICOMweb series can be fetched (the server has a PACS) */
  pacsConfigured: boolean;
  /** queued + running jobs one session may have */
  maxJobsPerSession?: number;
  /** queued jobs over all sessions (of this queue / producer) */
  maxQueuedJobs?: number;
}

export interface JobBookOptions {
  resultTtlMs?: number;
  keepEndedJobs?: number;
  log?: (line: string) => void;
}

/** What the book keeps of a job; queues extend it with their own run state. */
export interface BookEntry {
  record: JobRecord;
  listeners: Set<JobListener>;
  /** the final event, replayed to a subscriber that comes back within the result lifetime */
  terminal?: JobEvent;
  /** known for jobs submitted here (absent for jobs only reloaded from Redis) */
  request?: SegmentRequest;
}

const now = () => new Date().toISOString();

export class JobBook<E extends BookEntry> {
  readonly entries = new Map<string, E>();
  private readonly log: (line: string) => void;

  constructor(private readonly options: JobBookOptions = {}) {
    this.log = options.log ?? (() => {});
  }

  /**
   * Checks a request before anything is queued: its shape, its model, its series source, the session's and
   * the queue's limits. Throws the JobError the client gets; returns the parsed request.
   */
  admit(raw: SegmentRequest, o: AdmissionOptions): SegmentRequest {
    let req: SegmentRequest;
    try {
      req = parseSegmentRequest(raw);
    } catch (e) {
      throw new JobError('BAD_SERIES', (e as Error).message);
    }
    o.registry?.get(req.options.model);
    if (req.series.kind === 'dicomweb' && !o.pacsConfigured) throw new JobError('PACS_UNAVAILABLE', 'this server has no DICOMweb PACS configured');
    const perSession = o.maxJobsPerSession ?? DEFAULT_MAX_JOBS_PER_SESSION;
    const active = this.activeJobs(req.sessionId);
    if (active >= perSession) throw new JobError('LIMIT_EXCEEDED', `this session already has ${active} job(s) queued or running (limit ${perSession})`);
    const queued = this.queuedJobs();
    if (queued >= (o.maxQueuedJobs ?? DEFAULT_MAX_QUEUED_JOBS)) throw new JobError('LIMIT_EXCEEDED', `the server has ${queued} jobs waiting; try again later`);
    return req;
  }

  /** A fresh record for an admitted request. */
  newRecord(req: SegmentRequest, createdAt = now()): JobRecord {
    const record: JobRecord = { id: randomUUID(), sessionId: req.sessionId, state: 'queued', model: req.options.model, createdAt };
    if (req.owner !== undefined) record.owner = req.owner;
    return record;
  }

  /** Queued or running jobs of one session. */
  activeJobs(sessionId: string): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.record.sessionId === sessionId && !isEnded(e.record)) n++;
    return n;
  }

  queuedJobs(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.record.state === 'queued') n++;
    return n;
  }

  get(jobId: string): JobRecord | undefined {
    const e = this.entries.get(jobId);
    return e ? { ...e.record } : undefined;
  }

  list(): JobRecord[] {
    return [...this.entries.values()].map((e) => ({ ...e.record }));
  }

  /** The final event of an ended job as far as the record tells it (a result needs its SEG bytes: undefined). */
  terminalFromRecord(r: JobRecord): JobEvent | undefined {
    if (r.state === 'cancelled') return { type: 'cancelled', jobId: r.id };
    if (r.state === 'failed' && r.error) return { type: 'error', jobId: r.id, code: r.error.code, message: r.error.message };
    return undefined;
  }

  /** Replays an ended job's final event; false when only its SEG bytes could tell it (a result past its lifetime). */
  replayEnded(entry: E, onEvent: JobListener): boolean {
    const last = entry.terminal ?? this.terminalFromRecord(entry.record);
    if (last) this.call(onEvent, last);
    return last !== undefined;
  }

  /**
   * Ends a job once (cancel, shutdown and the pipeline may race): state, end time and error on the record,
   * `persist` (journal) before the event goes out, listeners dropped, the event kept for late subscribers
   * (a result's SEG bytes only for the result lifetime). False when the job had already ended.
   */
  end(entry: E, state: 'succeeded' | 'failed' | 'cancelled', event: JobEvent, persist?: (entry: E) => void, error?: { code: JobErrorCode; message: string }): boolean {
    if (isEnded(entry.record)) return false;
    entry.record.state = state;
    entry.record.endedAt = now();
    if (error) entry.record.error = error;
    persist?.(entry);
    this.emit(entry, event);
    entry.listeners.clear();
    entry.terminal = event;
    if (event.type === 'result') setTimeout(() => (entry.terminal = undefined), this.options.resultTtlMs ?? DEFAULT_RESULT_TTL_MS).unref();
    this.trimEnded();
    return true;
  }

  /** Drops the oldest ended jobs beyond `keepEndedJobs`. */
  trimEnded(): void {
    const keep = this.options.keepEndedJobs ?? DEFAULT_KEEP_ENDED_JOBS;
    const ended = [...this.entries.values()].filter((e) => isEnded(e.record));
    for (const e of ended.slice(0, Math.max(0, ended.length - keep))) this.entries.delete(e.record.id);
  }

  emit(entry: E, event: JobEvent): void {
    for (const l of entry.listeners) this.call(l, event);
  }

  /** Calls one listener; a throwing listener is logged, never allowed to break the queue. */
  call(l: JobListener, event: JobEvent): void {
    try {
      l(event);
    } catch (e) {
      this.log(`job ${event.jobId}: a listener threw on '${event.type}': ${(e as Error).message}`);
    }
  }
}

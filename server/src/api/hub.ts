/**
 * State shared by all WebSocket sessions of one server: sessions (fairness keys that outlive a socket),
 * uploads (resumable after a reconnect) and the routing of job events to whichever socket currently
 * watches a job. The last event of an ended job is kept for a while so a client that reconnects after
 * the job ended still gets its result.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { JobEvent, JobQueue, SegmentOptions } from '../jobs/types.js';
import type { ServerConfig } from '../config/server-config.js';
import type { ApiMetrics } from './metrics.js';
import type { InstanceManifestEntry } from '../contract/protocol.js';
import { UploadSpool } from './upload-spool.js';

export type LogFields = Record<string, string | number | boolean | undefined>;
/** Structured log sink. Callers pass ids, sizes and durations only — never names, UIDs or pixel data. */
export type Logger = (event: string, fields?: LogFields) => void;

export const stderrLogger: Logger = (event, fields = {}) => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`);
};

/** Something that can receive job events: a WebSocket session. */
export interface JobSink {
  readonly socketId: string;
  deliverJobEvent(job: JobMeta, event: JobEvent): void;
}

export interface JobMeta {
  jobId?: string;
  subject: string;
  sessionId: string;
  requestId?: string;
  uploadId?: string;
  partials: boolean;
  sinks: Set<JobSink>;
  /** the terminal event, once the job ended */
  final?: JobEvent;
  submittedAt: number;
}

export interface SessionRecord {
  sessionId: string;
  subject: string;
  activeJobs: Set<string>;
  uploads: Set<string>;
  sockets: number;
}

export interface Upload {
  spool: UploadSpool;
  subject: string;
  sessionId: string;
  requestId: string;
  options: SegmentOptions;
  partials: boolean;
  sink?: JobSink;
  expiry?: NodeJS.Timeout;
  startedAt: number;
  submitted: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class Hub {
  readonly sessions = new Map<string, SessionRecord>();
  readonly uploads = new Map<string, Upload>();
  readonly jobs = new Map<string, JobMeta>();
  shuttingDown = false;

  constructor(
    readonly config: ServerConfig,
    readonly queue: JobQueue,
    readonly metrics: ApiMetrics,
    readonly log: Logger,
  ) {
    mkdirSync(this.uploadsFolder, { recursive: true });
  }

  get uploadsFolder(): string {
    return join(this.config.workDir, 'uploads');
  }

  /**
   * The session of an earlier welcome when it belongs to the same subject, else a new one. The session id is
   * the client's secret (ownership is bound to it): an id this server does not hold (it restarted since) is
   * taken over, so the client can follow its jobs from the journal; an id held by another subject never is.
   */
  openSession(subject: string, requested?: string): SessionRecord {
    const old = requested ? this.sessions.get(requested) : undefined;
    if (old && old.subject === subject) {
      old.sockets++;
      return old;
    }
    const resumable = requested !== undefined && !old && UUID.test(requested) && this.journalSubject(requested) === subject;
    const s: SessionRecord = { sessionId: resumable ? requested : randomUUID(), subject, activeJobs: new Set(), uploads: new Set(), sockets: 1 };
    this.sessions.set(s.sessionId, s);
    return s;
  }

  /** The subject of the jobs the queue records under a session id (after a restart), if any. */
  private journalSubject(sessionId: string): string | undefined {
    return this.queue.list().find((j) => j.sessionId === sessionId)?.owner;
  }

  closeSession(s: SessionRecord): void {
    s.sockets--;
    this.pruneSession(s);
  }

  private pruneSession(s: SessionRecord): void {
    if (s.sockets <= 0 && s.activeJobs.size === 0 && s.uploads.size === 0) this.sessions.delete(s.sessionId);
  }

  /**
   * Why a new upload of `bytes` for `subject` may not start now, or undefined: limits per token subject (a
   * shared token is one subject however many sockets it opens) and for the whole server, checked before any
   * byte is received.
   */
  uploadRefusal(subject: string, bytes: number): string | undefined {
    const l = this.config.limits;
    const open = [...this.uploads.values()].filter((u) => !u.submitted);
    const mine = open.filter((u) => u.subject === subject).length;
    if (mine >= l.maxUploadsPerSubject) return `"${subject}" already has ${mine} unfinished uploads (limit ${l.maxUploadsPerSubject} per token)`;
    if (open.length >= l.maxUploads) return `the server already receives ${open.length} uploads (limit ${l.maxUploads}); try again later`;
    const inFlight = open.reduce((n, u) => n + u.spool.totalBytes, 0);
    if (inFlight + bytes > l.maxUploadBytes) return `the server's upload space is taken (${inFlight} of ${l.maxUploadBytes} bytes); try again later`;
    return undefined;
  }

  /** Why a new segment job for `subject` may not be queued now (queued + running, per subject and in all), or undefined. */
  jobRefusal(subject: string): string | undefined {
    const l = this.config.limits;
    const live = this.queue.list().filter((j) => j.state === 'queued' || j.state === 'running');
    const mine = live.filter((j) => j.owner === subject).length;
    if (mine >= l.maxJobsPerSubject) return `"${subject}" already has ${mine} queued or running jobs (limit ${l.maxJobsPerSubject} per token)`;
    if (live.length >= l.maxJobs) return `the server already has ${live.length} queued or running jobs (limit ${l.maxJobs}); try again later`;
    return undefined;
  }

  startUpload(session: SessionRecord, requestId: string, manifest: InstanceManifestEntry[], options: SegmentOptions, partials: boolean, sink: JobSink): Upload {
    const uploadId = randomUUID();
    const upload: Upload = {
      spool: new UploadSpool(uploadId, this.uploadsFolder, manifest),
      subject: session.subject,
      sessionId: session.sessionId,
      requestId,
      options,
      partials,
      sink,
      startedAt: Date.now(),
      submitted: false,
    };
    this.uploads.set(uploadId, upload);
    session.uploads.add(uploadId);
    this.metrics.uploadsStarted++;
    this.log('upload.start', { uploadId, instances: manifest.length, bytes: upload.spool.totalBytes });
    return upload;
  }

  /** The socket went away: keep the spool for `uploadResumeSeconds`, then delete it. */
  detachUpload(upload: Upload): void {
    upload.sink = undefined;
    clearTimeout(upload.expiry);
    upload.expiry = setTimeout(() => {
      this.log('upload.expired', { uploadId: upload.spool.uploadId, receivedBytes: upload.spool.receivedBytes });
      void this.dropUpload(upload);
    }, this.config.limits.uploadResumeSeconds * 1000);
    upload.expiry.unref();
  }

  attachUpload(upload: Upload, sink: JobSink): void {
    clearTimeout(upload.expiry);
    upload.expiry = undefined;
    upload.sink = sink;
  }

  async dropUpload(upload: Upload, keep = false): Promise<void> {
    clearTimeout(upload.expiry);
    this.uploads.delete(upload.spool.uploadId);
    const session = this.sessions.get(upload.sessionId);
    if (session) {
      session.uploads.delete(upload.spool.uploadId);
      this.pruneSession(session);
    }
    await upload.spool.close(keep);
  }

  /** Submits a job; its events go to `sink` (and to any socket that subscribes later). Throws when the queue refuses it. */
  submit(
    session: SessionRecord,
    source: { upload?: Upload; dicomweb?: { studyInstanceUID: string; seriesInstanceUID: string } },
    requestId: string,
    options: SegmentOptions,
    partials: boolean,
    sink: JobSink | undefined,
  ): string {
    const refusal = this.jobRefusal(session.subject);
    if (refusal) throw Object.assign(new Error(refusal), { code: 'LIMIT_EXCEEDED' });
    const meta: JobMeta = {
      subject: session.subject,
      sessionId: session.sessionId,
      requestId,
      uploadId: source.upload?.spool.uploadId,
      partials,
      sinks: new Set(sink ? [sink] : []),
      submittedAt: Date.now(),
    };
    const series = source.upload
      ? ({ kind: 'folder', path: source.upload.spool.folder } as const)
      : ({ kind: 'dicomweb', ...source.dicomweb! } as const);
    // the queue may emit 'queued' before submit returns: route by the event's jobId
    const { jobId } = this.queue.submit({ sessionId: session.sessionId, owner: session.subject, series, options }, (e) => this.route(meta, e));
    meta.jobId = jobId;
    this.jobs.set(jobId, meta);
    if (!meta.final) session.activeJobs.add(jobId);
    this.metrics.jobsSubmitted++;
    this.log('job.submit', { jobId, uploadId: meta.uploadId, model: options.model });
    return jobId;
  }

  /** Routes an event of a job not submitted through this hub (e.g. after a restart) to `sink`. */
  adopt(jobId: string, owner: { subject: string; sessionId: string }, sink: JobSink): boolean {
    const meta: JobMeta = { jobId, ...owner, partials: false, sinks: new Set([sink]), submittedAt: Date.now() };
    const ok = this.queue.subscribe(jobId, (e) => this.route(meta, e));
    if (ok) this.jobs.set(jobId, meta);
    return ok;
  }

  private route(meta: JobMeta, event: JobEvent): void {
    if (meta.final) return;
    meta.jobId ??= event.jobId;
    if (!this.jobs.has(event.jobId)) this.jobs.set(event.jobId, meta);
    const terminal = event.type === 'result' || event.type === 'error' || event.type === 'cancelled';
    if (terminal) meta.final = event;
    for (const sink of meta.sinks) {
      try {
        sink.deliverJobEvent(meta, event);
      } catch (e) {
        this.log('job.deliver_failed', { jobId: event.jobId, socketId: sink.socketId, reason: (e as Error).message });
      }
    }
    if (terminal) this.finishJob(meta, event);
  }

  private finishJob(meta: JobMeta, event: JobEvent): void {
    const jobId = event.jobId;
    const session = this.sessions.get(meta.sessionId);
    if (session) {
      session.activeJobs.delete(jobId);
      this.pruneSession(session);
    }
    this.log('job.end', {
      jobId,
      outcome: event.type,
      code: event.type === 'error' ? event.code : undefined,
      seconds: Math.round((Date.now() - meta.submittedAt) / 10) / 100,
      segBytes: event.type === 'result' ? event.result.seg.byteLength : undefined,
    });
    const upload = meta.uploadId ? this.uploads.get(meta.uploadId) : undefined;
    if (upload) {
      const retain = this.config.retainSeriesIn;
      void this.dropUpload(upload, retain !== undefined).then(() => {
        if (retain === undefined) return;
        try {
          mkdirSync(retain, { recursive: true });
          renameSync(upload.spool.folder, join(retain, jobId));
        } catch (e) {
          this.log('upload.retain_failed', { jobId, reason: (e as Error).message });
          rmSync(upload.spool.folder, { recursive: true, force: true });
        }
      });
    }
    // keep the final event so a reconnecting client can still fetch it, then forget the job
    setTimeout(() => this.jobs.delete(jobId), this.config.limits.uploadResumeSeconds * 1000).unref();
  }

  /** A socket closed: stop routing to it. */
  detachSink(sink: JobSink): void {
    for (const meta of this.jobs.values()) meta.sinks.delete(sink);
    for (const upload of this.uploads.values()) {
      if (upload.sink !== sink) continue;
      // a submitted upload's folder belongs to its job now: it goes when the job ends, not on a timer
      if (upload.submitted) upload.sink = undefined;
      else this.detachUpload(upload);
    }
  }

  /** Removes every spool (shutdown). */
  async dropAllUploads(): Promise<void> {
    await Promise.all([...this.uploads.values()].map((u) => this.dropUpload(u)));
  }
}

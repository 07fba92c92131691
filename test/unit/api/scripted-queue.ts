/**
 * A JobQueue whose jobs do nothing until the test emits their events: for testing the API's protocol
 * handling alone (the integration tests use the real queue and a real model).
 */
import { readdirSync } from 'node:fs';
import type { JobEvent, JobQueue, JobRecord, SegmentRequest } from '../../../server/src/jobs/types.js';

export interface ScriptedJob {
  jobId: string;
  request: SegmentRequest;
  emit: (e: JobEvent) => void;
  /** files in the spool folder when the job was submitted */
  files: string[];
}

export class ScriptedQueue implements JobQueue {
  readonly jobs: ScriptedJob[] = [];
  private readonly records = new Map<string, JobRecord>();
  private listeners = new Map<string, ((e: JobEvent) => void)[]>();
  closed = false;
  refuse?: { code: string; message: string };

  submit(request: SegmentRequest, onEvent: (event: JobEvent) => void): { jobId: string } {
    if (this.refuse) throw Object.assign(new Error(this.refuse.message), { code: this.refuse.code });
    const jobId = `job-${this.jobs.length + 1}`;
    this.records.set(jobId, { id: jobId, sessionId: request.sessionId, owner: request.owner, state: 'queued', model: request.options.model, createdAt: new Date().toISOString() });
    this.listeners.set(jobId, [onEvent]);
    const emit = (e: JobEvent) => {
      const r = this.records.get(jobId)!;
      if (e.type === 'progress') Object.assign(r, { state: 'running', progress: e.progress });
      if (e.type === 'result') r.state = 'succeeded';
      if (e.type === 'error') Object.assign(r, { state: 'failed', error: { code: e.code, message: e.message } });
      if (e.type === 'cancelled') r.state = 'cancelled';
      for (const l of this.listeners.get(jobId)!) l(e);
    };
    const files = request.series.kind === 'folder' ? readdirSync(request.series.path).sort() : [];
    this.jobs.push({ jobId, request, emit, files });
    emit({ type: 'queued', jobId, position: this.jobs.length - 1 });
    return { jobId };
  }

  subscribe(jobId: string, onEvent: (event: JobEvent) => void): boolean {
    const l = this.listeners.get(jobId);
    if (!l) return false;
    l.push(onEvent);
    return true;
  }

  cancel(jobId: string): boolean {
    const r = this.records.get(jobId);
    if (!r || r.state === 'succeeded' || r.state === 'failed' || r.state === 'cancelled') return false;
    this.jobs.find((j) => j.jobId === jobId)!.emit({ type: 'cancelled', jobId });
    return true;
  }

  get(jobId: string): JobRecord | undefined {
    return this.records.get(jobId);
  }

  list(): JobRecord[] {
    return [...this.records.values()];
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.jobs) {
      const r = this.records.get(j.jobId)!;
      if (r.state === 'queued' || r.state === 'running') j.emit({ type: 'error', jobId: j.jobId, code: 'INTERRUPTED', message: 'the server stopped while the job ran' });
    }
  }
}

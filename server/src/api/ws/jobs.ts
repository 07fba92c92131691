/**
 * Jobs on one socket: `cancel` and `subscribe` (also for jobs queued before a reconnect or a server
 * restart, under the one ownership rule) and the translation of job events into protocol messages, with
 * binary frames for partial slabs and the SEG.
 */
import type { JobEvent } from '../../jobs/types.js';
import type { JobMeta } from '../hub.js';
import type { SessionPort } from './port.js';

/** Partial slabs are skipped while this many bytes wait in the socket's send buffer (slow client). */
const PARTIAL_BACKLOG_BYTES = 16 << 20;

export class JobHandler {
  constructor(private readonly s: SessionPort) {}

  /** Who owns a job: the hub's live record, or the queue's record (a job from before a restart). */
  private owner(jobId: string): { subject?: string; sessionId?: string } | undefined {
    const { hub } = this.s.deps;
    const meta = hub.jobs.get(jobId);
    if (meta) return meta;
    const record = hub.queue.get(jobId);
    return record ? { subject: record.owner, sessionId: record.sessionId } : undefined;
  }

  /** True for a job this session owns; otherwise the client is told there is no such job (it may be someone else's). */
  private mine(jobId: string): boolean {
    const owner = this.owner(jobId);
    if (owner && this.s.owns(owner)) return true;
    this.s.fail('UNKNOWN_JOB', `no job ${jobId} for this token`, { jobId });
    return false;
  }

  onCancel(jobId: string): void {
    const { s } = this;
    const { hub } = s.deps;
    if (!this.mine(jobId)) return;
    hub.jobs.get(jobId)?.sinks.add(s);
    if (!hub.queue.cancel(jobId)) s.fail('UNKNOWN_JOB', `job ${jobId} has already ended`, { jobId });
  }

  onSubscribe(jobId: string): void {
    const { s } = this;
    const { hub } = s.deps;
    if (!this.mine(jobId)) return;
    const meta = hub.jobs.get(jobId);
    if (meta) {
      meta.sinks.add(s);
      if (meta.final) this.deliver(meta, meta.final);
      else this.replayState(jobId);
      return;
    }
    const record = hub.queue.get(jobId)!;
    if (record.state === 'failed') {
      const e = record.error ?? { code: 'INTERNAL' as const, message: 'the job failed' };
      s.fail(e.code, e.message, { jobId });
      return;
    }
    if (record.state === 'cancelled') {
      s.send({ type: 'cancelled', jobId });
      return;
    }
    if (record.state === 'succeeded') {
      s.fail('UNKNOWN_JOB', `job ${jobId} succeeded (result series ${record.resultSeriesInstanceUID ?? '?'}) but its result is no longer held by this server`, { jobId });
      return;
    }
    if (!hub.adopt(jobId, { subject: record.owner ?? s.principal!.subject, sessionId: record.sessionId }, s)) s.fail('UNKNOWN_JOB', `job ${jobId} can no longer be followed`, { jobId });
    else this.replayState(jobId);
  }

  private replayState(jobId: string): void {
    const record = this.s.deps.hub.queue.get(jobId);
    if (record?.state === 'queued') this.s.send({ type: 'queued', jobId, position: 0 });
    if (record?.progress) this.s.send({ type: 'progress', jobId, ...record.progress });
  }

  /** A job event as protocol messages on this socket. */
  deliver(meta: JobMeta, event: JobEvent): void {
    const { s } = this;
    const jobId = event.jobId;
    const rid = meta.requestId ? { requestId: meta.requestId } : {};
    switch (event.type) {
      case 'queued':
        s.send({ type: 'queued', jobId, position: event.position, ...rid, ...(meta.uploadId ? { uploadId: meta.uploadId } : {}) });
        return;
      case 'progress':
        s.send({ type: 'progress', jobId, ...event.progress, percent: Math.max(0, Math.min(100, event.progress.percent)) });
        return;
      case 'partial': {
        if (!meta.partials || s.bufferedBytes > PARTIAL_BACKLOG_BYTES) return;
        const p = event.partial;
        s.send({ type: 'partial', jobId, frameId: s.nextFrameId, z0: p.z0, shape: p.shape, byteLength: p.labels.byteLength });
        s.sendBinary(p.labels);
        return;
      }
      case 'result': {
        const { seg, ...summary } = event.result;
        s.send({ type: 'result', jobId, ...rid, frameId: s.nextFrameId, byteLength: seg.byteLength, ...summary });
        s.sendBinary(seg);
        return;
      }
      case 'error':
        s.fail(event.code, event.message, { jobId, ...rid });
        return;
      case 'cancelled':
        s.send({ type: 'cancelled', jobId });
        return;
    }
  }
}

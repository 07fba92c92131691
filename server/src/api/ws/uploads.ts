/**
 * Segment requests and pushed series on one socket: admission of a `segment` message (model, session and
 * server limits, PACS), the chunk frames of an upload with flow control and acks, `resumeUpload` after a
 * reconnect, cancelling an upload, and the hand-over of a complete upload to the job queue.
 */
import { decodeChunk, type SegmentMessage } from '../../contract/protocol.js';
import type { Hub, SessionRecord, Upload } from '../hub.js';
import { UploadError } from '../upload-spool.js';
import { wireErrorCode, type SessionPort } from './port.js';

export class UploadHandler {
  constructor(private readonly s: SessionPort) {}

  private get hub(): Hub {
    return this.s.deps.hub;
  }

  async onSegment(m: SegmentMessage): Promise<void> {
    const { hub, s } = this;
    const limits = s.limits;
    const session = s.session!;
    const rid = { requestId: m.requestId };
    if (hub.shuttingDown) {
      s.fail('SHUTTING_DOWN', 'the server is shutting down and takes no new jobs', rid);
      return;
    }
    try {
      s.deps.store.get(m.options.model);
    } catch (e) {
      s.fail('UNKNOWN_MODEL', (e as Error).message, rid);
      return;
    }
    const busy = session.activeJobs.size + session.uploads.size;
    if (busy >= limits.maxJobsPerSession) {
      s.fail('LIMIT_EXCEEDED', `this session already has ${busy} unfinished uploads/jobs (limit ${limits.maxJobsPerSession})`, rid);
      return;
    }
    const jobRefusal = hub.jobRefusal(session.subject);
    if (jobRefusal) {
      s.fail('LIMIT_EXCEEDED', jobRefusal, rid);
      return;
    }
    const { partials = false, ...options } = m.options;
    if (m.series.kind === 'dicomweb') {
      if (!hub.config.pacs) {
        s.fail('PACS_UNAVAILABLE', 'this server has no DICOMweb PACS configured; push the series instead', rid);
        return;
      }
      this.submit(session, { dicomweb: { studyInstanceUID: m.series.studyInstanceUID, seriesInstanceUID: m.series.seriesInstanceUID } }, m.requestId, options, partials, s);
      return;
    }
    const instances = m.series.manifest.instances;
    if (instances.length > limits.maxInstances) {
      s.fail('LIMIT_EXCEEDED', `the series has ${instances.length} instances; the limit is ${limits.maxInstances}`, rid);
      return;
    }
    const total = instances.reduce((sum, i) => sum + i.size, 0);
    if (total > limits.maxSeriesBytes) {
      s.fail('LIMIT_EXCEEDED', `the series has ${total} bytes; the limit is ${limits.maxSeriesBytes}`, rid);
      return;
    }
    const uploadRefusal = hub.uploadRefusal(session.subject, total);
    if (uploadRefusal) {
      s.fail('LIMIT_EXCEEDED', uploadRefusal, rid);
      return;
    }
    const upload = hub.startUpload(session, m.requestId, instances, options, partials, s);
    s.send({ type: 'uploadStatus', requestId: m.requestId, uploadId: upload.spool.uploadId, window: limits.uploadWindowBytes, instances: upload.spool.status() });
  }

  /** Queues the job of a request (a DICOMweb reference, or a complete upload); a refusal is told to `sink`. */
  private submit(
    session: SessionRecord,
    source: Parameters<Hub['submit']>[1],
    requestId: string,
    options: Parameters<Hub['submit']>[3],
    partials: boolean,
    sink: SessionPort | undefined,
  ): void {
    try {
      this.hub.submit(session, source, requestId, options, partials, sink);
    } catch (e) {
      sink?.fail(wireErrorCode(e), (e as Error).message, { requestId, ...(source.upload ? { uploadId: source.upload.spool.uploadId } : {}) });
      if (source.upload) void this.hub.dropUpload(source.upload);
    }
  }

  /** An upload of this session that has not been submitted yet. */
  ownUpload(uploadId: string): Upload | undefined {
    const u = this.hub.uploads.get(uploadId);
    return u && !u.submitted && this.s.owns(u) ? u : undefined;
  }

  onChunk(frame: Buffer): void {
    const { s } = this;
    const limits = s.limits;
    if (!s.session) {
      s.fail('BAD_STATE', 'binary frame before hello');
      return;
    }
    if (!s.checkPrincipal()) return;
    let chunk;
    try {
      chunk = decodeChunk(frame);
    } catch (e) {
      s.fail('BAD_FRAME', (e as Error).message);
      return;
    }
    const { uploadId, index, offset, payload } = chunk;
    const upload = this.ownUpload(uploadId);
    if (!upload) {
      s.fail('UNKNOWN_UPLOAD', `no upload ${uploadId} in progress for this token`, { uploadId, index });
      return;
    }
    if (upload.sink !== s) {
      s.fail('BAD_STATE', `upload ${uploadId} is not attached to this connection: send resumeUpload first`, { uploadId, index });
      return;
    }
    if (payload.byteLength > limits.maxChunkBytes) {
      s.fail('BAD_FRAME', `chunk payload of ${payload.byteLength} bytes exceeds maxChunkBytes ${limits.maxChunkBytes}`, { uploadId, index });
      return;
    }
    if (upload.spool.pendingBytes + payload.byteLength > limits.uploadWindowBytes) {
      s.fail('FLOW_CONTROL', `more than the window of ${limits.uploadWindowBytes} bytes sent without acknowledgement`, { uploadId, fatal: true });
      return;
    }
    let done: Promise<{ index: number; received: number; complete: boolean; totalReceived: number; done: boolean }>;
    try {
      done = upload.spool.accept(index, offset, payload);
    } catch (e) {
      s.fail(wireErrorCode(e), (e as Error).message, { uploadId, index });
      return;
    }
    const metrics = this.hub.metrics;
    metrics.uploadChunks++;
    done.then(
      (r) => {
        metrics.uploadBytes += payload.byteLength;
        // ack on whichever socket holds the upload now (the client may have reconnected meanwhile)
        const sink = upload.sink as SessionPort | undefined;
        sink?.send({ type: 'ack', uploadId, index: r.index, received: r.received, complete: r.complete, totalReceived: r.totalReceived });
        if (r.done && !upload.submitted) this.onUploadComplete(upload);
      },
      (e: unknown) => {
        const sink = (upload.sink as SessionPort | undefined) ?? s;
        sink.fail(e instanceof UploadError ? e.code : 'INTERNAL', (e as Error).message, { uploadId, index, requestId: upload.requestId });
        if (e instanceof UploadError && e.code === 'BAD_SERIES') void this.hub.dropUpload(upload);
      },
    );
  }

  private onUploadComplete(upload: Upload): void {
    const { hub } = this;
    upload.submitted = true;
    hub.metrics.uploadsCompleted++;
    hub.log('upload.complete', { uploadId: upload.spool.uploadId, bytes: upload.spool.totalBytes, seconds: (Date.now() - upload.startedAt) / 1000 });
    const session = hub.sessions.get(upload.sessionId);
    if (!session) return;
    // the upload no longer counts against the session; the job does
    session.uploads.delete(upload.spool.uploadId);
    this.submit(session, { upload }, upload.requestId, upload.options, upload.partials, upload.sink as SessionPort | undefined);
  }

  async onResume(uploadId: string): Promise<void> {
    const upload = this.ownUpload(uploadId);
    if (!upload) {
      this.s.fail('UNKNOWN_UPLOAD', `no upload ${uploadId} to resume for this token (finished, expired or never started)`, { uploadId });
      return;
    }
    this.hub.attachUpload(upload, this.s);
    await upload.spool.settle();
    this.s.send({ type: 'uploadStatus', requestId: upload.requestId, uploadId, window: this.s.limits.uploadWindowBytes, instances: upload.spool.status() });
  }

  async onCancel(uploadId: string): Promise<void> {
    const upload = this.ownUpload(uploadId);
    if (!upload) {
      this.s.fail('UNKNOWN_UPLOAD', `no upload ${uploadId} to cancel`, { uploadId });
      return;
    }
    await this.hub.dropUpload(upload);
    this.hub.log('upload.cancelled', { uploadId });
    this.s.send({ type: 'cancelled', uploadId });
  }
}

/**
 * One WebSocket connection: the protocol state machine of docs/protocol.md. Validates every frame,
 * authenticates, spools pushed instances through the hub's uploads, and turns job events into protocol
 * messages (+ binary frames for partial slabs and the SEG).
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket, RawData } from 'ws';
import type { JobEvent } from '../jobs/types.js';
import type { ModelStore } from '../models/model-store.js';
import { modalityOf } from '../models/model-card.js';
import { clientLimits } from '../config/server-config.js';
import { Authenticator, roleAllows, type Principal } from './auth.js';
import { TrainingJobError, type TrainingJobs, type TrainingUpdate } from '../jobs/training/training-jobs.js';
import type { Hub, JobMeta, JobSink, SessionRecord, Upload } from './hub.js';
import {
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  CHUNK_HEADER_BYTES,
  decodeChunk,
  encodeServerFrame,
  parseClientMessage,
  type ClientMessage,
  type ErrorCode,
  type ModelSummary,
  type ServerMessage,
  type SegmentMessage,
  type TrainingControlMessage,
  type TrainMessage,
} from '../contract/protocol.js';
import { NNSEG_VERSION } from '../contract/version.js';
import { UploadError } from './upload-spool.js';

export const SERVER_NAME = 'nnseg';

/** Partial slabs are skipped while this many bytes wait in the socket's send buffer (slow client). */
const PARTIAL_BACKLOG_BYTES = 16 << 20;

export interface SessionDeps {
  hub: Hub;
  store: ModelStore;
  auth: Authenticator;
  /** train jobs; absent when this server does not run them */
  training?: TrainingJobs;
}

export function modelSummaries(store: ModelStore): ModelSummary[] {
  return store.list().models.map(({ card }) => ({
    name: card.name,
    datasetName: card.datasetName,
    modality: modalityOf(card),
    labels: card.labels,
    configurations: card.configurations.map((c) => ({ name: c.configuration, folds: c.folds.map((f) => f.fold) })),
    version: card.importedAt,
    ...(card.description ? { description: card.description } : {}),
  }));
}

type ErrorExtras = { requestId?: string; jobId?: string; uploadId?: string; index?: number; fatal?: boolean; supportedVersions?: number[] };

export class WsSession implements JobSink {
  readonly socketId = randomUUID();
  private principal?: Principal;
  private session?: SessionRecord;
  private idle?: NodeJS.Timeout;
  private frameId = 0;
  private closed = false;
  /** train jobs this socket follows → unsubscribe */
  private readonly trainingSubscriptions = new Map<string, () => void>();

  constructor(
    private readonly ws: WebSocket,
    private readonly deps: SessionDeps,
    /** authenticated on the upgrade request (Authorization header or sub-protocol), if a token was given there */
    private readonly upgradePrincipal: Principal | undefined,
  ) {
    const { hub } = deps;
    hub.metrics.wsConnections++;
    hub.metrics.wsConnectionsTotal++;
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('close', () => this.onClose());
    ws.on('error', () => {});
    this.touch();
  }

  private get limits() {
    return this.deps.hub.config.limits;
  }

  private touch(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      this.fail('IDLE_TIMEOUT', `nothing received for ${this.limits.idleTimeoutSeconds} s`, { fatal: true });
    }, this.limits.idleTimeoutSeconds * 1000);
    this.idle.unref();
  }

  /**
   * Backpressure for every send: a client that does not read makes the socket's send buffer grow; past
   * `maxSendBacklogBytes` the socket is closed instead of buffering without bound.
   */
  private writable(): boolean {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return false;
    if (this.ws.bufferedAmount <= this.limits.maxSendBacklogBytes) return true;
    this.deps.hub.log('session.slow_consumer', { socketId: this.socketId, bufferedBytes: this.ws.bufferedAmount });
    this.closed = true;
    this.ws.terminate();
    return false;
  }

  send(message: ServerMessage): void {
    if (this.writable()) this.ws.send(JSON.stringify(message));
  }

  private sendBinary(payload: Uint8Array): number {
    const id = this.frameId++;
    if (this.writable()) this.ws.send(encodeServerFrame(id, payload), { binary: true });
    return id;
  }

  fail(code: ErrorCode, message: string, extras: ErrorExtras = {}): void {
    this.deps.hub.metrics.countError(code);
    this.send({ type: 'error', code, message, ...extras });
    if (extras.fatal) {
      this.ws.close(code === 'SHUTTING_DOWN' ? 1001 : 1008, code);
      this.closed = true;
    }
  }

  /** Server shutdown: tell the client and close. */
  shutdown(): void {
    this.fail('SHUTTING_DOWN', 'the server is shutting down', { fatal: true });
  }

  private onClose(): void {
    if (this.deps.hub.metrics.wsConnections > 0) this.deps.hub.metrics.wsConnections--;
    this.closed = true;
    clearTimeout(this.idle);
    for (const off of this.trainingSubscriptions.values()) off();
    this.trainingSubscriptions.clear();
    this.deps.hub.detachSink(this);
    if (this.session) this.deps.hub.closeSession(this.session);
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    this.touch();
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (isBinary) {
      this.onChunk(bytes);
      return;
    }
    if (bytes.byteLength > this.limits.maxMessageBytes) {
      this.fail('MESSAGE_TOO_LARGE', `text frame of ${bytes.byteLength} bytes exceeds the limit of ${this.limits.maxMessageBytes}`);
      return;
    }
    const parsed = parseClientMessage(bytes.toString('utf8'));
    if (!parsed.ok) {
      this.fail(parsed.code, parsed.message);
      return;
    }
    void this.onMessage(parsed.message).catch((e: unknown) => {
      this.deps.hub.log('session.internal_error', { socketId: this.socketId, reason: (e as Error).message });
      this.fail('INTERNAL', `internal error while handling ${parsed.message.type}`);
    });
  }

  /** The token may expire while the socket is open. */
  private checkPrincipal(): boolean {
    if (this.principal?.expiresAt !== undefined && Date.now() >= this.principal.expiresAt) {
      this.fail('TOKEN_EXPIRED', 'the token expired during this session', { fatal: true });
      return false;
    }
    return true;
  }

  private async onMessage(m: ClientMessage): Promise<void> {
    if (m.type === 'ping') {
      this.send({ type: 'pong', ...(m.nonce !== undefined ? { nonce: m.nonce } : {}), serverTime: new Date().toISOString() });
      return;
    }
    if (m.type === 'hello') {
      this.onHello(m);
      return;
    }
    if (!this.session || !this.principal) {
      this.fail('BAD_STATE', `"${m.type}" before hello: send hello first`, 'requestId' in m && typeof m.requestId === 'string' ? { requestId: m.requestId } : {});
      return;
    }
    if (!this.checkPrincipal()) return;
    switch (m.type) {
      case 'listModels':
        this.send({ type: 'models', ...(m.requestId ? { requestId: m.requestId } : {}), models: modelSummaries(this.deps.store) });
        return;
      case 'segment':
        await this.onSegment(m);
        return;
      case 'resumeUpload':
        await this.onResume(m.uploadId);
        return;
      case 'cancel':
        await this.onCancel(m.jobId, m.uploadId);
        return;
      case 'subscribe':
        this.onSubscribe(m.jobId);
        return;
      case 'train':
      case 'trainingControl':
        this.onTraining(m);
        return;
    }
  }

  /** Train jobs: admin only; each update goes out as `trainingUpdate` (the first one carries the requestId). */
  private onTraining(m: TrainMessage | TrainingControlMessage): void {
    const rid = m.requestId !== undefined ? { requestId: m.requestId } : {};
    const training = this.deps.training;
    if (!training) {
      this.fail('BAD_STATE', 'this server does not run train jobs', rid);
      return;
    }
    if (!roleAllows(this.principal!.role, 'admin')) {
      this.fail('FORBIDDEN', `${m.type} needs the admin role; the token of "${this.principal!.subject}" has ${this.principal!.role}`, rid);
      return;
    }
    const follow = (id: string) => {
      this.trainingSubscriptions.get(id)?.();
      let first = true;
      const off = training.subscribe(id, (u: TrainingUpdate) => {
        this.send({ type: 'trainingUpdate', ...(first ? rid : {}), training: u.training, epochs: u.epochs });
        first = false;
      });
      if (off) this.trainingSubscriptions.set(id, off);
      return off !== undefined;
    };
    try {
      if (m.type === 'train') {
        follow(training.start(m.request, this.principal!.subject).id);
        return;
      }
      const id = m.trainingId;
      if (m.action === 'unsubscribe') {
        this.trainingSubscriptions.get(id)?.();
        this.trainingSubscriptions.delete(id);
        return;
      }
      if (m.action === 'cancel') training.cancel(id);
      else if (m.action === 'resume') training.resume(id);
      // cancel/resume answer with the new state; a follower keeps getting updates
      if (m.action !== 'subscribe' && this.trainingSubscriptions.has(id)) {
        this.send({ type: 'trainingUpdate', ...rid, training: training.summary(id)!, epochs: [] });
        return;
      }
      if (!follow(id)) this.fail('UNKNOWN_JOB', `no train job ${id}`, rid);
    } catch (e) {
      if (e instanceof TrainingJobError) this.fail(e.code, e.message, rid);
      else throw e;
    }
  }

  private onHello(m: Extract<ClientMessage, { type: 'hello' }>): void {
    if (this.session) {
      this.fail('BAD_STATE', 'hello was already received on this connection');
      return;
    }
    if (!SUPPORTED_PROTOCOL_VERSIONS.includes(m.protocolVersion)) {
      this.fail('UNSUPPORTED_PROTOCOL', `protocol version ${m.protocolVersion} is not supported; this server speaks ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`, {
        fatal: true,
        supportedVersions: [...SUPPORTED_PROTOCOL_VERSIONS],
      });
      return;
    }
    let principal: Principal | undefined = this.upgradePrincipal;
    if (m.token !== undefined || !principal) {
      const r = this.deps.auth.authenticate(m.token);
      if (!r.ok) {
        this.fail(r.code, r.message, { fatal: true });
        return;
      }
      principal = r.principal;
    }
    this.principal = principal;
    this.session = this.deps.hub.openSession(principal.subject, m.sessionId);
    this.deps.hub.log('session.open', { socketId: this.socketId, sessionId: this.session.sessionId, role: principal.role });
    this.send({
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      server: { name: SERVER_NAME, version: NNSEG_VERSION },
      sessionId: this.session.sessionId,
      subject: principal.subject,
      role: principal.role,
      limits: clientLimits(this.limits),
    });
  }

  private async onSegment(m: SegmentMessage): Promise<void> {
    const { hub, store } = this.deps;
    const session = this.session!;
    const rid = { requestId: m.requestId };
    if (hub.shuttingDown) {
      this.fail('SHUTTING_DOWN', 'the server is shutting down and takes no new jobs', rid);
      return;
    }
    try {
      store.get(m.options.model);
    } catch (e) {
      this.fail('UNKNOWN_MODEL', (e as Error).message, rid);
      return;
    }
    const busy = session.activeJobs.size + session.uploads.size;
    if (busy >= this.limits.maxJobsPerSession) {
      this.fail('LIMIT_EXCEEDED', `this session already has ${busy} unfinished uploads/jobs (limit ${this.limits.maxJobsPerSession})`, rid);
      return;
    }
    const jobRefusal = hub.jobRefusal(session.subject);
    if (jobRefusal) {
      this.fail('LIMIT_EXCEEDED', jobRefusal, rid);
      return;
    }
    const { partials = false, ...rest } = m.options;
    const options = rest;
    if (m.series.kind === 'dicomweb') {
      if (!hub.config.pacs) {
        this.fail('PACS_UNAVAILABLE', 'this server has no DICOMweb PACS configured; push the series instead', rid);
        return;
      }
      this.submit(session, { dicomweb: { studyInstanceUID: m.series.studyInstanceUID, seriesInstanceUID: m.series.seriesInstanceUID } }, m.requestId, options, partials);
      return;
    }
    const instances = m.series.manifest.instances;
    if (instances.length > this.limits.maxInstances) {
      this.fail('LIMIT_EXCEEDED', `the series has ${instances.length} instances; the limit is ${this.limits.maxInstances}`, rid);
      return;
    }
    const total = instances.reduce((s, i) => s + i.size, 0);
    if (total > this.limits.maxSeriesBytes) {
      this.fail('LIMIT_EXCEEDED', `the series has ${total} bytes; the limit is ${this.limits.maxSeriesBytes}`, rid);
      return;
    }
    const uploadRefusal = hub.uploadRefusal(session.subject, total);
    if (uploadRefusal) {
      this.fail('LIMIT_EXCEEDED', uploadRefusal, rid);
      return;
    }
    const upload = hub.startUpload(session, m.requestId, instances, options, partials, this);
    this.send({ type: 'uploadStatus', requestId: m.requestId, uploadId: upload.spool.uploadId, window: this.limits.uploadWindowBytes, instances: upload.spool.status() });
  }

  private submit(session: SessionRecord, source: Parameters<Hub['submit']>[1], requestId: string, options: Parameters<Hub['submit']>[3], partials: boolean): void {
    try {
      this.deps.hub.submit(session, source, requestId, options, partials, this);
    } catch (e) {
      const code = (e as { code?: string }).code;
      const known: ErrorCode = code === 'UNKNOWN_MODEL' || code === 'BAD_SERIES' || code === 'LIMIT_EXCEEDED' || code === 'PACS_UNAVAILABLE' ? code : 'BAD_MESSAGE';
      this.fail(known, (e as Error).message, { requestId, ...(source.upload ? { uploadId: source.upload.spool.uploadId } : {}) });
      if (source.upload) void this.deps.hub.dropUpload(source.upload);
    }
  }

  /**
   * The one ownership rule: uploads and jobs belong to the session that started them (subject and the session
   * id handed out in welcome, which only that client knows), so browsers sharing one viewer token never see each
   * other's work. Admins see everything.
   */
  private owns(owner: { subject?: string; sessionId?: string }): boolean {
    const p = this.principal;
    if (!p || !this.session) return false;
    if (p.role === 'admin') return true;
    return owner.subject === p.subject && owner.sessionId === this.session.sessionId;
  }

  private ownUpload(uploadId: string): Upload | undefined {
    const u = this.deps.hub.uploads.get(uploadId);
    return u && !u.submitted && this.owns(u) ? u : undefined;
  }

  private onChunk(frame: Buffer): void {
    if (!this.session) {
      this.fail('BAD_STATE', 'binary frame before hello');
      return;
    }
    if (!this.checkPrincipal()) return;
    let chunk;
    try {
      chunk = decodeChunk(frame);
    } catch (e) {
      this.fail('BAD_FRAME', (e as Error).message);
      return;
    }
    const { uploadId, index, offset, payload } = chunk;
    const upload = this.ownUpload(uploadId);
    if (!upload) {
      this.fail('UNKNOWN_UPLOAD', `no upload ${uploadId} in progress for this token`, { uploadId, index });
      return;
    }
    if (upload.sink !== this) {
      this.fail('BAD_STATE', `upload ${uploadId} is not attached to this connection: send resumeUpload first`, { uploadId, index });
      return;
    }
    if (payload.byteLength > this.limits.maxChunkBytes) {
      this.fail('BAD_FRAME', `chunk payload of ${payload.byteLength} bytes exceeds maxChunkBytes ${this.limits.maxChunkBytes}`, { uploadId, index });
      return;
    }
    if (upload.spool.pendingBytes + payload.byteLength > this.limits.uploadWindowBytes) {
      this.fail('FLOW_CONTROL', `more than the window of ${this.limits.uploadWindowBytes} bytes sent without acknowledgement`, { uploadId, fatal: true });
      return;
    }
    let done: Promise<{ index: number; received: number; complete: boolean; totalReceived: number; done: boolean }>;
    try {
      done = upload.spool.accept(index, offset, payload);
    } catch (e) {
      const err = e as UploadError;
      this.fail(err.code ?? 'INTERNAL', err.message, { uploadId, index });
      return;
    }
    const metrics = this.deps.hub.metrics;
    metrics.uploadChunks++;
    done.then(
      (r) => {
        metrics.uploadBytes += payload.byteLength;
        // ack on whichever socket holds the upload now (the client may have reconnected meanwhile)
        const sink = upload.sink as WsSession | undefined;
        sink?.send({ type: 'ack', uploadId, index: r.index, received: r.received, complete: r.complete, totalReceived: r.totalReceived });
        if (r.done && !upload.submitted) this.onUploadComplete(upload);
      },
      (e: unknown) => {
        const err = e as UploadError;
        const sink = (upload.sink as WsSession | undefined) ?? this;
        sink.fail(err instanceof UploadError ? err.code : 'INTERNAL', err.message, { uploadId, index, requestId: upload.requestId });
        if (err instanceof UploadError && err.code === 'BAD_SERIES') void this.deps.hub.dropUpload(upload);
      },
    );
  }

  private onUploadComplete(upload: Upload): void {
    const { hub } = this.deps;
    upload.submitted = true;
    hub.metrics.uploadsCompleted++;
    hub.log('upload.complete', { uploadId: upload.spool.uploadId, bytes: upload.spool.totalBytes, seconds: (Date.now() - upload.startedAt) / 1000 });
    const session = hub.sessions.get(upload.sessionId);
    const sink = upload.sink as WsSession | undefined;
    if (!session) return;
    // the upload no longer counts against the session; the job does
    session.uploads.delete(upload.spool.uploadId);
    try {
      hub.submit(session, { upload }, upload.requestId, upload.options, upload.partials, sink);
    } catch (e) {
      const code = (e as { code?: string }).code;
      sink?.fail(code === 'UNKNOWN_MODEL' || code === 'BAD_SERIES' || code === 'LIMIT_EXCEEDED' ? code : 'INTERNAL', (e as Error).message, {
        requestId: upload.requestId,
        uploadId: upload.spool.uploadId,
      });
      void hub.dropUpload(upload);
    }
  }

  private async onResume(uploadId: string): Promise<void> {
    const upload = this.ownUpload(uploadId);
    if (!upload) {
      this.fail('UNKNOWN_UPLOAD', `no upload ${uploadId} to resume for this token (finished, expired or never started)`, { uploadId });
      return;
    }
    this.deps.hub.attachUpload(upload, this);
    await upload.spool.settle();
    this.send({ type: 'uploadStatus', requestId: upload.requestId, uploadId, window: this.limits.uploadWindowBytes, instances: upload.spool.status() });
  }

  private async onCancel(jobId: string | undefined, uploadId: string | undefined): Promise<void> {
    const { hub } = this.deps;
    if (uploadId !== undefined) {
      const upload = this.ownUpload(uploadId);
      if (!upload) {
        this.fail('UNKNOWN_UPLOAD', `no upload ${uploadId} to cancel`, { uploadId });
        return;
      }
      await hub.dropUpload(upload);
      hub.log('upload.cancelled', { uploadId });
      this.send({ type: 'cancelled', uploadId });
      return;
    }
    const meta = hub.jobs.get(jobId!);
    const record = hub.queue.get(jobId!);
    const owner = meta ?? (record ? { subject: record.owner, sessionId: record.sessionId } : undefined);
    if (!owner || !this.owns(owner)) {
      this.fail('UNKNOWN_JOB', `no job ${jobId} for this token`, { jobId });
      return;
    }
    if (meta) meta.sinks.add(this);
    if (!hub.queue.cancel(jobId!)) this.fail('UNKNOWN_JOB', `job ${jobId} has already ended`, { jobId });
  }

  private onSubscribe(jobId: string): void {
    const { hub } = this.deps;
    const meta = hub.jobs.get(jobId);
    if (meta) {
      if (!this.owns(meta)) {
        this.fail('UNKNOWN_JOB', `no job ${jobId} for this token`, { jobId });
        return;
      }
      meta.sinks.add(this);
      if (meta.final) this.deliverJobEvent(meta, meta.final);
      else this.replayState(jobId);
      return;
    }
    const record = hub.queue.get(jobId);
    if (!record || !this.owns({ subject: record.owner, sessionId: record.sessionId })) {
      this.fail('UNKNOWN_JOB', `no job ${jobId} for this token`, { jobId });
      return;
    }
    if (record.state === 'failed') {
      const e = record.error ?? { code: 'INTERNAL' as const, message: 'the job failed' };
      this.fail(e.code, e.message, { jobId });
      return;
    }
    if (record.state === 'cancelled') {
      this.send({ type: 'cancelled', jobId });
      return;
    }
    if (record.state === 'succeeded') {
      this.fail('UNKNOWN_JOB', `job ${jobId} succeeded (result series ${record.resultSeriesInstanceUID ?? '?'}) but its result is no longer held by this server`, { jobId });
      return;
    }
    if (!hub.adopt(jobId, { subject: record.owner ?? this.principal!.subject, sessionId: record.sessionId }, this)) this.fail('UNKNOWN_JOB', `job ${jobId} can no longer be followed`, { jobId });
    else this.replayState(jobId);
  }

  private replayState(jobId: string): void {
    const record = this.deps.hub.queue.get(jobId);
    if (record?.state === 'queued') this.send({ type: 'queued', jobId, position: 0 });
    if (record?.progress) this.send({ type: 'progress', jobId, ...record.progress });
  }

  deliverJobEvent(meta: JobMeta, event: JobEvent): void {
    const jobId = event.jobId;
    switch (event.type) {
      case 'queued':
        this.send({ type: 'queued', jobId, position: event.position, ...(meta.requestId ? { requestId: meta.requestId } : {}), ...(meta.uploadId ? { uploadId: meta.uploadId } : {}) });
        return;
      case 'progress':
        this.send({ type: 'progress', jobId, ...event.progress, percent: Math.max(0, Math.min(100, event.progress.percent)) });
        return;
      case 'partial': {
        if (!meta.partials || this.ws.bufferedAmount > PARTIAL_BACKLOG_BYTES) return;
        const p = event.partial;
        const frameId = this.frameId;
        this.send({ type: 'partial', jobId, frameId, z0: p.z0, shape: p.shape, byteLength: p.labels.byteLength });
        this.sendBinary(p.labels);
        return;
      }
      case 'result': {
        const r = event.result;
        const frameId = this.frameId;
        this.send({
          type: 'result',
          jobId,
          ...(meta.requestId ? { requestId: meta.requestId } : {}),
          frameId,
          byteLength: r.seg.byteLength,
          sopInstanceUID: r.sopInstanceUID,
          seriesInstanceUID: r.seriesInstanceUID,
          referencedSeriesInstanceUID: r.referencedSeriesInstanceUID,
          segments: r.segments,
          model: r.model,
          timings: r.timings,
        });
        this.sendBinary(r.seg);
        return;
      }
      case 'error':
        this.fail(event.code, event.message, { jobId, ...(meta.requestId ? { requestId: meta.requestId } : {}) });
        return;
      case 'cancelled':
        this.send({ type: 'cancelled', jobId });
        return;
    }
  }
}

/** Header bytes of a chunk frame, so the ws layer's maxPayload can allow one full chunk. */
export const CHUNK_FRAME_OVERHEAD = CHUNK_HEADER_BYTES;

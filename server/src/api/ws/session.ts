/**
 * One WebSocket connection: the protocol state machine of docs/protocol.md. Validates every frame,
 * authenticates (hello), applies backpressure and the idle timeout, and hands each concern to its handler:
 * uploads.ts (segment requests, pushed series), jobs.ts (cancel, subscribe, job events), training.ts.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket, RawData } from 'ws';
import type { JobEvent } from '../../jobs/types.js';
import type { ModelStore } from '../../models/model-store.js';
import { modalityOf } from '../../models/model-card.js';
import { clientLimits, type LimitsConfig } from '../../config/server-config.js';
import type { Principal } from '../auth.js';
import type { JobMeta, SessionRecord } from '../hub.js';
import {
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  CHUNK_HEADER_BYTES,
  encodeServerFrame,
  parseClientMessage,
  type ClientMessage,
  type ErrorCode,
  type ModelSummary,
  type ServerMessage,
} from '../../contract/protocol.js';
import { NNSEG_VERSION } from '../../contract/version.js';
import { JobHandler } from './jobs.js';
import type { ErrorExtras, SessionDeps, SessionPort } from './port.js';
import { TrainingHandler } from './training.js';
import { UploadHandler } from './uploads.js';

export type { SessionDeps } from './port.js';

export const SERVER_NAME = 'nnseg';

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

export class WsSession implements SessionPort {
  readonly socketId = randomUUID();
  private authenticated?: Principal;
  private record?: SessionRecord;
  private idle?: NodeJS.Timeout;
  private frameId = 0;
  private closed = false;
  private readonly uploads = new UploadHandler(this);
  private readonly jobs = new JobHandler(this);
  private readonly training = new TrainingHandler(this);

  constructor(
    private readonly ws: WebSocket,
    readonly deps: SessionDeps,
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

  /** who the hello authenticated */
  get principal(): Principal | undefined {
    return this.authenticated;
  }

  /** the session the hello opened or took over */
  get session(): SessionRecord | undefined {
    return this.record;
  }

  get limits(): LimitsConfig {
    return this.deps.hub.config.limits;
  }

  get nextFrameId(): number {
    return this.frameId;
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
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

  sendBinary(payload: Uint8Array): number {
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
    this.training.close();
    this.deps.hub.detachSink(this);
    if (this.session) this.deps.hub.closeSession(this.session);
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    this.touch();
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (isBinary) {
      this.uploads.onChunk(bytes);
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
  checkPrincipal(): boolean {
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
        await this.uploads.onSegment(m);
        return;
      case 'resumeUpload':
        await this.uploads.onResume(m.uploadId);
        return;
      case 'cancel':
        if (m.uploadId !== undefined) await this.uploads.onCancel(m.uploadId);
        else this.jobs.onCancel(m.jobId!);
        return;
      case 'subscribe':
        this.jobs.onSubscribe(m.jobId);
        return;
      case 'train':
      case 'trainingControl':
        this.training.on(m);
        return;
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
    this.authenticated = principal;
    const session = this.deps.hub.openSession(principal.subject, m.sessionId);
    this.record = session;
    this.deps.hub.log('session.open', { socketId: this.socketId, sessionId: session.sessionId, role: principal.role });
    this.send({
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      server: { name: SERVER_NAME, version: NNSEG_VERSION },
      sessionId: session.sessionId,
      subject: principal.subject,
      role: principal.role,
      limits: clientLimits(this.limits),
    });
  }

  /**
   * The one ownership rule: uploads and jobs belong to the session that started them (subject and the session
   * id handed out in welcome, which only that client knows), so browsers sharing one viewer token never see each
   * other's work. Admins see everything.
   */
  owns(owner: { subject?: string; sessionId?: string }): boolean {
    const p = this.principal;
    if (!p || !this.session) return false;
    if (p.role === 'admin') return true;
    return owner.subject === p.subject && owner.sessionId === this.session.sessionId;
  }

  deliverJobEvent(meta: JobMeta, event: JobEvent): void {
    this.jobs.deliver(meta, event);
  }
}

/** Header bytes of a chunk frame, so the ws layer's maxPayload can allow one full chunk. */
export const CHUNK_FRAME_OVERHEAD = CHUNK_HEADER_BYTES;

/**
 * The viewer's WebSocket client for the nnseg server (protocol: server/src/api/protocol.ts and
 * docs/protocol.md). One connection per viewer; it says hello (token, protocol version), reconnects with
 * exponential backoff, and after a reconnect resumes what was running: an interrupted upload continues at
 * the server's durable offsets (`resumeUpload`), a submitted job is re-attached (`subscribe`), a segment
 * request with no answer yet is sent again. Pure TypeScript over a minimal socket interface, so it runs
 * unchanged in the browser and in jest against a real `ws` server.
 */
import {
  PROTOCOL_VERSION,
  ServerMessageSchema,
  decodeServerFrame,
  encodeChunk,
  type ErrorMessage,
  type ModelSummary,
  type PartialMessage,
  type ProgressMessage,
  type QueuedMessage,
  type ResultMessage,
  type SegmentMessage,
  type SegmentOptionsMessage,
  type ServerMessage,
  type TrainingUpdateMessage,
  type WelcomeMessage,
} from '../../server/src/contract/protocol.js';
import type { TrainRequestInput } from '../../server/src/contract/train-request.js';
import { UploadSchedule, buildManifest } from './series-upload.js';

/** The part of the WebSocket API we use (browser WebSocket and the `ws` package both fit). */
export interface SocketLike {
  readonly readyState: number;
  binaryType: string;
  readonly bufferedAmount: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: { data?: unknown; code?: number; reason?: string }) => void): void;
}
export type SocketFactory = (url: string, protocols: string[]) => SocketLike;

const OPEN = 1;

export type ConnectionStatus =
  | { state: 'connecting'; attempt: number }
  | { state: 'ready'; welcome: WelcomeMessage }
  | { state: 'reconnecting'; attempt: number; inMs: number; reason: string }
  /** a fatal answer (bad token, unsupported protocol): no automatic retry */
  | { state: 'failed'; code: string; message: string }
  | { state: 'closed' };

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** ± fraction of the delay, so reconnecting viewers do not stampede the server */
  jitter: number;
}
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 15_000, factor: 2, jitter: 0.2 };

/** Delay before reconnect attempt `attempt` (0-based): initial·factor^attempt, capped, with jitter. */
export function backoffDelay(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const base = Math.min(o.maxMs, o.initialMs * Math.pow(o.factor, attempt));
  return Math.max(0, Math.round(base * (1 + o.jitter * (2 * random() - 1))));
}

export interface ServerConnectionOptions {
  /** ws:// or wss:// URL */
  url: string;
  token?: string;
  clientName?: string;
  clientVersion?: string;
  createSocket?: SocketFactory;
  backoff?: Partial<BackoffOptions>;
  random?: () => number;
  /** default: a third of the server's idle timeout */
  pingIntervalMs?: number;
  /** stop handing chunks to the socket while this many bytes wait in its send buffer */
  highWaterBytes?: number;
  onStatus?: (status: ConnectionStatus) => void;
  /** server errors not tied to a job (shown by the panel) */
  onServerError?: (error: ErrorMessage) => void;
}

export interface JobHandlers {
  /** bytes the server has stored, of the total */
  onUploadProgress?(acknowledged: number, total: number): void;
  onQueued?(message: QueuedMessage): void;
  onProgress?(message: ProgressMessage): void;
  onPartial?(message: PartialMessage, labels: Uint8Array): void;
}

export type JobOutcome =
  | { kind: 'result'; result: ResultMessage; seg: Uint8Array }
  | { kind: 'error'; error: { code: string; message: string } }
  | { kind: 'cancelled' };

export interface JobHandle {
  readonly requestId: string;
  readonly jobId: string | undefined;
  readonly uploadId: string | undefined;
  cancel(): void;
  readonly done: Promise<JobOutcome>;
}

interface Operation {
  requestId: string;
  message: SegmentMessage;
  instances?: readonly Uint8Array[];
  schedule?: UploadSchedule;
  uploadId?: string;
  jobId?: string;
  handlers: JobHandlers;
  cancelRequested: boolean;
  cancelSent: boolean;
  finished: boolean;
  finish(outcome: JobOutcome): void;
}

type PendingFrame = { op: Operation; message: PartialMessage | ResultMessage };

export type TrainingListener = (update: TrainingUpdateMessage) => void;

/** A train job this connection follows (re-subscribed after a reconnect). */
interface FollowedTraining {
  listener: TrainingListener;
}

export class ServerConnection {
  private readonly options: ServerConnectionOptions;
  private readonly backoff: BackoffOptions;
  private socket: SocketLike | null = null;
  private welcome: WelcomeMessage | null = null;
  private sessionId: string | undefined;
  private attempt = 0;
  private closedByUser = false;
  private failed: { code: string; message: string } | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private pumpTimer: ReturnType<typeof setTimeout> | null = null;
  private readyWaiters: { resolve: (w: WelcomeMessage) => void; reject: (e: Error) => void }[] = [];
  private modelWaiters = new Map<string, (models: ModelSummary[]) => void>();
  private readonly ops: Operation[] = [];
  private readonly pendingFrames = new Map<number, PendingFrame>();
  private counter = 0;
  private statusValue: ConnectionStatus = { state: 'closed' };
  private readonly trainings = new Map<string, FollowedTraining>();
  /** train / trainingControl requests waiting for their first answer */
  private readonly trainingRequests = new Map<string, { listener?: TrainingListener; resolve: (m: TrainingUpdateMessage) => void; reject: (e: Error) => void }>();

  constructor(options: ServerConnectionOptions) {
    this.options = options;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  }

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  /** Opens the connection (and keeps it open); resolves with the first welcome. */
  connect(): Promise<WelcomeMessage> {
    this.closedByUser = false;
    this.failed = null;
    if (!this.socket && !this.reconnectTimer) this.open();
    return this.whenReady();
  }

  whenReady(): Promise<WelcomeMessage> {
    if (this.welcome && this.socket?.readyState === OPEN) return Promise.resolve(this.welcome);
    if (this.failed) return Promise.reject(new Error(`${this.failed.code}: ${this.failed.message}`));
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  close(): void {
    this.closedByUser = true;
    this.clearTimers();
    const s = this.socket;
    this.socket = null;
    this.welcome = null;
    s?.close(1000, 'client closed');
    for (const op of [...this.ops]) op.finish({ kind: 'error', error: { code: 'CLOSED', message: 'connection closed by the viewer' } });
    this.rejectWaiters(new Error('connection closed'));
    this.failTrainingRequests('connection closed by the viewer');
    this.setStatus({ state: 'closed' });
  }

  async listModels(): Promise<ModelSummary[]> {
    await this.whenReady();
    const requestId = this.nextId('models');
    return new Promise((resolve) => {
      this.modelWaiters.set(requestId, resolve);
      this.sendJson({ type: 'listModels', requestId });
    });
  }

  /** Pushes the instances (Part 10 bytes) and runs the model on them. */
  async segmentPushed(instances: readonly Uint8Array[], options: SegmentOptionsMessage, handlers: JobHandlers = {}): Promise<JobHandle> {
    const manifest = await buildManifest(instances);
    return this.start({ kind: 'push', manifest: { instances: manifest } }, options, handlers, instances);
  }

  /** Asks the server to pull the series from its PACS and run the model on it. */
  segmentByReference(studyInstanceUID: string, seriesInstanceUID: string, options: SegmentOptionsMessage, handlers: JobHandlers = {}): JobHandle {
    return this.start({ kind: 'dicomweb', studyInstanceUID, seriesInstanceUID }, options, handlers);
  }

  /**
   * Starts a train job (admin) and follows it: `listener` gets every `trainingUpdate` (the first carries
   * the job id; new epochs come in `epochs`). Resolves with that first update; rejects with the server's error.
   */
  async train(request: TrainRequestInput, listener: TrainingListener): Promise<TrainingUpdateMessage> {
    await this.whenReady();
    const requestId = this.nextId('train');
    return this.trainingRequest(requestId, { type: 'train', requestId, request }, listener);
  }

  /** Follows a train job (the first update has every epoch so far), or cancels / resumes it. */
  async controlTraining(trainingId: string, action: 'subscribe' | 'cancel' | 'resume', listener?: TrainingListener): Promise<TrainingUpdateMessage> {
    await this.whenReady();
    const requestId = this.nextId('training');
    return this.trainingRequest(requestId, { type: 'trainingControl', requestId, trainingId, action }, listener);
  }

  /** Stops following a train job (it keeps running on the server). */
  unfollowTraining(trainingId: string): void {
    if (!this.trainings.delete(trainingId)) return;
    if (this.isReady()) this.sendJson({ type: 'trainingControl', trainingId, action: 'unsubscribe' });
  }

  private trainingRequest(requestId: string, message: object, listener?: TrainingListener): Promise<TrainingUpdateMessage> {
    return new Promise((resolve, reject) => {
      this.trainingRequests.set(requestId, { ...(listener ? { listener } : {}), resolve, reject });
      this.sendJson(message);
    });
  }

  private failTrainingRequests(reason: string): void {
    for (const [, r] of this.trainingRequests) r.reject(new Error(reason));
    this.trainingRequests.clear();
  }

  private onTrainingUpdate(m: TrainingUpdateMessage): void {
    const pending = m.requestId !== undefined ? this.trainingRequests.get(m.requestId) : undefined;
    if (pending) {
      this.trainingRequests.delete(m.requestId!);
      if (pending.listener) this.trainings.set(m.training.id, { listener: pending.listener });
      pending.resolve(m);
    }
    this.trainings.get(m.training.id)?.listener(m);
  }

  // ───────────── internals ─────────────

  private start(series: SegmentMessage['series'], options: SegmentOptionsMessage, handlers: JobHandlers, instances?: readonly Uint8Array[]): JobHandle {
    const requestId = this.nextId('seg');
    let resolveDone!: (o: JobOutcome) => void;
    const done = new Promise<JobOutcome>((r) => (resolveDone = r));
    const op: Operation = {
      requestId,
      message: { type: 'segment', requestId, series, options },
      ...(instances ? { instances } : {}),
      handlers,
      cancelRequested: false,
      cancelSent: false,
      finished: false,
      finish: (outcome) => {
        if (op.finished) return;
        op.finished = true;
        const i = this.ops.indexOf(op);
        if (i >= 0) this.ops.splice(i, 1);
        resolveDone(outcome);
      },
    };
    this.ops.push(op);
    if (this.isReady()) this.sendJson(op.message);
    const handle: JobHandle = {
      requestId,
      get jobId() {
        return op.jobId;
      },
      get uploadId() {
        return op.uploadId;
      },
      cancel: () => {
        op.cancelRequested = true;
        this.trySendCancel(op);
      },
      done,
    };
    return handle;
  }

  private trySendCancel(op: Operation): void {
    if (op.finished || op.cancelSent || !op.cancelRequested || !this.isReady()) return;
    if (op.jobId) this.sendJson({ type: 'cancel', jobId: op.jobId });
    else if (op.uploadId) this.sendJson({ type: 'cancel', uploadId: op.uploadId });
    else return; // not known to the server yet: sent once uploadStatus/queued names it
    op.cancelSent = true;
  }

  private isReady(): boolean {
    return this.welcome !== null && this.socket?.readyState === OPEN;
  }

  private nextId(prefix: string): string {
    this.counter += 1;
    return `${prefix}-${this.counter}-${Math.floor((this.options.random ?? Math.random)() * 1e9).toString(36)}`;
  }

  private setStatus(s: ConnectionStatus): void {
    this.statusValue = s;
    this.options.onStatus?.(s);
  }

  private open(): void {
    this.setStatus({ state: 'connecting', attempt: this.attempt });
    const factory: SocketFactory =
      this.options.createSocket ??
      ((url, protocols) => {
        const WS = (globalThis as unknown as { WebSocket?: new (u: string, p: string[]) => SocketLike }).WebSocket;
        if (!WS) throw new Error('no WebSocket implementation in this environment');
        return new WS(url, protocols);
      });
    let socket: SocketLike;
    try {
      socket = factory(this.options.url, []);
    } catch (e) {
      this.scheduleReconnect(`cannot open ${this.options.url}: ${(e as Error).message}`);
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.addEventListener('open', () => {
      if (this.socket !== socket) return;
      this.sendJson({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        client: { name: this.options.clientName ?? 'nnseg-ohif', ...(this.options.clientVersion ? { version: this.options.clientVersion } : {}) },
        ...(this.options.token ? { token: this.options.token } : {}),
        ...(this.sessionId ? { sessionId: this.sessionId } : {}),
      });
    });
    socket.addEventListener('message', (ev) => {
      if (this.socket !== socket) return;
      this.onFrame(ev.data);
    });
    socket.addEventListener('close', (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.welcome = null;
      this.stopPing();
      this.pendingFrames.clear();
      // not re-sent: a train request whose answer was lost may have started a job (it shows in the server's list)
      this.failTrainingRequests(`the connection dropped before the server answered (${ev.code ?? '?'})`);
      if (this.closedByUser || this.failed) return;
      this.scheduleReconnect(`connection closed (${ev.code ?? '?'}${ev.reason ? `: ${ev.reason}` : ''})`);
    });
    socket.addEventListener('error', () => {
      /* a close event follows; reconnect happens there */
    });
  }

  private scheduleReconnect(reason: string): void {
    if (this.reconnectTimer || this.closedByUser) return;
    const inMs = backoffDelay(this.attempt, this.backoff, this.options.random);
    this.attempt += 1;
    this.setStatus({ state: 'reconnecting', attempt: this.attempt, inMs, reason });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.closedByUser) this.open();
    }, inMs);
  }

  private clearTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    this.reconnectTimer = null;
    this.pumpTimer = null;
    this.stopPing();
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private rejectWaiters(e: Error): void {
    const w = this.readyWaiters;
    this.readyWaiters = [];
    for (const x of w) x.reject(e);
  }

  private sendJson(message: object): void {
    this.socket?.send(JSON.stringify(message));
  }

  private onFrame(data: unknown): void {
    if (typeof data === 'string') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch {
        this.options.onServerError?.({ type: 'error', code: 'BAD_MESSAGE', message: 'server sent a text frame that is not JSON' });
        return;
      }
      const r = ServerMessageSchema.safeParse(parsed);
      if (!r.success) {
        const type = (parsed as { type?: unknown })?.type;
        this.options.onServerError?.({ type: 'error', code: 'BAD_MESSAGE', message: `server message ${String(type)} does not match protocol v${PROTOCOL_VERSION}: ${r.error.issues[0]?.message}` });
        return;
      }
      this.onMessage(r.data);
      return;
    }
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
    if (!bytes) return;
    let frame: { frameId: number; payload: Uint8Array };
    try {
      frame = decodeServerFrame(bytes);
    } catch (e) {
      this.options.onServerError?.({ type: 'error', code: 'BAD_FRAME', message: (e as Error).message });
      return;
    }
    const pending = this.pendingFrames.get(frame.frameId);
    if (!pending) return; // announced on a socket that has since closed
    this.pendingFrames.delete(frame.frameId);
    const { op, message } = pending;
    // Copy: the payload is a view into the socket's buffer.
    const payload = frame.payload.slice();
    if (message.type === 'partial') op.handlers.onPartial?.(message, payload);
    else op.finish({ kind: 'result', result: message, seg: payload });
  }

  private findOp(m: { requestId?: string; uploadId?: string; jobId?: string }): Operation | undefined {
    return this.ops.find(
      (o) => (m.jobId !== undefined && o.jobId === m.jobId) || (m.uploadId !== undefined && o.uploadId === m.uploadId) || (m.requestId !== undefined && o.requestId === m.requestId),
    );
  }

  private onMessage(m: ServerMessage): void {
    switch (m.type) {
      case 'welcome':
        return this.onWelcome(m);
      case 'models': {
        const key = m.requestId ?? [...this.modelWaiters.keys()][0];
        const w = key !== undefined ? this.modelWaiters.get(key) : undefined;
        if (key !== undefined) this.modelWaiters.delete(key);
        w?.(m.models);
        return;
      }
      case 'uploadStatus': {
        const op = this.findOp(m);
        if (!op || !op.instances) return;
        op.uploadId = m.uploadId;
        if (!op.schedule) op.schedule = new UploadSchedule(op.instances.map((b) => b.byteLength), { window: m.window, chunkBytes: this.welcome?.limits.maxChunkBytes ?? 1 << 20 });
        op.schedule.applyStatus(m);
        op.handlers.onUploadProgress?.(op.schedule.acknowledgedBytes, op.schedule.totalBytes);
        this.trySendCancel(op);
        return this.pump();
      }
      case 'ack': {
        const op = this.findOp(m);
        if (!op?.schedule) return;
        op.schedule.applyAck(m);
        op.handlers.onUploadProgress?.(op.schedule.acknowledgedBytes, op.schedule.totalBytes);
        return this.pump();
      }
      case 'queued': {
        const op = this.findOp(m);
        if (!op) return;
        op.jobId = m.jobId;
        op.handlers.onQueued?.(m);
        return this.trySendCancel(op);
      }
      case 'progress': {
        this.findOp(m)?.handlers.onProgress?.(m);
        return;
      }
      case 'partial':
      case 'result': {
        const op = this.findOp(m);
        if (op) this.pendingFrames.set(m.frameId, { op, message: m });
        return;
      }
      case 'cancelled': {
        this.findOp(m)?.finish({ kind: 'cancelled' });
        return;
      }
      case 'error':
        return this.onError(m);
      case 'trainingUpdate':
        return this.onTrainingUpdate(m);
      case 'pong':
        return;
    }
  }

  private onWelcome(m: WelcomeMessage): void {
    this.welcome = m;
    this.sessionId = m.sessionId;
    this.attempt = 0;
    this.setStatus({ state: 'ready', welcome: m });
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.resolve(m);
    this.stopPing();
    const every = this.options.pingIntervalMs ?? Math.max(1000, (m.limits.idleTimeoutSeconds * 1000) / 3);
    this.pingTimer = setInterval(() => this.sendJson({ type: 'ping' }), every);
    // Pick up what the previous socket left.
    for (const op of this.ops) {
      if (op.jobId) this.sendJson({ type: 'subscribe', jobId: op.jobId });
      else if (op.uploadId) this.sendJson({ type: 'resumeUpload', uploadId: op.uploadId });
      else this.sendJson(op.message);
      op.cancelSent = false;
      this.trySendCancel(op);
    }
    for (const [requestId] of this.modelWaiters) this.sendJson({ type: 'listModels', requestId });
    // followed train jobs: the first update after subscribing carries every epoch, the listener replaces its curve
    for (const trainingId of this.trainings.keys()) this.sendJson({ type: 'trainingControl', trainingId, action: 'subscribe' });
  }

  private onError(m: ErrorMessage): void {
    if (m.code === 'UNAUTHORIZED' || m.code === 'TOKEN_EXPIRED' || m.code === 'UNSUPPORTED_PROTOCOL') {
      this.failed = { code: m.code, message: m.message };
      this.setStatus({ state: 'failed', code: m.code, message: m.message });
      this.rejectWaiters(new Error(`${m.code}: ${m.message}`));
      for (const op of [...this.ops]) op.finish({ kind: 'error', error: { code: m.code, message: m.message } });
      this.socket?.close(1000, m.code);
      return;
    }
    const training = m.requestId !== undefined ? this.trainingRequests.get(m.requestId) : undefined;
    if (training) {
      this.trainingRequests.delete(m.requestId!);
      training.reject(Object.assign(new Error(`${m.code}: ${m.message}`), { code: m.code }));
      return;
    }
    const op = this.findOp(m);
    if (!op) {
      this.options.onServerError?.(m);
      return;
    }
    if (m.code === 'CHECKSUM_MISMATCH' && op.schedule && m.index !== undefined) {
      op.schedule.restartInstance(m.index);
      return this.pump();
    }
    if (m.code === 'UNKNOWN_UPLOAD' && !op.jobId && !op.cancelRequested) {
      // The spool expired while we were away: start the upload over.
      op.uploadId = undefined;
      op.schedule = undefined;
      this.sendJson(op.message);
      return;
    }
    op.finish({ kind: 'error', error: { code: m.code, message: m.message } });
  }

  /** Sends chunks while the flow-control window and the socket's send buffer allow. */
  private pump(): void {
    if (this.pumpTimer) return;
    const highWater = this.options.highWaterBytes ?? 4 << 20;
    for (const op of this.ops) {
      if (!op.schedule || !op.instances || !op.uploadId || op.cancelRequested) continue;
      for (;;) {
        const s = this.socket;
        if (!s || s.readyState !== OPEN) return;
        if (s.bufferedAmount > highWater) {
          this.pumpTimer = setTimeout(() => {
            this.pumpTimer = null;
            this.pump();
          }, 10);
          return;
        }
        const plan = op.schedule.take();
        if (!plan) break;
        const bytes = op.instances[plan.index].subarray(plan.offset, plan.offset + plan.length);
        s.send(encodeChunk({ uploadId: op.uploadId, index: plan.index, offset: plan.offset }, bytes));
      }
    }
  }
}

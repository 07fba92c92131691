/**
 * A protocol-level test client for `nnseg serve`: a real `ws` socket, every server message validated
 * against the protocol schema, waiting helpers, and a pusher that follows the flow-control window and
 * records every chunk it sends (so tests can assert none was sent twice).
 */
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import {
  PROTOCOL_VERSION,
  ServerMessageSchema,
  WS_SUBPROTOCOL,
  decodeServerFrame,
  encodeChunk,
  type ServerMessage,
  type ServerMessageOf,
  type UploadStatusMessage,
} from '../../server/src/contract/protocol.js';

export type Received = { kind: 'json'; message: ServerMessage } | { kind: 'binary'; frameId: number; payload: Uint8Array };

export class TestClient {
  readonly received: Received[] = [];
  private waiters: { test: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];
  private cursor = 0;
  closeCode?: number;
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve((this.closeCode = code))));
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      let r: Received;
      if (isBinary) {
        const f = decodeServerFrame(new Uint8Array(buf));
        r = { kind: 'binary', frameId: f.frameId, payload: new Uint8Array(f.payload) };
      } else {
        const parsed = ServerMessageSchema.safeParse(JSON.parse(buf.toString('utf8')));
        if (!parsed.success) throw new Error(`server sent a message that fails the protocol schema: ${buf.toString('utf8').slice(0, 300)}`);
        r = { kind: 'json', message: parsed.data };
      }
      this.received.push(r);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(r)) return true;
        w.resolve(r);
        return false;
      });
    });
    ws.on('error', () => {});
  }

  static connect(url: string, o: { token?: string; origin?: string; protocols?: string[]; headers?: Record<string, string> } = {}): Promise<TestClient> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, o.protocols ?? [WS_SUBPROTOCOL], {
      headers: { ...(o.token ? { Authorization: `Bearer ${o.token}` } : {}), ...(o.headers ?? {}) },
      ...(o.origin ? { origin: o.origin } : {}),
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new TestClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Connects and completes hello. */
  static async ready(url: string, token?: string, o: { sessionId?: string } = {}): Promise<{ client: TestClient; welcome: ServerMessageOf<'welcome'> }> {
    const client = await TestClient.connect(url);
    client.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, client: { name: 'test' }, ...(token ? { token } : {}), ...(o.sessionId ? { sessionId: o.sessionId } : {}) });
    const welcome = await client.next('welcome');
    return { client, welcome };
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  sendBinary(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }

  /** The next message (after those already consumed by `next`) of the type, or any error if `orError`. */
  next<T extends ServerMessage['type']>(type: T, timeoutMs = 20000, match: (m: ServerMessageOf<T>) => boolean = () => true): Promise<ServerMessageOf<T>> {
    const test = (r: Received) => r.kind === 'json' && r.message.type === type && match(r.message as ServerMessageOf<T>);
    for (let i = this.cursor; i < this.received.length; i++) {
      if (test(this.received[i])) {
        this.cursor = i + 1;
        return Promise.resolve((this.received[i] as unknown as { message: ServerMessageOf<T> }).message);
      }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${type}" within ${timeoutMs} ms; got ${JSON.stringify(this.received.slice(-5).map((r) => (r.kind === 'json' ? r.message : `binary ${r.frameId}`)))}`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: (r) => {
          clearTimeout(timer);
          this.cursor = this.received.indexOf(r) + 1;
          resolve((r as unknown as { message: ServerMessageOf<T> }).message);
        },
      });
    });
  }

  /** The binary frame with this id (waits for it). */
  async frame(frameId: number, timeoutMs = 20000): Promise<Uint8Array> {
    const find = () => this.received.find((r) => r.kind === 'binary' && r.frameId === frameId) as { payload: Uint8Array } | undefined;
    const t0 = Date.now();
    while (!find()) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`binary frame ${frameId} did not arrive`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return find()!.payload;
  }

  errors(): ServerMessageOf<'error'>[] {
    return this.received.filter((r) => r.kind === 'json' && r.message.type === 'error').map((r) => (r as { message: ServerMessageOf<'error'> }).message);
  }

  close(): Promise<number> {
    this.ws.close();
    return this.closed;
  }

  /** Drops the TCP connection without a close handshake (a network failure). */
  terminate(): Promise<number> {
    this.ws.terminate();
    return this.closed;
  }
}

export function manifestOf(files: Uint8Array[]): { index: number; size: number; sha256: string }[] {
  return files.map((f, index) => ({ index, size: f.byteLength, sha256: createHash('sha256').update(f).digest('hex') }));
}

export interface PushLog {
  /** `${index}:${offset}` of every chunk sent, in order */
  sent: string[];
}

/**
 * Sends the instances' missing bytes per an uploadStatus, keeping at most `window` bytes unacknowledged.
 * `stopAfterBytes`: stop sending (without waiting for acks) once this many bytes were sent — to simulate a
 * drop. Resolves when every sent byte is acknowledged, immediately after stopping, or on an error about
 * this upload.
 */
export async function pushInstances(
  client: TestClient,
  files: Uint8Array[],
  status: UploadStatusMessage,
  o: { chunkBytes?: number; log?: PushLog; stopAfterBytes?: number } = {},
): Promise<void> {
  const chunkBytes = o.chunkBytes ?? 64 * 1024;
  let sent = 0;
  let acked = 0;
  let lastAckTotal = status.instances.reduce((s, i) => s + i.received, 0);
  const base = lastAckTotal;
  let failed = false;
  const onAck = (data: WebSocket.RawData, isBinary: boolean) => {
    if (isBinary) return;
    const m = JSON.parse(data.toString()) as { type: string; uploadId?: string; totalReceived?: number };
    if (m.type === 'error' && m.uploadId === status.uploadId) failed = true;
    if (m.type === 'ack' && m.uploadId === status.uploadId) {
      lastAckTotal = m.totalReceived!;
      acked = lastAckTotal - base;
    }
  };
  client.ws.on('message', onAck);
  try {
    for (const inst of status.instances) {
      if (inst.complete) continue;
      const file = files[inst.index];
      for (let offset = inst.received; offset < file.byteLength; offset += chunkBytes) {
        const payload = file.subarray(offset, Math.min(file.byteLength, offset + chunkBytes));
        while (sent + payload.byteLength - acked > status.window && !failed) await new Promise((r) => setTimeout(r, 1));
        if (failed) return;
        if (o.stopAfterBytes !== undefined && sent >= o.stopAfterBytes) return;
        client.sendBinary(encodeChunk({ uploadId: status.uploadId, index: inst.index, offset }, payload));
        o.log?.sent.push(`${inst.index}:${offset}`);
        sent += payload.byteLength;
      }
    }
  } finally {
    if (o.stopAfterBytes === undefined) {
      while (acked < sent && !failed && client.closeCode === undefined) await new Promise((r) => setTimeout(r, 2));
    }
    client.ws.off('message', onAck);
  }
}

import { createHash, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import {
  CHUNK_HEADER_BYTES,
  decodeChunk,
  encodeServerFrame,
  parseClientMessage,
  type ClientMessage,
  type ServerMessage,
} from '../../../server/src/contract/protocol.js';
import { ServerConnection, backoffDelay, type ConnectionStatus, type SocketLike } from '../../../extension/src/server-connection.js';

/**
 * A real WebSocket server speaking the subset of protocol v1 the client uses, with knobs to drop the
 * connection, corrupt an instance once, or refuse the token. Upload state lives outside the sockets (as
 * on the real server), so a reconnecting client can resume.
 */
class FakeNnsegServer {
  wss!: WebSocketServer;
  url = '';
  window = 3000;
  chunk = 1000;
  sockets: WebSocket[] = [];
  received: ClientMessage[] = [];
  violations: string[] = [];
  chunksStored = 0;
  chunksRefused = 0;
  dropAfterChunks = Infinity;
  corruptOnce = new Set<number>();
  holdJobs = false;
  uploads = new Map<string, { sizes: number[]; sha: string[]; data: Uint8Array[]; got: number[]; done: boolean[]; requestId: string; unacked: number; ws: WebSocket }>();
  jobs = new Map<string, { ws: WebSocket; payload: Uint8Array; requestId: string }>();
  hellos: { token?: string; sessionId?: string }[] = [];
  private frame = 0;

  async start(): Promise<void> {
    this.wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => this.wss.on('listening', () => r()));
    this.url = `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/ws`;
    this.wss.on('connection', (ws) => {
      this.sockets.push(ws);
      ws.on('message', (data, isBinary) => {
        if (isBinary) return this.onChunk(ws, new Uint8Array(data as Buffer));
        const r = parseClientMessage(String(data));
        if (!r.ok) throw new Error(`client sent a bad message: ${r.message}`);
        this.received.push(r.message);
        this.onMessage(ws, r.message);
      });
    });
  }

  stop(): Promise<void> {
    for (const s of this.wss.clients) s.terminate();
    return new Promise((r) => this.wss.close(() => r()));
  }

  dropAll(): void {
    for (const s of this.wss.clients) s.terminate();
  }

  send(ws: WebSocket, m: ServerMessage): void {
    ws.send(JSON.stringify(m));
  }

  private onMessage(ws: WebSocket, m: ClientMessage): void {
    switch (m.type) {
      case 'hello':
        this.hellos.push({ token: m.token, sessionId: m.sessionId });
        if (m.token === 'bad') {
          this.send(ws, { type: 'error', code: 'UNAUTHORIZED', message: 'unknown token', fatal: true });
          ws.close();
          return;
        }
        this.send(ws, {
          type: 'welcome',
          protocolVersion: 1,
          server: { name: 'fake', version: '0' },
          sessionId: m.sessionId ?? randomUUID(),
          subject: 'tester',
          role: 'viewer',
          limits: {
            maxMessageBytes: 1 << 20,
            maxChunkBytes: this.chunk,
            maxSeriesBytes: 1 << 30,
            maxInstances: 100,
            maxJobsPerSession: 4,
            uploadWindowBytes: this.window,
            idleTimeoutSeconds: 120,
            uploadResumeSeconds: 600,
          },
        });
        return;
      case 'listModels':
        this.send(ws, { type: 'models', requestId: m.requestId, models: [{ name: 'M', datasetName: 'Dataset001_M', modality: 'CT', labels: { background: 0, liver: 1 }, configurations: [{ name: '3d_fullres', folds: ['0'] }], version: 'v1' }] });
        return;
      case 'segment': {
        if (m.series.kind === 'dicomweb') {
          const jobId = `job-${randomUUID().slice(0, 8)}`;
          this.jobs.set(jobId, { ws, payload: new TextEncoder().encode(`SEG of ${m.series.seriesInstanceUID}`), requestId: m.requestId });
          this.send(ws, { type: 'queued', requestId: m.requestId, jobId, position: 0 });
          if (!this.holdJobs) this.finishJob(jobId);
          return;
        }
        const inst = m.series.manifest.instances;
        const uploadId = randomUUID();
        this.uploads.set(uploadId, {
          sizes: inst.map((i) => i.size),
          sha: inst.map((i) => i.sha256),
          data: inst.map((i) => new Uint8Array(i.size)),
          got: inst.map(() => 0),
          done: inst.map(() => false),
          requestId: m.requestId,
          unacked: 0,
          ws,
        });
        this.send(ws, { type: 'uploadStatus', requestId: m.requestId, uploadId, window: this.window, instances: inst.map((i) => ({ index: i.index, received: 0, complete: false })) });
        return;
      }
      case 'resumeUpload': {
        const u = this.uploads.get(m.uploadId);
        if (!u) return this.send(ws, { type: 'error', code: 'UNKNOWN_UPLOAD', message: 'gone', uploadId: m.uploadId });
        u.ws = ws;
        u.unacked = 0;
        this.send(ws, { type: 'uploadStatus', uploadId: m.uploadId, window: this.window, instances: u.sizes.map((_, index) => ({ index, received: u.got[index], complete: u.done[index] })) });
        return;
      }
      case 'subscribe': {
        const j = this.jobs.get(m.jobId);
        if (!j) return this.send(ws, { type: 'error', code: 'UNKNOWN_JOB', message: 'no such job', jobId: m.jobId });
        j.ws = ws;
        this.finishJob(m.jobId);
        return;
      }
      case 'cancel': {
        if (m.jobId && this.jobs.delete(m.jobId)) return this.send(ws, { type: 'cancelled', jobId: m.jobId });
        if (m.uploadId && this.uploads.delete(m.uploadId)) return this.send(ws, { type: 'cancelled', uploadId: m.uploadId });
        return;
      }
      case 'ping':
        return this.send(ws, { type: 'pong', serverTime: new Date().toISOString() });
    }
  }

  finishJob(jobId: string): void {
    const j = this.jobs.get(jobId)!;
    this.send(j.ws, { type: 'progress', jobId, stage: 'predicting', percent: 50, done: 1, total: 2, etaSeconds: 1 });
    const frameId = ++this.frame;
    this.send(j.ws, { type: 'partial', jobId, frameId, z0: 0, shape: [1, 1, 3], byteLength: 3 });
    j.ws.send(encodeServerFrame(frameId, new Uint8Array([0, 1, 1])));
    const resultFrame = ++this.frame;
    this.send(j.ws, {
      type: 'result', jobId, requestId: j.requestId, frameId: resultFrame, byteLength: j.payload.length,
      sopInstanceUID: '2.25.1', seriesInstanceUID: '2.25.2', referencedSeriesInstanceUID: '1.2.3',
      segments: [{ segmentNumber: 1, label: 1, name: 'liver', voxelCount: 2, volumeMl: 0.002, meanIntensity: 50, minIntensity: 40, maxIntensity: 60 }],
      model: { name: 'M', version: 'v1', configuration: '3d_fullres', folds: ['0'] }, timings: { predicting: 1 },
    });
    j.ws.send(encodeServerFrame(resultFrame, j.payload));
    this.jobs.delete(jobId);
  }

  private onChunk(ws: WebSocket, frame: Uint8Array): void {
    const c = decodeChunk(frame);
    const u = this.uploads.get(c.uploadId);
    if (!u) return;
    u.unacked += c.payload.length;
    if (u.unacked > this.window) this.violations.push(`window exceeded: ${u.unacked} > ${this.window}`);
    if (frame.length - CHUNK_HEADER_BYTES > this.chunk) this.violations.push(`chunk of ${frame.length - CHUNK_HEADER_BYTES} bytes`);
    if (c.offset !== u.got[c.index]) {
      this.chunksRefused++;
      u.unacked -= c.payload.length;
      return this.send(ws, { type: 'error', code: 'CHUNK_OUT_OF_ORDER', message: `offset ${c.offset} != ${u.got[c.index]}`, uploadId: c.uploadId, index: c.index });
    }
    if (this.chunksStored >= this.dropAfterChunks) {
      this.dropAfterChunks = Infinity;
      ws.terminate();
      return;
    }
    u.data[c.index].set(c.payload, c.offset);
    u.got[c.index] += c.payload.length;
    this.chunksStored++;
    u.unacked -= c.payload.length;
    let complete = false;
    if (u.got[c.index] === u.sizes[c.index]) {
      if (this.corruptOnce.delete(c.index)) u.data[c.index][0] ^= 0xff;
      const sha = createHash('sha256').update(u.data[c.index]).digest('hex');
      if (sha !== u.sha[c.index]) {
        u.got[c.index] = 0;
        return this.send(ws, { type: 'error', code: 'CHECKSUM_MISMATCH', message: 'sha differs', uploadId: c.uploadId, index: c.index });
      }
      u.done[c.index] = complete = true;
    }
    const total = u.got.reduce((a, b) => a + b, 0);
    this.send(ws, { type: 'ack', uploadId: c.uploadId, index: c.index, received: u.got[c.index], complete, totalReceived: total });
    if (u.done.every(Boolean)) {
      const jobId = `job-${randomUUID().slice(0, 8)}`;
      const all = createHash('sha256');
      for (const d of u.data) all.update(d);
      this.jobs.set(jobId, { ws, payload: new TextEncoder().encode(all.digest('hex')), requestId: u.requestId });
      this.send(ws, { type: 'queued', requestId: u.requestId, uploadId: c.uploadId, jobId, position: 0 });
      this.uploads.delete(c.uploadId);
      if (!this.holdJobs) this.finishJob(jobId);
    }
  }
}

function series(n: number, size: number, seed = 1): Uint8Array[] {
  let s = seed;
  return Array.from({ length: n }, (_, k) => {
    const b = new Uint8Array(size + k * 37);
    for (let i = 0; i < b.length; i++) b[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
    return b;
  });
}

function expectedDigest(instances: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const d of instances) h.update(d);
  return h.digest('hex');
}

const createSocket = (url: string, protocols: string[]) => new WebSocket(url, protocols) as unknown as SocketLike;

describe('backoffDelay', () => {
  it('doubles from the initial delay, caps, and jitters within ± the fraction', () => {
    const o = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.2 };
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, o, () => 0.5))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(2, o, () => 0)).toBe(320);
    expect(backoffDelay(2, o, () => 1)).toBe(480);
  });
});

describe('ServerConnection against a real ws server', () => {
  let server: FakeNnsegServer;
  let conn: ServerConnection | undefined;
  beforeEach(async () => {
    server = new FakeNnsegServer();
    await server.start();
  });
  afterEach(async () => {
    conn?.close();
    conn = undefined;
    await server.stop();
  });

  const connect = (extra: Partial<ConstructorParameters<typeof ServerConnection>[0]> = {}) => {
    conn = new ServerConnection({ url: server.url, createSocket, backoff: { initialMs: 20, maxMs: 200 }, token: 'good', ...extra });
    return conn;
  };

  it('says hello with the token and protocol version, then lists models', async () => {
    const c = connect();
    const welcome = await c.connect();
    expect(welcome.subject).toBe('tester');
    const hello = server.received[0];
    expect(hello).toMatchObject({ type: 'hello', protocolVersion: 1, token: 'good', client: { name: 'nnseg-ohif' } });
    const models = await c.listModels();
    expect(models.map((m) => [m.name, m.modality, Object.keys(m.labels)])).toEqual([['M', 'CT', ['background', 'liver']]]);
  });

  it('pushes a series in chunks within the flow-control window and gets progress, partial and SEG bytes', async () => {
    const c = connect();
    await c.connect();
    const inst = series(4, 2500);
    const progress: number[] = [];
    const uploaded: number[] = [];
    const partials: number[][] = [];
    const job = await c.segmentPushed(inst, { model: 'M' }, {
      onUploadProgress: (a) => uploaded.push(a),
      onProgress: (p) => progress.push(p.percent),
      onPartial: (_m, labels) => partials.push([...labels]),
    });
    const out = await job.done;
    expect(out.kind).toBe('result');
    if (out.kind !== 'result') return;
    expect(new TextDecoder().decode(out.seg)).toBe(expectedDigest(inst));
    expect(out.result.segments[0].name).toBe('liver');
    expect(server.violations).toEqual([]);
    expect(server.chunksRefused).toBe(0);
    const total = inst.reduce((a, b) => a + b.length, 0);
    expect(uploaded.at(-1)).toBe(total);
    expect(server.chunksStored).toBe(inst.reduce((a, b) => a + Math.ceil(b.length / 1000), 0));
    expect(progress).toEqual([50]);
    expect(partials).toEqual([[0, 1, 1]]);
    expect(job.jobId).toMatch(/^job-/);
  });

  it('resumes an upload after the connection drops: no stored byte is sent twice, the session is kept', async () => {
    server.dropAfterChunks = 5;
    const statuses: ConnectionStatus['state'][] = [];
    const c = connect({ onStatus: (s) => statuses.push(s.state) });
    const first = await c.connect();
    const inst = series(3, 2600, 7);
    const job = await c.segmentPushed(inst, { model: 'M' });
    const out = await job.done;
    expect(out.kind).toBe('result');
    if (out.kind !== 'result') return;
    expect(new TextDecoder().decode(out.seg)).toBe(expectedDigest(inst));
    expect(server.chunksRefused).toBe(0);
    expect(server.violations).toEqual([]);
    expect(server.received.filter((m) => m.type === 'resumeUpload')).toHaveLength(1);
    expect(server.received.filter((m) => m.type === 'segment')).toHaveLength(1);
    expect(server.hellos[1].sessionId).toBe(first.sessionId);
    expect(statuses).toEqual(expect.arrayContaining(['connecting', 'ready', 'reconnecting']));
    // every stored byte arrived exactly once: stored chunks = chunk count of the series
    expect(server.chunksStored).toBe(inst.reduce((a, b) => a + Math.ceil(b.length / 1000), 0));
  });

  it('re-subscribes to a running job after a reconnect and receives its result', async () => {
    server.holdJobs = true;
    const c = connect();
    await c.connect();
    const queued: number[] = [];
    const job = c.segmentByReference('1.2.3', '1.2.3.4', { model: 'M' }, { onQueued: (q) => queued.push(q.position) });
    await new Promise<void>((r) => {
      const t = setInterval(() => job.jobId && (clearInterval(t), r()), 5);
    });
    server.holdJobs = false;
    server.dropAll();
    const out = await job.done;
    expect(out.kind).toBe('result');
    if (out.kind === 'result') expect(new TextDecoder().decode(out.seg)).toBe('SEG of 1.2.3.4');
    expect(server.received.filter((m) => m.type === 'subscribe')).toEqual([{ type: 'subscribe', jobId: job.jobId }]);
    expect(queued).toEqual([0]);
  });

  it('sends an instance again from 0 after CHECKSUM_MISMATCH', async () => {
    server.corruptOnce.add(1);
    const c = connect();
    await c.connect();
    const inst = series(3, 1800, 3);
    const out = await (await c.segmentPushed(inst, { model: 'M' })).done;
    expect(out.kind).toBe('result');
    if (out.kind === 'result') expect(new TextDecoder().decode(out.seg)).toBe(expectedDigest(inst));
    expect(server.chunksRefused).toBe(0);
  });

  it('cancels a queued job', async () => {
    server.holdJobs = true;
    const c = connect();
    await c.connect();
    const job = c.segmentByReference('1.2.3', '1.2.3.5', { model: 'M' });
    job.cancel(); // before the server named the job: sent once `queued` arrives
    expect(await job.done).toEqual({ kind: 'cancelled' });
    expect(server.received.filter((m) => m.type === 'cancel')).toEqual([{ type: 'cancel', jobId: job.jobId }]);
  });

  it('stops with a failed status on a refused token and does not retry', async () => {
    const statuses: ConnectionStatus[] = [];
    const c = connect({ token: 'bad', onStatus: (s) => statuses.push(s) });
    await expect(c.connect()).rejects.toThrow(/UNAUTHORIZED: unknown token/);
    await new Promise((r) => setTimeout(r, 150));
    expect(server.hellos).toHaveLength(1);
    expect(statuses.at(-1)).toEqual({ state: 'failed', code: 'UNAUTHORIZED', message: 'unknown token' });
  });

  it('keeps retrying with backoff while the server is down, then connects', async () => {
    const url = server.url;
    await server.stop();
    const statuses: ConnectionStatus[] = [];
    conn = new ServerConnection({ url, createSocket, backoff: { initialMs: 20, maxMs: 60, jitter: 0 }, onStatus: (s) => statuses.push(s) });
    const ready = conn.connect();
    await new Promise((r) => setTimeout(r, 250));
    const delays = statuses.filter((s) => s.state === 'reconnecting').map((s) => (s as { inMs: number }).inMs);
    expect(delays.slice(0, 4)).toEqual([20, 40, 60, 60]);
    // bring a server up on the same port
    const port = Number(new URL(url).port);
    server = new FakeNnsegServer();
    server.wss = new WebSocketServer({ port, host: '127.0.0.1' });
    await new Promise<void>((r) => server.wss.on('listening', () => r()));
    server.wss.on('connection', (ws) => ws.on('message', (d) => {
      const r = parseClientMessage(String(d));
      if (r.ok) (server as unknown as { onMessage(ws: WebSocket, m: ClientMessage): void }).onMessage(ws, r.message);
    }));
    await expect(ready).resolves.toMatchObject({ type: 'welcome' });
  });
});

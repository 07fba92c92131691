import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROTOCOL_VERSION, encodeChunk } from '../../../../server/src/contract/protocol.js';
import { syntheticSeries } from '../../../helpers/synthetic-series.js';
import { createTestModel } from '../../../helpers/test-model.js';
import { TestClient, manifestOf, pushInstances, type PushLog } from '../../../integration/server-client.js';
import { TOKENS, startTestServer, type TestServer } from '../../../integration/server-harness.js';
import { ScriptedQueue } from '../scripted-queue.js';
import { within } from '../../../helpers/patience.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let queue: ScriptedQueue;
let srv: TestServer;
let modelName: string;
const series = syntheticSeries({ nx: 64, ny: 64, nz: 12, patientName: 'Doe^Jane' });

beforeAll(async () => {
  queue = new ScriptedQueue();
  srv = await startTestServer(queue, { config: { limits: { uploadWindowBytes: 64 * 1024, maxChunkBytes: 16 * 1024 } } });
  modelName = (await createTestModel(srv.store.root)).card.name;
});
afterAll(async () => {
  await srv.stop();
});

async function startPush(client: TestClient, files: Uint8Array[], requestId = 'r1', manifest = manifestOf(files)) {
  client.send({ type: 'segment', requestId, series: { kind: 'push', manifest: { instances: manifest } }, options: { model: modelName, partials: true } });
  return client.next('uploadStatus');
}

describe('ws session', () => {
  it('hello → welcome with the configured limits and the token subject', async () => {
    const { client, welcome } = await TestClient.ready(srv.url, TOKENS.viewer);
    expect(welcome).toMatchObject({ protocolVersion: PROTOCOL_VERSION, subject: 'reader-1', role: 'viewer' });
    expect(welcome.limits).toMatchObject({ uploadWindowBytes: 64 * 1024, maxChunkBytes: 16 * 1024, maxInstances: 5000 });
    client.send({ type: 'listModels', requestId: 'm' });
    const models = await client.next('models');
    expect(models.requestId).toBe('m');
    expect(models.models.map((m) => m.name)).toEqual([modelName]);
    expect(models.models[0]).toMatchObject({ modality: 'CT', configurations: [{ name: '3d_fullres' }] });
    await client.close();
  });

  it('pushes a series through the window, submits a job with the exact bytes, relays result + SEG frame, then deletes the spool', async () => {
    const { client } = await TestClient.ready(srv.url, TOKENS.viewer);
    const status = await startPush(client, series.files);
    expect(status.window).toBe(64 * 1024);
    expect(status.instances.every((i) => i.received === 0 && !i.complete)).toBe(true);
    await pushInstances(client, series.files, status, { chunkBytes: 16 * 1024 });
    const queued = await client.next('queued');
    expect(queued).toMatchObject({ requestId: 'r1', uploadId: status.uploadId });
    const job = queue.jobs.find((j) => j.jobId === queued.jobId)!;
    expect(job.request.owner).toBe('reader-1');
    expect(job.request.options).toEqual({ model: modelName });
    expect(job.request.series.kind).toBe('folder');
    const folder = (job.request.series as { path: string }).path;
    expect(job.files).toHaveLength(series.files.length);
    series.files.forEach((f, i) => expect(sha(readFileSync(join(folder, job.files[i])))).toBe(sha(f)));

    job.emit({ type: 'progress', jobId: job.jobId, progress: { stage: 'predicting', percent: 50, done: 2, total: 4, etaSeconds: 3 } });
    expect(await client.next('progress')).toMatchObject({ stage: 'predicting', percent: 50, done: 2, total: 4, etaSeconds: 3 });
    const labels = new Uint8Array([0, 1, 1, 0, 2, 0]);
    job.emit({ type: 'partial', jobId: job.jobId, partial: { z0: 3, shape: [1, 2, 3], labels } });
    const partial = await client.next('partial');
    expect(partial).toMatchObject({ z0: 3, shape: [1, 2, 3], byteLength: 6 });
    expect(Array.from(await client.frame(partial.frameId))).toEqual(Array.from(labels));
    const seg = new Uint8Array(1000).map((_, i) => i % 251);
    job.emit({
      type: 'result',
      jobId: job.jobId,
      result: {
        seg,
        sopInstanceUID: '2.25.1',
        seriesInstanceUID: '2.25.2',
        referencedSeriesInstanceUID: series.seriesInstanceUID,
        segments: [{ segmentNumber: 1, label: 1, name: 'liver', voxelCount: 10, volumeMl: 0.01, meanIntensity: 5, minIntensity: 1, maxIntensity: 9 }],
        model: { name: modelName, version: 'v', configuration: '3d_fullres', folds: ['0'] },
        timings: { predicting: 1 },
      },
    });
    const result = await client.next('result');
    expect(result).toMatchObject({ requestId: 'r1', byteLength: 1000, referencedSeriesInstanceUID: series.seriesInstanceUID });
    expect(result.frameId).toBeGreaterThan(partial.frameId);
    expect(sha(await client.frame(result.frameId))).toBe(sha(seg));
    for (let t = 0; t < 100 && existsSync(folder); t++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(folder)).toBe(false);
    // logs hold ids and sizes, never patient data or UIDs
    const logText = JSON.stringify(srv.logs);
    expect(logText).not.toMatch(/Doe|Jane/);
    expect(logText).not.toContain(series.seriesInstanceUID);
    expect(logText).toContain(status.uploadId);
    await client.close();
  });

  it('resumes after the socket drops mid-upload: no stored chunk is sent again, the spool equals the files', async () => {
    const files = syntheticSeries({ nx: 64, ny: 64, nz: 10 }).files;
    const total = files.reduce((s, f) => s + f.byteLength, 0);
    const bytesBefore = srv.api.metrics.uploadBytes;
    const { client, welcome } = await TestClient.ready(srv.url, TOKENS.viewer);
    const status = await startPush(client, files, 'resume');
    const log1: PushLog = { sent: [] };
    await pushInstances(client, files, status, { chunkBytes: 8 * 1024, log: log1, stopAfterBytes: Math.floor(total / 2) });
    await client.terminate();

    const { client: again, welcome: w2 } = await TestClient.ready(srv.url, TOKENS.viewer, { sessionId: welcome.sessionId });
    expect(w2.sessionId).toBe(welcome.sessionId);
    again.send({ type: 'resumeUpload', uploadId: status.uploadId });
    const resumed = await again.next('uploadStatus');
    const stored = resumed.instances.reduce((s, i) => s + i.received, 0);
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThan(total);
    const log2: PushLog = { sent: [] };
    await pushInstances(again, files, resumed, { chunkBytes: 8 * 1024, log: log2 });
    const queued = await again.next('queued');
    // the chunks sent after the reconnect start exactly where the server's stored bytes end
    const storedChunks = new Set(log1.sent.filter((c) => {
      const [i, off] = c.split(':').map(Number);
      return off < resumed.instances[i].received;
    }));
    expect(log2.sent.filter((c) => storedChunks.has(c))).toEqual([]);
    expect(again.errors()).toEqual([]);
    const upload = srv.api.hub.uploads.get(status.uploadId)!;
    expect(upload.spool.duplicateChunks).toBe(0);
    expect(srv.api.metrics.uploadBytes - bytesBefore).toBe(total);
    const job = queue.jobs.find((j) => j.jobId === queued.jobId)!;
    const folder = (job.request.series as { path: string }).path;
    files.forEach((f, i) => expect(sha(readFileSync(join(folder, job.files[i])))).toBe(sha(f)));
    job.emit({ type: 'cancelled', jobId: job.jobId });
    await again.next('cancelled');
    await again.close();
  });

  it('a subscriber after a reconnect receives the final result again', async () => {
    const files = syntheticSeries({ nx: 16, ny: 16, nz: 3 }).files;
    const { client, welcome } = await TestClient.ready(srv.url, TOKENS.viewer);
    await pushInstances(client, files, await startPush(client, files, 'sub'));
    const { jobId } = await client.next('queued');
    await client.close();
    const job = queue.jobs.find((j) => j.jobId === jobId)!;
    job.emit({ type: 'error', jobId, code: 'MODEL_FAILED', message: 'boom' });
    const { client: again } = await TestClient.ready(srv.url, TOKENS.viewer, { sessionId: welcome.sessionId });
    again.send({ type: 'subscribe', jobId });
    expect(await again.next('error')).toMatchObject({ code: 'MODEL_FAILED', jobId, message: 'boom' });
    // another subject cannot follow it
    const { client: other } = await TestClient.ready(srv.url, TOKENS.annotator);
    other.send({ type: 'subscribe', jobId });
    expect(await other.next('error')).toMatchObject({ code: 'UNKNOWN_JOB' });
    // nor another browser with the same (shared viewer) token: ownership is the session, not the token
    const { client: sameToken, welcome: w2 } = await TestClient.ready(srv.url, TOKENS.viewer);
    expect(w2.sessionId).not.toBe(welcome.sessionId);
    sameToken.send({ type: 'subscribe', jobId });
    expect(await sameToken.next('error')).toMatchObject({ code: 'UNKNOWN_JOB' });
    sameToken.send({ type: 'cancel', jobId });
    expect(await sameToken.next('error')).toMatchObject({ code: 'UNKNOWN_JOB' });
    // and the session id stays the client's secret: the HTTP job list does not show it to non-admins
    const listed = (await (await fetch(`${srv.url}/api/jobs`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } })).json()) as { jobs: Record<string, unknown>[] };
    expect(listed.jobs.length).toBeGreaterThan(0);
    for (const j of listed.jobs) expect(j.sessionId).toBeUndefined();
    await again.close();
    await other.close();
    await sameToken.close();
  });

  it('a wrong checksum discards only that instance; sending it again completes the upload', async () => {
    const files = syntheticSeries({ nx: 16, ny: 16, nz: 3 }).files;
    const manifest = manifestOf(files);
    const { client } = await TestClient.ready(srv.url, TOKENS.viewer);
    const status = await startPush(client, files, 'sum', manifest);
    const corrupt = files.map((f, i) => (i === 1 ? f.map((b, k) => (k === 500 ? b ^ 1 : b)) : f));
    await pushInstances(client, corrupt, status);
    const err = await client.next('error');
    expect(err).toMatchObject({ code: 'CHECKSUM_MISMATCH', index: 1, uploadId: status.uploadId });
    client.send({ type: 'resumeUpload', uploadId: status.uploadId });
    const st = await client.next('uploadStatus');
    expect(st.instances.map((i) => [i.received, i.complete])).toEqual([
      [files[0].byteLength, true],
      [0, false],
      [files[2].byteLength, true],
    ]);
    await pushInstances(client, files, st);
    const q = await client.next('queued');
    client.send({ type: 'cancel', jobId: q.jobId });
    expect(await client.next('cancelled')).toEqual({ type: 'cancelled', jobId: q.jobId });
    await client.close();
  });

  it('cancelling an upload removes its spool', async () => {
    const files = syntheticSeries({ nx: 16, ny: 16, nz: 3 }).files;
    const { client } = await TestClient.ready(srv.url, TOKENS.viewer);
    const status = await startPush(client, files, 'cu');
    client.sendBinary(encodeChunk({ uploadId: status.uploadId, index: 0, offset: 0 }, files[0].subarray(0, 100)));
    await client.next('ack');
    const folder = srv.api.hub.uploads.get(status.uploadId)!.spool.folder;
    expect(existsSync(folder)).toBe(true);
    client.send({ type: 'cancel', uploadId: status.uploadId });
    expect(await client.next('cancelled')).toEqual({ type: 'cancelled', uploadId: status.uploadId });
    expect(existsSync(folder)).toBe(false);
    client.send({ type: 'resumeUpload', uploadId: status.uploadId });
    expect(await client.next('error')).toMatchObject({ code: 'UNKNOWN_UPLOAD' });
    await client.close();
  });
});

describe('upload expiry', () => {
  let q: ScriptedQueue;
  let s: TestServer;
  beforeAll(async () => {
    q = new ScriptedQueue();
    s = await startTestServer(q, { config: { limits: { uploadResumeSeconds: 0.3 } } });
    await createTestModel(s.store.root);
  });
  afterAll(() => s.stop());

  const segment = (files: Uint8Array[]) => ({ type: 'segment', requestId: 'x', series: { kind: 'push', manifest: { instances: manifestOf(files) } }, options: { model: 'test-ct' } });

  it('deletes an upload nobody resumes after uploadResumeSeconds', async () => {
    const files = syntheticSeries({ nx: 16, ny: 16, nz: 2 }).files;
    const { client } = await TestClient.ready(s.url, TOKENS.viewer);
    client.send(segment(files));
    const status = await client.next('uploadStatus');
    client.sendBinary(encodeChunk({ uploadId: status.uploadId, index: 0, offset: 0 }, files[0].subarray(0, 50)));
    await client.next('ack');
    const folder = s.api.hub.uploads.get(status.uploadId)!.spool.folder;
    await client.terminate();
    await new Promise((r) => setTimeout(r, 700));
    expect(existsSync(folder)).toBe(false);
    expect(s.api.hub.uploads.has(status.uploadId)).toBe(false);
  });

  it('keeps a completed upload’s series for its queued job after the socket closed', async () => {
    const files = syntheticSeries({ nx: 16, ny: 16, nz: 2 }).files;
    const { client } = await TestClient.ready(s.url, TOKENS.viewer);
    client.send(segment(files));
    await pushInstances(client, files, await client.next('uploadStatus'));
    const { jobId } = await client.next('queued');
    await client.terminate();
    await new Promise((r) => setTimeout(r, 700));
    const job = q.jobs.find((j) => j.jobId === jobId)!;
    const folder = (job.request.series as { path: string }).path;
    expect(readdirSync(folder)).toHaveLength(2);
    job.emit({ type: 'cancelled', jobId });
    for (let t = 0; t < 100 && existsSync(folder); t++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(folder)).toBe(false);
  });
});

describe('timeouts', () => {
  let s: TestServer;
  const soon = 'expiring-token-0123456789';
  beforeAll(async () => {
    s = await startTestServer(new ScriptedQueue(), {
      config: {
        limits: { idleTimeoutSeconds: 0.5 },
        tokens: [{ token: soon, subject: 'short-lived', role: 'viewer', expiresAt: new Date(Date.now() + 4000).toISOString() }],
      },
    });
  });
  afterAll(() => s.stop());

  it('closes a socket that sends nothing for idleTimeoutSeconds, and pings keep it open', async () => {
    const { client } = await TestClient.ready(s.url, soon);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 200));
      client.send({ type: 'ping' });
    }
    expect(client.closeCode).toBeUndefined();
    const e = await client.next('error', within(3000));
    expect(e).toMatchObject({ code: 'IDLE_TIMEOUT', fatal: true, message: 'nothing received for 0.5 s' });
    expect(await client.closed).toBe(1008);
  });

  it('ends a session whose token expires while it is open', async () => {
    const { client } = await TestClient.ready(s.url, soon);
    const wait = Date.parse(s.api.hub.config.tokens[0].expiresAt!) - Date.now() + 50;
    for (let t = 0; t < wait; t += 300) {
      await new Promise((r) => setTimeout(r, 300));
      client.send({ type: 'ping' });
    }
    client.send({ type: 'listModels' });
    expect(await client.next('error')).toMatchObject({ code: 'TOKEN_EXPIRED', fatal: true });
    await client.closed;
  });
});

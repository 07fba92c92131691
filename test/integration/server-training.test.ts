/**
 * Train jobs on the real server (`startServer`: the production wiring) over a real socket and HTTP: an admin
 * trains a model on an nnU-Net raw dataset the server holds, follows its epochs, cancels it, resumes it
 * from its last saved epoch, and gets a registered model version the same server lists at once.
 * Tiny on purpose (CT phantoms of 16×32×32, a 2-stage network of 2/4 features, 4 epochs × 3 iterations):
 * this checks the job machinery, train-3d.test.ts checks what training reaches.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../server/src/api/start-server.js';
import type { TrainingUpdateMessage } from '../../server/src/contract/protocol.js';
import { resolveServerConfig } from '../../server/src/config/server-config.js';
import { writePhantomDataset } from '../../server/src/demo/phantom-dataset.js';
import { TRAINING_JOB_FILE } from '../../server/src/jobs/training/training-jobs.js';
import type { TrainRequestInput } from '../../server/src/contract/train-request.js';
import { makeTempDir } from '../helpers/tmp.js';
import { TestClient } from './server-client.js';
import WebSocket from 'ws';
import { ServerConnection, type SocketLike } from '../../extension/src/server-connection.js';
import { mergeEpochs } from '../../extension/src/training-view.js';
import type { EpochMetrics } from '../../server/src/contract/training-events.js';
import { within } from '../helpers/patience.js';

const ADMIN = 'training-admin-token-0123456789';
const READER = 'training-reader-token-0123456789';
const DATASET = 'Dataset905_TinyPhantom';

let tmp: { dir: string; cleanup: () => void };
let srv: RunningServer;

const request = (over: Partial<TrainRequestInput> = {}): TrainRequestInput => ({
  source: { kind: 'dataset', name: DATASET },
  configuration: '3d_fullres',
  fold: 0,
  registerAs: 'tiny-phantom',
  epochs: 4,
  iterationsPerEpoch: 3,
  validationIterations: 1,
  saveEvery: 1,
  seed: 1,
  network: { baseFeatures: 2, maxFeatures: 4, maxStages: 2, patchSize: [8, 16, 16], batchSize: 2 },
  ...over,
});

async function http(path: string, o: { method?: string; token?: string; body?: unknown } = {}) {
  const res = await fetch(`${srv.url}${path}`, {
    method: o.method ?? 'GET',
    headers: { Authorization: `Bearer ${o.token ?? ADMIN}`, ...(o.body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies differ per route
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

async function adminClient(): Promise<TestClient> {
  const c = await TestClient.connect(srv.url, { token: ADMIN });
  c.send({ type: 'hello', protocolVersion: 1, client: { name: 'training-test' } });
  await c.next('welcome', within(10_000));
  return c;
}

const updates = (c: TestClient, id: string) =>
  c.received.flatMap((r) => (r.kind === 'json' && r.message.type === 'trainingUpdate' && r.message.training.id === id ? [r.message as TrainingUpdateMessage] : []));

beforeAll(async () => {
  tmp = makeTempDir('nnseg-server-training-');
  await writePhantomDataset(join(tmp.dir, 'raw', DATASET), { numCases: 6, shape: [16, 32, 32], spacing: [5, 4, 4], seed: 3 });
  const config = resolveServerConfig(
    {
      formatVersion: 1,
      port: 0,
      store: join(tmp.dir, 'models'),
      workDir: join(tmp.dir, 'work'),
      tokens: [
        { token: ADMIN, subject: 'admin-1', role: 'admin' },
        { token: READER, subject: 'reader-1', role: 'viewer' },
      ],
      training: { datasetsRoot: join(tmp.dir, 'raw') },
    },
    {},
  );
  srv = await startServer(config, { log: () => {} });
});
afterAll(async () => {
  await srv?.stop();
  tmp.cleanup();
});

describe('train jobs on nnseg serve', () => {
  it('refuses what can never run, with the reason, and keeps serving', async () => {
    expect((await http('/api/training', { method: 'POST', token: READER, body: request() })).status).toBe(403);
    const traversal = await http('/api/training', { method: 'POST', body: request({ source: { kind: 'dataset', name: '../../etc' } }) });
    expect(traversal.status).toBe(400);
    expect(traversal.json.error.message).toMatch(/source\.name: an nnU-Net dataset folder name/);
    const missing = await http('/api/training', { method: 'POST', body: request({ source: { kind: 'dataset', name: 'Dataset999_Nothing' } }) });
    expect(missing.status).toBe(400);
    expect(missing.json.error.message).toMatch(/no nnU-Net raw dataset Dataset999_Nothing/);
    const pretrained = await http('/api/training', { method: 'POST', body: request({ pretrained: 'no-such-model' }) });
    expect([pretrained.status, pretrained.json.error.code]).toEqual([404, 'UNKNOWN_MODEL']);
    const corrections = await http('/api/training', { method: 'POST', body: request({ source: { kind: 'corrections' } }) });
    expect([corrections.status, corrections.json.error.code]).toEqual([503, 'PACS_UNAVAILABLE']);
    const notJson = await fetch(`${srv.url}/api/training`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' }, body: '{"source":' });
    expect(notJson.status).toBe(400);
    expect((await http('/api/training/00000000-0000-4000-8000-000000000000/resume', { method: 'POST' })).status).toBe(404);

    // over the socket: a viewer may not train
    const reader = await TestClient.connect(srv.url, { token: READER });
    reader.send({ type: 'hello', protocolVersion: 1, client: { name: 'training-test' } });
    await reader.next('welcome', within(10_000));
    reader.send({ type: 'train', requestId: 'r1', request: request() });
    const err = await reader.next('error', within(10_000));
    expect([err.code, err.requestId]).toEqual(['FORBIDDEN', 'r1']);
    reader.close();
    expect((await http('/api/training')).json.trainings).toEqual([]);
    expect((await fetch(`${srv.url}/health`)).status).toBe(200);
  });

  it('trains, streams epochs, cancels, resumes from the last saved epoch and registers a model version the server lists', async () => {
    const c = await adminClient();
    c.send({ type: 'train', requestId: 'train-1', request: request() });
    const first = await c.next('trainingUpdate', within(10_000), (m) => m.requestId === 'train-1');
    const id = first.training.id;
    expect(first.training.state).toMatch(/queued|running/);
    expect(first.training.owner).toBe('admin-1');

    // the first epoch arrives (after planning and preprocessing in the child), then cancel
    await c.next('trainingUpdate', within(180_000), (m) => m.training.id === id && m.epochs.length > 0);
    c.send({ type: 'trainingControl', requestId: 'cancel-1', trainingId: id, action: 'cancel' });
    const cancelled = await c.next('trainingUpdate', within(10_000), (m) => m.requestId === 'cancel-1');
    expect(cancelled.training.state).toBe('cancelled');
    const stages = updates(c, id).map((u) => u.training.stage);
    expect(stages).toEqual(expect.arrayContaining(['planning', 'preprocessing', 'training']));
    expect(updates(c, id).some((u) => u.training.backend === 'wasm' || u.training.backend === 'cpu' || u.training.backend?.startsWith('tensorflow'))).toBe(true);
    const record = JSON.parse(readFileSync(join(tmp.dir, 'work', 'training', id, TRAINING_JOB_FILE), 'utf8'));
    expect(record.state).toBe('cancelled');
    const savedEpochs = record.epochs.length as number;
    expect(savedEpochs).toBeGreaterThanOrEqual(1);
    expect(savedEpochs).toBeLessThan(4);

    // a cancelled job cannot be cancelled twice; it can be resumed
    expect((await http(`/api/training/${id}/cancel`, { method: 'POST' })).json.error.code).toBe('BAD_STATE');
    const resumed = await http(`/api/training/${id}/resume`, { method: 'POST' });
    expect(resumed.status).toBe(200);
    expect(resumed.json.training.state).toMatch(/queued|running/);

    const done = await c.next('trainingUpdate', within(300_000), (m) => m.training.id === id && ['succeeded', 'failed'].includes(m.training.state));
    expect(done.training.error).toBeUndefined();
    expect(done.training.state).toBe('succeeded');
    expect(done.training.runs).toBe(2);
    expect(done.training.registered?.name).toBe('tiny-phantom');
    expect(done.training.validation?.cases).toBe(2); // fold 0 of 6 cases: 2 validation cases
    expect(done.training.validation?.foregroundMeanDice).not.toBeUndefined();

    // the resumed run continued from the saved state (at least as far as the record had seen), and the whole
    // curve has epochs 0..3 once each
    expect(done.training.resumedAtEpoch).toBeGreaterThanOrEqual(savedEpochs);
    expect(done.training.resumedAtEpoch).toBeLessThan(4);
    const full = (await http(`/api/training/${id}`)).json.training;
    expect(full.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([0, 1, 2, 3]);

    // the server serves the new version at once
    const models = (await http('/api/models', { token: READER })).json.models as { name: string; version: string }[];
    expect(models.find((m) => m.name === 'tiny-phantom')?.version).toBe(done.training.registered!.version);
    // nnU-Net's results layout in the job folder
    const fold = join(tmp.dir, 'work', 'training', id, 'results', DATASET, 'nnUNetTrainer__nnUNetPlans__3d_fullres', 'fold_0');
    for (const f of ['checkpoint_final.pth', 'training_log.json', 'progress.png', 'validation/summary.json']) expect(existsSync(join(fold, f))).toBe(true);
    c.close();
  }, within(600_000));

  it("the viewer's client follows a train job across a dropped connection and ends with the whole curve", async () => {
    const conn = new ServerConnection({
      url: `${srv.url.replace(/^http/, 'ws')}/ws`,
      token: ADMIN,
      createSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    try {
      await conn.connect();
      let curve: EpochMetrics[] = [];
      let last: TrainingUpdateMessage | undefined;
      let dropped = false;
      const finished = new Promise<TrainingUpdateMessage>((resolve) => {
        const listener = (u: TrainingUpdateMessage) => {
          curve = mergeEpochs(curve, u.epochs);
          last = u;
          // drop every socket once the first epoch is in: the client reconnects and subscribes again
          if (!dropped && curve.length > 0) {
            dropped = true;
            for (const ws of srv.api.wss.clients) ws.terminate();
          }
          if (['succeeded', 'failed', 'cancelled'].includes(u.training.state)) resolve(u);
        };
        void conn.train(request({ registerAs: 'tiny-phantom-2', seed: 2 }), listener);
      });
      const done = await finished;
      expect(dropped).toBe(true);
      expect(done.training.error).toBeUndefined();
      expect(done.training.state).toBe('succeeded');
      expect(curve.map((e) => e.epoch)).toEqual([0, 1, 2, 3]);
      expect(last?.training.registered?.name).toBe('tiny-phantom-2');
      // a succeeded job cannot be resumed: the error reaches the caller
      await expect(conn.controlTraining(done.training.id, 'resume')).rejects.toThrow(/BAD_STATE: .*succeeded/);
    } finally {
      conn.close();
    }
  }, within(600_000));
});

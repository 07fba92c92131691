/**
 * The BullMQ queue against a real redis-server (test/helpers/redis.ts) with the real test model: results
 * and errors through Redis, fair order by priorities, cancel, producer restart, and a worker process killed
 * mid-job whose job is finished by another worker with exactly one result delivered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { createRedisQueue } from '../../server/src/jobs/redis-queue.js';
import { startRedisWorker, type RedisWorker } from '../../server/src/jobs/redis-worker.js';
import type { JobEvent } from '../../server/src/jobs/types.js';
import { ModelRegistry } from '../../server/src/models/model-registry.js';
import { ModelStore } from '../../server/src/models/model-store.js';
import { validateDicom } from '../helpers/dicom-validate.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { collector, segmentRequest, seriesFolder } from '../helpers/segment-jobs.js';
import { createTestModel } from '../helpers/test-model.js';
import { makeTempDir } from '../helpers/tmp.js';

const tmp = makeTempDir();
const store = new ModelStore(join(tmp.dir, 'store'));
let registry: ModelRegistry;
let redis: TestRedis;
let queues = 0;
const queueName = () => `test-${process.pid}-${++queues}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  redis = await startRedis();
  await createTestModel(store.root);
  registry = new ModelRegistry(store, { defaults: { intraOpThreads: 1 } });
});
afterAll(async () => {
  await registry?.close();
  await redis?.stop();
  tmp.cleanup();
});

describe('Redis (BullMQ) job queue', () => {
  it('runs a job on a worker: progress, a valid SEG and statistics through Redis; errors keep their code', async () => {
    const name = queueName();
    const q = await createRedisQueue({ url: redis.url, queueName: name, registry });
    const w = await startRedisWorker({ url: redis.url, queueName: name, registry });
    try {
      const folder = seriesFolder(tmp.dir);
      const c = collector();
      const { jobId } = q.submit({ ...segmentRequest('s', folder), owner: 'dr-a' }, c.onEvent);
      const end = await c.ended;
      expect(end.type).toBe('result');
      const result = (end as Extract<JobEvent, { type: 'result' }>).result;
      expect(validateDicom(result.seg).errors).toEqual([]);
      expect(result.segments[0]).toMatchObject({ name: 'liver', voxelCount: 16 * 16 * 4 });
      expect(c.events.some((e) => e.type === 'progress' && e.progress.stage === 'predicting')).toBe(true);
      expect(q.get(jobId)).toMatchObject({ state: 'succeeded', owner: 'dr-a', resultSeriesInstanceUID: result.seriesInstanceUID });
      expect(existsSync(folder)).toBe(false);

      expect(() => q.submit(segmentRequest('s', seriesFolder(tmp.dir), { model: 'nope' }), () => {})).toThrow(expect.objectContaining({ code: 'UNKNOWN_MODEL' }));
      const empty = join(tmp.dir, 'no-dicom');
      mkdirSync(empty);
      const bad = collector();
      q.submit(segmentRequest('s', empty), bad.onEvent);
      expect(await bad.ended).toMatchObject({ type: 'error', code: 'BAD_SERIES', message: expect.stringMatching(/no DICOM/) });
    } finally {
      await w.close();
      await q.close();
    }
  });

  it('serves sessions fairly (every first job before any second) and reports positions', async () => {
    const name = queueName();
    const q = await createRedisQueue({ url: redis.url, queueName: name, registry });
    const started: string[] = [];
    const ends: Promise<JobEvent>[] = [];
    const positions = new Map<string, number>();
    const submit = (session: string, label: string) => {
      const c = collector();
      let seen = false;
      q.submit(segmentRequest(session, seriesFolder(tmp.dir)), (e) => {
        if (e.type === 'queued') positions.set(label, e.position);
        if (e.type === 'progress' && !seen) {
          seen = true;
          started.push(label);
        }
        c.onEvent(e);
      });
      ends.push(c.ended);
    };
    for (const [s, l] of [['A', 'A1'], ['A', 'A2'], ['A', 'A3'], ['B', 'B1'], ['B', 'B2']]) submit(s, l);
    // no worker yet: everything waits; positions arrive from Redis
    for (let t = 0; positions.size < 5 && t < 100; t++) await sleep(50);
    expect(Object.fromEntries(positions)).toEqual({ A1: 1, B1: 2, A2: 3, B2: 4, A3: 5 });
    const w = await startRedisWorker({ url: redis.url, queueName: name, registry });
    try {
      const ev = await Promise.all(ends);
      expect(ev.map((e) => e.type)).toEqual(['result', 'result', 'result', 'result', 'result']);
      expect(started).toEqual(['A1', 'B1', 'A2', 'B2', 'A3']);
    } finally {
      await w.close();
      await q.close();
    }
  });

  it('cancels a waiting job (removed from Redis) and a running one (the worker aborts and releases the model)', async () => {
    const name = queueName();
    const q = await createRedisQueue({ url: redis.url, queueName: name, registry });
    const waitingFolder = seriesFolder(tmp.dir);
    const waiting = collector();
    const { jobId: waitingId } = q.submit(segmentRequest('s', waitingFolder), waiting.onEvent);
    await sleep(200);
    expect(q.cancel(waitingId)).toBe(true);
    expect(await waiting.ended).toEqual({ type: 'cancelled', jobId: waitingId });

    const w = await startRedisWorker({ url: redis.url, queueName: name, registry });
    try {
      const c = collector();
      let cancelled = false;
      const { jobId } = q.submit(segmentRequest('s', seriesFolder(tmp.dir, { nx: 96, ny: 96, nz: 40 }), { tta: true, step: 0.25 }), (e) => {
        c.onEvent(e);
        if (e.type === 'progress' && e.progress.stage === 'predicting' && !cancelled) {
          cancelled = true;
          q.cancel(jobId);
        }
      });
      expect(await c.ended).toEqual({ type: 'cancelled', jobId });
      const t0 = performance.now();
      while (registry.warm().some((m) => m.inUse > 0)) {
        // a hang guard sized for a loaded machine, not a speed claim
        if (performance.now() - t0 > 30_000) throw new Error('the worker still holds the model 30 s after cancel');
        await sleep(10);
      }
      expect(c.events.filter((e) => e.type === 'result')).toEqual([]);
      // the worker is free for the next job
      const next = collector();
      q.submit(segmentRequest('s', seriesFolder(tmp.dir)), next.onEvent);
      expect((await next.ended).type).toBe('result');
    } finally {
      await w.close();
      await q.close();
    }
    expect(existsSync(waitingFolder)).toBe(false);
  });

  it('a restarted producer finds its jobs in Redis and a client can re-subscribe to the result', async () => {
    const name = queueName();
    const first = await createRedisQueue({ url: redis.url, queueName: name, registry });
    const { jobId } = first.submit(segmentRequest('s', seriesFolder(tmp.dir)), () => {});
    await sleep(200);
    await first.close();
    const w = await startRedisWorker({ url: redis.url, queueName: name, registry });
    const second = await createRedisQueue({ url: redis.url, queueName: name, registry });
    try {
      expect(second.get(jobId)).toBeDefined();
      const c = collector();
      expect(second.subscribe(jobId, c.onEvent)).toBe(true);
      const end = await c.ended;
      expect(end.type).toBe('result');
      // after the end, a new subscriber still gets the result (read back from Redis)
      const again = collector();
      second.subscribe(jobId, again.onEvent);
      expect((await again.ended).type).toBe('result');
    } finally {
      await w.close();
      await second.close();
    }
  });

  it('a worker process killed mid-job: another worker finishes it and exactly one result is delivered', async () => {
    const bundle = join(process.cwd(), 'node_modules/.cache/nnseg-test', `redis-worker-${process.pid}.mjs`);
    await build({
      entryPoints: [join(process.cwd(), 'test/helpers/redis-worker-process.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      outfile: bundle,
      logLevel: 'silent',
    });
    const name = queueName();
    const q = await createRedisQueue({ url: redis.url, queueName: name, registry });
    let child: ChildProcess | undefined;
    let survivor: RedisWorker | undefined;
    try {
      child = spawn(process.execPath, [bundle], {
        env: { ...process.env, NNSEG_REDIS_URL: redis.url, NNSEG_MODEL_STORE: store.root, NNSEG_QUEUE: name, NNSEG_LOCK_MS: '1500' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let childOut = '';
      child.stderr!.on('data', (d) => (childOut += d));
      await new Promise<void>((resolve, reject) => {
        child!.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
        child!.once('exit', (code) => reject(new Error(`worker process exited with ${code}: ${childOut}`)));
      });
      const c = collector();
      let killed = false;
      const folder = seriesFolder(tmp.dir, { nx: 64, ny: 64, nz: 24 });
      q.submit(segmentRequest('s', folder, { tta: true }), (e) => {
        c.onEvent(e);
        if (e.type === 'progress' && e.progress.stage === 'predicting' && !killed) {
          killed = true;
          child!.kill('SIGKILL');
        }
      });
      for (let t = 0; !killed && t < 600; t++) await sleep(50);
      expect(killed).toBe(true);
      await new Promise((r) => (child!.exitCode !== null || child!.signalCode ? r(null) : child!.once('exit', r)));
      survivor = await startRedisWorker({ url: redis.url, queueName: name, registry, lockDurationMs: 1500, stalledIntervalMs: 500 });
      const end = await c.ended;
      expect(end.type).toBe('result');
      await sleep(1500);
      expect(c.events.filter((e) => e.type === 'result' || e.type === 'error' || e.type === 'cancelled')).toHaveLength(1);
      // the job really ran twice: once on the killed worker, once on the survivor
      expect(c.events.filter((e) => e.type === 'progress' && e.progress.stage === 'assembling')).toHaveLength(2);
      expect(existsSync(folder)).toBe(false);
    } finally {
      if (child && child.exitCode === null && !child.signalCode) child.kill('SIGKILL');
      await survivor?.close();
      await q.close();
      rmSync(bundle, { force: true });
    }
  });
});

/**
 * Scale-out soak (bounded): a real Orthanc, a real redis-server, two `nnseg worker` processes (the built CLI)
 * and the PACS watcher submitting through the Redis queue. SOAK_SERIES CT series are uploaded; every one must
 * get exactly one valid SEG, and both workers must have taken jobs. Each worker has its own model store with
 * the same model imported at a different time, so the model version in each result tells which worker ran
 * it. Prints throughput, p50/p95 latency (series uploaded → SEG stored) and the workers' peak RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DicomWebClient, jsonValue } from '../../server/src/dicom/dicomweb/client.js';
import { createRedisQueue, ModelRegistry } from '../../server/src/jobs/index.js';
import type { JobQueue } from '../../server/src/jobs/types.js';
import { ModelStore } from '../../server/src/models/model-store.js';
import { parsePacsConfig } from '../../server/src/pacs/config.js';
import { PacsWatcher } from '../../server/src/pacs/watcher.js';
import { validateDicom } from '../helpers/dicom-validate.js';
import { startOrthanc, type OrthancHandle } from '../helpers/orthanc.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { createTestModel } from '../helpers/test-model.js';
import { makeTempDir } from '../helpers/tmp.js';
import { within } from '../helpers/patience.js';

const SOAK_SERIES = Number(process.env.NNSEG_SOAK_SERIES ?? 20);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');

let orthanc: OrthancHandle;
let redis: TestRedis;
let client: DicomWebClient;
const tmp = makeTempDir('nnseg-pacs-scale-');
const workers: { child: ChildProcess; version: string; log: string }[] = [];

function startWorker(store: string, name: string): Promise<ChildProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, NNSEG_PACS_URL: orthanc.dicomWebUrl, NNSEG_WORK_DIR: join(tmp.dir, `work-${name}`) };
  delete env.NNSEG_CONFIG;
  const child = spawn('node', [CLI, 'worker', '--redis', redis.url, '--store', store, '--threads', '1', '--device', 'cpu'], {
    env,
    cwd: tmp.dir, // no ./nnseg.config.json to pick up
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`worker ${name} did not start:\n${out}`)), within(30_000));
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('taking jobs')) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker ${name} exited (${code}):\n${out}`));
    });
  });
}

/** Peak resident set (VmHWM) of a live process, in MiB. */
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

beforeAll(async () => {
  orthanc = await startOrthanc({ stableAge: 1 });
  redis = await startRedis();
  client = new DicomWebClient({ baseUrl: orthanc.dicomWebUrl });
  for (const name of ['a', 'b']) {
    const store = join(tmp.dir, `store-${name}`);
    const model = await createTestModel(store);
    await new Promise((r) => setTimeout(r, 5)); // distinct importedAt per store
    const child = await startWorker(store, name);
    workers.push({ child, version: model.card.importedAt, log: '' });
  }
}, within(120_000));

afterAll(async () => {
  for (const w of workers) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      const exited = new Promise((r) => w.child.once('exit', r));
      w.child.kill('SIGKILL');
      await exited;
    }
  }
  await redis?.stop();
  await orthanc?.stop();
  tmp.cleanup();
});

describe('PACS auto-segmentation through Redis and two worker processes', () => {
  it(`${SOAK_SERIES} series → exactly one valid SEG each, jobs split between the workers`, async () => {
    expect(new Set(workers.map((w) => w.version)).size).toBe(2);
    const registry = new ModelRegistry(new ModelStore(join(tmp.dir, 'store-a')));
    const queue: JobQueue = await createRedisQueue({ url: redis.url, registry, pacsConfigured: true });
    const watcher = await PacsWatcher.create({
      config: parsePacsConfig({
        version: 1,
        dicomWeb: { url: orthanc.dicomWebUrl },
        discovery: { mode: 'orthanc-changes', startFrom: 'now', pollIntervalSeconds: 0.25 },
        ledger: join(tmp.dir, 'ledger.jsonl'),
        maxInFlight: 4,
        rules: [{ match: { modality: 'CT' }, model: 'test-ct', options: { tta: false } }],
      }),
      queue,
    });
    const uploadedAt = new Map<string, number>();
    const series: string[] = [];
    try {
      await watcher.pollOnce();
      watcher.start();
      const started = Date.now();
      for (let n = 0; n < SOAK_SERIES; n++) {
        const study = `1.2.826.0.1.3680043.8.498.66.${n + 1}`;
        const uid = `${study}.1`;
        const s = syntheticSeries({ nx: 32, ny: 32, nz: 16, intercept: 0, studyInstanceUID: study, seriesInstanceUID: uid, frameOfReferenceUID: `${study}.2`, value: (i, j, k) => (i > 4 && j > 4 && k > 2 && i < 24 ? 300 : 0) });
        for (const f of s.files) await orthanc.upload(f);
        uploadedAt.set(uid, Date.now());
        series.push(uid);
      }
      const deadline = Date.now() + 240_000;
      const ended = () => series.every((uid) => ['done', 'failed'].includes(watcher.ledger.get(uid)?.state ?? ''));
      while (!ended()) {
        if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(watcher.status().counts)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const wall = (Date.now() - started) / 1000;
      const records = series.map((uid) => watcher.ledger.get(uid)!);
      expect(records.filter((r) => r.state !== 'done').map((r) => [r.series, r.error])).toEqual([]);

      const latencies = records.map((r) => (Date.parse(r.endedAt!) - uploadedAt.get(r.series)!) / 1000).sort((a, b) => a - b);
      const byWorker = workers.map((w) => records.filter((r) => r.modelVersion?.version === w.version).length);
      const peaks = workers.map((w) => peakRssMiB(w.child.pid!));
      process.stdout.write(
        `pacs scale-out soak: ${SOAK_SERIES} series (32×32×16 CT) through 2 workers in ${wall.toFixed(1)} s = ${(SOAK_SERIES / wall).toFixed(2)} series/s; ` +
          `latency upload→SEG p50 ${quantile(latencies, 0.5).toFixed(1)} s, p95 ${quantile(latencies, 0.95).toFixed(1)} s; ` +
          `jobs per worker ${byWorker.join('/')}; worker peak RSS ${peaks.map((p) => p.toFixed(0)).join('/')} MiB; ` +
          `watcher process RSS ${(process.memoryUsage().rss / 1024 ** 2).toFixed(0)} MiB\n`,
      );
      expect(byWorker.reduce((a, b) => a + b, 0)).toBe(SOAK_SERIES);
      expect(byWorker.every((n) => n > 0)).toBe(true);

      // exactly one SEG per series, each valid
      const segs = await client.searchForSeries({ Modality: 'SEG' });
      expect(segs).toHaveLength(SOAK_SERIES);
      const referenced = new Map<string, number>();
      for (const s of segs) {
        const study = jsonValue(s, '0020000D')!;
        const segSeries = jsonValue(s, '0020000E')!;
        const meta = await client.retrieveSeriesMetadata(study, segSeries);
        expect(meta).toHaveLength(1);
        const ref = jsonValue((meta[0]!['00081115']!.Value as Record<string, unknown>[])[0]!, '0020000E')!;
        referenced.set(ref, (referenced.get(ref) ?? 0) + 1);
        const bytes = await client.retrieveInstance(study, segSeries, jsonValue(meta[0]!, '00080018')!);
        expect(validateDicom(bytes).errors).toEqual([]);
      }
      expect([...referenced.keys()].sort()).toEqual([...series].sort());
      expect([...referenced.values()].every((n) => n === 1)).toBe(true);
    } finally {
      await watcher.stop();
      await queue.close();
      await registry.close();
    }
  }, within(400_000));

  it('a worker killed mid-job: the job completes on the other worker, one SEG', async () => {
    const registry = new ModelRegistry(new ModelStore(join(tmp.dir, 'store-a')));
    const queue: JobQueue = await createRedisQueue({ url: redis.url, registry, pacsConfigured: true });
    const watcher = await PacsWatcher.create({
      config: parsePacsConfig({
        version: 1,
        dicomWeb: { url: orthanc.dicomWebUrl },
        discovery: { mode: 'orthanc-changes', startFrom: 'now', pollIntervalSeconds: 0.25 },
        ledger: join(tmp.dir, 'ledger-kill.jsonl'),
        rules: [{ match: { modality: 'CT' }, model: 'test-ct', options: { tta: false } }],
      }),
      queue,
    });
    try {
      await watcher.pollOnce();
      watcher.start();
      const study = '1.2.826.0.1.3680043.8.498.67.1';
      const uid = `${study}.1`;
      // larger than the soak series: the job runs long enough to be caught running (10 ms polling)
      const s = syntheticSeries({ nx: 96, ny: 96, nz: 48, intercept: 0, studyInstanceUID: study, seriesInstanceUID: uid, frameOfReferenceUID: `${study}.2`, value: (i, j) => (i > 10 && j > 10 ? 300 : 0) });
      for (const f of s.files) await orthanc.upload(f);
      // the worker running it has a job-* folder in its spool
      const spool = (name: string) => join(tmp.dir, `work-${name}`, 'spool');
      const running = () => ['a', 'b'].findIndex((name) => existsSync(spool(name)) && readdirSync(spool(name)).some((f) => f.startsWith('job-')));
      let victim = -1;
      const deadline = Date.now() + 60_000;
      while ((victim = running()) < 0) {
        if (Date.now() > deadline) throw new Error('no worker started the job');
        await new Promise((r) => setTimeout(r, 10));
      }
      workers[victim]!.child.kill('SIGKILL');
      const survivor = workers[1 - victim]!;
      const killedAt = Date.now();
      while (!['done', 'failed'].includes(watcher.ledger.get(uid)?.state ?? '')) {
        if (Date.now() - killedAt > 150_000) throw new Error(`not completed after the kill: ${JSON.stringify(watcher.ledger.get(uid))}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      process.stdout.write(`pacs scale-out: worker ${'ab'[victim]} killed mid-job; the other completed it ${((Date.now() - killedAt) / 1000).toFixed(1)} s later\n`);
      expect(watcher.ledger.get(uid)).toMatchObject({ state: 'done', reused: false, modelVersion: { version: survivor.version } });
      const segs = (await client.searchForSeries({ Modality: 'SEG' }, { study }));
      expect(segs).toHaveLength(1);
    } finally {
      await watcher.stop();
      await queue.close();
      await registry.close();
    }
  }, within(300_000));
});

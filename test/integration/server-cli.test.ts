/**
 * `nnseg serve` as a process (server/dist; `npm run build` first): env configuration, SIGTERM, and a
 * `kill -9` during a job — the next start finds the job in its journal and reports it INTERRUPTED.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { createTestModel } from '../helpers/test-model.js';
import { makeTempDir } from '../helpers/tmp.js';
import { startRedis } from '../helpers/redis.js';
import { validateDicom } from '../helpers/dicom-validate.js';
import { TestClient, manifestOf, pushInstances } from './server-client.js';
import { within } from '../helpers/patience.js';

const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const TOKEN = 'cli-test-token-0123456789';

let tmp: { dir: string; cleanup: () => void };
beforeAll(async () => {
  tmp = makeTempDir('nnseg-serve-cli-');
  await createTestModel(join(tmp.dir, 'models'));
});
afterAll(() => tmp.cleanup());

function serve(env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--store', join(tmp.dir, 'models'), '--work-dir', join(tmp.dir, 'work')], {
    env: { ...process.env, NNSEG_TOKENS: `${TOKEN}:viewer:cli-reader`, NNSEG_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nnseg serve did not start: ${out}`)), within(60000));
    const check = () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], output: () => out });
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`nnseg serve exited with ${code}: ${out}`)));
  });
}

const exited = (child: ChildProcess) => new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (code) => r(code))));

describe('nnseg serve (process)', () => {
  it('prints its URL, serves /health, and stops on SIGTERM with exit code 0', async () => {
    const { child, url, output } = await serve();
    expect(await (await fetch(`${url}/health`)).json()).toMatchObject({ status: 'ok' });
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    expect(output()).toMatch(/SIGTERM: stopping/);
    // logs carry no token
    expect(output()).not.toContain(TOKEN);
  });

  it('after kill -9 during a job, the next start reports the job INTERRUPTED over HTTP and to a subscriber', async () => {
    const first = await serve();
    const s = syntheticSeries({ nx: 96, ny: 96, nz: 48, value: () => 500 });
    const { client, welcome } = await TestClient.ready(first.url, TOKEN);
    client.send({ type: 'segment', requestId: 'k', series: { kind: 'push', manifest: { instances: manifestOf(s.files) } }, options: { model: 'test-ct' } });
    await pushInstances(client, s.files, await client.next('uploadStatus'));
    const { jobId } = await client.next('queued');
    await client.next('progress', within(60000), (p) => p.stage === 'predicting');
    first.child.kill('SIGKILL');
    await exited(first.child);
    await client.closed;

    const second = await serve();
    try {
      const rec = (await (await fetch(`${second.url}/api/jobs/${jobId}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as Record<string, unknown>;
      expect(rec).toMatchObject({ id: jobId, state: 'failed', owner: 'cli-reader', error: { code: 'INTERRUPTED' } });
      // the client comes back with its session id (its ownership secret), which the restarted server takes over
      const { client: again, welcome: back } = await TestClient.ready(second.url, TOKEN, { sessionId: welcome.sessionId });
      expect(back.sessionId).toBe(welcome.sessionId);
      again.send({ type: 'subscribe', jobId });
      expect(await again.next('error')).toMatchObject({ code: 'INTERRUPTED', jobId });
      await again.close();
      // another client with the same token is not that session
      const { client: stranger } = await TestClient.ready(second.url, TOKEN);
      stranger.send({ type: 'subscribe', jobId });
      expect(await stranger.next('error')).toMatchObject({ code: 'UNKNOWN_JOB', jobId });
      await stranger.close();
    } finally {
      second.child.kill('SIGTERM');
      await exited(second.child);
    }
  });
});

describe('nnseg serve with NNSEG_REDIS_URL', () => {
  it('queues on Redis; an `nnseg worker` process runs the job and the SEG comes back over the socket', async () => {
    const redis = await startRedis();
    const server = await serve({ NNSEG_REDIS_URL: redis.url });
    const worker = spawn(process.execPath, [CLI, 'worker', '--redis', redis.url, '--store', join(tmp.dir, 'models')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let workerOut = '';
    worker.stdout!.on('data', (d: Buffer) => (workerOut += d.toString()));
    worker.stderr!.on('data', (d: Buffer) => (workerOut += d.toString()));
    try {
      const s = syntheticSeries({ nx: 24, ny: 24, nz: 6 });
      const { client } = await TestClient.ready(server.url, TOKEN);
      client.send({ type: 'segment', requestId: 'r', series: { kind: 'push', manifest: { instances: manifestOf(s.files) } }, options: { model: 'test-ct' } });
      await pushInstances(client, s.files, await client.next('uploadStatus'));
      const { jobId } = await client.next('queued');
      const result = await client.next('result', within(90000)).catch((e: Error) => {
        throw new Error(`${e.message}\nworker: ${workerOut}\nserver: ${server.output()}`);
      });
      expect(result.jobId).toBe(jobId);
      expect(result.referencedSeriesInstanceUID).toBe(s.seriesInstanceUID);
      expect(validateDicom(await client.frame(result.frameId)).errors).toEqual([]);
      await client.close();
    } finally {
      worker.kill('SIGTERM');
      await exited(worker);
      server.child.kill('SIGTERM');
      await exited(server.child);
      await redis.stop();
    }
  });
});

/**
 * The built `nnseg worker` process against a real redis-server: a producer in this process submits a job,
 * the worker process runs it and the SEG comes back; SIGTERM stops the worker cleanly.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRedisQueue } from '../../server/src/jobs/redis-queue.js';
import type { JobEvent } from '../../server/src/jobs/types.js';
import { validateDicom } from '../helpers/dicom-validate.js';
import { startRedis } from '../helpers/redis.js';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { createTestModel } from '../helpers/test-model.js';
import { makeTempDir } from '../helpers/tmp.js';

const CLI = join(process.cwd(), 'server/dist/cli/main.js');

describe('nnseg worker (built CLI)', () => {
  const tmp = makeTempDir();
  afterAll(tmp.cleanup);

  it('runs a job submitted by a Redis producer and stops on SIGTERM', async () => {
    const redis = await startRedis();
    const storeRoot = join(tmp.dir, 'store');
    await createTestModel(storeRoot);
    const folder = join(tmp.dir, 'series');
    mkdirSync(folder);
    syntheticSeries({ nx: 16, ny: 16, nz: 4, pixelSpacing: [1, 1], sliceSpacing: 2 }).files.forEach((f, i) => writeFileSync(join(folder, `${i}.dcm`), f));
    const worker = spawn(process.execPath, [CLI, 'worker', '--redis', redis.url, '--store', storeRoot, '--queue', 'cli-test', '--threads', '1', '--device', 'cpu'], {
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NNSEG_'))), NNSEG_WORK_DIR: join(tmp.dir, 'work') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    worker.stdout!.on('data', (d) => (out += d));
    worker.stderr!.on('data', (d) => (out += d));
    const q = await createRedisQueue({ url: redis.url, queueName: 'cli-test' });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => out.includes('taking jobs') && (clearInterval(t), resolve()), 50);
        worker.once('exit', (code) => (clearInterval(t), reject(new Error(`worker exited with ${code}: ${out}`))));
      });
      const end = await new Promise<JobEvent>((resolve) =>
        q.submit({ sessionId: 's', series: { kind: 'folder', path: folder }, options: { model: 'test-ct', tta: false } }, (e) => {
          if (e.type === 'result' || e.type === 'error' || e.type === 'cancelled') resolve(e);
        }),
      );
      expect(end.type).toBe('result');
      const result = (end as Extract<JobEvent, { type: 'result' }>).result;
      expect(validateDicom(result.seg).errors).toEqual([]);
      expect(result.segments[0].voxelCount).toBe(16 * 16 * 4);
      const exit = new Promise<number | null>((r) => worker.once('exit', (code) => r(code)));
      worker.kill('SIGTERM');
      expect(await exit).toBe(0);
      expect(out).toMatch(/SIGTERM: finishing running jobs/);
    } finally {
      if (worker.exitCode === null) worker.kill('SIGKILL');
      await q.close();
      await redis.stop();
    }
  });
});

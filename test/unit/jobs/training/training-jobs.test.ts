/**
 * TrainingJobs across a restart, with the real `nnseg` CLI as its child: a run that was going when the
 * server stopped is recorded interrupted (resumable); a queued one runs again, and a child that fails
 * ends the job failed with the child's own reason; unreadable records are skipped, not fatal.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TRAINING_JOB_FILE, TrainingJobs, type TrainingUpdate } from '../../../../server/src/jobs/training/training-jobs.js';
import { parseTrainRequest, type TrainingJobRecord } from '../../../../server/src/contract/train-request.js';
import { ModelStore } from '../../../../server/src/models/model-store.js';
import { makeTempDir } from '../../../helpers/tmp.js';
import { within } from '../../../helpers/patience.js';

const tmp = makeTempDir('nnseg-training-jobs-');
afterAll(() => tmp.cleanup());

const record = (id: string, state: TrainingJobRecord['state'], createdAt: string): TrainingJobRecord => ({
  formatVersion: 1,
  id,
  owner: 'admin-1',
  state,
  request: parseTrainRequest({ source: { kind: 'dataset', name: 'Dataset901_Liver' }, configuration: '3d_fullres', registerAs: 'liver', epochs: 2 }),
  createdAt,
  runs: 1,
  epochs: [],
});

describe('TrainingJobs restart', () => {
  it('records a running job interrupted, runs a queued one again (its child fails with its reason), skips broken records', async () => {
    const root = join(tmp.dir, 'training');
    const datasets = join(tmp.dir, 'raw');
    // the dataset vanished while the server was down: the queued job's child fails on it
    mkdirSync(datasets, { recursive: true });
    const running = '11111111-1111-4111-8111-111111111111';
    const queued = '22222222-2222-4222-8222-222222222222';
    for (const [id, state, at] of [
      [running, 'running', '2026-01-01T00:00:00Z'],
      [queued, 'queued', '2026-01-01T00:01:00Z'],
    ] as const) {
      mkdirSync(join(root, id), { recursive: true });
      writeFileSync(join(root, id, TRAINING_JOB_FILE), JSON.stringify(record(id, state, at)));
    }
    mkdirSync(join(root, 'broken'), { recursive: true });
    writeFileSync(join(root, 'broken', TRAINING_JOB_FILE), '{"formatVersion": 7');

    const logs: string[] = [];
    const jobs = new TrainingJobs({ root, workDir: tmp.dir, store: new ModelStore(join(tmp.dir, 'models')), datasetsRoot: datasets, log: (e) => logs.push(e) });
    try {
      expect(jobs.get(running)).toMatchObject({ state: 'interrupted', error: { code: 'INTERRUPTED' } });
      expect(JSON.parse(readFileSync(join(root, running, TRAINING_JOB_FILE), 'utf8')).state).toBe('interrupted');
      expect(logs).toContain('training.unreadable_record');

      const ended = new Promise<TrainingUpdate>((resolve) => {
        jobs.subscribe(queued, (u) => {
          if (u.training.state === 'failed' || u.training.state === 'succeeded') resolve(u);
        });
      });
      const u = await ended;
      expect(u.training.state).toBe('failed');
      expect(u.training.runs).toBe(2);
      expect(u.training.error?.code).toBe('TRAINING_FAILED');
      expect(u.training.error?.message).toMatch(/Dataset901_Liver/);

      // resuming now is refused with the reason: the dataset is not there
      expect(() => jobs.resume(queued)).toThrow(/no nnU-Net raw dataset Dataset901_Liver/);
      expect(() => jobs.resume(running)).toThrow(/no nnU-Net raw dataset/);
      expect(() => jobs.cancel(running)).toThrow(/already ended \(interrupted\)/);
      expect(() => jobs.cancel('nope')).toThrow(/no train job nope/);
    } finally {
      await jobs.close();
    }
  }, within(60_000));
});

/**
 * The in-process queue with the real test model and real synthetic series folders: fair order across
 * sessions, positions, cancel within a second (model released, spool removed), limits, DICOMweb fetch,
 * failures with their codes, and restart from a journal (running → INTERRUPTED, queued → re-queued).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInProcessQueue, type InProcessQueue } from '../../../server/src/jobs/in-process-queue.js';
import type { JobEvent, JobRecord, SegmentRequest } from '../../../server/src/jobs/types.js';
import { ModelRegistry } from '../../../server/src/models/model-registry.js';
import { ModelStore } from '../../../server/src/models/model-store.js';
import { collector, segmentRequest, seriesFolder } from '../../helpers/segment-jobs.js';
import { syntheticSeries } from '../../helpers/synthetic-series.js';
import { createTestModel } from '../../helpers/test-model.js';
import { makeTempDir } from '../../helpers/tmp.js';

const tmp = makeTempDir();
const store = new ModelStore(join(tmp.dir, 'store'));
let registry: ModelRegistry;




beforeAll(async () => {
  await createTestModel(store.root);
  await createTestModel(store.root, { name: 'broken', corruptOnnx: true });
  registry = new ModelRegistry(store, { defaults: { intraOpThreads: 1 } });
});
afterAll(async () => {
  await registry.close();
  tmp.cleanup();
});

describe('InProcessQueue', () => {
  it('runs a job to a result, removes the spooled series and records the job', async () => {
    const q = createInProcessQueue({ registry });
    const folder = seriesFolder(tmp.dir);
    const c = collector();
    const { jobId } = q.submit(segmentRequest('s1', folder), c.onEvent);
    const end = await c.ended;
    expect(end.type).toBe('result');
    expect(c.events[0]).toEqual({ type: 'queued', jobId, position: 1 });
    expect(c.events.some((e) => e.type === 'progress')).toBe(true);
    expect(c.events.some((e) => e.type === 'partial')).toBe(true);
    const result = (end as Extract<JobEvent, { type: 'result' }>).result;
    expect(result.segments[0]).toMatchObject({ name: 'liver', voxelCount: 16 * 16 * 4 });
    expect(existsSync(folder)).toBe(false);
    expect(q.get(jobId)).toMatchObject({ id: jobId, sessionId: 's1', state: 'succeeded', model: 'test-ct', resultSeriesInstanceUID: result.seriesInstanceUID });
    // a late subscriber gets the final event again
    const late: JobEvent[] = [];
    expect(q.subscribe(jobId, (e) => late.push(e))).toBe(true);
    expect(late).toEqual([end]);
    expect(q.subscribe('no-such-job', () => {})).toBe(false);
    expect(q.cancel(jobId)).toBe(false);
    await q.close();
  });

  it('serves two sessions in fair order and keeps positions up to date', async () => {
    const q = createInProcessQueue({ registry });
    const started: string[] = [];
    const ends: Promise<JobEvent>[] = [];
    const queuedEvents = new Map<string, number[]>();
    const submit = (session: string, name: string) => {
      const c = collector();
      let seen = false;
      const { jobId } = q.submit(segmentRequest(session, seriesFolder(tmp.dir)), (e) => {
        if (e.type === 'queued') queuedEvents.set(name, [...(queuedEvents.get(name) ?? []), e.position]);
        if (e.type === 'progress' && !seen) {
          seen = true;
          started.push(name);
        }
        c.onEvent(e);
      });
      ends.push(c.ended);
      return jobId;
    };
    submit('A', 'A1');
    submit('A', 'A2');
    submit('A', 'A3');
    submit('B', 'B1');
    submit('B', 'B2');
    // A1 runs; waiting order: B1 (B never served), A2, B2, A3
    expect(q.list().map((j) => j.state)).toEqual(['running', 'queued', 'queued', 'queued', 'queued']);
    const ev = await Promise.all(ends);
    expect(ev.every((e) => e.type === 'result')).toBe(true);
    expect(started).toEqual(['A1', 'B1', 'A2', 'B2', 'A3']);
    // A2 was 1st, then 2nd once B1 arrived, then 1st again when B1 started
    expect(queuedEvents.get('A2')).toEqual([1, 2, 1]);
    expect(queuedEvents.get('B1')).toEqual([1]);
    expect(queuedEvents.get('A3')).toEqual([2, 3, 4, 3, 2, 1]);
    await q.close();
  });

  it('cancels a running job: cancelled event at once, model released, spool removed', async () => {
    const q = createInProcessQueue({ registry });
    const folder = seriesFolder(tmp.dir, { nx: 96, ny: 96, nz: 40 });
    const c = collector();
    let cancelled = false;
    let reportedInCall = false;
    const { jobId } = q.submit(segmentRequest('s', folder, { tta: true, step: 0.25 }), (e) => {
      c.onEvent(e);
      if (e.type === 'progress' && e.progress.stage === 'predicting' && !cancelled) {
        cancelled = true;
        expect(q.cancel(jobId)).toBe(true);
        reportedInCall = c.events.at(-1)?.type === 'cancelled';
      }
    });
    const end = await c.ended;
    expect(end).toEqual({ type: 'cancelled', jobId });
    expect(reportedInCall).toBe(true); // the client hears it from cancel() itself, not when the pipeline notices
    // the pipeline itself stops and frees the model (segment-series.test.ts proves it stops mid-prediction);
    // the wait is a hang guard sized for a loaded machine, not a speed claim
    const t0 = performance.now();
    while (existsSync(folder) || registry.warm().some((w) => w.inUse > 0)) {
      if (performance.now() - t0 > 30_000) throw new Error('job still holding its model or spool 30 s after cancel');
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(q.get(jobId)!.state).toBe('cancelled');
    expect(c.events.filter((e) => e.type === 'result')).toEqual([]);
    // a queued job is cancelled without running
    const blocker = collector();
    q.submit(segmentRequest('s', seriesFolder(tmp.dir)), blocker.onEvent);
    const queuedFolder = seriesFolder(tmp.dir);
    const c2 = collector();
    const second = q.submit(segmentRequest('t', queuedFolder), c2.onEvent).jobId;
    expect(q.cancel(second)).toBe(true);
    expect(await c2.ended).toEqual({ type: 'cancelled', jobId: second });
    expect(c2.events.filter((e) => e.type === 'progress')).toEqual([]);
    expect(existsSync(queuedFolder)).toBe(false);
    await blocker.ended;
    await q.close();
  });

  it('refuses what can never run and limits jobs per session', async () => {
    const q = createInProcessQueue({ registry, maxJobsPerSession: 2 });
    expect(() => q.submit(segmentRequest('s', seriesFolder(tmp.dir), { model: 'nope' }), () => {})).toThrow(expect.objectContaining({ code: 'UNKNOWN_MODEL' }));
    expect(() => q.submit({ sessionId: 's', series: { kind: 'dicomweb', studyInstanceUID: '1.2', seriesInstanceUID: '1.3' }, options: { model: 'test-ct' } }, () => {})).toThrow(
      expect.objectContaining({ code: 'PACS_UNAVAILABLE' }),
    );
    expect(() => q.submit({ sessionId: 's', series: { kind: 'folder', path: '' }, options: { model: 'test-ct', step: 3 } }, () => {})).toThrow(/series\.path.*options\.step|options\.step/);
    const a = collector();
    const b = collector();
    q.submit(segmentRequest('s', seriesFolder(tmp.dir)), a.onEvent);
    q.submit(segmentRequest('s', seriesFolder(tmp.dir)), b.onEvent);
    expect(() => q.submit(segmentRequest('s', seriesFolder(tmp.dir)), () => {})).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
    const other = collector();
    q.submit(segmentRequest('other', seriesFolder(tmp.dir)), other.onEvent); // another session is not limited by s
    await Promise.all([a.ended, b.ended, other.ended]);
    await q.close();
  });

  it('reports failures with their codes and keeps serving', async () => {
    const q = createInProcessQueue({ registry });
    const broken = collector();
    q.submit(segmentRequest('s', seriesFolder(tmp.dir), { model: 'broken' }), broken.onEvent);
    const empty = join(tmp.dir, 'empty-spool');
    mkdirSync(empty);
    writeFileSync(join(empty, 'x.txt'), 'no DICOM here');
    const bad = collector();
    q.submit(segmentRequest('s', empty), bad.onEvent);
    const ok = collector();
    q.submit(segmentRequest('s', seriesFolder(tmp.dir)), ok.onEvent);
    expect(await broken.ended).toMatchObject({ type: 'error', code: 'MODEL_FAILED', message: expect.stringMatching(/"broken" could not be loaded/) });
    expect(await bad.ended).toMatchObject({ type: 'error', code: 'BAD_SERIES', message: expect.stringMatching(/no DICOM/) });
    expect((await ok.ended).type).toBe('result');
    expect(q.list().map((j) => [j.state, j.error?.code])).toEqual([
      ['failed', 'MODEL_FAILED'],
      ['failed', 'BAD_SERIES'],
      ['succeeded', undefined],
    ]);
    expect(existsSync(empty)).toBe(false);
    await q.close();
  });

  it('pulls a DICOMweb series through fetchSeries into its own spool folder and removes it', async () => {
    const spoolRoot = join(tmp.dir, 'dicomweb-spool');
    const s = syntheticSeries({ nx: 16, ny: 16, nz: 4, pixelSpacing: [1, 1], sliceSpacing: 2 });
    const fetched: string[] = [];
    const q = createInProcessQueue({
      registry,
      spoolRoot,
      fetchSeries: async (source, folder, _signal, onInstance) => {
        if (source.seriesInstanceUID === '9.9') throw new Error('HTTP 503 from the PACS');
        fetched.push(folder);
        s.files.forEach((f, i) => {
          writeFileSync(join(folder, `${i}.dcm`), f);
          onInstance?.(i + 1);
        });
      },
    });
    const c = collector();
    q.submit({ sessionId: 's', series: { kind: 'dicomweb', studyInstanceUID: '1.2.3', seriesInstanceUID: s.seriesInstanceUID }, options: { model: 'test-ct', tta: false } }, c.onEvent);
    const end = await c.ended;
    expect(end.type).toBe('result');
    expect((end as Extract<JobEvent, { type: 'result' }>).result.referencedSeriesInstanceUID).toBe(s.seriesInstanceUID);
    expect(c.events.filter((e) => e.type === 'progress' && e.progress.stage === 'receiving').map((e) => (e as { progress: { done?: number } }).progress.done)).toEqual([0, 1, 2, 3, 4]);
    expect(fetched[0].startsWith(spoolRoot)).toBe(true);
    expect(existsSync(fetched[0])).toBe(false);
    const failing = collector();
    q.submit({ sessionId: 's', series: { kind: 'dicomweb', studyInstanceUID: '1.2.3', seriesInstanceUID: '9.9' }, options: { model: 'test-ct' } }, failing.onEvent);
    expect(await failing.ended).toMatchObject({ type: 'error', code: 'PACS_UNAVAILABLE', message: expect.stringMatching(/HTTP 503/) });
    await q.close();
  });

  it('keeps spooled series with retainSeries', async () => {
    const q = createInProcessQueue({ registry, retainSeries: true });
    const folder = seriesFolder(tmp.dir);
    const c = collector();
    q.submit(segmentRequest('s', folder), c.onEvent);
    expect((await c.ended).type).toBe('result');
    expect(existsSync(folder)).toBe(true);
    await q.close();
  });
});

describe('InProcessQueue restart from its journal', () => {
  const line = (job: Partial<JobRecord> & { id: string; state: JobRecord['state'] }, req?: SegmentRequest) =>
    JSON.stringify({ v: 1, job: { sessionId: 's', model: 'test-ct', createdAt: '2026-01-01T00:00:00.000Z', ...job }, ...(req ? { request: req } : {}) });

  it('fails running jobs as INTERRUPTED, re-queues queued ones whose series exists, skips corrupt lines', async () => {
    const journalPath = join(tmp.dir, 'journal', 'jobs.jsonl');
    mkdirSync(join(tmp.dir, 'journal'));
    const runningFolder = seriesFolder(tmp.dir);
    const queuedFolder = seriesFolder(tmp.dir);
    const lines = [
      line({ id: 'done', state: 'queued' }, segmentRequest('s', '/gone')),
      line({ id: 'done', state: 'succeeded', endedAt: '2026-01-01T00:01:00.000Z', resultSeriesInstanceUID: '1.2.3' }),
      line({ id: 'was-running', state: 'queued' }, segmentRequest('s', runningFolder)),
      line({ id: 'was-running', state: 'running', startedAt: '2026-01-01T00:02:00.000Z' }, segmentRequest('s', runningFolder)),
      '{"v":1,"job":{"id":"half-written","sta',
      'not json at all',
      JSON.stringify({ v: 99, job: { id: 'future', state: 'queued' } }),
      line({ id: 'queued-ok', state: 'queued' }, segmentRequest('t', queuedFolder)),
      JSON.stringify({ v: 1, job: { id: 'bad-state', sessionId: 's', model: 'm', createdAt: 'x', state: 'exploded' } }),
      line({ id: 'queued-gone', state: 'queued' }, segmentRequest('u', join(tmp.dir, 'no-such-folder'))),
    ];
    writeFileSync(journalPath, lines.join('\n') + '\n');
    const logged: string[] = [];
    const q: InProcessQueue = createInProcessQueue({ registry, journalPath, log: (l) => logged.push(l) });
    expect(q.journalProblems).toHaveLength(4);
    expect(q.journalProblems[0]).toMatch(/jobs\.jsonl:5: not JSON/);
    expect(q.journalProblems[2]).toMatch(/jobs\.jsonl:7: v:/);
    expect(q.journalProblems[3]).toMatch(/jobs\.jsonl:9: job\.state/);
    expect(logged.filter((l) => l.startsWith('job journal: skipped'))).toHaveLength(4);
    const byId = Object.fromEntries(q.list().map((j) => [j.id, j]));
    expect(Object.keys(byId).sort()).toEqual(['done', 'queued-gone', 'queued-ok', 'was-running']);
    expect(byId['done']).toMatchObject({ state: 'succeeded', resultSeriesInstanceUID: '1.2.3' });
    expect(byId['was-running']).toMatchObject({ state: 'failed', error: { code: 'INTERRUPTED', message: expect.stringMatching(/stopped while this job was running/) } });
    expect(existsSync(runningFolder)).toBe(false);
    expect(byId['queued-gone']).toMatchObject({ state: 'failed', error: { code: 'INTERRUPTED' } });
    expect(['queued', 'running']).toContain(byId['queued-ok'].state);
    // a client that reconnects re-attaches and gets the result of the re-queued job
    const c = collector();
    expect(q.subscribe('queued-ok', c.onEvent)).toBe(true);
    expect((await c.ended).type).toBe('result');
    const interrupted: JobEvent[] = [];
    q.subscribe('was-running', (e) => interrupted.push(e));
    expect(interrupted).toMatchObject([{ type: 'error', code: 'INTERRUPTED' }]);
    await q.close();

    // the journal was compacted to one valid line per job, and a second restart sees the same states
    const compacted = readFileSync(journalPath, 'utf8').trim().split('\n');
    expect(compacted.length).toBeGreaterThanOrEqual(4);
    const again = createInProcessQueue({ registry, journalPath });
    expect(again.journalProblems).toEqual([]);
    expect(Object.fromEntries(again.list().map((j) => [j.id, j.state]))).toEqual({ done: 'succeeded', 'was-running': 'failed', 'queued-ok': 'succeeded', 'queued-gone': 'failed' });
    await again.close();
  });

  it('a job running when the process dies is reported INTERRUPTED by the next start', async () => {
    const journalPath = join(tmp.dir, 'journal2', 'jobs.jsonl');
    const first = createInProcessQueue({ registry, journalPath });
    const c = collector();
    let running!: () => void;
    const isRunning = new Promise<void>((r) => (running = r));
    const { jobId } = first.submit(segmentRequest('s', seriesFolder(tmp.dir, { nx: 64, ny: 64, nz: 24 }), { tta: true, step: 0.25 }), (e) => {
      c.onEvent(e);
      if (e.type === 'progress') running();
    });
    await isRunning;
    // "crash": a new process opens the journal while the old one never wrote an end
    const second = createInProcessQueue({ registry, journalPath });
    expect(second.get(jobId)).toMatchObject({ state: 'failed', error: { code: 'INTERRUPTED' } });
    await first.close(); // the old process's shutdown: its running job ends as interrupted too
    expect(await c.ended).toMatchObject({ type: 'error', code: 'INTERRUPTED' });
    await second.close();
  });
});

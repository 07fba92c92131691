/**
 * Jobs in inference threads (the in-process queue's default): the event loop stays responsive while a job
 * on a 128×256×256 series runs, cancel frees the thread within a second, a thread that dies fails its job
 * with a clear error and the next job runs on a fresh thread, and a model invalidation on the main registry
 * reaches the thread's registry. Real test model, real synthetic DICOM series, real worker threads (from
 * server/dist: `npm run build` first).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInProcessQueue } from '../../../server/src/jobs/in-process-queue.js';
import type { JobEvent } from '../../../server/src/jobs/types.js';
import { ModelRegistry } from '../../../server/src/models/model-registry.js';
import { ModelStore } from '../../../server/src/models/model-store.js';
import { collector, segmentRequest, seriesFolder } from '../../helpers/segment-jobs.js';
import { createTestModel } from '../../helpers/test-model.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { within } from '../../helpers/patience.js';

const tmp = makeTempDir();
const store = new ModelStore(join(tmp.dir, 'store'));
let registry: ModelRegistry;




async function waitFor(what: string, ok: () => boolean, ms: number): Promise<number> {
  const t0 = performance.now();
  while (!ok()) {
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

beforeAll(async () => {
  await createTestModel(store.root);
  registry = new ModelRegistry(store, { defaults: { intraOpThreads: 1 } });
});
afterAll(async () => {
  await registry.close();
  tmp.cleanup();
});

describe('inference threads', () => {
  it('keep the event loop responsive during a job on a 128×256×256 series', async () => {
    const q = createInProcessQueue({ registry });
    try {
      // warm the thread and the model first, so the measured job is the pipeline itself
      const warm = collector();
      q.submit(segmentRequest('s', seriesFolder(tmp.dir)), warm.onEvent);
      expect((await warm.ended).type).toBe('result');

      // 0.5 mm in-plane, 1 mm slices: resampled to the model's 1 mm and back (order-3 in-plane), 128 SEG frames
      const folder = seriesFolder(tmp.dir, { nx: 256, ny: 256, nz: 128, pixelSpacing: [0.5, 0.5], sliceSpacing: 1 });
      const c = collector();
      const h = monitorEventLoopDelay({ resolution: 10 });
      h.enable();
      await new Promise((r) => setTimeout(r, 50)); // the histogram's first sample is its second tick
      const t0 = performance.now();
      q.submit(segmentRequest('s', folder, { step: 1 }), c.onEvent);
      const end = await c.ended;
      const wall = performance.now() - t0;
      h.disable();
      expect(end.type).toBe('result');
      const result = (end as Extract<JobEvent, { type: 'result' }>).result;
      expect(result.seg.byteLength).toBeGreaterThan(128 * 256 * 256 / 8);
      expect(result.segments[0].voxelCount).toBe(128 * 256 * 256);
      const maxMs = h.max / 1e6;
      // on the main thread, the longest synchronous step (preprocessing, export or encoding) would block the loop
      const { preprocessing, exporting, encoding } = result.timings;
      const longestStepMs = Math.max(preprocessing, exporting, encoding) * 1000;
      console.log(`job ${(wall / 1000).toFixed(2)} s, longest step ${longestStepMs.toFixed(0)} ms: event-loop delay max ${maxMs.toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms`);
      // relative, not in ms: had the longest step run on this thread, the loop would have stalled at least
      // that long. Both numbers grow with the machine's load (the step is CPU work, the delay scheduling
      // noise), so the ratio holds on an idle and a loaded machine; bench/ measures the absolute delay.
      expect(maxMs).toBeLessThan(longestStepMs / 2);
    } finally {
      await q.close();
    }
  }, within(180_000));

  it('cancel ends the job at once and frees the thread, its model and the spool within a second', async () => {
    const q = createInProcessQueue({ registry });
    try {
      const folder = seriesFolder(tmp.dir, { nx: 96, ny: 96, nz: 40 });
      const c = collector();
      let cancelled = false;
      let reportedInCall = false;
      const { jobId } = q.submit(segmentRequest('s', folder, { tta: true, step: 0.25 }), (e) => {
        c.onEvent(e);
        if (e.type === 'progress' && e.progress.stage === 'predicting' && !cancelled) {
          cancelled = true;
          q.cancel(jobId);
          reportedInCall = c.events.at(-1)?.type === 'cancelled';
        }
      });
      expect(await c.ended).toEqual({ type: 'cancelled', jobId });
      expect(reportedInCall).toBe(true);
      // the thread reported the model in use while the job ran; after the cancel it releases it (hang guard)
      await waitFor('spool removed, model released', () => !existsSync(folder) && !registry.warm().some((w) => w.inUse > 0), within(30_000));
      expect(registry.warm().some((w) => w.key.startsWith('inference-thread-0:'))).toBe(true); // still warm for the next job
      // the same thread takes the next job (no restart was needed)
      const next = collector();
      q.submit(segmentRequest('s', seriesFolder(tmp.dir)), next.onEvent);
      expect((await next.ended).type).toBe('result');
      expect(q.inferenceThreads!.started).toBe(1);
    } finally {
      await q.close();
    }
  }, within(60_000));

  it('a thread that dies fails its job with a clear error; the next job runs on a fresh thread', async () => {
    const logged: string[] = [];
    const q = createInProcessQueue({ registry, log: (l) => logged.push(l) });
    try {
      // killed while it reads the series (onnxruntime idle, model loaded): see inference-proxy.ts on why a
      // thread is never terminated while onnxruntime runs in it
      const folder = seriesFolder(tmp.dir, { nx: 256, ny: 256, nz: 48 });
      const c = collector();
      let killed = false;
      const { jobId } = q.submit(segmentRequest('s', folder), (e) => {
        c.onEvent(e);
        if (e.type === 'progress' && e.progress.stage === 'assembling' && !killed) {
          killed = true;
          expect(q.inferenceThreads!.isBusy(0)).toBe(false);
          void q.inferenceThreads!.terminateThread(0);
        }
      });
      const end = await c.ended;
      expect(end).toMatchObject({ type: 'error', jobId, code: 'INTERNAL' });
      expect((end as Extract<JobEvent, { type: 'error' }>).message).toMatch(/inference thread stopped while running this job/);
      expect(q.get(jobId)).toMatchObject({ state: 'failed', error: { code: 'INTERNAL' } });
      expect(existsSync(folder)).toBe(false);
      expect(logged.some((l) => l.includes('inference thread died'))).toBe(true);
      // the dead thread's models are no longer listed
      expect(registry.warm().filter((w) => w.key.startsWith('inference-thread-'))).toEqual([]);

      const next = collector();
      q.submit(segmentRequest('s', seriesFolder(tmp.dir)), next.onEvent);
      expect((await next.ended).type).toBe('result');
      expect(q.inferenceThreads!.started).toBe(2);
    } finally {
      await q.close();
    }
  }, within(60_000));

  it('after a cancel, a thread that has not stopped within the grace time is replaced, but never while onnxruntime runs', async () => {
    const q = createInProcessQueue({ registry, cancelGraceMs: 0 });
    try {
      // cancelled while predicting: onnxruntime is busy, so no terminate; the pipeline stops within a patch
      const predicting = collector();
      const p = q.submit(segmentRequest('s', seriesFolder(tmp.dir, { nx: 64, ny: 64, nz: 24 }), { tta: true, step: 0.25 }), (e) => {
        predicting.onEvent(e);
        if (e.type === 'progress' && e.progress.stage === 'predicting') q.cancel(p.jobId);
      });
      expect(await predicting.ended).toEqual({ type: 'cancelled', jobId: p.jobId });
      await waitFor('model released', () => !registry.warm().some((w) => w.inUse > 0), within(1000));
      expect(q.inferenceThreads!.isAlive(0)).toBe(true);
      expect(q.inferenceThreads!.started).toBe(1);

      // cancelled while the series is read (a step that does not check the signal): terminated at once
      const folder = seriesFolder(tmp.dir, { nx: 256, ny: 256, nz: 48 });
      const c = collector();
      const { jobId } = q.submit(segmentRequest('s', folder), (e) => {
        c.onEvent(e);
        if (e.type === 'progress' && e.progress.stage === 'assembling') q.cancel(jobId);
      });
      expect(await c.ended).toEqual({ type: 'cancelled', jobId });
      await waitFor('thread terminated', () => !q.inferenceThreads!.isAlive(0), within(1000));
      await waitFor('spool removed', () => !existsSync(folder), within(1000));
      const next = collector();
      q.submit(segmentRequest('s', seriesFolder(tmp.dir)), next.onEvent);
      expect((await next.ended).type).toBe('result');
      expect(q.inferenceThreads!.started).toBe(2);
    } finally {
      await q.close();
    }
  }, within(60_000));

  it('a model invalidated on the main registry is unloaded in the thread', async () => {
    const q = createInProcessQueue({ registry });
    try {
      const c = collector();
      q.submit(segmentRequest('s', seriesFolder(tmp.dir)), c.onEvent);
      expect((await c.ended).type).toBe('result');
      await waitFor('model reported warm by the thread', () => registry.warm().some((w) => w.name === 'test-ct' && w.inUse === 0), within(1000));
      const [w] = registry.warm();
      expect(w.key.startsWith('inference-thread-0:')).toBe(true);
      expect(registry.estimatedBytesInUse()).toBe(w.estimatedBytes);
      await registry.invalidate('test-ct');
      await waitFor('model unloaded in the thread', () => registry.warm().length === 0, within(2000));
      expect(registry.estimatedBytesInUse()).toBe(0);
      // and loaded again for the next job
      const again = collector();
      q.submit(segmentRequest('s', seriesFolder(tmp.dir)), again.onEvent);
      expect((await again.ended).type).toBe('result');
    } finally {
      await q.close();
    }
  }, within(60_000));

  it('two threads run two jobs at once with concurrency 2', async () => {
    const q = createInProcessQueue({ registry, concurrency: 2 });
    try {
      const a = collector();
      const b = collector();
      q.submit(segmentRequest('a', seriesFolder(tmp.dir, { nx: 48, ny: 48, nz: 16 })), a.onEvent);
      q.submit(segmentRequest('b', seriesFolder(tmp.dir, { nx: 48, ny: 48, nz: 16 })), b.onEvent);
      const [ea, eb] = await Promise.all([a.ended, b.ended]);
      expect([ea.type, eb.type]).toEqual(['result', 'result']);
      expect(q.inferenceThreads!.size).toBe(2);
      expect(q.inferenceThreads!.started).toBe(2);
      // both threads hold their own warm copy, each within half the budget
      expect(new Set(registry.warm().map((w) => w.key.split(':')[0]))).toEqual(new Set(['inference-thread-0', 'inference-thread-1']));
    } finally {
      await q.close();
    }
  }, within(60_000));

  it('keeps the old same-thread mode for debugging (where the same measurement sees the loop blocked)', async () => {
    const q = createInProcessQueue({ registry, executor: 'same-thread' });
    try {
      expect(q.inferenceThreads).toBeUndefined();
      const folder = seriesFolder(tmp.dir, { nx: 256, ny: 256, nz: 64, pixelSpacing: [0.5, 0.5], sliceSpacing: 1 });
      const c = collector();
      const h = monitorEventLoopDelay({ resolution: 10 });
      h.enable();
      await new Promise((r) => setTimeout(r, 50));
      q.submit(segmentRequest('s', folder, { step: 1 }), c.onEvent);
      expect((await c.ended).type).toBe('result');
      h.disable();
      // reading and preprocessing the series run in one synchronous stretch on this thread
      expect(h.max / 1e6).toBeGreaterThan(300);
      expect(registry.warm().some((w) => !w.key.startsWith('inference-thread-'))).toBe(true);
    } finally {
      await q.close();
    }
  }, within(60_000));
});

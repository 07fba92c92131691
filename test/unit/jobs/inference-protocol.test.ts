/**
 * The main ↔ inference-thread messages (zod) and the registry hooks the threads use: settings as plain data,
 * models reported by threads in warm()/estimatedBytesInUse(), invalidate() reaching listeners.
 */
import { join } from 'node:path';
import { FromThreadSchema, InferenceThreadConfigSchema, ToThreadSchema, describeIssues } from '../../../server/src/jobs/inference-protocol.js';
import { ModelRegistry } from '../../../server/src/models/model-registry.js';
import { ModelStore } from '../../../server/src/models/model-store.js';
import { makeTempDir } from '../../helpers/tmp.js';

const tmp = makeTempDir();
afterAll(tmp.cleanup);

const request = { sessionId: 's', series: { kind: 'folder', path: '/spool/x' }, options: { model: 'm' } };

describe('inference thread messages', () => {
  it('accepts the messages both sides send', () => {
    expect(ToThreadSchema.parse({ type: 'run', jobId: 'j', request })).toEqual({ type: 'run', jobId: 'j', request });
    expect(ToThreadSchema.parse({ type: 'cancel', jobId: 'j' }).type).toBe('cancel');
    expect(ToThreadSchema.parse({ type: 'invalidate', model: 'liver' }).type).toBe('invalidate');
    const seg = new Uint8Array([1, 2, 3]);
    const result = {
      seg,
      sopInstanceUID: '1.2',
      seriesInstanceUID: '1.3',
      referencedSeriesInstanceUID: '1.4',
      segments: [{ segmentNumber: 1, label: 1, name: 'liver', voxelCount: 0, volumeMl: 0, meanIntensity: null, minIntensity: null, maxIntensity: null }],
      model: { name: 'm', version: 'v', configuration: '3d_fullres', folds: ['0'] },
      timings: { predicting: 1.5 },
    };
    const parsed = FromThreadSchema.parse({ type: 'result', jobId: 'j', result });
    expect(parsed.type === 'result' && parsed.result.seg).toBe(seg); // the transferred bytes themselves, not a copy
    expect(FromThreadSchema.parse({ type: 'partial', jobId: 'j', partial: { z0: 4, shape: [2, 3, 3], labels: new Uint8Array(18) } }).type).toBe('partial');
    expect(FromThreadSchema.parse({ type: 'error', jobId: 'j', code: 'BAD_SERIES', message: 'x', aborted: false }).type).toBe('error');
  });

  it('rejects malformed messages, naming the field', () => {
    const run = ToThreadSchema.safeParse({ type: 'run', jobId: 'j', request: { ...request, options: { model: 'm', step: 3 } } });
    expect(run.success).toBe(false);
    expect(describeIssues(run.error!)).toMatch(/request\.options\.step/);
    const res = FromThreadSchema.safeParse({ type: 'result', jobId: 'j', result: { seg: [1, 2, 3] } });
    expect(res.success).toBe(false);
    expect(describeIssues(res.error!)).toMatch(/result\.seg/);
    const err = FromThreadSchema.safeParse({ type: 'error', jobId: 'j', code: 'NOPE', message: 'x', aborted: false });
    expect(describeIssues(err.error!)).toMatch(/^code:/);
    expect(ToThreadSchema.safeParse({ type: 'explode' }).success).toBe(false);
  });

  it('checks the thread configuration, its version and the shared busy flag', () => {
    const config = { v: 1, kind: 'nnseg-inference-thread', storeRoot: '/store', registry: { memoryBudgetBytes: 1024 }, canFetch: false, busy: new SharedArrayBuffer(4) };
    expect(InferenceThreadConfigSchema.safeParse(config).success).toBe(true);
    expect(InferenceThreadConfigSchema.safeParse({ ...config, v: 2 }).success).toBe(false);
    expect(describeIssues(InferenceThreadConfigSchema.safeParse({ ...config, busy: new ArrayBuffer(4) }).error!)).toMatch(/^busy:/);
  });
});

describe('ModelRegistry hooks for inference threads', () => {
  it('settings() is plain data with the effective defaults', () => {
    const r = new ModelRegistry(new ModelStore(join(tmp.dir, 'store')), { memoryBudgetBytes: 1000, defaults: { intraOpThreads: 1 }, onChange: () => {} });
    expect(r.settings()).toEqual({ memoryBudgetBytes: 1000, memoryFactor: 3, sessionOverheadBytes: 64 * 1024 ** 2, defaults: { intraOpThreads: 1 } });
  });

  it('lists models reported by threads and forgets a source; invalidate() reaches listeners', async () => {
    const r = new ModelRegistry(new ModelStore(join(tmp.dir, 'store2')));
    const w = { key: 'k', name: 'liver', version: 'v1', estimatedBytes: 300, inUse: 1, lastUsed: 4 };
    r.reportExternal('inference-thread-0', [w]);
    r.reportExternal('inference-thread-1', [{ ...w, estimatedBytes: 200, inUse: 0 }]);
    expect(r.warm().map((x) => x.key)).toEqual(['inference-thread-0:k', 'inference-thread-1:k']);
    expect(r.estimatedBytesInUse()).toBe(500);
    r.reportExternal('inference-thread-0', undefined);
    expect(r.warm()).toEqual([{ ...w, key: 'inference-thread-1:k', estimatedBytes: 200, inUse: 0 }]);
    expect(r.estimatedBytesInUse()).toBe(200);

    const seen: string[] = [];
    const off = r.onInvalidate((name) => seen.push(name));
    await r.invalidate('liver');
    off();
    await r.invalidate('spleen');
    expect(seen).toEqual(['liver']);
    await r.close();
    expect(r.warm()).toEqual([]);
  });
});

/** ModelRegistry over a real ModelStore with real (tiny) models: lazy loading, LRU by budget, hot import, invalidate. */
import { join } from 'node:path';
import { LoadedModel } from '../../../server/src/models/loaded-model.js';
import { ModelRegistry } from '../../../server/src/models/model-registry.js';
import { ModelStore } from '../../../server/src/models/model-store.js';
import type { Volume } from '../../../server/src/imaging/volume.js';
import { createTestModel } from '../../helpers/test-model.js';
import { makeTempDir } from '../../helpers/tmp.js';

const image = (): Volume => {
  const data = new Float32Array(8 * 8 * 8).fill(100);
  return { data, shape: [8, 8, 8], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
};

describe('ModelRegistry', () => {
  const tmp = makeTempDir();
  const root = join(tmp.dir, 'store');
  const store = new ModelStore(root);
  let perModel = 0;
  beforeAll(async () => {
    await createTestModel(root, { name: 'a' });
    await createTestModel(root, { name: 'b' });
    perModel = new ModelRegistry(store).estimateBytes(store.get('a'));
  });
  afterAll(tmp.cleanup);

  it('estimates ONNX bytes × factor + overhead per fold', () => {
    const r = new ModelRegistry(store, { memoryFactor: 2, sessionOverheadBytes: 1000 });
    const stored = store.get('a');
    const onnxBytes = (perModel - 64 * 1024 ** 2) / 3;
    expect(onnxBytes).toBeGreaterThan(1000);
    expect(Number.isInteger(onnxBytes)).toBe(true);
    expect(r.estimateBytes(stored)).toBe(onnxBytes * 2 + 1000);
  });

  it('loads lazily once, shares a warm model between concurrent users, and the model predicts', async () => {
    const r = new ModelRegistry(store);
    expect(r.warm()).toEqual([]);
    const [x, y] = await Promise.all([r.acquire('a'), r.acquire('a')]);
    expect(x.model).toBe(y.model);
    expect(x.model).toBeInstanceOf(LoadedModel);
    expect(r.warm()).toMatchObject([{ name: 'a', inUse: 2 }]);
    const { segmentation } = await x.model.predict([image()], { useMirroring: false });
    expect(Array.from(new Set(segmentation.data))).toEqual([1]);
    x.release();
    x.release(); // idempotent
    expect(r.warm()[0].inUse).toBe(1);
    y.release();
    const again = await r.acquire('a');
    expect(again.model).toBe(x.model); // still warm
    again.release();
    await r.close();
  });

  it('evicts the least recently used idle model when over budget, never one in use', async () => {
    const r = new ModelRegistry(store, { memoryBudgetBytes: Math.floor(perModel * 1.5) });
    const a = await r.acquire('a');
    const b = await r.acquire('b'); // over budget, but a is in use
    expect(r.warm().map((w) => w.name).sort()).toEqual(['a', 'b']);
    a.release(); // a is idle and least recently used: evicted
    await new Promise((res) => setImmediate(res));
    expect(r.warm().map((w) => w.name)).toEqual(['b']);
    b.release();
    const a2 = await r.acquire('a'); // b idle → evicted to make room
    expect(a2.model).not.toBe(a.model);
    expect(r.warm().map((w) => w.name)).toEqual(['a']);
    // the evicted model's sessions are released: it can no longer predict
    await expect(a.model.predict([image()], { useMirroring: false })).rejects.toThrow();
    a2.release();
    await r.close();
  });

  it('sees a hot import without restart, and loads the new version after a replace', async () => {
    const r = new ModelRegistry(store);
    expect(r.list().models.map((m) => m.card.name)).not.toContain('hot');
    await createTestModel(root, { name: 'hot' });
    expect(r.list().models.map((m) => m.card.name)).toContain('hot');
    const first = await r.acquire('hot');
    first.release();
    await new Promise((res) => setTimeout(res, 5)); // importedAt has ms resolution
    // the model is deleted and imported again under the same name while the registry keeps running
    store.delete('hot');
    await createTestModel(root, { name: 'hot' });
    const second = await r.acquire('hot');
    expect(second.stored.card.importedAt).not.toBe(first.stored.card.importedAt);
    expect(second.model).not.toBe(first.model);
    expect(r.warm().map((w) => w.version)).toEqual([second.stored.card.importedAt]);
    second.release();
    await r.close();
  });

  it('invalidate drops an idle model now and one in use when it is released', async () => {
    const r = new ModelRegistry(store);
    const a = await r.acquire('a');
    const b = await r.acquire('b');
    b.release();
    await r.invalidate('b');
    expect(r.warm().map((w) => w.name)).toEqual(['a']);
    await r.invalidate('a');
    expect(r.warm()).toMatchObject([{ name: 'a', inUse: 1 }]);
    const a2 = await r.acquire('a');
    expect(a2.model).not.toBe(a.model);
    a.release();
    await new Promise((res) => setImmediate(res));
    expect(r.warm()).toMatchObject([{ name: 'a', inUse: 1 }]);
    a2.release();
    await r.close();
  });

  it('reports UNKNOWN_MODEL and MODEL_FAILED, and caches nothing for a failed load', async () => {
    await createTestModel(root, { name: 'broken', corruptOnnx: true });
    const r = new ModelRegistry(store);
    await expect(r.acquire('nope')).rejects.toMatchObject({ code: 'UNKNOWN_MODEL', message: expect.stringMatching(/no model named "nope"/) });
    await expect(r.acquire('a', { configuration: '2d' })).rejects.toMatchObject({ code: 'UNKNOWN_MODEL', message: expect.stringMatching(/no configuration "2d"/) });
    await expect(r.acquire('a', { folds: ['3'] })).rejects.toMatchObject({ code: 'UNKNOWN_MODEL', message: expect.stringMatching(/no fold 3/) });
    await expect(r.acquire('broken')).rejects.toMatchObject({ code: 'MODEL_FAILED', message: expect.stringMatching(/"broken" could not be loaded/) });
    expect(r.warm()).toEqual([]);
    expect(r.estimatedBytesInUse()).toBe(0);
    await r.close();
  });
});

/** The shared test model (test/helpers/test-model.ts) gives its documented answer through LoadedModel. */
import { LoadedModel } from '../../../server/src/models/loaded-model.js';
import type { Volume } from '../../../server/src/imaging/volume.js';
import { createTestModel } from '../../helpers/test-model.js';
import { makeTempDir } from '../../helpers/tmp.js';

describe('createTestModel', () => {
  const tmp = makeTempDir();
  afterAll(tmp.cleanup);

  it('predicts label 1 exactly inside the nonzero bounding box of a 64×64×32 image', async () => {
    const stored = await createTestModel(tmp.dir);
    expect(stored.card.name).toBe('test-ct');
    expect(stored.card.configurations[0].configuration).toBe('3d_fullres');
    const [nz, ny, nx] = [32, 64, 64];
    const data = new Float32Array(nz * ny * nx);
    // nonzero box z 3..28, y 5..60, x 10..50 (inclusive), with a zero hole inside that must stay label 1
    for (let z = 3; z <= 28; z++)
      for (let y = 5; y <= 60; y++) for (let x = 10; x <= 50; x++) data[(z * ny + y) * nx + x] = (x + y) % 7 === 0 ? 0 : 40 + x;
    const image: Volume = { data, shape: [nz, ny, nx], spacing: [2, 0.8, 0.8], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
    const model = await LoadedModel.load(stored, { intraOpThreads: 1 });
    try {
      const { segmentation } = await model.predict([image], { useMirroring: false });
      expect(segmentation.shape).toEqual([nz, ny, nx]);
      let wrong = 0;
      for (let z = 0; z < nz; z++)
        for (let y = 0; y < ny; y++)
          for (let x = 0; x < nx; x++) {
            const inside = z >= 3 && z <= 28 && y >= 5 && y <= 60 && x >= 10 && x <= 50;
            if (segmentation.data[(z * ny + y) * nx + x] !== (inside ? 1 : 0)) wrong++;
          }
      expect(wrong).toBe(0);
    } finally {
      await model.release();
    }
  });

  it('can give a model whose ONNX graph is corrupt: loading it fails', async () => {
    const stored = await createTestModel(tmp.dir, { name: 'broken', corruptOnnx: true });
    await expect(LoadedModel.load(stored)).rejects.toThrow();
  });
});

/**
 * predict --save-probabilities → ensemble, through the built `nnseg` command, with the known-answer test
 * model (label 1 exactly inside each image's nonzero box, background outside): the saved probabilities must
 * be nnU-Net's layout ((c, z, y, x) float32 `probabilities` in <case>.npz, properties in <case>.pkl), sum to 1,
 * be [1, 0, 0] outside the box, agree with the written segmentation, and the ensemble of two prediction
 * folders must reproduce that segmentation.
 */
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readImage } from '../../server/src/io/image-file.js';
import { readNpz } from '../../server/src/formats/npz.js';
import { createTestModel } from '../helpers/test-model.js';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.js';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const nnseg = (...args: string[]) => run('node', [CLI, ...args], { maxBuffer: 1 << 24 });

describe('nnseg predict --save-probabilities → ensemble', () => {
  const tmp = makeTempDir();
  afterAll(tmp.cleanup);

  it('saves nnU-Net-layout probabilities and ensembles them back to the same segmentation', async () => {
    const store = join(tmp.dir, 'store');
    await createTestModel(store);
    const ds = await writeSyntheticDataset(join(tmp.dir, 'raw'), { kind: '3d', numCases: 2 });
    const images = join(ds.folder, 'imagesTr');
    const a = join(tmp.dir, 'a');
    const b = join(tmp.dir, 'b');
    await nnseg('predict', '-i', images, '-o', a, '-m', 'test-ct', '--store', store, '--save-probabilities', '--disable-tta');
    await nnseg('predict', '-i', images, '-o', b, '-m', 'test-ct', '--store', store, '--save-probabilities', '--fill-holes');
    for (const f of ['dataset.json', 'plans.json']) expect(existsSync(join(a, f))).toBe(true);

    for (const c of ds.cases) {
      const seg = await readImage(join(a, `${c.id}.nii.gz`));
      const probs = readNpz(join(a, `${c.id}.npz`)).get('probabilities')!;
      expect(existsSync(join(a, `${c.id}.pkl`))).toBe(true);
      expect(probs.shape).toEqual([3, ...c.shape]);
      const n = c.shape[0] * c.shape[1] * c.shape[2];
      let outside = 0;
      for (let v = 0; v < n; v++) {
        const p = [probs.data[v], probs.data[n + v], probs.data[2 * n + v]];
        expect(p[0] + p[1] + p[2]).toBeCloseTo(1, 5);
        const argmax = p.indexOf(Math.max(...p));
        expect(argmax).toBe(seg.data[v]);
        if (seg.data[v] === 0) {
          expect(p).toEqual([1, 0, 0]);
          outside++;
        }
      }
      expect(outside).toBeGreaterThan(0);
      expect(outside).toBeLessThan(n);
    }

    const e = join(tmp.dir, 'ensemble');
    await nnseg('ensemble', '-i', a, b, '-o', e, '--save-npz');
    for (const c of ds.cases) {
      const want = await readImage(join(a, `${c.id}.nii.gz`));
      const got = await readImage(join(e, `${c.id}.nii.gz`));
      expect(got.shape).toEqual(want.shape);
      got.spacing.forEach((s, i) => expect(s).toBeCloseTo(want.spacing[i], 5));
      got.origin.forEach((s, i) => expect(s).toBeCloseTo(want.origin[i], 4));
      expect(Array.from(got.data)).toEqual(Array.from(want.data));
      expect(readNpz(join(e, `${c.id}.npz`)).get('probabilities')!.shape).toEqual([3, ...c.shape]);
    }

    // every folder must hold every case
    rmSync(join(b, `${ds.cases[0].id}.npz`));
    await expect(nnseg('ensemble', '-i', a, b, '-o', join(tmp.dir, 'e2'))).rejects.toThrow(new RegExp(`lacks 1 case\\(s\\) of .*${ds.cases[0].id}`));
  });
});

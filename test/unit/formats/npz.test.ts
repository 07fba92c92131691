import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NpzWriter, readNpz } from '../../../server/src/formats/npz.js';
import { readPredictionGeometry, writePredictionProperties } from '../../../server/src/io/prediction-properties.js';
import { makeTempDir } from '../../helpers/tmp.js';

const FIXTURES = join(process.cwd(), 'test/fixtures/prediction');
const expected = Float32Array.from({ length: 72 }, (_, i) => Math.fround(i / 71));

describe('npz', () => {
  const tmp = makeTempDir();
  afterAll(tmp.cleanup);

  it('reads what np.savez_compressed wrote (float32 and float16)', () => {
    const p = readNpz(join(FIXTURES, 'case.npz')).get('probabilities')!;
    expect(p.shape).toEqual([3, 2, 3, 4]);
    expect(Array.from(p.data)).toEqual(Array.from(expected));
    const h = readNpz(join(FIXTURES, 'half.npz')).get('probabilities')!;
    h.data.forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThan(1e-3));
  });

  it('streams members channel by channel and reads them back', () => {
    const path = join(tmp.dir, 'out.npz');
    const w = new NpzWriter(path);
    w.beginFloat32('probabilities', [3, 2, 3, 4]);
    for (let c = 0; c < 3; c++) w.append(expected.subarray(c * 24, (c + 1) * 24));
    w.close();
    const back = readNpz(path).get('probabilities')!;
    expect(back.shape).toEqual([3, 2, 3, 4]);
    expect(Array.from(back.data)).toEqual(Array.from(expected));
  });

  it('refuses an incomplete member and too many values', () => {
    const w = new NpzWriter(join(tmp.dir, 'short.npz'));
    w.beginFloat32('probabilities', [2, 2]);
    expect(() => w.append(new Float32Array(5))).toThrow(/gets 5 values, only 4 remain/);
    w.append(new Float32Array(3));
    expect(() => w.close()).toThrow(/not complete \(1 values missing\)/);
  });

  it('names a file that is not a zip', () => {
    const bad = join(tmp.dir, 'bad.npz');
    writeFileSync(bad, 'not a zip');
    expect(() => readNpz(bad)).toThrow(/bad\.npz: not a readable \.npz/);
  });
});

describe('prediction properties (<case>.pkl)', () => {
  const tmp = makeTempDir();
  afterAll(tmp.cleanup);

  it("reads nnU-Net's pickle (default protocol, numpy ints)", () => {
    const g = readPredictionGeometry(join(FIXTURES, 'case.pkl'));
    expect(g).toEqual({ spacing: [2.5, 0.7, 0.8], origin: [-10, 20.5, 3], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] });
  });

  it('writes a pickle that reads back to the same geometry', () => {
    const path = join(tmp.dir, 'case.pkl');
    writePredictionProperties(path, {
      spacing: [2.5, 0.7, 0.8],
      sitk_stuff: { spacing: [0.8, 0.7, 2.5], origin: [-10, 20.5, 3], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] },
      shape_before_cropping: [2, 3, 4],
      bbox_used_for_cropping: [[0, 2], [1, 3], [0, 4]],
      shape_after_cropping_and_before_resampling: [2, 2, 4],
    });
    expect(readFileSync(path)[0]).toBe(0x80); // PROTO
    expect(readPredictionGeometry(path)).toEqual({ spacing: [2.5, 0.7, 0.8], origin: [-10, 20.5, 3], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] });
  });
});

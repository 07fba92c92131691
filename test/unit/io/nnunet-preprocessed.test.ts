import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { npyHeader, readNpy, readNpySlab, writeNpy } from '../../../server/src/formats/npy.js';
import { casePaths, readPreprocessedCase, readPreprocessedProperties, writePreprocessedCase } from '../../../server/src/io/nnunet-preprocessed.js';
import type { PreprocessedCase } from '../../../server/src/nnunet/preprocessing/default-preprocessor.js';
import { makeTempDir } from '../../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => (tmp = makeTempDir()));
afterEach(() => tmp.cleanup());

test('NPY headers are byte-identical to numpy.save (2.x)', () => {
  // from python3 -c "np.save(...)" with numpy 2.4
  const pad = (s: string): string => s + ' '.repeat(128 - 10 - s.length - 1) + '\n';
  expect(npyHeader('<f4', [2, 3, 4, 5]).subarray(10).toString('latin1')).toBe(pad("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4, 5), }"));
  expect(npyHeader('<i2', [7]).subarray(10).toString('latin1')).toBe(pad("{'descr': '<i2', 'fortran_order': False, 'shape': (7,), }"));
  const h = npyHeader('|i1', [1, 3, 4, 5]);
  expect(h.length).toBe(128);
  expect([...h.subarray(0, 10)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]);
});

test('NPY round trip, slabs, and clear errors', () => {
  const p = join(tmp.dir, 'a.npy');
  const a = Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i * 0.5);
  writeNpy(p, a, [2, 3, 2, 2]);
  const r = readNpy(p);
  expect(r.dtype).toBe('<f4');
  expect(r.shape).toEqual([2, 3, 2, 2]);
  expect(Array.from(r.data)).toEqual(Array.from(a));
  // slices 1..3 of both channels
  const s = readNpySlab(p, 1, 3);
  expect(s.shape).toEqual([2, 2, 2, 2]);
  expect(Array.from(s.data)).toEqual([...a.slice(4, 12), ...a.slice(16, 24)]);
  expect(() => readNpySlab(p, 2, 4)).toThrow(/outside z = \[0, 3\)/);
  expect(() => writeNpy(p, a, [5])).toThrow(/24 values, shape \[5\]/);
  writeFileSync(join(tmp.dir, 'bad.npy'), 'hello world, not numpy');
  expect(() => readNpy(join(tmp.dir, 'bad.npy'))).toThrow(/bad.npy: not an NPY file/);
  const full = readFileSync(p);
  writeFileSync(join(tmp.dir, 'short.npy'), full.subarray(0, full.length - 4));
  expect(() => readNpy(join(tmp.dir, 'short.npy'))).toThrow(/short.npy: .* needs/);
});

function sampleCase(maxLabel: number): PreprocessedCase {
  const shape: [number, number, number] = [2, 2, 3];
  return {
    data: Float32Array.from({ length: 2 * 12 }, (_, i) => i - 3.25),
    channels: 2,
    shape,
    seg: Int16Array.from({ length: 12 }, (_, i) => (i === 5 ? maxLabel : i % 3) - 1),
    properties: {
      spacing: [3, 1, 1],
      sitk_stuff: { spacing: [1, 1, 3], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] },
      shape_before_cropping: [4, 4, 4],
      bbox_used_for_cropping: [[1, 3], [0, 4], [0, 4]],
      shape_after_cropping_and_before_resampling: [2, 4, 4],
      class_locations: { '1': Int32Array.from([0, 1, 0, 2, 0, 0, 1, 1]), '[1,2]': new Int32Array(0) },
    },
  };
}

test.each([
  [5, 'int8', '|i1'],
  [300, 'int16', '<i2'],
])('preprocessed case round trip (max label %i → %s)', (maxLabel, segDtype, descr) => {
  const pp = sampleCase(maxLabel);
  writePreprocessedCase(tmp.dir, 'case_001', pp);
  const meta = readPreprocessedProperties(tmp.dir, 'case_001');
  expect(meta.version).toBe(1);
  expect(meta.seg_dtype).toBe(segDtype);
  expect(meta.properties.class_locations).toEqual({ '1': [[0, 1, 0, 2], [0, 0, 1, 1]], '[1,2]': [] });
  expect(readNpy(casePaths(tmp.dir, 'case_001').seg).dtype).toBe(descr);
  const back = readPreprocessedCase(tmp.dir, 'case_001');
  expect(Array.from(back.data)).toEqual(Array.from(pp.data));
  expect(Array.from(back.seg!)).toEqual(Array.from(pp.seg!));
  expect(back.shape).toEqual([2, 2, 3]);
  expect(back.properties.bbox_used_for_cropping).toEqual([[1, 3], [0, 4], [0, 4]]);
});

test('inference cases have no seg file; wrong version is rejected by name', () => {
  const pp = sampleCase(1);
  delete pp.seg;
  delete pp.properties.class_locations;
  writePreprocessedCase(tmp.dir, 'c', pp);
  expect(readPreprocessedCase(tmp.dir, 'c').seg).toBeUndefined();
  const p = casePaths(tmp.dir, 'c').properties;
  const j = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  writeFileSync(p, JSON.stringify({ ...j, version: 2 }));
  expect(() => readPreprocessedProperties(tmp.dir, 'c')).toThrow(/c.json: not an nnseg-preprocessed v1 case file:\n {2}version/);
  expect(() => readPreprocessedProperties(tmp.dir, 'missing')).toThrow(/"missing" has no properties file/);
});

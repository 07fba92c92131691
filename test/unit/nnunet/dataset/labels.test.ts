import { parseDatasetJson, channelNames } from '../../../../server/src/nnunet/dataset/dataset-json.js';
import { LabelManager, nonConsecutiveLabels } from '../../../../server/src/nnunet/dataset/labels.js';
import { allClose, checkCaseGeometry, checkCaseLabels } from '../../../../server/src/nnunet/dataset/integrity.js';
import type { Vec3, Volume } from '../../../../server/src/imaging/volume.js';

describe('dataset.json schema', () => {
  const ok = { channel_names: { '1': 'T2', '0': 'CT' }, labels: { background: 0, a: 1 }, numTraining: 3, file_ending: '.nii.gz', extra: 'kept' };
  it('accepts a valid file, keeps unknown keys and orders channels', () => {
    const d = parseDatasetJson(ok);
    expect((d as Record<string, unknown>).extra).toBe('kept');
    expect(Object.keys(channelNames(d))).toEqual(['0', '1']);
  });
  it('accepts the legacy "modality" key', () => {
    expect(channelNames(parseDatasetJson({ ...ok, channel_names: undefined, modality: { '0': 'MRI' } }))).toEqual({ '0': 'MRI' });
  });
  it('names every bad key', () => {
    expect(() => parseDatasetJson({ labels: { background: 'x' }, numTraining: -1, file_ending: 'nii' }, 'X/dataset.json')).toThrow(
      /X\/dataset.json[\s\S]*labels.background[\s\S]*numTraining[\s\S]*file_ending/,
    );
    expect(() => parseDatasetJson({ ...ok, channel_names: { '0': 'CT', '2': 'T1' } })).toThrow(/without gaps/);
  });
});

describe('LabelManager', () => {
  it('plain labels with an ignore label', () => {
    const lm = new LabelManager({ background: 0, liver: 1, tumor: 2, ignore: 3 });
    expect(lm.allLabels).toEqual([0, 1, 2]);
    expect(lm.foregroundLabels).toEqual([1, 2]);
    expect(lm.hasRegions).toBe(false);
    expect(lm.ignoreLabel).toBe(3);
    expect(lm.numSegmentationHeads).toBe(3);
    expect(lm.expectedLabelValues).toEqual([0, 1, 2, 3]);
  });
  it('regions (BraTS style)', () => {
    const lm = new LabelManager({ background: 0, whole_tumor: [1, 2, 3], tumor_core: [2, 3], enhancing: [3] }, [1, 2, 3]);
    expect(lm.hasRegions).toBe(true);
    expect(lm.allLabels).toEqual([0, 1, 2, 3]);
    expect(lm.foregroundRegions).toEqual([[1, 2, 3], [2, 3], [3]]);
    expect(lm.numSegmentationHeads).toBe(3);
  });
  it('a scalar entry beside a region is a one-label region, as LabelManager._get_regions has it (checked with the real nnU-Net: Dataset902 trains 2 heads)', () => {
    const lm = new LabelManager({ background: 0, whole: [1, 2], lesion: 2 }, [1, 2]);
    expect(lm.foregroundRegions).toEqual([[1, 2], [2]]);
    expect(lm.numSegmentationHeads).toBe(2);
    expect(new LabelManager({ background: 0, whole: [1, 2], zero: [0, 0] }, [1]).foregroundRegions).toEqual([[1, 2]]);
  });
  it('rejects missing background, a bad ignore label, regions without regions_class_order', () => {
    expect(() => new LabelManager({ a: 1 })).toThrow(/background/);
    expect(() => new LabelManager({ background: 1 })).toThrow(/background must be 0/);
    expect(() => new LabelManager({ background: 0, ignore: [2, 3] })).toThrow(/ignore/);
    expect(() => new LabelManager({ background: 0, r: [1, 2] })).toThrow(/regions_class_order/);
    expect(() => new LabelManager({ background: 0, r: [1, 2], s: [2] }, [1])).toThrow(/2 regions/);
  });
  it('finds gaps in label values', () => {
    expect(nonConsecutiveLabels([0, 1, 2])).toEqual([]);
    expect(nonConsecutiveLabels([0, 1, 3, 4])).toEqual([3]);
  });
});

describe('case checks', () => {
  const vol = (shape: Vec3, over: Partial<Volume> = {}): Volume => ({
    data: new Float32Array(shape[0] * shape[1] * shape[2]),
    shape,
    spacing: [2, 1, 1],
    origin: [0, 0, 0],
    direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    ...over,
  });
  it('allClose follows numpy defaults', () => {
    expect(allClose([1], [1 + 1e-6])).toBe(true);
    expect(allClose([1], [1 + 1e-4])).toBe(false);
  });
  it('reports shape, spacing, origin, direction, NaN and channel count with the case name', () => {
    const im = vol([2, 3, 4], { spacing: [2.1, 1, 1], origin: [1, 0, 0] });
    (im.data as Float32Array)[5] = NaN;
    const lab = vol([2, 3, 5], { direction: [0, 1, 0, 1, 0, 0, 0, 0, 1] });
    const p = checkCaseGeometry('case7', [{ file: 'i.nii.gz', volume: im }], { file: 'l.nii.gz', volume: lab }, 2);
    expect(p).toHaveLength(6);
    for (const w of ['2 channel', 'NaN', 'shape mismatch', 'spacing mismatch', 'origin mismatch', 'direction mismatch']) expect(p.join('\n')).toContain(w);
    expect(p.every((x) => x.startsWith('case case7:'))).toBe(true);
  });
  it('reports undeclared label values', () => {
    const lab = vol([1, 1, 4]);
    lab.data = new Uint8Array([0, 1, 5, 7]);
    expect(checkCaseLabels('c', { file: 'l', volume: lab }, [0, 1])[0]).toMatch(/values not declared in dataset.json: 5, 7/);
    expect(checkCaseLabels('c', { file: 'l', volume: lab }, [0, 1, 5, 7])).toEqual([]);
  });
});

import { serverPlaneOrder, writeSlab } from '../../../extension/src/partial-labelmap.js';
import { formatEta, formatVolumeMl, statsRows } from '../../../extension/src/stats-table.js';

describe('serverPlaneOrder', () => {
  const axial = [1, 0, 0, 0, 1, 0];
  it('orders viewer images by position along row × column (server plane order)', () => {
    // viewer shows z = 10, 0, 5 (e.g. sorted by InstanceNumber); server planes ascend in z
    const imgs = [10, 0, 5].map((z) => ({ ImagePositionPatient: [0, 0, z], ImageOrientationPatient: axial }));
    expect(serverPlaneOrder(imgs)).toEqual([1, 2, 0]);
  });
  it('uses the normal, not z: a sagittal stack ascends in x for (0,1,0)/(0,0,-1) cosines', () => {
    // row (0,1,0) × column (0,0,-1) = (-1,0,0): ascending along the normal means descending x
    const sag = [0, 1, 0, 0, 0, -1];
    const imgs = [-5, 5, 0].map((x) => ({ ImagePositionPatient: [x, 0, 0], ImageOrientationPatient: sag }));
    expect(serverPlaneOrder(imgs)).toEqual([1, 2, 0]);
  });
  it('names a missing geometry', () => {
    expect(() => serverPlaneOrder([{ ImagePositionPatient: [0, 0, 0] }])).toThrow(/ImageOrientationPatient/);
    expect(() => serverPlaneOrder([{ ImageOrientationPatient: axial }])).toThrow(/image 0 has no ImagePositionPatient/);
  });
});

describe('writeSlab', () => {
  it('writes slab planes into the mapped viewer planes, x fastest', () => {
    const planes = [new Uint8Array(6), new Uint8Array(6), new Uint8Array(6)];
    const order = [2, 0, 1]; // server plane 0 is viewer image 2, …
    const labels = new Uint8Array([1, 1, 0, 0, 0, 2, /* plane 2 */ 3, 0, 0, 0, 0, 3]);
    const written = writeSlab(planes, order, { z0: 1, shape: [2, 2, 3], labels });
    expect(written).toEqual([0, 1]);
    expect([...planes[0]]).toEqual([1, 1, 0, 0, 0, 2]);
    expect([...planes[1]]).toEqual([3, 0, 0, 0, 0, 3]);
    expect([...planes[2]]).toEqual([0, 0, 0, 0, 0, 0]);
  });
  it('writes into plain arrays too and refuses slabs that do not fit', () => {
    const plain = [[0, 0], [0, 0]];
    writeSlab(plain, [0, 1], { z0: 0, shape: [1, 1, 2], labels: new Uint8Array([4, 5]) });
    expect(plain[0]).toEqual([4, 5]);
    expect(() => writeSlab(plain, [0, 1], { z0: 1, shape: [2, 1, 2], labels: new Uint8Array(4) })).toThrow(/exceed the 2 displayed images/);
    expect(() => writeSlab(plain, [0, 1], { z0: 0, shape: [1, 1, 3], labels: new Uint8Array(3) })).toThrow(/has 2 pixels/);
    expect(() => writeSlab(plain, [0, 1], { z0: 0, shape: [1, 1, 2], labels: new Uint8Array(3) })).toThrow(/holds 3 bytes/);
  });
});

describe('statistics table', () => {
  it('formats volume, HU for CT, plain units otherwise, sorted by segment number', () => {
    const seg = (segmentNumber: number, name: string, volumeMl: number, mean: number | null) => ({
      segmentNumber, label: segmentNumber, name, voxelCount: 100 * segmentNumber, volumeMl, meanIntensity: mean, minIntensity: mean === null ? null : mean - 10, maxIntensity: mean === null ? null : mean + 10,
    });
    const rows = statsRows([seg(2, 'tumor', 1234.5678, -3.25), seg(1, 'liver', 0.012345, 61.23)], 'CT');
    expect(rows.map((r) => [r.name, r.volume, r.mean, r.range])).toEqual([
      ['liver', '0.0123 mL', '61.2 HU', '51.2 HU … 71.2 HU'],
      ['tumor', '1234.6 mL', '-3.3 HU', '-13.3 HU … 6.8 HU'],
    ]);
    expect(statsRows([seg(1, 'x', 0, null)], 'MR')[0]).toMatchObject({ volume: '0 mL', mean: '–', range: '–' });
    expect(statsRows([seg(1, 'x', 5, 12)], 'MR')[0].mean).toBe('12.0');
  });
  it('formats volumes and ETAs', () => {
    expect(formatVolumeMl(9.87654)).toBe('9.88 mL');
    expect(formatVolumeMl(NaN)).toBe('–');
    expect(formatEta(42.4)).toBe('42 s');
    expect(formatEta(150)).toBe('2:30 min');
    expect(formatEta(undefined)).toBe('');
  });
});

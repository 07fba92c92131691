import { readFileSync } from 'node:fs';
import { seriesToVolume, type SeriesVolume } from '../../../server/src/dicom/series-to-volume.js';
import { writeSeg } from '../../../server/src/dicom/seg-writer.js';
import { readSeg } from '../../../server/src/dicom/seg-reader.js';
import { dicomLabToSrgb, srgbToDicomLab, srgbToLab } from '../../../server/src/contract/segment-color.js';
import { describeSegment } from '../../../server/src/dicom/segment-codes.js';
import { readPart10 } from '../../../server/src/dicom/part10.js';
import { obliqueOrientation, syntheticSeries } from '../../helpers/synthetic-series.js';
import { validateDicom } from '../../helpers/dicom-validate.js';

let series: SeriesVolume;
let labels: Uint8Array;
const segments = [describeSegment(1, 'liver'), describeSegment(2, 'kidney_left'), describeSegment(3, 'tumour')];

beforeAll(async () => {
  // 9×7 in-plane: the bit-packed frames do not end on byte boundaries
  series = await seriesToVolume(syntheticSeries({ nx: 9, ny: 7, nz: 6, orientation: obliqueOrientation(0.5, 0.3), reversed: true }).files);
  labels = new Uint8Array(series.volume.data.length);
  const plane = 63;
  for (let v = 0; v < plane; v++) {
    labels[1 * plane + v] = v % 3 === 0 ? 1 : 0;
    labels[2 * plane + v] = v < 20 ? 2 : v > 50 ? 1 : 0;
  }
  labels[4 * plane + 62] = 3; // slice 3 and 5 empty, segment 3 only in slice 4
});

describe('SEG writer → dciodvfy → reader round trip', () => {
  it('BINARY: valid, only non-empty frames, identical label map', async () => {
    const bytes = writeSeg({ ...series.volume, data: labels }, series, segments);
    const v = validateDicom(bytes);
    expect(v.errors).toEqual([]);
    const ds = readPart10(bytes, 'seg').dataset;
    // liver in slices 1, 2; kidney in 2; tumour in 4
    expect(ds.NumberOfFrames).toBe(4);
    expect(ds.SegmentSequence[1].SegmentedPropertyTypeCodeSequence[0].CodeValue).toBe('64033007');
    expect(ds.SegmentSequence[1].SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence[0].CodeMeaning).toBe('Left');
    const r = await readSeg(bytes, series);
    expect(r.segmentationType).toBe('BINARY');
    expect(r.overlapping).toBe(false);
    expect(Array.from(r.labelMap!.data)).toEqual(Array.from(labels));
    expect(r.segments.map((s) => s.label)).toEqual(['liver', 'kidney_left', 'tumour']);
  });

  it('FRACTIONAL: valid, probabilities round-trip to 1/255, overlapping segments kept apart', async () => {
    const n = labels.length;
    const p1 = new Float32Array(n).fill(0);
    const p2 = new Float32Array(n).fill(0);
    p1[70] = 0.8;
    p2[70] = 0.6; // both ≥ 0.5 → overlap
    p2[71] = 0.3;
    const bytes = writeSeg({ ...series.volume, data: new Uint8Array(n) }, series, segments.slice(0, 2), { type: 'fractional', probabilities: [p1, p2] });
    expect(validateDicom(bytes).errors).toEqual([]);
    const r = await readSeg(bytes, series);
    expect(r.segmentationType).toBe('FRACTIONAL');
    expect(r.overlapping).toBe(true);
    expect(r.labelMap).toBeUndefined();
    expect(r.masks[0][70]).toBe(1);
    expect(r.masks[1][70]).toBe(1);
    expect(r.masks[1][71]).toBe(0);
    expect(Math.abs(r.probabilities![1][71] - 0.3)).toBeLessThanOrEqual(0.5 / 255 + 1e-6);
  });

  it('FRACTIONAL from a label map reads back the identical label map', async () => {
    const bytes = writeSeg({ ...series.volume, data: labels }, series, segments, { type: 'fractional' });
    expect(validateDicom(bytes).errors).toEqual([]);
    expect(Array.from((await readSeg(bytes, series)).labelMap!.data)).toEqual(Array.from(labels));
  });

  it('LABELMAP (Supplement 243): one frame per slice, identical label map; dciodvfy lacks the new IOD', async () => {
    const bytes = writeSeg({ ...series.volume, data: labels }, series, segments, { type: 'labelmap' });
    const ds = readPart10(bytes, 'seg').dataset;
    expect(ds.NumberOfFrames).toBe(6);
    expect(ds.SegmentationType).toBe('LABELMAP');
    expect(ds.BitsAllocated).toBe(8);
    // this dicom3tools release predates Label Map Segmentation Storage: its only complaint is the unknown IOD
    expect(validateDicom(bytes).errors).toEqual(['Error - Information Object Not found']);
    const r = await readSeg(bytes, series);
    expect(Array.from(r.labelMap!.data)).toEqual(Array.from(labels));
  });

  it('frames are placed by position: reading on a grid shifted by one slice is a precise error', async () => {
    const bytes = writeSeg({ ...series.volume, data: labels }, series, segments);
    const shifted = { volume: { ...series.volume, origin: series.volume.origin.map((x, a) => x + 0.3 * series.volume.direction[a * 3 + 2]) as [number, number, number] } };
    await expect(readSeg(bytes, shifted)).rejects.toThrow(/frame 1 at .* does not lie on a slice of the target grid/);
  });

  it('rejects a label map on another grid and duplicate label values', () => {
    expect(() => writeSeg({ ...series.volume, shape: [6, 7, 8], data: new Uint8Array(6 * 56) }, series, segments)).toThrow(/differs from the series grid/);
    expect(() => writeSeg({ ...series.volume, data: labels }, series, [segments[0], segments[0]])).toThrow(/described twice/);
  });
});

describe('segment codes and colours', () => {
  it('sRGB white → L 100, a = b = 0 → DICOM [65535, 32896, 32896]', () => {
    const lab = srgbToLab([255, 255, 255]);
    expect(lab[0]).toBeCloseTo(100, 3);
    expect(Math.abs(lab[1])).toBeLessThan(1e-3);
    expect(Math.abs(lab[2])).toBeLessThan(1e-3);
    expect(srgbToDicomLab([255, 255, 255])).toEqual([65535, 32896, 32896]);
    expect(srgbToDicomLab([0, 0, 0])).toEqual([0, 32896, 32896]);
  });
  it('sRGB red → CIELab(D50) ≈ (54.29, 80.80, 69.89) (Lindbloom) and back', () => {
    const lab = srgbToLab([255, 0, 0]);
    expect(lab[0]).toBeCloseTo(54.29, 1);
    expect(lab[1]).toBeCloseTo(80.8, 0);
    expect(lab[2]).toBeCloseTo(69.89, 0);
    expect(dicomLabToSrgb(srgbToDicomLab([200, 120, 40]))).toEqual([200, 120, 40]);
  });
  it('known organs get SNOMED codes, others generic Tissue', () => {
    expect(describeSegment(1, 'Spleen').type.CodeValue).toBe('78961009');
    expect(describeSegment(2, 'right kidney').typeModifier?.CodeValue).toBe('24028007');
    expect(describeSegment(3, 'tumor').category.CodeValue).toBe('49755003');
    const other = describeSegment(4, 'something');
    expect(other.type.CodeMeaning).toBe('Tissue');
  });
});

describe('third-party SEG', () => {
  it('dcmqi-written pydicom liver_1frame.dcm (a 1-frame cut of a 3-frame SEG) is rejected with the precise reason', async () => {
    await expect(
      readSeg(readFileSync('/usr/lib/python3/dist-packages/pydicom/data/test_files/liver_1frame.dcm'), undefined, 'liver_1frame.dcm'),
    ).rejects.toThrow('liver_1frame.dcm: PerFrameFunctionalGroupsSequence has 3 items for 1 frames');
  });
});

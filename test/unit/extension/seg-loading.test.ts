import { seriesToVolume } from '../../../server/src/dicom/series-to-volume.js';
import { writeSeg } from '../../../server/src/dicom/seg-writer.js';
import { dicomLabToSrgb, srgbToDicomLab } from '../../../server/src/contract/segment-color.js';
import { describeSegment } from '../../../server/src/dicom/segment-codes.js';
import { parseSeg } from '../../../extension/src/seg-loading.js';
import { syntheticSeries } from '../../helpers/synthetic-series.js';

describe('parseSeg (the viewer side of a server result)', () => {
  it('naturalizes a real SEG from the server writer: UIDs, referenced series, segment names and colours', async () => {
    const series = await seriesToVolume(syntheticSeries({ nx: 8, ny: 6, nz: 4 }).files);
    const labels = new Uint8Array(series.volume.data.length);
    labels[5] = 1;
    labels[48 + 7] = 2;
    const segments = [describeSegment(1, 'liver'), { ...describeSegment(2, 'tumor'), color: [200, 10, 30] as [number, number, number] }];
    const bytes = writeSeg({ ...series.volume, data: labels }, series, segments);
    const p = parseSeg(bytes);
    expect(p.referencedSeriesInstanceUID).toBe(series.seriesInstanceUID);
    expect(p.studyInstanceUID).toBe(series.studyInstanceUID);
    expect(p.dataset.Modality).toBe('SEG');
    expect(p.dataset._meta.TransferSyntaxUID.Value[0]).toMatch(/^1\.2\.840\.10008\.1\.2/);
    expect(p.segments.map((s) => [s.segmentNumber, s.label])).toEqual([[1, 'liver'], [2, 'tumor']]);
    // colour survives the CIELab round trip within rounding
    const rgb = p.segments[1].rgb!;
    const expected = dicomLabToSrgb(srgbToDicomLab([200, 10, 30]));
    expect(rgb.map((v, i) => Math.abs(v - expected[i]) <= 1)).toEqual([true, true, true]);
    // OHIF's SEG handler reads ReferencedSeriesSequence[0].ReferencedInstanceSequence
    const ref = (Array.isArray(p.dataset.ReferencedSeriesSequence) ? p.dataset.ReferencedSeriesSequence[0] : p.dataset.ReferencedSeriesSequence) as { ReferencedInstanceSequence: unknown[] };
    expect(ref.ReferencedInstanceSequence).toHaveLength(4);
  });

  it('refuses a non-SEG instance and garbage with a clear message', async () => {
    const ct = syntheticSeries({ nx: 4, ny: 4, nz: 1 }).files[0];
    expect(() => parseSeg(ct)).toThrow(/not a DICOM SEG \(SOP class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.2\)/);
    expect(() => parseSeg(new Uint8Array(300).fill(7))).toThrow(/not a readable DICOM file/);
  });
});

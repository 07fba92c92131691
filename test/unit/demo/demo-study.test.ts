import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import dcmjs from 'dcmjs';
import { DEMO_STUDY_SEED, derivedUid, ensureDemoStudy, phantomSeriesInstances, writePhantomSeries, CT_IMAGE_STORAGE } from '../../../server/src/demo/demo-study.js';
import { writePhantomDataset } from '../../../server/src/demo/phantom-dataset.js';
import { readImage } from '../../../server/src/io/image-file.js';
import { validateDicom } from '../../helpers/dicom-validate.js';
import { makeTempDir } from '../../helpers/tmp.js';

describe('phantom DICOM series', () => {
  const s = phantomSeriesInstances(11, { shape: [4, 32, 40], spacing: [3, 2, 2.5] });

  it('one CT Image Storage instance per slice with HU = stored - 1024 and the phantom geometry', () => {
    expect(s.instances).toHaveLength(4);
    const parsed = s.instances.map((b) => dcmjs.data.DicomMetaDictionary.naturalizeDataset(dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer).dict) as Record<string, unknown>);
    const first = parsed[0];
    expect(first.SOPClassUID).toBe(CT_IMAGE_STORAGE);
    expect(first.PatientName).toEqual([{ Alphabetic: 'NNSEG^PHANTOM' }]);
    expect(first.Rows).toBe(32);
    expect(first.Columns).toBe(40);
    expect(first.SeriesInstanceUID).toBe(s.seriesInstanceUID);
    const z = parsed.map((p) => Number((p.ImagePositionPatient as number[])[2]));
    expect(z[1] - z[0]).toBeCloseTo(3, 6);
    const px = new Uint16Array((parsed[2].PixelData as ArrayBuffer[])[0]);
    const plane = 32 * 40;
    for (const p of [0, 100, 700, 1279]) expect(px[p] - 1024).toBe(s.phantom.image.data[2 * plane + p]);
    expect(new Set(s.sopInstanceUIDs).size).toBe(4);
  });

  it('is reproducible: same seed, same bytes and UIDs', () => {
    const t = phantomSeriesInstances(11, { shape: [4, 32, 40], spacing: [3, 2, 2.5] });
    expect(t.studyInstanceUID).toBe(s.studyInstanceUID);
    expect(Buffer.from(t.instances[1]).equals(Buffer.from(s.instances[1]))).toBe(true);
    expect(phantomSeriesInstances(12, { shape: [1, 8, 8] }).studyInstanceUID).not.toBe(s.studyInstanceUID);
  });

  it('UIDs are valid 2.25 UIDs of at most 64 characters', () => {
    for (const u of [s.studyInstanceUID, s.seriesInstanceUID, s.frameOfReferenceUID, ...s.sopInstanceUIDs, derivedUid('x')]) {
      expect(u).toMatch(/^2\.25\.(0|[1-9][0-9]*)$/);
      expect(u.length).toBeLessThanOrEqual(64);
    }
  });

  it('passes dciodvfy with no errors and no warnings', () => {
    for (const bytes of [s.instances[0], s.instances[3]]) {
      const r = validateDicom(bytes);
      expect(r.errors).toEqual([]);
      expect(r.warnings).toEqual([]);
    }
  });

  it('writePhantomSeries writes one file per slice', () => {
    const { dir, cleanup } = makeTempDir('phantom-series-');
    try {
      const w = writePhantomSeries(join(dir, 'series'), 11, { shape: [4, 32, 40], spacing: [3, 2, 2.5] });
      expect(w.files).toHaveLength(4);
      expect(Buffer.from(readFileSync(w.files[3])).equals(Buffer.from(s.instances[3]))).toBe(true);
    } finally {
      cleanup();
    }
  });
});

describe('writePhantomDataset', () => {
  it('writes an nnU-Net raw dataset that reads back with the phantom geometry', async () => {
    const { dir, cleanup } = makeTempDir('phantom-ds-');
    try {
      const r = await writePhantomDataset(dir, { numCases: 2, shape: [6, 24, 24], spacing: [2.5, 1.5, 1.5], seed: 5 });
      expect(r.caseIds).toEqual(['phantom_000', 'phantom_001']);
      const dj = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8'));
      expect(dj.channel_names).toEqual({ '0': 'CT' });
      expect(dj.labels).toEqual({ background: 0, liver: 1, kidney: 2 });
      expect(dj.numTraining).toBe(2);
      expect(dj.file_ending).toBe('.nii.gz');
      expect(existsSync(join(dir, 'labelsTr', 'phantom_001.nii.gz'))).toBe(true);
      const img = await readImage(join(dir, 'imagesTr', 'phantom_001_0000.nii.gz'));
      const lab = await readImage(join(dir, 'labelsTr', 'phantom_001.nii.gz'));
      expect(img.shape).toEqual([6, 24, 24]);
      expect(img.spacing[0]).toBeCloseTo(2.5, 5);
      expect(lab.origin).toEqual(img.origin);
      expect(Math.min(...img.data)).toBeLessThan(-900);
      expect(Math.max(...lab.data)).toBe(2);
    } finally {
      cleanup();
    }
  });
});

describe('ensureDemoStudy', () => {
  it('writes the study once, then recognises it; rewrites a damaged folder', () => {
    const { dir, cleanup } = makeTempDir('demo-study-');
    try {
      const folder = join(dir, 'demo');
      const a = ensureDemoStudy(folder, { shape: [3, 16, 16] });
      expect(a.written).toBe(true);
      expect(a.manifest.files).toEqual(['IM00001.dcm', 'IM00002.dcm', 'IM00003.dcm']);
      expect(a.manifest.seed).toBe(DEMO_STUDY_SEED);
      const b = ensureDemoStudy(folder, { shape: [3, 16, 16] });
      expect(b.written).toBe(false);
      expect(b.manifest).toEqual(a.manifest);
      rmSync(join(folder, 'IM00002.dcm'));
      const c = ensureDemoStudy(folder, { shape: [3, 16, 16] });
      expect(c.written).toBe(true);
      expect(c.manifest.studyInstanceUID).toBe(a.manifest.studyInstanceUID);
      expect(ensureDemoStudy(folder, { shape: [4, 16, 16] }).written).toBe(true);
    } finally {
      cleanup();
    }
  });
});

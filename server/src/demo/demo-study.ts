/**
 * The demo study: a phantom (phantom.ts) as a DICOM CT series — one Part 10 file per slice, CT Image
 * Storage, Explicit VR Little Endian, stored values = HU + 1024 (12 bits unsigned, RescaleIntercept
 * -1024), an obviously fake patient "NNSEG^PHANTOM". UIDs are derived from the seed (2.25.<hash>), so
 * the same seed gives the same study, byte for byte.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import dcmjs from 'dcmjs';
import { z } from 'zod';
import '../dicom/part10.js'; // silences dcmjs logging
import type { Vec3 } from '../imaging/volume.js';
import { generatePhantom, type Phantom } from './phantom.js';

export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const IMPLEMENTATION_CLASS_UID = '2.25.229103781964744371585462012470419516473';

export interface PhantomSeriesOptions {
  /** [nz, ny, nx]; default [48, 128, 128] */
  shape?: Vec3;
  /** [sz, sy, sx] mm; default [3, 2.5, 2.5] */
  spacing?: Vec3;
  lesion?: boolean;
  patientName?: string;
  patientId?: string;
  studyDescription?: string;
  seriesDescription?: string;
  /** default: derived from the seed */
  studyInstanceUID?: string;
}

export interface PhantomSeries {
  /** one Part 10 file per slice, in slice order (k = 0 … nz-1, increasing z) */
  instances: Uint8Array[];
  studyInstanceUID: string;
  seriesInstanceUID: string;
  frameOfReferenceUID: string;
  sopInstanceUIDs: string[];
  phantom: Phantom;
}

/** A UID under 2.25 from a name: the first 128 bits of its SHA-256 as a decimal integer. */
export function derivedUid(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex').slice(0, 32);
  return `2.25.${BigInt('0x' + hex).toString()}`;
}

function ds(value: number): string {
  // DS: at most 16 characters
  const s = String(Number(value.toPrecision(10)));
  return s.length <= 16 ? s : value.toExponential(8);
}

/** Builds the series in memory (no I/O). */
export function phantomSeriesInstances(seed: number, o: PhantomSeriesOptions = {}): PhantomSeries {
  const shape = o.shape ?? [48, 128, 128];
  const spacing = o.spacing ?? [3, 2.5, 2.5];
  const phantom = generatePhantom({ shape, spacing, seed, lesion: o.lesion });
  const [nz, ny, nx] = shape;
  const studyInstanceUID = o.studyInstanceUID ?? derivedUid(`nnseg-phantom-study-${seed}`);
  const seriesInstanceUID = derivedUid(`nnseg-phantom-series-${seed}-${shape.join('x')}-${spacing.join('x')}`);
  const frameOfReferenceUID = derivedUid(`nnseg-phantom-for-${seed}`);
  const origin = phantom.image.origin;
  const instances: Uint8Array[] = [];
  const sopInstanceUIDs: string[] = [];
  const plane = nx * ny;
  for (let k = 0; k < nz; k++) {
    const sop = derivedUid(`${seriesInstanceUID}-${k}`);
    sopInstanceUIDs.push(sop);
    const pixels = new Uint16Array(plane);
    const src = phantom.image.data;
    for (let p = 0; p < plane; p++) pixels[p] = Math.max(0, Math.min(4095, src[k * plane + p] + 1024));
    const dataset = {
      _vrMap: { PixelData: 'OW' },
      SpecificCharacterSet: 'ISO_IR 100',
      ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
      SOPClassUID: CT_IMAGE_STORAGE,
      SOPInstanceUID: sop,
      StudyDate: '20240115',
      SeriesDate: '20240115',
      ContentDate: '20240115',
      StudyTime: '093000',
      SeriesTime: '093100',
      ContentTime: '093100',
      AccessionNumber: `PH${String(seed).padStart(6, '0')}`,
      Modality: 'CT',
      Manufacturer: 'nnseg',
      InstitutionName: 'nnseg demo (synthetic phantom, not a patient)',
      ReferringPhysicianName: '',
      StudyDescription: o.studyDescription ?? 'CT ABDOMEN PHANTOM',
      SeriesDescription: o.seriesDescription ?? 'Phantom axial',
      ManufacturerModelName: 'nnseg phantom generator',
      PatientName: o.patientName ?? 'NNSEG^PHANTOM',
      PatientID: o.patientId ?? `NNSEG-PHANTOM-${seed}`,
      PatientBirthDate: '19700101',
      PatientSex: 'O',
      PatientAge: '054Y',
      BodyPartExamined: 'ABDOMEN',
      SliceThickness: ds(spacing[0]),
      KVP: '120',
      PatientPosition: 'HFS',
      StudyInstanceUID: studyInstanceUID,
      SeriesInstanceUID: seriesInstanceUID,
      StudyID: '1',
      SeriesNumber: '2',
      AcquisitionNumber: '1',
      InstanceNumber: String(k + 1),
      ImagePositionPatient: [ds(origin[0]), ds(origin[1]), ds(origin[2] + k * spacing[0])],
      ImageOrientationPatient: ['1', '0', '0', '0', '1', '0'],
      FrameOfReferenceUID: frameOfReferenceUID,
      PositionReferenceIndicator: '',
      SliceLocation: ds(origin[2] + k * spacing[0]),
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      Rows: ny,
      Columns: nx,
      PixelSpacing: [ds(spacing[1]), ds(spacing[2])],
      BitsAllocated: 16,
      BitsStored: 12,
      HighBit: 11,
      PixelRepresentation: 0,
      WindowCenter: '40',
      WindowWidth: '400',
      RescaleIntercept: '-1024',
      RescaleSlope: '1',
      RescaleType: 'HU',
      PixelData: pixels.buffer,
    };
    const meta = {
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      MediaStorageSOPClassUID: CT_IMAGE_STORAGE,
      MediaStorageSOPInstanceUID: sop,
      TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
      ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
      ImplementationVersionName: 'nnseg-0.1',
    };
    const dict = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(meta));
    dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(dataset);
    instances.push(new Uint8Array(dict.write()));
  }
  return { instances, studyInstanceUID, seriesInstanceUID, frameOfReferenceUID, sopInstanceUIDs, phantom };
}

/** Writes the series to `folder` as `IM00001.dcm` … and returns the paths with the UIDs. */
export function writePhantomSeries(folder: string, seed: number, o: PhantomSeriesOptions = {}): Omit<PhantomSeries, 'instances'> & { files: string[] } {
  const s = phantomSeriesInstances(seed, o);
  mkdirSync(folder, { recursive: true });
  const files = s.instances.map((bytes, k) => {
    const f = join(folder, `IM${String(k + 1).padStart(5, '0')}.dcm`);
    writeFileSync(f, bytes);
    return f;
  });
  const { instances: _instances, ...rest } = s;
  return { ...rest, files };
}

/** The seed of the study `npm start` shows (its model is trained on phantoms of other seeds). */
export const DEMO_STUDY_SEED = 20240115;
export const DEMO_MANIFEST = 'demo-study.json';

/** `demo-study.json`, written beside the series so a later start can tell whether the folder is current. */
export const DemoManifestSchema = z.object({
  format: z.literal('nnseg-demo-study'),
  version: z.literal(1),
  seed: z.number().int(),
  shape: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
  spacing: z.tuple([z.number(), z.number(), z.number()]),
  lesion: z.boolean(),
  studyInstanceUID: z.string(),
  seriesInstanceUID: z.string(),
  files: z.array(z.string()),
});
export type DemoManifest = z.infer<typeof DemoManifestSchema>;

/**
 * Writes the demo study into `folder` unless the folder already holds it (same manifest, every file
 * present); returns the manifest and whether anything was written.
 */
export function ensureDemoStudy(folder: string, o: PhantomSeriesOptions & { seed?: number } = {}): { manifest: DemoManifest; written: boolean } {
  const seed = o.seed ?? DEMO_STUDY_SEED;
  const shape = o.shape ?? [48, 128, 128];
  const spacing = o.spacing ?? [3, 2.5, 2.5];
  const lesion = o.lesion ?? false;
  const manifestPath = join(folder, DEMO_MANIFEST);
  if (existsSync(manifestPath)) {
    const r = DemoManifestSchema.safeParse((() => {
      try {
        return JSON.parse(readFileSync(manifestPath, 'utf8')) as unknown;
      } catch {
        return undefined;
      }
    })());
    if (
      r.success &&
      r.data.seed === seed &&
      r.data.shape.join() === shape.join() &&
      r.data.spacing.join() === spacing.join() &&
      r.data.lesion === lesion &&
      r.data.files.every((f) => existsSync(join(folder, f)))
    )
      return { manifest: r.data, written: false };
  }
  const w = writePhantomSeries(folder, seed, { ...o, shape, spacing, lesion });
  const manifest: DemoManifest = {
    format: 'nnseg-demo-study',
    version: 1,
    seed,
    shape: [...shape],
    spacing: [...spacing],
    lesion,
    studyInstanceUID: w.studyInstanceUID,
    seriesInstanceUID: w.seriesInstanceUID,
    files: w.files.map((f) => f.slice(folder.length + 1)),
  };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  return { manifest, written: true };
}

/**
 * Label map on a series grid → DICOM Segmentation Storage (Part-10 bytes), written directly with
 * dcmjs's DicomDict (no derivations helper): BINARY (bit-packed, only non-empty frames), FRACTIONAL
 * (probabilities 0…255) or LABELMAP (Supplement 243: one frame per slice holding label values).
 */
import dcmjs, { type Naturalized } from 'dcmjs';
import type { Volume } from '../imaging/volume.js';
import type { SeriesVolume } from './series-to-volume.js';
import { SEGMENTATION_STORAGE } from './sop-classes.js';
import { srgbToDicomLab } from '../contract/segment-color.js';
import { NNSEG_VERSION } from '../contract/version.js';
import { DEFAULT_PALETTE, type SegmentDescription } from './segment-codes.js';
import { newUid } from './uid.js';
import './part10.js'; // silences dcmjs logging

export const LABEL_MAP_SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.7';
export type SegType = 'binary' | 'labelmap' | 'fractional';

export interface SegWriterOptions {
  type?: SegType;
  /** per segment (same order as `segments`), probabilities 0…1 on the grid, for FRACTIONAL; default: 1 inside the label */
  probabilities?: Float32Array[];
  contentLabel?: string;
  contentDescription?: string;
  contentCreatorName?: string;
  seriesDescription?: string;
  seriesNumber?: number;
  /** UID root; default 2.25 (UUID-derived) */
  uidRoot?: string;
  algorithmName?: string;
  algorithmVersion?: string;
  /** fixed date for reproducible output (tests) */
  now?: Date;
}

/** What the writer needs from the source series. */
export type SegSource = Pick<SeriesVolume, 'slices' | 'seriesInstanceUID' | 'studyInstanceUID' | 'frameOfReferenceUID' | 'orientation' | 'header'> & {
  volume: Pick<Volume, 'shape' | 'spacing' | 'origin' | 'direction'>;
};

const code = (c: { CodeValue: string; CodingSchemeDesignator: string; CodeMeaning: string }) => ({ ...c });
const dicomDate = (d: Date) => d.toISOString().slice(0, 10).replace(/-/g, '');
const dicomTime = (d: Date) => d.toISOString().slice(11, 19).replace(/:/g, '');
const ds = (n: number) => Number(n.toPrecision(12)); // DS fits 16 characters

// Patient, study and frame-of-reference attributes copied from the source (PS3.3 A.51 Segmentation IOD)
const COPIED = [
  'PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'PatientAge', 'IssuerOfPatientID',
  'StudyInstanceUID', 'StudyDate', 'StudyTime', 'ReferringPhysicianName', 'StudyID', 'AccessionNumber', 'StudyDescription',
  'PositionReferenceIndicator', 'SpecificCharacterSet', 'ClinicalTrialSponsorName',
];

/** Builds the SEG; `labels` must be on the source grid (same shape; callers resample first). */
export function writeSeg(labels: Volume, source: SegSource, segments: SegmentDescription[], options: SegWriterOptions = {}): Uint8Array {
  const type = options.type ?? 'binary';
  const [nz, ny, nx] = source.volume.shape;
  if (labels.shape[0] !== nz || labels.shape[1] !== ny || labels.shape[2] !== nx)
    throw new Error(`label map shape [${labels.shape.join(', ')}] differs from the series grid [${source.volume.shape.join(', ')}]; resample it first`);
  if (!(labels.data instanceof Uint8Array || labels.data instanceof Uint16Array || labels.data instanceof Int16Array || labels.data instanceof Int32Array || labels.data instanceof Uint32Array))
    throw new Error(`label map must hold integer labels, got ${labels.data.constructor.name}`);
  if (segments.length === 0) throw new Error('no segments to write');
  const seen = new Set<number>();
  for (const s of segments) {
    if (seen.has(s.labelValue)) throw new Error(`label value ${s.labelValue} is described twice`);
    seen.add(s.labelValue);
  }
  if (options.probabilities && options.probabilities.length !== segments.length)
    throw new Error(`${options.probabilities.length} probability maps for ${segments.length} segments`);
  const plane = nx * ny;
  const data = labels.data;
  const now = options.now ?? new Date();
  const h = source.header;

  const segmentSequence = segments.map((s, n) => {
    const typeItem: Naturalized = code(s.type);
    if (s.typeModifier) typeItem.SegmentedPropertyTypeModifierCodeSequence = [code(s.typeModifier)];
    const item: Naturalized = {
      SegmentNumber: type === 'labelmap' ? s.labelValue : n + 1,
      SegmentLabel: s.name,
      SegmentedPropertyCategoryCodeSequence: [code(s.category)],
      SegmentedPropertyTypeCodeSequence: [typeItem],
      SegmentAlgorithmType: 'AUTOMATIC',
      SegmentAlgorithmName: s.algorithmName ?? options.algorithmName ?? 'nnseg',
      RecommendedDisplayCIELabValue: srgbToDicomLab(s.color ?? DEFAULT_PALETTE[(s.labelValue - 1) % DEFAULT_PALETTE.length]),
    };
    return item;
  });

  const sourceRef = (k: number) => {
    const sl = source.slices[k];
    if (!sl?.sopInstanceUID) return undefined;
    const ref: Naturalized = { ReferencedSOPClassUID: sl.sopClassUID, ReferencedSOPInstanceUID: sl.sopInstanceUID };
    if (sl.frameNumber) ref.ReferencedFrameNumber = sl.frameNumber;
    return ref;
  };
  const perFrameItem = (k: number, segmentNumber: number | undefined): Naturalized => {
    const item: Naturalized = {
      FrameContentSequence: [{ DimensionIndexValues: segmentNumber === undefined ? [k + 1] : [segmentNumber, k + 1] }],
      PlanePositionSequence: [{ ImagePositionPatient: source.slices[k].position.map(ds) }],
    };
    const ref = sourceRef(k);
    if (ref)
      item.DerivationImageSequence = [
        {
          SourceImageSequence: [
            { ...ref, PurposeOfReferenceCodeSequence: [{ CodeValue: '121322', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Source image for image processing operation' }] },
          ],
          DerivationCodeSequence: [{ CodeValue: '113076', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Segmentation' }],
        },
      ];
    if (segmentNumber !== undefined) item.SegmentIdentificationSequence = [{ ReferencedSegmentNumber: segmentNumber }];
    return item;
  };

  // Frames and pixel data
  const perFrame: Naturalized[] = [];
  let pixelData: ArrayBuffer;
  let bits = 1;
  if (type === 'labelmap') {
    let max = 0;
    for (let v = 0; v < data.length; v++) if (data[v] > max) max = data[v];
    for (let v = 0; v < data.length; v++) if (data[v] < 0) throw new Error('label map holds negative labels');
    bits = max > 255 ? 16 : 8;
    const out = bits === 8 ? new Uint8Array(data.length) : new Uint16Array(data.length);
    out.set(data as ArrayLike<number>);
    for (let k = 0; k < nz; k++) perFrame.push(perFrameItem(k, undefined));
    pixelData = out.buffer as ArrayBuffer;
  } else {
    // which (segment, slice) frames are non-empty
    const frames: { seg: number; k: number }[] = [];
    const valueToSeg = new Map(segments.map((s, n) => [s.labelValue, n]));
    const present = new Uint8Array(segments.length * nz);
    for (let k = 0; k < nz; k++) {
      const o = k * plane;
      for (let v = 0; v < plane; v++) {
        const lab = data[o + v];
        if (lab !== 0) {
          const n = valueToSeg.get(lab);
          if (n !== undefined) present[n * nz + k] = 1;
        }
      }
      if (options.probabilities)
        options.probabilities.forEach((p, n) => {
          for (let v = 0; v < plane; v++)
            if (p[o + v] >= 0.5 / 255) {
              present[n * nz + k] = 1;
              break;
            }
        });
    }
    for (let n = 0; n < segments.length; n++) for (let k = 0; k < nz; k++) if (present[n * nz + k]) frames.push({ seg: n, k });
    // a SEG needs at least one frame: an all-empty result becomes one empty frame of the first segment
    if (frames.length === 0) frames.push({ seg: 0, k: 0 });
    for (const f of frames) perFrame.push(perFrameItem(f.k, f.seg + 1));
    if (type === 'binary') {
      // frames are packed back to back, bit 0 = first pixel (PS3.5 8.1.1), padded to an even length.
      // One pass over each slice sets the bit in whichever segment's frame a voxel belongs to (most voxels
      // are background), instead of one pass per segment.
      const totalBits = frames.length * plane;
      const packed = new Uint8Array(Math.ceil(Math.ceil(totalBits / 8) / 2) * 2);
      const frameOf = new Int32Array(segments.length * nz).fill(-1);
      frames.forEach((f, i) => (frameOf[f.seg * nz + f.k] = i));
      const segOfValue = new Map(segments.map((s, n) => [s.labelValue, n]));
      for (let k = 0; k < nz; k++) {
        const o = k * plane;
        for (let v = 0; v < plane; v++) {
          const lab = data[o + v];
          if (lab === 0) continue;
          const n = segOfValue.get(lab);
          if (n === undefined) continue;
          const bit = frameOf[n * nz + k] * plane + v;
          packed[bit >> 3] |= 1 << (bit & 7);
        }
      }
      pixelData = packed.buffer;
    } else {
      bits = 8;
      const out = new Uint8Array(frames.length * plane + ((frames.length * plane) & 1));
      frames.forEach((f, i) => {
        const o = f.k * plane;
        const p = options.probabilities?.[f.seg];
        const value = segments[f.seg].labelValue;
        const dst = i * plane;
        if (p) for (let v = 0; v < plane; v++) out[dst + v] = Math.round(Math.min(1, Math.max(0, p[o + v])) * 255);
        else for (let v = 0; v < plane; v++) out[dst + v] = data[o + v] === value ? 255 : 0;
      });
      pixelData = out.buffer;
    }
  }

  const referenced = new Map<string, string>();
  for (const sl of source.slices) if (sl.sopInstanceUID) referenced.set(sl.sopInstanceUID, sl.sopClassUID ?? String(h.SOPClassUID));
  const sopClassUID = type === 'labelmap' ? LABEL_MAP_SEGMENTATION_STORAGE : SEGMENTATION_STORAGE;
  const sopInstanceUID = newUid(options.uidRoot);
  const dimensionOrganizationUID = newUid(options.uidRoot);
  const dimensionIndex: Naturalized[] = [];
  if (type !== 'labelmap')
    dimensionIndex.push({
      DimensionOrganizationUID: dimensionOrganizationUID,
      DimensionIndexPointer: 0x0062000b, // ReferencedSegmentNumber
      FunctionalGroupPointer: 0x0062000a, // SegmentIdentificationSequence
      DimensionDescriptionLabel: 'ReferencedSegmentNumber',
    });
  dimensionIndex.push({
    DimensionOrganizationUID: dimensionOrganizationUID,
    DimensionIndexPointer: 0x00200032, // ImagePositionPatient
    FunctionalGroupPointer: 0x00209113, // PlanePositionSequence
    DimensionDescriptionLabel: 'ImagePositionPatient',
  });

  const dataset: Naturalized = {
    SOPClassUID: sopClassUID,
    SOPInstanceUID: sopInstanceUID,
    SeriesInstanceUID: newUid(options.uidRoot),
    SeriesNumber: options.seriesNumber ?? 300,
    SeriesDescription: options.seriesDescription ?? 'nnseg segmentation',
    SeriesDate: dicomDate(now),
    SeriesTime: dicomTime(now),
    InstanceNumber: 1,
    Modality: 'SEG',
    FrameOfReferenceUID: source.frameOfReferenceUID,
    PositionReferenceIndicator: '',
    Manufacturer: 'nnseg',
    ManufacturerModelName: 'nnseg',
    DeviceSerialNumber: '1',
    SoftwareVersions: options.algorithmVersion ?? NNSEG_VERSION,
    ImageType: ['DERIVED', 'PRIMARY'],
    ContentLabel: (options.contentLabel ?? 'NNSEG').toUpperCase().replace(/[^A-Z0-9_ ]/g, '_').slice(0, 16),
    ContentDescription: options.contentDescription ?? 'nnU-Net segmentation',
    ContentCreatorName: options.contentCreatorName ?? 'nnseg^automatic',
    ContentDate: dicomDate(now),
    ContentTime: dicomTime(now),
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    PixelRepresentation: 0,
    BitsAllocated: bits,
    BitsStored: bits,
    HighBit: bits - 1,
    LossyImageCompression: '00',
    Rows: ny,
    Columns: nx,
    NumberOfFrames: perFrame.length,
    SegmentationType: type === 'labelmap' ? 'LABELMAP' : type === 'fractional' ? 'FRACTIONAL' : 'BINARY',
    SegmentSequence: segmentSequence,
    SharedFunctionalGroupsSequence: [
      {
        PixelMeasuresSequence: [
          {
            PixelSpacing: [ds(source.volume.spacing[1]), ds(source.volume.spacing[2])],
            SliceThickness: ds(source.volume.spacing[0]),
            SpacingBetweenSlices: ds(source.volume.spacing[0]),
          },
        ],
        PlaneOrientationSequence: [{ ImageOrientationPatient: source.orientation.map(ds) }],
      },
    ],
    PerFrameFunctionalGroupsSequence: perFrame,
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganizationUID }],
    DimensionOrganizationType: '3D',
    DimensionIndexSequence: dimensionIndex,
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: source.seriesInstanceUID,
        ReferencedInstanceSequence: [...referenced].map(([uid, cls]) => ({ ReferencedSOPClassUID: cls, ReferencedSOPInstanceUID: uid })),
      },
    ],
  };
  if (type === 'fractional') {
    dataset.SegmentationFractionalType = 'PROBABILITY';
    dataset.MaximumFractionalValue = 255;
  }
  for (const key of COPIED) if (h[key] !== undefined) dataset[key] = h[key];
  dataset.StudyInstanceUID = source.studyInstanceUID || h.StudyInstanceUID;
  for (const key of ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'StudyDate', 'StudyTime', 'ReferringPhysicianName', 'StudyID', 'AccessionNumber'])
    if (dataset[key] === undefined) dataset[key] = '';
  if (dataset.SpecificCharacterSet === undefined) dataset.SpecificCharacterSet = 'ISO_IR 192';

  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUID,
    MediaStorageSOPInstanceUID: sopInstanceUID,
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: '2.25.229103781964744371585462012470419516473',
    ImplementationVersionName: 'nnseg-0.1',
  };
  const dict = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(dataset);
  return appendPixelData(new Uint8Array(dict.write()), new Uint8Array(pixelData), bits === 16 ? 'OW' : 'OB');
}

/**
 * Pixel Data (7FE0,0010) is the dataset's last element, so it is appended here in explicit VR little endian
 * instead of going through dcmjs's growing write buffer (which copied the frames several times: the SEG of
 * a 300-slice CT spent most of its encode time there).
 */
function appendPixelData(dataset: Uint8Array, pixels: Uint8Array, vr: 'OB' | 'OW'): Uint8Array {
  const padded = pixels.length + (pixels.length & 1);
  const out = new Uint8Array(dataset.length + 12 + padded);
  out.set(dataset);
  const dv = new DataView(out.buffer, dataset.length, 12);
  dv.setUint16(0, 0x7fe0, true);
  dv.setUint16(2, 0x0010, true);
  dv.setUint8(4, vr.charCodeAt(0));
  dv.setUint8(5, vr.charCodeAt(1));
  dv.setUint32(8, padded, true);
  out.set(pixels, dataset.length + 12);
  return out;
}

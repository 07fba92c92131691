/**
 * A folder of DICOM series and DICOM SEGs → an nnU-Net raw dataset (the `convert` helper nnU-Net leaves to its
 * users): each SEG and the image series it references become one training case, `imagesTr/<case>_0000.nii.gz`
 * and `labelsTr/<case>.nii.gz` on the series' grid with exact geometry; series no SEG references become test
 * cases (`imagesTs`). Label values follow the segment labels across SEGs (the first SEG to name a structure
 * gives it the next value), so "liver" is the same value in every case. What cannot be converted (a SEG whose
 * series is missing, overlapping segments, a second SEG of one series) is skipped and reported, not guessed.
 * Built in a staging folder and renamed into place.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { writeJsonAtomic } from '../formats/atomic-file.js';
import { readPart10Header } from '../dicom/part10.js';
import { listDicomFiles } from '../dicom/series-folder.js';
import { seriesToVolume } from '../dicom/series-to-volume.js';
import { readSeg } from '../dicom/seg-reader.js';
import { SEGMENTATION_STORAGE } from '../dicom/sop-classes.js';
import { writeImage } from '../io/image-file.js';

export interface ConvertDicomOptions {
  inputFolder: string;
  /** nnUNet_raw */
  rawRoot: string;
  /** `DatasetXXX_Name` */
  datasetName: string;
  log?: (line: string) => void;
}

export interface ConvertDicomResult {
  folder: string;
  training: number;
  test: number;
  labels: Record<string, number>;
  skipped: string[];
}

interface Header {
  file: string;
  seriesInstanceUID: string;
  sopClassUID: string;
  modality: string;
  referencedSeries?: string;
}

/** The attributes grouping needs; undefined for a file that is not a readable DICOM instance. */
function readHeader(file: string): Header | undefined {
  try {
    const ds = readPart10Header(readFileSync(file), file);
    const referenced = Array.isArray(ds.ReferencedSeriesSequence) ? (ds.ReferencedSeriesSequence[0] as { SeriesInstanceUID?: unknown } | undefined) : undefined;
    return {
      file,
      seriesInstanceUID: String(ds.SeriesInstanceUID ?? ''),
      sopClassUID: String(ds.SOPClassUID ?? ''),
      modality: String(ds.Modality ?? ''),
      referencedSeries: referenced?.SeriesInstanceUID !== undefined ? String(referenced.SeriesInstanceUID) : undefined,
    };
  } catch {
    return undefined;
  }
}

export async function convertDicomFolder(o: ConvertDicomOptions): Promise<ConvertDicomResult> {
  const log = o.log ?? (() => {});
  if (!/^Dataset\d{3,}_[A-Za-z0-9_-]+$/.test(o.datasetName)) throw new Error(`"${o.datasetName}" is not a dataset name (DatasetXXX_Name)`);
  const target = join(o.rawRoot, o.datasetName);
  if (existsSync(target)) throw new Error(`${target} exists already`);
  const skipped: string[] = [];
  const series = new Map<string, Header[]>();
  const segs: Header[] = [];
  for (const file of listDicomFiles(o.inputFolder)) {
    const h = readHeader(file);
    if (!h || !h.seriesInstanceUID) {
      skipped.push(`${relative(o.inputFolder, file)}: not a readable DICOM instance`);
      continue;
    }
    if (h.sopClassUID === SEGMENTATION_STORAGE) segs.push(h);
    else series.set(h.seriesInstanceUID, [...(series.get(h.seriesInstanceUID) ?? []), h]);
  }
  const labels: Record<string, number> = { background: 0 };
  const staging = join(o.rawRoot, `.${o.datasetName}.partial-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    for (const sub of ['imagesTr', 'labelsTr', 'imagesTs']) mkdirSync(join(staging, sub), { recursive: true });
    const used = new Set<string>();
    let training = 0;
    let modality = '';
    for (const seg of segs) {
      const where = relative(o.inputFolder, seg.file);
      const ref = seg.referencedSeries;
      if (!ref || !series.has(ref)) {
        skipped.push(`${where}: references series ${ref ?? '(none)'}, which is not in the folder`);
        continue;
      }
      if (used.has(ref)) {
        skipped.push(`${where}: a second SEG of series ${ref} (the first one is used)`);
        continue;
      }
      const files = series.get(ref)!.map((h) => h.file);
      let image;
      let read;
      try {
        image = await seriesToVolume(files.map((f) => readFileSync(f)), {}, files.map((f) => relative(o.inputFolder, f)));
        read = await readSeg(readFileSync(seg.file), image, where);
      } catch (e) {
        skipped.push(`${where}: ${(e as Error).message}`);
        continue;
      }
      if (!read.labelMap) {
        skipped.push(`${where}: segments overlap; an nnU-Net label map holds one label per voxel`);
        continue;
      }
      // segment number → the dataset's value for its label
      const remap = new Map<number, number>();
      for (const s of read.segments) {
        const name = s.label || `segment_${s.segmentNumber}`;
        labels[name] ??= Object.keys(labels).length;
        remap.set(s.segmentNumber, labels[name]!);
      }
      const out = new Uint8Array(read.labelMap.data.length);
      for (let i = 0; i < out.length; i++) out[i] = remap.get(read.labelMap.data[i]!) ?? 0;
      const id = `case_${String(training).padStart(3, '0')}`;
      await writeImage(image.volume, join(staging, 'imagesTr', `${id}_0000.nii.gz`));
      await writeImage({ ...read.labelMap, data: out }, join(staging, 'labelsTr', `${id}.nii.gz`));
      modality ||= series.get(ref)![0]!.modality;
      used.add(ref);
      training++;
      log(`${id}: series ${ref} with ${where}`);
    }
    if (training === 0) throw new Error(`${o.inputFolder}: no DICOM SEG with its series found, nothing to train on${skipped.length ? ` (${skipped.join('; ')})` : ''}`);
    let test = 0;
    for (const [uid, headers] of [...series].sort(([a], [b]) => a.localeCompare(b))) {
      if (used.has(uid)) continue;
      const files = headers.map((h) => h.file);
      try {
        const image = await seriesToVolume(files.map((f) => readFileSync(f)), {}, files.map((f) => relative(o.inputFolder, f)));
        await writeImage(image.volume, join(staging, 'imagesTs', `test_${String(test).padStart(3, '0')}_0000.nii.gz`));
        test++;
      } catch (e) {
        skipped.push(`series ${uid}: ${(e as Error).message}`);
      }
    }
    const labelNames = Object.keys(labels);
    if (Object.values(labels).some((v) => v > 255)) throw new Error(`${labelNames.length - 1} distinct segment labels: more than a uint8 label map holds`);
    // CT keeps its name: nnU-Net normalises a channel named "CT" with CTNormalization, others with z-scores
    writeJsonAtomic(join(staging, 'dataset.json'), { channel_names: { '0': modality || 'unknown' }, labels, numTraining: training, file_ending: '.nii.gz' }, { python: { sortKeys: false } });
    mkdirSync(o.rawRoot, { recursive: true });
    renameSync(staging, target);
    for (const s of skipped) log(`skipped ${s}`);
    return { folder: target, training, test, labels, skipped };
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
}

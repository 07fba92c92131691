/**
 * One segment job, start to end: DICOM series → Volume → nnU-Net prediction → DICOM SEG + per-segment
 * statistics. No queue, no socket: the queue (in-process or a Redis worker) calls this and forwards the
 * progress/partial callbacks as JobEvents. Failures are `JobError`s with the code the client sees; an aborted
 * signal rethrows the abort error untouched so the caller can report 'cancelled'.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { listDicomFiles } from '../dicom/series-folder.js';
import { SeriesTooLargeError, seriesToVolume, type SeriesVolume } from '../dicom/series-to-volume.js';
import { describeSegment, type SegmentDescription } from '../dicom/segment-codes.js';
import { writeSeg } from '../dicom/seg-writer.js';
import { readPart10 } from '../dicom/part10.js';
import type { VoxelArray } from '../imaging/volume.js';
import type { LoadedModel } from '../models/loaded-model.js';
import type { ModelCard } from '../models/model-card.js';
import { regionEntries } from '../nnunet/dataset/labels.js';
import type { PredictionProgress } from '../nnunet/inference/predict-case.js';
import { isAbortError, JobError } from '../contract/job-errors.js';
import { DEFAULT_JOB_LIMITS, type JobLimits, type JobProgress, type JobStage, type PartialLabelmap, type SegmentOptions, type SegmentResult, type SegmentStatistics } from './types.js';

export type SeriesInput = { folder: string } | { files: Uint8Array[] };

export interface SegmentContext {
  onProgress?(p: JobProgress): void;
  onPartial?(p: PartialLabelmap): void;
  signal?: AbortSignal;
}

/**
 * Share of the whole job each stage covers, in percent (start, end). Predicting dominates on CPU; the
 * other shares are rough but keep the bar monotonic.
 */
export const STAGE_PERCENT: Record<Exclude<JobStage, 'queued' | 'receiving'>, [number, number]> = {
  assembling: [0, 8],
  preprocessing: [8, 12],
  predicting: [12, 88],
  postprocessing: [88, 94],
  encoding: [94, 100],
};

/** Planes per partial slab: at most ~4 MB of labels per message. */
function slabPlanes(ny: number, nx: number): number {
  return Math.max(1, Math.min(64, Math.floor((4 << 20) / Math.max(1, ny * nx))));
}

/**
 * The segments a model's labels describe: one per foreground label value the prediction can hold. For a
 * region-based model the label map holds regions_class_order[i] for region i, where the regions are the
 * list entries of dataset.json's labels in order (LabelManager), so region i is named by its key.
 */
export function segmentDescriptions(card: ModelCard): SegmentDescription[] {
  const entries = Object.entries(card.labels).filter(([name]) => name !== 'ignore');
  const hasRegions = entries.some(([, v]) => Array.isArray(v) && v.length > 1);
  let pairs: [string, number][];
  if (hasRegions && card.regionsClassOrder) {
    const order = card.regionsClassOrder;
    pairs = regionEntries(card.labels).map(([name], i) => [name, order[i]!]);
  } else {
    pairs = entries.map(([name, v]) => [name, Array.isArray(v) ? v[0] : v]);
  }
  const seen = new Set<number>();
  return pairs
    .filter(([name, v]) => name !== 'background' && Number.isInteger(v) && v > 0 && !seen.has(v) && (seen.add(v), true))
    .sort((a, b) => a[1] - b[1])
    .map(([name, v]) => describeSegment(v, name, { name: `nnseg ${card.name}`, version: card.importedAt }));
}

/**
 * Voxel count, volume and intensity range per label, in one pass. `spacing` in mm ([sz, sy, sx]);
 * intensities are the series' values on the same grid (e.g. HU). An empty segment has null intensities.
 */
export function segmentStatistics(
  labels: ArrayLike<number>,
  intensities: VoxelArray,
  spacing: readonly number[],
  segments: readonly { segmentNumber: number; label: number; name: string }[],
): SegmentStatistics[] {
  if (labels.length !== intensities.length) throw new Error(`label map has ${labels.length} voxels, the series ${intensities.length}`);
  const maxLabel = segments.reduce((m, s) => Math.max(m, s.label), 0);
  const count = new Float64Array(maxLabel + 1);
  const sum = new Float64Array(maxLabel + 1);
  const min = new Float64Array(maxLabel + 1).fill(Infinity);
  const max = new Float64Array(maxLabel + 1).fill(-Infinity);
  for (let v = 0; v < labels.length; v++) {
    const l = labels[v];
    if (l === 0 || l > maxLabel) continue;
    const x = intensities[v];
    count[l]++;
    sum[l] += x;
    if (x < min[l]) min[l] = x;
    if (x > max[l]) max[l] = x;
  }
  const voxelMl = (spacing[0] * spacing[1] * spacing[2]) / 1000;
  return segments.map((s) => {
    const n = count[s.label];
    return {
      segmentNumber: s.segmentNumber,
      label: s.label,
      name: s.name,
      voxelCount: n,
      volumeMl: n * voxelMl,
      meanIntensity: n ? sum[s.label] / n : null,
      minIntensity: n ? min[s.label] : null,
      maxIntensity: n ? max[s.label] : null,
    };
  });
}

/** Reads the series (folder or bytes) into a volume; every problem is a BAD_SERIES error naming it. */
export async function assembleSeries(source: SeriesInput, maxDecodedBytes = DEFAULT_JOB_LIMITS.maxDecodedBytes): Promise<SeriesVolume> {
  try {
    if ('folder' in source) {
      const files = listDicomFiles(source.folder);
      return await seriesToVolume(
        files.map((f) => readFileSync(f)),
        { maxDecodedBytes },
        files.map((f) => relative(source.folder, f) || f),
      );
    }
    return await seriesToVolume(source.files, { maxDecodedBytes });
  } catch (e) {
    throw new JobError(e instanceof SeriesTooLargeError ? 'LIMIT_EXCEEDED' : 'BAD_SERIES', (e as Error).message, { cause: e });
  }
}

class ProgressReporter {
  private readonly t0 = performance.now();
  private predictStart = 0;
  private lastSent = 0;
  private lastPercent = 0;

  constructor(private readonly sink?: (p: JobProgress) => void) {}

  stage(stage: keyof typeof STAGE_PERCENT, done?: number, total?: number): void {
    if (!this.sink) return;
    const now = performance.now();
    const [a, b] = STAGE_PERCENT[stage];
    const fraction = total ? Math.min(1, (done ?? 0) / total) : 0;
    const percent = Math.max(this.lastPercent, a + (b - a) * fraction);
    if (stage === 'predicting' && !this.predictStart) this.predictStart = now;
    // at most ~10 messages a second while predicting, but always the first and last call
    if (stage === 'predicting' && done && done !== total && now - this.lastSent < 100) return;
    this.lastSent = now;
    this.lastPercent = percent;
    const p: JobProgress = { stage, percent: Math.round(percent * 10) / 10 };
    if (done !== undefined) p.done = done;
    if (total !== undefined) p.total = total;
    const eta = this.eta(stage, now, done, total, percent);
    if (eta !== undefined) p.etaSeconds = Math.round(eta * 10) / 10;
    this.sink(p);
  }

  /**
   * While predicting, the remaining network calls at the measured rate plus, for the export and encoding
   * after them, as long as everything before predicting took; otherwise elapsed time scaled by percent.
   */
  private eta(stage: string, now: number, done: number | undefined, total: number | undefined, percent: number): number | undefined {
    if (stage === 'predicting' && done && total) {
      const perCall = (now - this.predictStart) / 1000 / done;
      return (total - done) * perCall + (this.predictStart - this.t0) / 1000;
    }
    if (percent >= STAGE_PERCENT.postprocessing[0]) return ((now - this.t0) / 1000) * ((100 - percent) / percent);
    return undefined;
  }
}

/** Runs one segment job. Model loading is the caller's (the registry's) job. */
export async function segmentSeries(
  source: SeriesInput,
  model: LoadedModel,
  options: SegmentOptions,
  ctx: SegmentContext = {},
  limits: JobLimits = DEFAULT_JOB_LIMITS,
): Promise<SegmentResult> {
  const { signal } = ctx;
  const progress = new ProgressReporter(ctx.onProgress);
  const timings: Record<string, number> = {};
  const time = async <T>(name: string, f: () => T | Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      timings[name] = (timings[name] ?? 0) + (performance.now() - t) / 1000;
    }
  };
  const card = model.card;

  signal?.throwIfAborted();
  progress.stage('assembling');
  const series = await time('assembling', () => assembleSeries(source, limits.maxDecodedBytes));
  signal?.throwIfAborted();
  const useMirroring = options.tta ?? true;
  const stepSize = options.step ?? 0.5;
  // admission by cost, before any network runs: the geometry says what the sliding window will do
  const cost = model.predictionCost(series.volume, { useMirroring, stepSize });
  if (cost.networkCalls > limits.maxNetworkCalls)
    throw new JobError(
      'LIMIT_EXCEEDED',
      `this series with step ${stepSize}${useMirroring ? ', mirroring' : ''} and ${model.configuration.folds.length} fold(s) needs ${cost.networkCalls} network evaluations (${cost.tiles} tiles); the limit is ${limits.maxNetworkCalls}`,
    );
  if (cost.voxels > limits.maxVoxels)
    throw new JobError('LIMIT_EXCEEDED', `this series has ${cost.voxels} voxels on the model's grid; the limit is ${limits.maxVoxels}`);
  const channels = Object.keys(card.channelNames).length;
  if (channels !== 1)
    throw new JobError('BAD_SERIES', `model "${card.name}" needs ${channels} channels (${Object.values(card.channelNames).join(', ')}); a DICOM series gives one`);
  const segments = segmentDescriptions(card);
  if (segments.length === 0) throw new JobError('MODEL_FAILED', `model "${card.name}" has no foreground labels to write as segments`);

  progress.stage('preprocessing');
  let prediction;
  try {
    prediction = await model.predict([series.volume], {
      useMirroring,
      stepSize,
      signal,
      onProgress: (p: PredictionProgress) => {
        if (p.stage === 'predicting') progress.stage('predicting', p.done, p.total);
        else if (p.stage === 'exporting' || p.stage === 'postprocessing') progress.stage('postprocessing');
      },
    });
  } catch (e) {
    if (isAbortError(e, signal)) throw e;
    throw new JobError('MODEL_FAILED', `model "${card.name}" failed: ${(e as Error).message}`, { cause: e });
  }
  Object.assign(timings, prediction.timings);
  const labels = prediction.segmentation;
  signal?.throwIfAborted();

  // partial slabs of the final label map: the viewer can draw them while the SEG is being encoded
  if (ctx.onPartial) {
    const [nz, ny, nx] = labels.shape;
    const step = slabPlanes(ny, nx);
    const u8 = labels.data instanceof Uint8Array ? labels.data : Uint8Array.from(labels.data, (v) => Math.min(v, 255));
    for (let z0 = 0; z0 < nz; z0 += step) {
      const planes = Math.min(step, nz - z0);
      ctx.onPartial({ z0, shape: [planes, ny, nx], labels: u8.slice(z0 * ny * nx, (z0 + planes) * ny * nx) });
    }
  }

  progress.stage('encoding');
  const stats = segmentStatistics(
    labels.data,
    series.volume.data,
    series.volume.spacing,
    segments.map((s, n) => ({ segmentNumber: options.segType === 'labelmap' ? s.labelValue : n + 1, label: s.labelValue, name: s.name })),
  );
  let seg: Uint8Array;
  try {
    seg = await time('encoding', () =>
      writeSeg(labels, series, segments, {
        type: options.segType ?? 'binary',
        algorithmName: `nnseg ${card.name}`,
        algorithmVersion: card.importedAt,
        seriesDescription: `nnseg ${card.name}`,
      }),
    );
  } catch (e) {
    throw new JobError('INTERNAL', `writing the DICOM SEG failed: ${(e as Error).message}`, { cause: e });
  }
  const written = readPart10(seg, 'SEG').dataset;
  progress.stage('encoding', 1, 1);
  return {
    seg,
    sopInstanceUID: String(written.SOPInstanceUID),
    seriesInstanceUID: String(written.SeriesInstanceUID),
    referencedSeriesInstanceUID: series.seriesInstanceUID,
    segments: stats,
    model: {
      name: card.name,
      version: card.importedAt,
      configuration: model.configuration.configuration,
      folds: options.folds ?? model.configuration.folds.map((f) => f.fold),
    },
    timings,
  };
}

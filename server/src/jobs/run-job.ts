/**
 * Everything one job does between "dispatched" and "ended", shared by the in-process queue and the Redis
 * worker: fetch a DICOMweb series into a spool folder (or take the API's spool folder), acquire the model
 * from the registry, run segmentSeries, and always release the model and remove the spooled series
 * (unless retained). Throws JobError, or the abort error when the signal fired.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadOptions } from '../models/loaded-model.js';
import type { AcquiredModel, ModelRegistry } from '../models/model-registry.js';
import { JobError } from '../contract/job-errors.js';
import { segmentSeries, type SegmentContext } from './segment-series.js';
import type { JobLimits, SegmentRequest, SegmentResult, SeriesSource } from './types.js';

export type DicomWebSource = Extract<SeriesSource, { kind: 'dicomweb' }>;

/** Pulls a DICOMweb series into `folder` (serve/worker pass DicomWebClient.retrieveSeriesToFolder). */
export type FetchSeries = (source: DicomWebSource, folder: string, signal: AbortSignal, onInstance?: (n: number) => void) => Promise<unknown>;

export interface JobRunnerOptions {
  registry: ModelRegistry;
  fetchSeries?: FetchSeries;
  /** where DICOMweb series are fetched to (default <tmp>/nnseg-spool) */
  spoolRoot?: string;
  /** keep spooled series after the job (training retention); default false */
  retainSeries?: boolean;
  /** device / threads for model loading */
  loadOptions?: Pick<LoadOptions, 'device' | 'intraOpThreads'>;
  /** what one job may cost (default DEFAULT_JOB_LIMITS) */
  jobLimits?: JobLimits;
}

/** Removes a job's spooled series folder (the API's spool for a pushed series). */
export function removeSpooledSeries(request: SegmentRequest, options: Pick<JobRunnerOptions, 'retainSeries'>): void {
  if (options.retainSeries) return;
  if (request.series.kind === 'folder' && request.series.path) rmSync(request.series.path, { recursive: true, force: true });
}

export async function runSegmentJob(request: SegmentRequest, options: JobRunnerOptions, ctx: SegmentContext & { signal: AbortSignal }): Promise<SegmentResult> {
  const { signal } = ctx;
  let acquired: AcquiredModel | undefined;
  let fetched: string | undefined;
  try {
    let folder: string;
    const series = request.series;
    if (series.kind === 'dicomweb') {
      if (!options.fetchSeries) throw new JobError('PACS_UNAVAILABLE', 'this server has no DICOMweb PACS configured');
      const root = options.spoolRoot ?? join(tmpdir(), 'nnseg-spool');
      mkdirSync(root, { recursive: true });
      folder = fetched = mkdtempSync(join(root, 'job-'));
      ctx.onProgress?.({ stage: 'receiving', percent: 0, done: 0 });
      try {
        await options.fetchSeries(series, folder, signal, (n) => ctx.onProgress?.({ stage: 'receiving', percent: 0, done: n }));
      } catch (e) {
        if (signal.aborted) throw e;
        throw new JobError('PACS_UNAVAILABLE', `could not retrieve the series from the PACS: ${(e as Error).message}`, { cause: e });
      }
    } else {
      folder = series.path;
    }
    signal.throwIfAborted();
    const { model, configuration, folds } = request.options;
    acquired = await options.registry.acquire(model, { configuration, folds, ...options.loadOptions });
    signal.throwIfAborted();
    const result = await segmentSeries({ folder }, acquired.model, request.options, ctx, options.jobLimits);
    signal.throwIfAborted();
    return result;
  } finally {
    acquired?.release();
    if (fetched && !options.retainSeries) rmSync(fetched, { recursive: true, force: true });
    removeSpooledSeries(request, options);
  }
}

/**
 * The contract between the API layer (api/: WebSocket sessions, HTTP routes) and the job layer (jobs/:
 * queue, workers, the segment pipeline). The API never runs a model itself; the job layer never touches a
 * socket. Both the in-process queue and the Redis (BullMQ) queue implement `JobQueue`.
 */
import type { SegType } from '../dicom/seg-writer.js';

/** Where the series of a segment job comes from. */
export type SeriesSource =
  /** instances pushed by a client, spooled by the API into a job-owned temp folder (removed after the job) */
  | { kind: 'folder'; path: string }
  /** a series the server pulls itself from the configured DICOMweb PACS */
  | { kind: 'dicomweb'; studyInstanceUID: string; seriesInstanceUID: string };

export interface SegmentOptions {
  /** model name in the model store */
  model: string;
  configuration?: string;
  /** fold names ('0'…'4', 'all'); default every stored fold */
  folds?: string[];
  /** mirroring test-time augmentation (default true, as nnU-Net) */
  tta?: boolean;
  /** sliding-window step as a fraction of the patch (default 0.5) */
  step?: number;
  /** DICOM SEG flavour of the result (default 'binary') */
  segType?: SegType;
}

export interface SegmentRequest {
  /** fairness key: jobs are served round-robin across sessions, FIFO within one */
  sessionId: string;
  /** who asked (token subject), for the job list; never patient data */
  owner?: string;
  series: SeriesSource;
  options: SegmentOptions;
}

export type JobStage = 'queued' | 'receiving' | 'assembling' | 'preprocessing' | 'predicting' | 'postprocessing' | 'encoding';

export interface JobProgress {
  stage: JobStage;
  /** 0…100 over the whole job */
  percent: number;
  /** stage-local counters, e.g. network calls done/total while predicting */
  done?: number;
  total?: number;
  /** seconds until the job is expected to end, when it can be estimated */
  etaSeconds?: number;
}

/** Per-segment statistics on the source grid (intensities in the series' stored units, e.g. HU). */
export interface SegmentStatistics {
  segmentNumber: number;
  label: number;
  name: string;
  voxelCount: number;
  volumeMl: number;
  meanIntensity: number | null;
  minIntensity: number | null;
  maxIntensity: number | null;
}

export interface SegmentResult {
  /** the DICOM SEG, Part 10 bytes */
  seg: Uint8Array;
  sopInstanceUID: string;
  seriesInstanceUID: string;
  /** the series the SEG references */
  referencedSeriesInstanceUID: string;
  segments: SegmentStatistics[];
  /** model name and card importedAt, so a result names the exact model version */
  model: { name: string; version: string; configuration: string; folds: string[] };
  /** seconds per stage */
  timings: Record<string, number>;
}

/** A slab of the label map (planes [z0, z0 + nz) on the series grid) sent before the job ends. */
export interface PartialLabelmap {
  z0: number;
  shape: [number, number, number];
  labels: Uint8Array;
}

export type JobErrorCode =
  | 'UNKNOWN_MODEL'
  | 'BAD_SERIES'
  | 'MODEL_FAILED'
  | 'PACS_UNAVAILABLE'
  | 'INTERRUPTED'
  | 'LIMIT_EXCEEDED'
  | 'INTERNAL';

export type JobEvent =
  | { type: 'queued'; jobId: string; position: number }
  | { type: 'progress'; jobId: string; progress: JobProgress }
  | { type: 'partial'; jobId: string; partial: PartialLabelmap }
  | { type: 'result'; jobId: string; result: SegmentResult }
  | { type: 'error'; jobId: string; code: JobErrorCode; message: string }
  | { type: 'cancelled'; jobId: string };

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** What is persisted and listed about a job (no pixel data, no patient data). */
export interface JobRecord {
  id: string;
  sessionId: string;
  owner?: string;
  state: JobState;
  model: string;
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  progress?: JobProgress;
  error?: { code: JobErrorCode; message: string };
  /** set when succeeded */
  resultSeriesInstanceUID?: string;
}

export interface JobQueue {
  /** Queues a job; events for it go to `onEvent` (first one: 'queued'). Throws for a request that can never run. */
  submit(request: SegmentRequest, onEvent: (event: JobEvent) => void): { jobId: string };
  /** Re-attaches a listener (e.g. after the client reconnected); false when the job is unknown. */
  subscribe(jobId: string, onEvent: (event: JobEvent) => void): boolean;
  /** Stops a queued or running job within a second and frees its memory; false when unknown or ended. */
  cancel(jobId: string): boolean;
  get(jobId: string): JobRecord | undefined;
  list(): JobRecord[];
  /**
   * Spooled series folders that queued or running jobs still read (the server must not sweep them). Absent
   * where the queue cannot tell (Redis: jobs live in another process), then sweeps wait for the TTL.
   */
  liveSeriesFolders?(): string[];
  /** Stops taking jobs, cancels running ones (recorded as interrupted), releases models. */
  close(): Promise<void>;
}

/** What one segment job may cost, checked before its work starts (server config `limits`). */
export interface JobLimits {
  /** tiles × mirrors × folds (both stages of a cascade) */
  maxNetworkCalls: number;
  /** voxels of the image on the model's grid */
  maxVoxels: number;
  /** stored pixel bytes plus the float32 volume, from the DICOM headers */
  maxDecodedBytes: number;
}

export const DEFAULT_JOB_LIMITS: JobLimits = { maxNetworkCalls: 100_000, maxVoxels: 2 ** 30, maxDecodedBytes: 8 * 1024 ** 3 };

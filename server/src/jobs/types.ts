/**
 * The contract between the API layer (api/: WebSocket sessions, HTTP routes) and the job layer (jobs/:
 * queue, workers, the segment pipeline). The API never runs a model itself; the job layer never touches a
 * socket. Both the in-process queue and the Redis (BullMQ) queue implement `JobQueue`.
 */
import type { JobErrorCode, JobProgress, JobRecord, SegmentRequest, SegmentResultSummary } from '../contract/job-schemas.js';

// the wire shapes are inferred from the zod schemas in contract/job-schemas.ts; re-exported for the job layer
export type {
  JobErrorCode,
  JobProgress,
  JobRecord,
  JobStage,
  JobState,
  SegmentOptions,
  SegmentRequest,
  SegmentStatistics,
  SeriesSource,
} from '../contract/job-schemas.js';

/** A finished job: its summary and the DICOM SEG, Part 10 bytes. */
export type SegmentResult = SegmentResultSummary & { seg: Uint8Array };

/** A slab of the label map (planes [z0, z0 + nz) on the series grid) sent before the job ends. */
export interface PartialLabelmap {
  z0: number;
  shape: [number, number, number];
  labels: Uint8Array;
}

export type JobEvent =
  | { type: 'queued'; jobId: string; position: number }
  | { type: 'progress'; jobId: string; progress: JobProgress }
  | { type: 'partial'; jobId: string; partial: PartialLabelmap }
  | { type: 'result'; jobId: string; result: SegmentResult }
  | { type: 'error'; jobId: string; code: JobErrorCode; message: string }
  | { type: 'cancelled'; jobId: string };

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

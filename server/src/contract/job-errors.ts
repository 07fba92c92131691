/** Errors of the job layer: each carries the `JobErrorCode` the client sees. */
import type { JobErrorCode } from './job-schemas.js';

export class JobError extends Error {
  constructor(
    readonly code: JobErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'JobError';
  }
}

/** True for the error an aborted AbortSignal throws (predictCase uses signal.throwIfAborted()). */
export function isAbortError(e: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  return e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');
}

/** Any thrown value → a JobError (INTERNAL unless it already is one). */
export function toJobError(e: unknown, fallback: JobErrorCode = 'INTERNAL'): JobError {
  if (e instanceof JobError) return e;
  return new JobError(fallback, e instanceof Error ? e.message : String(e), { cause: e });
}

/**
 * An error message as it may go to the operator's log: DICOM UIDs (they identify a patient's study) and
 * quoted values are masked. The client still gets the full message: it names the client's own data.
 */
export function loggableMessage(message: string): string {
  return message
    .replace(/\b\d+(?:\.\d+){3,}\b/g, '<uid>')
    .replace(/"[^"]{0,200}"/g, '"…"')
    .slice(0, 500);
}

/** Errors of the job layer: each carries the `JobErrorCode` the client sees. */
import type { JobErrorCode } from './types.js';

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

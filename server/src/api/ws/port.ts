/**
 * What a WebSocket session offers its concern handlers (uploads.ts, jobs.ts, training.ts): the connection's
 * identity and limits, sending, the one error path (`fail`) and the one ownership rule (`owns`).
 */
import type { LimitsConfig } from '../../config/server-config.js';
import type { TrainingJobs } from '../../jobs/training/training-jobs.js';
import type { ModelStore } from '../../models/model-store.js';
import { ERROR_CODES, type ErrorCode, type ServerMessage } from '../../contract/protocol.js';
import type { Authenticator, Principal } from '../auth.js';
import type { Hub, JobSink, SessionRecord } from '../hub.js';

export interface SessionDeps {
  hub: Hub;
  store: ModelStore;
  auth: Authenticator;
  /** train jobs; absent when this server does not run them */
  training?: TrainingJobs;
}

export type ErrorExtras = { requestId?: string; jobId?: string; uploadId?: string; index?: number; fatal?: boolean; supportedVersions?: number[] };

export interface SessionPort extends JobSink {
  readonly socketId: string;
  readonly deps: SessionDeps;
  readonly limits: LimitsConfig;
  /** set by hello; handlers run only after it */
  readonly principal?: Principal;
  readonly session?: SessionRecord;
  send(message: ServerMessage): void;
  /** Sends a binary frame; returns its frame id. */
  sendBinary(payload: Uint8Array): number;
  /** The id the next binary frame will get (announced in the JSON message before it). */
  readonly nextFrameId: number;
  /** Bytes waiting in the socket's send buffer. */
  readonly bufferedBytes: number;
  fail(code: ErrorCode, message: string, extras?: ErrorExtras): void;
  /** Uploads and jobs belong to the session that started them (admins see everything). */
  owns(owner: { subject?: string; sessionId?: string }): boolean;
  /** False (and the socket closed) when the token expired during the session. */
  checkPrincipal(): boolean;
}

const WIRE_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/**
 * The one mapping of a thrown error to what the client is told: an error that carries a protocol error code
 * (JobError, UploadError, TrainingJobError, …) keeps it; anything else gets `fallback`.
 */
export function wireErrorCode(e: unknown, fallback: ErrorCode = 'INTERNAL'): ErrorCode {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && WIRE_CODES.has(code) ? (code as ErrorCode) : fallback;
}

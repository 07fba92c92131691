/**
 * The nnseg WebSocket protocol (documented with examples in docs/protocol.md). Text frames carry one JSON
 * message each, validated with the zod schemas below (a discriminated union on `type`, one per direction);
 * binary frames carry instance bytes (client → server) or label slabs / SEG bytes (server → client) with
 * the small fixed headers defined at the end of this file.
 *
 * This file has no Node-only imports: the viewer's browser client bundles it.
 */
import { JobStageSchema, SegmentOptionsSchema as JobSegmentOptionsSchema, SegmentResultSummarySchema } from './job-schemas.js';
import { z } from 'zod';
import { TrainingJobSummarySchema, TrainRequestSchema } from './train-request.js';
import { EpochMetricsSchema } from './training-events.js';

/** Bumped on any incompatible change; the server answers `hello` with the version both sides speak. */
export const PROTOCOL_VERSION = 1;
/** Versions this build can speak (oldest first). */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [1];
/** WebSocket sub-protocol names: `nnseg.v1`, and `nnseg.token.<token>` to pass a bearer token from a browser. */
export const WS_SUBPROTOCOL = `nnseg.v${PROTOCOL_VERSION}`;
export const WS_TOKEN_SUBPROTOCOL_PREFIX = 'nnseg.token.';

/** Every error a client can receive; the same list is used over HTTP (`{ error: { code, message } }`). */
export const ERROR_CODES = [
  'BAD_MESSAGE', // not JSON, or fails the message schema
  'UNKNOWN_TYPE', // JSON with a `type` this protocol does not know
  'BAD_STATE', // a message out of order (e.g. segment before hello, hello twice)
  'UNSUPPORTED_PROTOCOL', // hello with a version the server cannot speak
  'UNAUTHORIZED', // no token or an unknown token
  'TOKEN_EXPIRED',
  'FORBIDDEN', // the token's role may not do this
  'MESSAGE_TOO_LARGE', // text frame over limits.maxMessageBytes
  'BAD_FRAME', // binary frame with a wrong magic or short header
  'UNKNOWN_UPLOAD',
  'UNKNOWN_JOB',
  'CHUNK_OUT_OF_ORDER', // offset is not the instance's received byte count (duplicate or gap)
  'CHUNK_OUT_OF_RANGE', // index not in the manifest, or offset + length beyond the declared size
  'CHECKSUM_MISMATCH', // a completed instance whose sha256 differs from the manifest (its bytes are discarded)
  'FLOW_CONTROL', // more unacknowledged bytes than the granted window
  'LIMIT_EXCEEDED', // series size, instance count, jobs per session, uploads per session
  'UNKNOWN_MODEL',
  'BAD_SERIES', // the received instances are not one image series (non-image DICOM, garbage, mixed series)
  'MODEL_FAILED',
  'PACS_UNAVAILABLE',
  'INTERRUPTED', // the server stopped while the job ran
  'IDLE_TIMEOUT',
  'SHUTTING_DOWN',
  'NOT_FOUND', // HTTP: no such route
  'BAD_MODEL', // HTTP model import: the archive is unsafe (zip-slip, forbidden pickle global) or not an nnU-Net model
  'PAYLOAD_TOO_LARGE', // HTTP: request body over its limit
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];
export const ErrorCodeSchema = z.enum(ERROR_CODES);

/** Roles carried by bearer tokens: viewer runs models, annotator also submits corrections, admin also imports/deletes/trains. */
export const ROLES = ['viewer', 'annotator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export const RoleSchema = z.enum(ROLES);

const id = z.string().min(1).max(128);
const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'expected a lowercase UUID');
const uid = z.string().regex(/^[0-9]+(\.[0-9]+)*$/, 'expected a DICOM UID').max(64);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');

// ───────────────────────────── client → server ─────────────────────────────

export const HelloSchema = z.strictObject({
  type: z.literal('hello'),
  protocolVersion: z.number().int().positive(),
  client: z.strictObject({ name: z.string().min(1).max(64), version: z.string().max(32).optional() }),
  /** bearer token (or pass it as `Authorization: Bearer …` / sub-protocol `nnseg.token.<token>` on the upgrade) */
  token: z.string().min(1).max(512).optional(),
  /** the `sessionId` of an earlier welcome, to keep fairness position and uploads after a reconnect */
  sessionId: uuid.optional(),
});

export const ListModelsSchema = z.strictObject({ type: z.literal('listModels'), requestId: id.optional() });

export const InstanceManifestEntrySchema = z.strictObject({
  /** 0 … n-1, unique; chunks name the instance by this index */
  index: z.number().int().nonnegative(),
  /** Part 10 file size in bytes */
  size: z.number().int().positive(),
  sha256,
});

export const PushedSeriesSchema = z.strictObject({
  kind: z.literal('push'),
  manifest: z.strictObject({
    instances: z
      .array(InstanceManifestEntrySchema)
      .min(1)
      .refine((a) => a.every((e, i) => e.index === i), { message: 'instance indices must be 0, 1, …, n-1 in order' }),
  }),
});

export const DicomWebSeriesSchema = z.strictObject({
  kind: z.literal('dicomweb'),
  studyInstanceUID: uid,
  seriesInstanceUID: uid,
});

/** The job's options (contract/job-schemas.ts), strict on the wire, plus what only the socket needs. */
export const SegmentOptionsSchema = z.strictObject({
  ...JobSegmentOptionsSchema.shape,
  /** ask for `partial` label slabs while the job runs (default false) */
  partials: z.boolean().optional(),
});

export const SegmentSchema = z.strictObject({
  type: z.literal('segment'),
  /** chosen by the client; echoed in uploadStatus/queued/error so replies can be matched */
  requestId: id,
  series: z.discriminatedUnion('kind', [PushedSeriesSchema, DicomWebSeriesSchema]),
  options: SegmentOptionsSchema,
});

export const ResumeUploadSchema = z.strictObject({ type: z.literal('resumeUpload'), uploadId: uuid });

export const CancelSchema = z
  .strictObject({ type: z.literal('cancel'), jobId: id.optional(), uploadId: uuid.optional() })
  .refine((m) => (m.jobId === undefined) !== (m.uploadId === undefined), { message: 'cancel needs exactly one of jobId or uploadId' });

export const SubscribeSchema = z.strictObject({ type: z.literal('subscribe'), jobId: id });

export const PingSchema = z.strictObject({ type: z.literal('ping'), nonce: z.string().max(64).optional() });

/** Admin: start a train job (jobs/training/train-request.ts); the session is subscribed to it. */
export const TrainSchema = z.strictObject({ type: z.literal('train'), requestId: id, request: TrainRequestSchema });

/** Admin: follow (`subscribe` sends the whole curve first), stop following, cancel or resume a train job. */
export const TrainingControlSchema = z.strictObject({
  type: z.literal('trainingControl'),
  requestId: id.optional(),
  trainingId: uuid,
  action: z.enum(['subscribe', 'unsubscribe', 'cancel', 'resume']),
});

export const ClientMessageSchema = z.discriminatedUnion('type', [
  HelloSchema,
  ListModelsSchema,
  SegmentSchema,
  ResumeUploadSchema,
  CancelSchema,
  SubscribeSchema,
  PingSchema,
  TrainSchema,
  TrainingControlSchema,
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;
export type HelloMessage = z.infer<typeof HelloSchema>;
export type SegmentMessage = z.infer<typeof SegmentSchema>;
export type SegmentOptionsMessage = z.infer<typeof SegmentOptionsSchema>;
export type InstanceManifestEntry = z.infer<typeof InstanceManifestEntrySchema>;
export type TrainMessage = z.infer<typeof TrainSchema>;
export type TrainingControlMessage = z.infer<typeof TrainingControlSchema>;
export const CLIENT_MESSAGE_TYPES = ['hello', 'listModels', 'segment', 'resumeUpload', 'cancel', 'subscribe', 'ping', 'train', 'trainingControl'] as const;

// ───────────────────────────── server → client ─────────────────────────────

export const LimitsSchema = z.strictObject({
  /** largest text frame accepted */
  maxMessageBytes: z.number().int(),
  /** largest payload of one binary chunk frame (header excluded) */
  maxChunkBytes: z.number().int(),
  maxSeriesBytes: z.number().int(),
  maxInstances: z.number().int(),
  /** queued + running jobs and unfinished uploads per session */
  maxJobsPerSession: z.number().int(),
  /** a client may have at most this many bytes sent but not yet acknowledged, per upload */
  uploadWindowBytes: z.number().int(),
  /** the server closes a socket that sent nothing for this long (send ping) */
  idleTimeoutSeconds: z.number(),
  /** an interrupted upload can be resumed for this long after its socket closed */
  uploadResumeSeconds: z.number(),
});
export type Limits = z.infer<typeof LimitsSchema>;

export const WelcomeSchema = z.strictObject({
  type: z.literal('welcome'),
  protocolVersion: z.number().int(),
  server: z.strictObject({ name: z.string(), version: z.string() }),
  sessionId: uuid,
  /** token subject (never patient data) */
  subject: z.string(),
  role: RoleSchema,
  limits: LimitsSchema,
});

export const ModelSummarySchema = z.strictObject({
  name: z.string(),
  datasetName: z.string(),
  /** "CT", "T2+ADC", … from dataset.json channel_names */
  modality: z.string(),
  labels: z.record(z.string(), z.union([z.number().int(), z.array(z.number().int())])),
  configurations: z.array(z.strictObject({ name: z.string(), folds: z.array(z.string()) })),
  /** the card's importedAt: names the exact model version */
  version: z.string(),
  description: z.string().optional(),
});
export type ModelSummary = z.infer<typeof ModelSummarySchema>;

export const ModelsSchema = z.strictObject({ type: z.literal('models'), requestId: id.optional(), models: z.array(ModelSummarySchema) });

export const InstanceStatusSchema = z.strictObject({
  index: z.number().int(),
  /** bytes stored on the server; the client continues at this offset */
  received: z.number().int(),
  /** all bytes received and the sha256 matched */
  complete: z.boolean(),
});

/** Answer to a pushed `segment` and to `resumeUpload`: what the server already has. */
export const UploadStatusSchema = z.strictObject({
  type: z.literal('uploadStatus'),
  requestId: id.optional(),
  uploadId: uuid,
  /** flow-control window in bytes (see `ack`) */
  window: z.number().int().positive(),
  instances: z.array(InstanceStatusSchema),
});

/** Sent after a chunk is written to the spool; `inFlightBytes` counts the upload's chunks received but not yet acknowledged. */
export const AckSchema = z.strictObject({
  type: z.literal('ack'),
  uploadId: uuid,
  index: z.number().int(),
  /** bytes of this instance now stored */
  received: z.number().int(),
  /** the instance is complete and its sha256 matched */
  complete: z.boolean(),
  /** bytes of the whole upload now stored */
  totalReceived: z.number().int(),
});

export const QueuedSchema = z.strictObject({
  type: z.literal('queued'),
  requestId: id.optional(),
  uploadId: uuid.optional(),
  jobId: id,
  /** 1 = next to run (0 is allowed for "starting now") */
  position: z.number().int().nonnegative(),
});

export const ProgressSchema = z.strictObject({
  type: z.literal('progress'),
  jobId: id,
  stage: JobStageSchema,
  percent: z.number().min(0).max(100),
  done: z.number().int().optional(),
  total: z.number().int().optional(),
  etaSeconds: z.number().nonnegative().optional(),
});

/** Announces the binary frame that follows immediately (same `frameId`): a slab of uint8 labels. */
export const PartialSchema = z.strictObject({
  type: z.literal('partial'),
  jobId: id,
  frameId: z.number().int().nonnegative(),
  z0: z.number().int().nonnegative(),
  /** [nz, ny, nx] of the slab, x fastest */
  shape: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
  byteLength: z.number().int().nonnegative(),
});

/** Announces the binary frame that follows immediately (same `frameId`): the DICOM SEG, Part 10 bytes. */
export const ResultSchema = SegmentResultSummarySchema.extend({
  type: z.literal('result'),
  jobId: id,
  requestId: id.optional(),
  frameId: z.number().int().nonnegative(),
  byteLength: z.number().int().positive(),
});

export const ErrorSchema = z.strictObject({
  type: z.literal('error'),
  code: ErrorCodeSchema,
  message: z.string(),
  requestId: id.optional(),
  jobId: id.optional(),
  uploadId: uuid.optional(),
  /** instance index, for chunk errors */
  index: z.number().int().optional(),
  /** the server closes the socket after this message */
  fatal: z.boolean().optional(),
  /** for UNSUPPORTED_PROTOCOL: the versions the server speaks */
  supportedVersions: z.array(z.number().int()).optional(),
});

export const CancelledSchema = z.strictObject({
  type: z.literal('cancelled'),
  jobId: id.optional(),
  uploadId: uuid.optional(),
});

export const PongSchema = z.strictObject({ type: z.literal('pong'), nonce: z.string().optional(), serverTime: z.string() });

/** A train job changed (state, stage, backend, iteration, a new epoch); `epochs` holds the epochs new to this client. */
export const TrainingUpdateSchema = z.strictObject({
  type: z.literal('trainingUpdate'),
  requestId: id.optional(),
  training: TrainingJobSummarySchema,
  epochs: z.array(EpochMetricsSchema),
});

export const ServerMessageSchema = z.discriminatedUnion('type', [
  WelcomeSchema,
  ModelsSchema,
  UploadStatusSchema,
  AckSchema,
  QueuedSchema,
  ProgressSchema,
  PartialSchema,
  ResultSchema,
  ErrorSchema,
  CancelledSchema,
  PongSchema,
  TrainingUpdateSchema,
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;
export type WelcomeMessage = z.infer<typeof WelcomeSchema>;
export type UploadStatusMessage = z.infer<typeof UploadStatusSchema>;
export type AckMessage = z.infer<typeof AckSchema>;
export type QueuedMessage = z.infer<typeof QueuedSchema>;
export type ProgressMessage = z.infer<typeof ProgressSchema>;
export type PartialMessage = z.infer<typeof PartialSchema>;
export type ResultMessage = z.infer<typeof ResultSchema>;
export type ErrorMessage = z.infer<typeof ErrorSchema>;
export type CancelledMessage = z.infer<typeof CancelledSchema>;
export type TrainingUpdateMessage = z.infer<typeof TrainingUpdateSchema>;
export type ServerMessageOf<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

// ───────────────────────────── binary frames ─────────────────────────────

/** Client → server instance chunk: 32-byte header, then the bytes. All integers big-endian. */
export const CHUNK_MAGIC = 0x4e4e4331; // "NNC1"
export const CHUNK_HEADER_BYTES = 32;
/** Server → client payload (partial slab or SEG): 8-byte header "NNS1" + uint32 frameId, then the bytes. */
export const SERVER_FRAME_MAGIC = 0x4e4e5331; // "NNS1"
export const SERVER_FRAME_HEADER_BYTES = 8;

export interface ChunkHeader {
  uploadId: string;
  index: number;
  offset: number;
}

function uuidToBytes(u: string, out: Uint8Array, at: number): void {
  const hex = u.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`"${u}" is not a UUID`);
  for (let i = 0; i < 16; i++) out[at + i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
}

function bytesToUuid(b: Uint8Array, at: number): string {
  let s = '';
  for (let i = 0; i < 16; i++) {
    s += b[at + i].toString(16).padStart(2, '0');
    if (i === 3 || i === 5 || i === 7 || i === 9) s += '-';
  }
  return s;
}

/**
 * Layout: [0,4) magic "NNC1" · [4,20) uploadId as 16 raw UUID bytes · [20,24) uint32 instance index ·
 * [24,32) uint64 byte offset within the instance · [32, …) payload.
 */
export function encodeChunk(header: ChunkHeader, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_BYTES + payload.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, CHUNK_MAGIC);
  uuidToBytes(header.uploadId, out, 4);
  dv.setUint32(20, header.index);
  dv.setBigUint64(24, BigInt(header.offset));
  out.set(payload, CHUNK_HEADER_BYTES);
  return out;
}

/** Parses a chunk frame; throws with the reason for a short frame or a wrong magic. The payload is a view, not a copy. */
export function decodeChunk(frame: Uint8Array): ChunkHeader & { payload: Uint8Array } {
  if (frame.byteLength < CHUNK_HEADER_BYTES) throw new Error(`binary frame of ${frame.byteLength} bytes is shorter than the ${CHUNK_HEADER_BYTES}-byte chunk header`);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const magic = dv.getUint32(0);
  if (magic !== CHUNK_MAGIC) throw new Error(`binary frame does not start with the chunk magic "NNC1" (got 0x${magic.toString(16).padStart(8, '0')})`);
  const offset = dv.getBigUint64(24);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`chunk offset ${offset} is too large`);
  return {
    uploadId: bytesToUuid(frame, 4),
    index: dv.getUint32(20),
    offset: Number(offset),
    payload: frame.subarray(CHUNK_HEADER_BYTES),
  };
}

export function encodeServerFrame(frameId: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(SERVER_FRAME_HEADER_BYTES + payload.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, SERVER_FRAME_MAGIC);
  dv.setUint32(4, frameId >>> 0);
  out.set(payload, SERVER_FRAME_HEADER_BYTES);
  return out;
}

export function decodeServerFrame(frame: Uint8Array): { frameId: number; payload: Uint8Array } {
  if (frame.byteLength < SERVER_FRAME_HEADER_BYTES) throw new Error(`binary frame of ${frame.byteLength} bytes is shorter than its 8-byte header`);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (dv.getUint32(0) !== SERVER_FRAME_MAGIC) throw new Error('binary frame does not start with the server frame magic "NNS1"');
  return { frameId: dv.getUint32(4), payload: frame.subarray(SERVER_FRAME_HEADER_BYTES) };
}

/** Parses a text frame from a client: returns the message or the error to answer with. */
export function parseClientMessage(text: string): { ok: true; message: ClientMessage } | { ok: false; code: ErrorCode; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the input: never echo what the client sent
    return { ok: false, code: 'BAD_MESSAGE', message: 'message is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, code: 'BAD_MESSAGE', message: 'message must be a JSON object' };
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') return { ok: false, code: 'BAD_MESSAGE', message: 'message has no string "type"' };
  if (!(CLIENT_MESSAGE_TYPES as readonly string[]).includes(type))
    return { ok: false, code: 'UNKNOWN_TYPE', message: `unknown message type "${type.slice(0, 64)}"` };
  const r = ClientMessageSchema.safeParse(value);
  if (!r.success) return { ok: false, code: 'BAD_MESSAGE', message: `${type}: ${describeIssues(r.error.issues)}` };
  return { ok: true, message: r.data };
}

/** Most characters of an error reply's message: a schema error over a huge array stays small. */
export const MAX_ERROR_MESSAGE_CHARS = 1024;

/** The first few schema issues (paths and zod's own words, never the client's values), bounded. */
export function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  const shown = issues.slice(0, 5).map((i) => `${i.path.slice(0, 8).map(String).join('.').slice(0, 120) || '(root)'}: ${i.message.slice(0, 160)}`);
  const more = issues.length > shown.length ? `; and ${issues.length - shown.length} more` : '';
  const text = `${shown.join('; ')}${more}`;
  return text.length > MAX_ERROR_MESSAGE_CHARS ? `${text.slice(0, MAX_ERROR_MESSAGE_CHARS - 1)}…` : text;
}

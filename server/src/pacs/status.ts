/**
 * The watcher's status payload (GET /api/pacs/status and `nnseg watch --status-port`): what ran, when, with
 * which model version. Versioned zod schema; UIDs only, no patient data.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { SeriesRecord } from './ledger.js';

export const PACS_STATUS_VERSION = 1;
/** most recent series listed (the ledger keeps all of them) */
export const STATUS_RECENT = 200;

export const PacsSeriesStatusSchema = z.strictObject({
  studyInstanceUID: z.string(),
  seriesInstanceUID: z.string(),
  state: z.enum(['claimed', 'done', 'failed', 'ignored']),
  rule: z.string().optional(),
  model: z.string().optional(),
  modelVersion: z.strictObject({ name: z.string(), version: z.string(), configuration: z.string().optional(), folds: z.array(z.string()).optional() }).optional(),
  attempts: z.number().int().min(0),
  jobId: z.string().optional(),
  claimedAt: z.string().optional(),
  endedAt: z.string().optional(),
  seconds: z.number().optional(),
  segSeriesInstanceUID: z.string().optional(),
  /** the SEG was already in the PACS; nothing new was stored */
  reused: z.boolean().optional(),
  error: z.strictObject({ code: z.string(), message: z.string() }).optional(),
  reason: z.string().optional(),
});

export const PacsStatusSchema = z.strictObject({
  version: z.literal(PACS_STATUS_VERSION),
  running: z.boolean(),
  source: z.enum(['qido', 'orthanc-changes']),
  watermark: z.string().optional(),
  lastPollAt: z.string().optional(),
  lastPollError: z.string().optional(),
  pending: z.number().int().min(0),
  inFlight: z.number().int().min(0),
  counts: z.strictObject({ claimed: z.number(), done: z.number(), failed: z.number(), ignored: z.number() }),
  /** newest first; ignored series left out */
  series: z.array(PacsSeriesStatusSchema),
});
export type PacsStatus = z.infer<typeof PacsStatusSchema>;

export function buildStatus(s: {
  running: boolean;
  source: 'qido' | 'orthanc-changes';
  watermark?: string;
  lastPollAt?: string;
  lastPollError?: string;
  pending: number;
  inFlight: number;
  records: SeriesRecord[];
}): PacsStatus {
  const counts = { claimed: 0, done: 0, failed: 0, ignored: 0 };
  for (const r of s.records) counts[r.state]++;
  const series = s.records
    .filter((r) => r.state !== 'ignored')
    .sort((a, b) => (b.endedAt ?? b.claimedAt ?? '').localeCompare(a.endedAt ?? a.claimedAt ?? ''))
    .slice(0, STATUS_RECENT)
    .map((r) => ({
      studyInstanceUID: r.study,
      seriesInstanceUID: r.series,
      state: r.state,
      rule: r.rule,
      model: r.model,
      modelVersion: r.modelVersion,
      attempts: r.attempts,
      jobId: r.jobId,
      claimedAt: r.claimedAt,
      endedAt: r.endedAt,
      seconds: r.seconds,
      segSeriesInstanceUID: r.segSeriesInstanceUID,
      reused: r.reused,
      error: r.error,
      reason: r.reason,
    }));
  return PacsStatusSchema.parse({
    version: PACS_STATUS_VERSION,
    running: s.running,
    source: s.source,
    watermark: s.watermark,
    lastPollAt: s.lastPollAt,
    lastPollError: s.lastPollError,
    pending: s.pending,
    inFlight: s.inFlight,
    counts,
    series,
  });
}

/** A request handler (node http or express) answering the status as JSON. */
export function pacsStatusHandler(status: () => PacsStatus) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    const body = JSON.stringify(status());
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
  };
}

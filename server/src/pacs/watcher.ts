/**
 * PACS auto-segmentation: discovers new series (QIDO polling or Orthanc's change feed), routes each through
 * the rules, submits one segment job per matching series to the `JobQueue` (source kind 'dicomweb'), stores
 * the resulting SEG by STOW-RS, and records every step in the ledger so each series is processed once,
 * across restarts. Before submitting and again before storing it asks the PACS whether a SEG from nnseg
 * already references the series, so a SEG is never stored twice.
 */
import { DicomWebClient } from '../dicom/dicomweb/client.js';
import type { JobErrorCode, JobEvent, JobQueue, SegmentResult } from '../jobs/types.js';
import { pacsHeaders, type PacsConfig } from './config.js';
import { isOrthanc, orthancRootOf, OrthancChangesDiscovery, QidoDiscovery, type SeriesDiscovery } from './discovery.js';
import { findExistingSeg } from './existing-seg.js';
import { Ledger, type SeriesRecord } from './ledger.js';
import { routeSeries } from './rules.js';
import { buildStatus, type PacsStatus } from './status.js';

export interface PacsWatcherOptions {
  config: PacsConfig;
  queue: JobQueue;
  /** default: from config.dicomWeb */
  client?: DicomWebClient;
  /** default: chosen by config.discovery.mode */
  discovery?: SeriesDiscovery;
  log?: (message: string) => void;
  now?: () => Date;
}

/** Job outcomes worth another attempt (the series itself is fine). */
const RETRYABLE: ReadonlySet<JobErrorCode | 'STORE'> = new Set(['INTERRUPTED', 'PACS_UNAVAILABLE', 'STORE']);
export const PACS_SESSION_ID = 'pacs-watcher';

export class PacsWatcher {
  readonly ledger: Ledger;
  readonly client: DicomWebClient;
  readonly discovery: SeriesDiscovery;
  private readonly config: PacsConfig;
  private readonly queue: JobQueue;
  private readonly log: (message: string) => void;
  private readonly now: () => Date;
  private readonly pending: SeriesRecord[] = [];
  private readonly retryLater: SeriesRecord[] = [];
  private readonly inFlight = new Map<string, { promise: Promise<void>; jobId?: string }>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopping = false;
  private readonly abort = new AbortController();
  private lastPollAt: string | undefined;
  private lastPollError: string | undefined;
  private idleWaiters: (() => void)[] = [];

  private constructor(o: PacsWatcherOptions & { ledger: Ledger; client: DicomWebClient; discovery: SeriesDiscovery }) {
    this.config = o.config;
    this.queue = o.queue;
    this.ledger = o.ledger;
    this.client = o.client;
    this.discovery = o.discovery;
    this.log = o.log ?? (() => undefined);
    this.now = o.now ?? (() => new Date());
  }

  /** Opens the ledger (taking its lock), picks the discovery source, re-queues series a restart interrupted. */
  static async create(o: PacsWatcherOptions): Promise<PacsWatcher> {
    const { config } = o;
    const headers = pacsHeaders(config);
    const client = o.client ?? new DicomWebClient({ baseUrl: config.dicomWeb.url, headers, timeoutMs: config.dicomWeb.timeoutMs, retries: config.dicomWeb.retries });
    let discovery = o.discovery;
    if (!discovery) {
      const orthancUrl = config.discovery.orthancUrl ?? orthancRootOf(config.dicomWeb.url);
      const useFeed = config.discovery.mode === 'orthanc-changes' || (config.discovery.mode === 'auto' && (await isOrthanc(orthancUrl, headers)));
      discovery = useFeed
        ? new OrthancChangesDiscovery(orthancUrl, headers, { startFrom: config.discovery.startFrom, timeoutMs: config.dicomWeb.timeoutMs })
        : new QidoDiscovery(client, { stableSeconds: config.discovery.stableSeconds, lookbackDays: config.discovery.lookbackDays, startFrom: config.discovery.startFrom, now: o.now });
    }
    const ledger = Ledger.open(config.ledger, { now: o.now });
    const watcher = new PacsWatcher({ ...o, ledger, client, discovery });
    for (const record of ledger.unfinished()) watcher.requeue(record, 'resumed after restart');
    return watcher;
  }

  /** Polls now and then every pollIntervalSeconds until `stop()`. */
  start(): void {
    const tick = () => {
      this.polling = this.pollOnce().finally(() => {
        this.polling = undefined;
        if (!this.stopping) this.timer = setTimeout(tick, this.config.discovery.pollIntervalSeconds * 1000);
      });
    };
    tick();
  }

  /** One discovery round: records new series in the ledger (claimed or ignored), commits the watermark, starts jobs. */
  async pollOnce(): Promise<void> {
    this.pending.push(...this.retryLater.splice(0));
    try {
      const watermark = this.ledger.watermark(this.discovery.source);
      const poll = await this.discovery.poll(watermark, (series) => this.ledger.get(series) !== undefined, this.abort.signal);
      for (const s of poll.series) {
        if (this.ledger.get(s.seriesInstanceUID)) continue;
        if (poll.baseline) {
          this.ledger.append({ type: 'ignored', study: s.studyInstanceUID, series: s.seriesInstanceUID, reason: 'in the PACS before the watcher first started' });
          continue;
        }
        const route = routeSeries(this.config.rules, s);
        if (!route) {
          this.ledger.append({ type: 'ignored', study: s.studyInstanceUID, series: s.seriesInstanceUID, reason: `no rule matches (modality ${s.modality ?? '?'})` });
          continue;
        }
        this.ledger.append({ type: 'claimed', study: s.studyInstanceUID, series: s.seriesInstanceUID, rule: route.name, model: route.rule.model, attempt: 1 });
        this.log(`series ${s.seriesInstanceUID}: ${route.name} → model ${route.rule.model}`);
        this.pending.push(this.ledger.get(s.seriesInstanceUID)!);
      }
      if (poll.watermark !== watermark) this.ledger.append({ type: 'watermark', source: this.discovery.source, value: poll.watermark });
      this.lastPollError = undefined;
    } catch (err) {
      if (this.stopping) return;
      this.lastPollError = (err as Error).message;
      this.log(`poll failed: ${this.lastPollError}`);
    } finally {
      this.lastPollAt = this.now().toISOString();
    }
    this.pump();
  }

  /** Resolves once nothing is pending or running (tests, `watch --once`). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops polling and starting jobs; running jobs are cancelled and stay 'claimed' in the ledger, so the
   * next start resumes them. Releases the ledger lock.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.abort.abort(new Error('watcher stopped'));
    await this.polling;
    for (const { jobId } of this.inFlight.values()) if (jobId) this.queue.cancel(jobId);
    await Promise.allSettled([...this.inFlight.values()].map((f) => f.promise));
    this.ledger.close();
  }

  status(): PacsStatus {
    return buildStatus({
      running: !this.stopping,
      source: this.discovery.source,
      watermark: this.ledger.watermark(this.discovery.source),
      lastPollAt: this.lastPollAt,
      lastPollError: this.lastPollError,
      pending: this.pending.length + this.retryLater.length,
      inFlight: this.inFlight.size,
      records: this.ledger.records(),
    });
  }

  private requeue(record: SeriesRecord, why: string): void {
    // a series that never reached the queue keeps its attempt number; a submitted one used an attempt
    if (record.jobId !== undefined) {
      if (record.attempts >= this.config.maxAttempts) {
        this.ledger.append({ type: 'failed', series: record.series, code: 'INTERRUPTED', message: `gave up after ${record.attempts} attempts (${why})` });
        return;
      }
      this.ledger.append({ type: 'claimed', study: record.study, series: record.series, rule: record.rule ?? '?', model: record.model ?? '?', attempt: record.attempts + 1 });
    }
    this.log(`series ${record.series}: ${why}`);
    this.pending.push(this.ledger.get(record.series)!);
  }

  private pump(): void {
    while (!this.stopping && this.inFlight.size < this.config.maxInFlight && this.pending.length > 0) {
      const record = this.pending.shift()!;
      if (this.ledger.get(record.series)?.state !== 'claimed' || this.inFlight.has(record.series)) continue;
      const slot: { promise: Promise<void>; jobId?: string } = { promise: Promise.resolve() };
      slot.promise = this.process(record, slot)
        .catch((err: Error) => this.log(`series ${record.series}: ${err.message}`))
        .finally(() => {
          this.inFlight.delete(record.series);
          this.pump();
        });
      this.inFlight.set(record.series, slot);
    }
    if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** nothing pending or running (series waiting for a retry at the next poll do not count) */
  private isIdle(): boolean {
    return this.pending.length === 0 && this.inFlight.size === 0;
  }

  private async process(record: SeriesRecord, slot: { jobId?: string }): Promise<void> {
    const started = Date.now();
    const { study, series } = record;
    try {
      const existing = await findExistingSeg(this.client, study, series, this.abort.signal);
      if (existing) {
        this.ledger.append({ type: 'done', series, ...existing, reused: true });
        this.log(`series ${series}: SEG ${existing.segSeriesInstanceUID} already in the PACS`);
        return;
      }
      const rule = this.config.rules.find((r, i) => (r.name ?? `rule-${i}`) === record.rule);
      const model = record.model ?? rule?.model;
      if (!model) throw Object.assign(new Error(`rule "${record.rule}" no longer exists`), { code: 'UNKNOWN_MODEL' });
      const outcome = await this.runJob(record, model, rule?.options ?? {}, slot);
      if (this.stopping) return; // stays 'claimed': resumed on the next start
      if (outcome.type === 'cancelled') {
        this.ledger.append({ type: 'failed', series, code: 'CANCELLED', message: 'the job was cancelled' });
        return;
      }
      if (outcome.type === 'error') {
        this.fail(record, outcome.code, outcome.message);
        return;
      }
      await this.store(record, outcome.result, started);
    } catch (err) {
      if (this.stopping) return;
      const code = (err as { code?: string }).code;
      this.fail(record, code === 'UNKNOWN_MODEL' ? 'UNKNOWN_MODEL' : 'STORE', (err as Error).message);
    }
  }

  private fail(record: SeriesRecord, code: string, message: string): void {
    const current = this.ledger.get(record.series)!;
    if (RETRYABLE.has(code as JobErrorCode) && current.attempts < this.config.maxAttempts) {
      // retried at the next poll, not at once: the PACS or a worker may need a moment
      this.log(`series ${record.series}: ${code} ${message}; retrying at the next poll`);
      this.ledger.append({ type: 'claimed', study: current.study, series: current.series, rule: current.rule ?? '?', model: current.model ?? '?', attempt: current.attempts + 1 });
      this.retryLater.push(this.ledger.get(record.series)!);
      return;
    }
    this.ledger.append({ type: 'failed', series: record.series, code, message });
    this.log(`series ${record.series}: failed ${code} ${message}`);
  }

  private runJob(
    record: SeriesRecord,
    model: string,
    options: Record<string, unknown>,
    slot: { jobId?: string },
  ): Promise<Extract<JobEvent, { type: 'result' | 'error' | 'cancelled' }>> {
    return new Promise((resolve, reject) => {
      let jobId: string;
      try {
        ({ jobId } = this.queue.submit(
          {
            sessionId: PACS_SESSION_ID,
            owner: 'pacs-watcher',
            series: { kind: 'dicomweb', studyInstanceUID: record.study, seriesInstanceUID: record.series },
            options: { ...options, model },
          },
          (event) => {
            if (event.type === 'result' || event.type === 'error' || event.type === 'cancelled') resolve(event);
          },
        ));
      } catch (err) {
        // the queue refuses requests that can never run (unknown model, …)
        const e = err as Error & { code?: string };
        resolve({ type: 'error', jobId: '', code: (e.code as JobErrorCode) ?? 'UNKNOWN_MODEL', message: e.message });
        return;
      }
      slot.jobId = jobId;
      try {
        this.ledger.append({ type: 'submitted', series: record.series, jobId });
      } catch (err) {
        reject(err as Error);
      }
    });
  }

  private async store(record: SeriesRecord, result: SegmentResult, started: number): Promise<void> {
    const { study, series } = record;
    // a SEG may have appeared while the job ran (another watcher, an earlier run whose ledger write was lost)
    const existing = await findExistingSeg(this.client, study, series, this.abort.signal);
    if (existing) {
      this.ledger.append({ type: 'done', series, ...existing, reused: true, modelVersion: result.model, seconds: (Date.now() - started) / 1000 });
      return;
    }
    const stored = await this.client.storeInstances([result.seg], { study, signal: this.abort.signal });
    if (!stored.stored.includes(result.sopInstanceUID)) {
      const reason = stored.failed.map((f) => f.reason).join('; ') || 'not in the STOW-RS answer';
      throw new Error(`STOW-RS did not store SEG ${result.sopInstanceUID}: ${reason}`);
    }
    this.ledger.append({
      type: 'done',
      series,
      segSeriesInstanceUID: result.seriesInstanceUID,
      segSopInstanceUID: result.sopInstanceUID,
      reused: false,
      modelVersion: result.model,
      seconds: (Date.now() - started) / 1000,
    });
    this.log(`series ${series}: stored SEG ${result.seriesInstanceUID} (${result.model.name} ${result.model.version})`);
  }
}

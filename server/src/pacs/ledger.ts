/**
 * The watcher's durable memory: a JSON-lines journal (one zod-validated, versioned record per line, fsync'd)
 * of every series it claimed and how that ended, plus the discovery watermark. Replaying it on start makes
 * each series processed exactly once across restarts: 'done', 'failed' and 'ignored' are final; a series
 * left 'claimed' by a crash is resumed (the watcher first looks for a SEG already stored for it).
 * One watcher per ledger: a lock file holding the owner's pid guards it.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

export const LEDGER_VERSION = 1;

const uid = z.string().regex(/^[0-9.]+$/, 'not a DICOM UID');
const base = { v: z.literal(LEDGER_VERSION), at: z.iso.datetime() };

export const LedgerRecordSchema = z.discriminatedUnion('type', [
  z.strictObject({ ...base, type: z.literal('watermark'), source: z.enum(['qido', 'orthanc-changes']), value: z.string() }),
  z.strictObject({ ...base, type: z.literal('claimed'), study: uid, series: uid, rule: z.string(), model: z.string(), attempt: z.number().int().positive() }),
  z.strictObject({ ...base, type: z.literal('submitted'), series: uid, jobId: z.string() }),
  z.strictObject({
    ...base,
    type: z.literal('done'),
    series: uid,
    segSeriesInstanceUID: uid,
    segSopInstanceUID: uid.optional(),
    /** the SEG was found already stored (by an earlier run), nothing new was stored */
    reused: z.boolean(),
    modelVersion: z.strictObject({ name: z.string(), version: z.string(), configuration: z.string().optional(), folds: z.array(z.string()).optional() }).optional(),
    seconds: z.number().min(0).optional(),
  }),
  z.strictObject({ ...base, type: z.literal('failed'), series: uid, code: z.string(), message: z.string() }),
  z.strictObject({ ...base, type: z.literal('ignored'), study: uid, series: uid, reason: z.string() }),
]);
export type LedgerRecord = z.infer<typeof LedgerRecordSchema>;
type NoMeta<T> = T extends unknown ? Omit<T, 'v' | 'at'> : never;
export type LedgerEntry = NoMeta<LedgerRecord>;

export type SeriesState = 'claimed' | 'done' | 'failed' | 'ignored';

export interface SeriesRecord {
  study: string;
  series: string;
  state: SeriesState;
  rule?: string;
  model?: string;
  attempts: number;
  jobId?: string;
  claimedAt?: string;
  endedAt?: string;
  segSeriesInstanceUID?: string;
  segSopInstanceUID?: string;
  reused?: boolean;
  modelVersion?: { name: string; version: string; configuration?: string; folds?: string[] };
  seconds?: number;
  error?: { code: string; message: string };
  reason?: string;
}

export class Ledger {
  private readonly series = new Map<string, SeriesRecord>();
  private readonly watermarks = new Map<string, string>();
  private fd: number | undefined;
  private readonly lockPath: string;

  private constructor(
    readonly path: string,
    private readonly now: () => Date,
  ) {
    this.lockPath = `${path}.lock`;
  }

  /** Opens (creating) the journal, takes the lock, replays it. */
  static open(path: string, options: { now?: () => Date } = {}): Ledger {
    const ledger = new Ledger(path, options.now ?? (() => new Date()));
    mkdirSync(dirname(path), { recursive: true });
    ledger.lock();
    try {
      ledger.replay();
      ledger.fd = openSync(path, 'a');
    } catch (err) {
      ledger.unlock();
      throw err;
    }
    return ledger;
  }

  private lock(): void {
    for (let tries = 0; tries < 2; tries++) {
      try {
        writeFileSync(this.lockPath, String(process.pid), { flag: 'wx' });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = Number(readFileSync(this.lockPath, 'utf8').trim());
        if (Number.isInteger(owner) && owner > 0 && alive(owner))
          throw new Error(`${this.path}: ledger in use by another watcher (pid ${owner}, lock ${this.lockPath})`);
        rmSync(this.lockPath, { force: true }); // stale lock of a dead process
      }
    }
    throw new Error(`${this.path}: cannot take the ledger lock ${this.lockPath}`);
  }

  private unlock(): void {
    rmSync(this.lockPath, { force: true });
  }

  private replay(): void {
    if (!existsSync(this.path)) return;
    const text = readFileSync(this.path, 'utf8');
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (!line) continue;
      let record: LedgerRecord;
      try {
        record = LedgerRecordSchema.parse(JSON.parse(line));
      } catch (err) {
        // a torn last line is what a crash during append leaves: drop it; anything else is corruption
        if (i === lines.length - 1) break;
        throw new Error(`${this.path}:${i + 1}: invalid ledger record (${(err as Error).message.split('\n')[0]})`);
      }
      this.apply(record);
    }
    if (text.length > 0 && !text.endsWith('\n')) {
      // cut the torn tail so the next record starts on its own line
      writeFileSync(this.path, text.slice(0, text.lastIndexOf('\n') + 1));
    }
  }

  private apply(r: LedgerRecord): void {
    if (r.type === 'watermark') {
      this.watermarks.set(r.source, r.value);
      return;
    }
    const prev = this.series.get(r.series);
    switch (r.type) {
      case 'claimed':
        this.series.set(r.series, {
          study: r.study, series: r.series, state: 'claimed', rule: r.rule, model: r.model, attempts: r.attempt, claimedAt: r.at,
        });
        break;
      case 'submitted':
        if (prev) prev.jobId = r.jobId;
        break;
      case 'done':
        if (prev) Object.assign(prev, { state: 'done', endedAt: r.at, segSeriesInstanceUID: r.segSeriesInstanceUID, segSopInstanceUID: r.segSopInstanceUID, reused: r.reused, modelVersion: r.modelVersion, seconds: r.seconds, error: undefined });
        break;
      case 'failed':
        if (prev) Object.assign(prev, { state: 'failed', endedAt: r.at, error: { code: r.code, message: r.message } });
        break;
      case 'ignored':
        this.series.set(r.series, { study: r.study, series: r.series, state: 'ignored', attempts: 0, endedAt: r.at, reason: r.reason });
        break;
    }
  }

  /** Appends one record durably (write + fsync) and applies it. */
  append(entry: LedgerEntry): LedgerRecord {
    if (this.fd === undefined) throw new Error(`${this.path}: ledger is closed`);
    const record = LedgerRecordSchema.parse({ v: LEDGER_VERSION, at: this.now().toISOString(), ...entry });
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
    fsyncSync(this.fd);
    this.apply(record);
    return record;
  }

  get(series: string): SeriesRecord | undefined {
    return this.series.get(series);
  }

  /** Series claimed but never finished (a crash or restart interrupted them). */
  unfinished(): SeriesRecord[] {
    return [...this.series.values()].filter((s) => s.state === 'claimed');
  }

  records(): SeriesRecord[] {
    return [...this.series.values()];
  }

  watermark(source: 'qido' | 'orthanc-changes'): string | undefined {
    return this.watermarks.get(source);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.unlock();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

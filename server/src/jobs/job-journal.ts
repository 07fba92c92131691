/**
 * Job state on disk: an append-only JSON-lines journal, one full job snapshot per line (last line of a job
 * wins), written and fsynced on every state change (queued, running, ended) — not on progress.
 *
 *   {"v":1,"job":{...JobRecord},"request":{...SegmentRequest}}
 *
 * `request` is kept while the job may still run (so a restart can re-queue it) and dropped once it ended.
 * Opening compacts the file (one line per job, ended jobs beyond `keepEnded` dropped, written to a temp
 * file, fsynced, renamed over the journal). A line that is not valid JSON or fails the schema — a torn
 * last write after a crash, an edit by hand — is reported in `problems` and skipped; it never stops the
 * server nor hides the other jobs.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { JobRecordSchema, SegmentRequestSchema } from '../contract/job-schemas.js';
import type { JobRecord, SegmentRequest } from './types.js';
import { writeFileAtomic } from '../formats/atomic-file.js';

export const JOURNAL_VERSION = 1;

const JournalLineSchema = z.object({
  v: z.literal(JOURNAL_VERSION),
  job: JobRecordSchema,
  request: SegmentRequestSchema.optional(),
});

export interface JournalEntry {
  job: JobRecord;
  request?: SegmentRequest;
}

export interface OpenedJournal {
  journal: JobJournal;
  /** the last state of every job, in the order jobs were first written */
  entries: JournalEntry[];
  /** `<file>:<line>: <reason>` for every line skipped */
  problems: string[];
}

const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

export class JobJournal {
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Reads, compacts and opens the journal for appending (creating it when missing). */
  static open(path: string, options: { keepEnded?: number } = {}): OpenedJournal {
    const keepEnded = options.keepEnded ?? 1000;
    mkdirSync(dirname(path), { recursive: true });
    const problems: string[] = [];
    const byId = new Map<string, JournalEntry>();
    if (existsSync(path)) {
      const lines = readFileSync(path, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (!line.trim()) return;
        let raw: unknown;
        try {
          raw = JSON.parse(line);
        } catch (e) {
          problems.push(`${path}:${i + 1}: not JSON (${(e as Error).message})`);
          return;
        }
        const r = JournalLineSchema.safeParse(raw);
        if (!r.success) {
          problems.push(`${path}:${i + 1}: ${r.error.issues.map((x) => `${x.path.join('.') || '(root)'}: ${x.message}`).join('; ')}`);
          return;
        }
        // a later line of the same job replaces its state in place: jobs stay in the order they were submitted
        const prev = byId.get(r.data.job.id);
        if (prev) Object.assign(prev, { job: r.data.job, request: r.data.request ?? prev.request });
        else byId.set(r.data.job.id, { job: r.data.job, request: r.data.request });
      });
    }
    let entries = [...byId.values()];
    const ended = entries.filter((e) => ENDED.has(e.job.state));
    if (ended.length > keepEnded) {
      const drop = new Set(ended.slice(0, ended.length - keepEnded).map((e) => e.job.id));
      entries = entries.filter((e) => !drop.has(e.job.id));
    }
    for (const e of entries) if (ENDED.has(e.job.state)) delete e.request;
    // compaction: write the survivors to a temp file, fsync, rename over the journal
    const text = entries.map((e) => serialize(e)).join('');
    writeFileAtomic(path, text, { mode: 0o600, durable: true });
    return { journal: new JobJournal(path, openSync(path, 'a', 0o600)), entries, problems };
  }

  /** Appends one snapshot; `sync` (state changes) waits until it is on disk. */
  write(entry: JournalEntry, sync = true): void {
    if (this.fd === null) return;
    writeSync(this.fd, serialize(ENDED.has(entry.job.state) ? { job: entry.job } : entry));
    if (sync) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

function serialize(e: JournalEntry): string {
  const line: z.infer<typeof JournalLineSchema> = { v: JOURNAL_VERSION, job: e.job };
  if (e.request) line.request = e.request;
  return JSON.stringify(line) + '\n';
}

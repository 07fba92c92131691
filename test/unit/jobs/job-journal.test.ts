/** The JSON-lines job journal: last line wins, compaction, ended jobs bounded, requests dropped once ended. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JobJournal } from '../../../server/src/jobs/job-journal.js';
import type { JobRecord, SegmentRequest } from '../../../server/src/jobs/types.js';
import { makeTempDir } from '../../helpers/tmp.js';

const record = (id: string, state: JobRecord['state']): JobRecord => ({ id, sessionId: 's', state, model: 'm', createdAt: '2026-01-01T00:00:00.000Z' });
const request: SegmentRequest = { sessionId: 's', series: { kind: 'dicomweb', studyInstanceUID: '1.2', seriesInstanceUID: '1.3' }, options: { model: 'm' } };

describe('JobJournal', () => {
  const tmp = makeTempDir();
  afterAll(tmp.cleanup);

  it('creates a missing journal (and its folder) and reads back what was written', () => {
    const path = join(tmp.dir, 'a', 'b', 'jobs.jsonl');
    const first = JobJournal.open(path);
    expect(first.entries).toEqual([]);
    expect(first.problems).toEqual([]);
    first.journal.write({ job: record('j1', 'queued'), request });
    first.journal.write({ job: record('j2', 'queued'), request });
    first.journal.write({ job: { ...record('j1', 'succeeded'), endedAt: 'x' }, request });
    first.journal.close();
    first.journal.write({ job: record('ignored', 'queued') }); // after close: no-op
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toEqual({ v: 1, job: { ...record('j1', 'succeeded'), endedAt: 'x' } }); // no request once ended
    const second = JobJournal.open(path);
    expect(second.entries.map((e) => [e.job.id, e.job.state, e.request !== undefined])).toEqual([
      ['j1', 'succeeded', false],
      ['j2', 'queued', true],
    ]);
    second.journal.close();
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(2); // compacted
  });

  it('keeps only the newest keepEnded ended jobs, never a live one', () => {
    const path = join(tmp.dir, 'bounded.jsonl');
    const text = ['e1', 'e2', 'live', 'e3', 'e4']
      .map((id) => JSON.stringify({ v: 1, job: record(id, id === 'live' ? 'queued' : 'failed'), ...(id === 'live' ? { request } : {}) }))
      .join('\n');
    writeFileSync(path, text + '\n');
    const { journal, entries } = JobJournal.open(path, { keepEnded: 2 });
    journal.close();
    expect(entries.map((e) => e.job.id)).toEqual(['live', 'e3', 'e4']);
  });

  it('skips and reports bad lines, keeping every good one', () => {
    const path = join(tmp.dir, 'bad.jsonl');
    writeFileSync(
      path,
      [
        JSON.stringify({ v: 1, job: record('ok1', 'queued'), request }),
        '{"v":1,"job":',
        JSON.stringify({ v: 1, job: { ...record('x', 'queued'), createdAt: 5 } }),
        JSON.stringify({ v: 1, job: record('ok2', 'cancelled') }),
        '',
        JSON.stringify({ v: 1, job: record('bad-request', 'queued'), request: { sessionId: 's', series: { kind: 'ftp' }, options: {} } }),
      ].join('\n'),
    );
    const { journal, entries, problems } = JobJournal.open(path);
    journal.close();
    expect(entries.map((e) => e.job.id)).toEqual(['ok1', 'ok2']);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/bad\.jsonl:2: not JSON/);
    expect(problems[1]).toMatch(/bad\.jsonl:3: job\.createdAt/);
    expect(problems[2]).toMatch(/bad\.jsonl:6: request\.series/);
  });
});

import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ledger } from '../../../server/src/pacs/ledger.js';
import { buildStatus, PacsStatusSchema } from '../../../server/src/pacs/status.js';
import { makeTempDir } from '../../helpers/tmp.js';

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir('nnseg-ledger-');
});
afterEach(() => tmp.cleanup());

const fixed = () => new Date('2026-01-02T03:04:05.000Z');

describe('Ledger', () => {
  it('replays claimed → submitted → done, and keeps watermarks per source', () => {
    const path = join(tmp.dir, 'sub', 'ledger.jsonl');
    const a = Ledger.open(path, { now: fixed });
    a.append({ type: 'claimed', study: '1.2', series: '1.2.3', rule: 'r', model: 'm', attempt: 1 });
    a.append({ type: 'submitted', series: '1.2.3', jobId: 'job-1' });
    a.append({ type: 'claimed', study: '1.2', series: '1.2.4', rule: 'r', model: 'm', attempt: 1 });
    a.append({ type: 'done', series: '1.2.3', segSeriesInstanceUID: '9.8', segSopInstanceUID: '9.8.1', reused: false, modelVersion: { name: 'm', version: 'v1' }, seconds: 4 });
    a.append({ type: 'ignored', study: '1.2', series: '1.2.5', reason: 'no rule' });
    a.append({ type: 'watermark', source: 'orthanc-changes', value: '17' });
    a.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(6);
    expect(lines[0]).toEqual({ v: 1, at: '2026-01-02T03:04:05.000Z', type: 'claimed', study: '1.2', series: '1.2.3', rule: 'r', model: 'm', attempt: 1 });

    const b = Ledger.open(path);
    expect(b.get('1.2.3')).toMatchObject({ state: 'done', jobId: 'job-1', segSeriesInstanceUID: '9.8', modelVersion: { name: 'm', version: 'v1' }, attempts: 1 });
    expect(b.unfinished().map((r) => r.series)).toEqual(['1.2.4']);
    expect(b.get('1.2.5')?.state).toBe('ignored');
    expect(b.watermark('orthanc-changes')).toBe('17');
    expect(b.watermark('qido')).toBeUndefined();
    b.close();
  });

  it('drops a torn last line (crash during append) and continues on a fresh line', () => {
    const path = join(tmp.dir, 'l.jsonl');
    const a = Ledger.open(path, { now: fixed });
    a.append({ type: 'claimed', study: '1.2', series: '1.2.3', rule: 'r', model: 'm', attempt: 1 });
    a.close();
    appendFileSync(path, '{"v":1,"at":"2026-01-02T03:04:05.000Z","type":"done","ser');
    const b = Ledger.open(path, { now: fixed });
    expect(b.get('1.2.3')?.state).toBe('claimed');
    b.append({ type: 'failed', series: '1.2.3', code: 'MODEL_FAILED', message: 'x' });
    b.close();
    const c = Ledger.open(path);
    expect(c.get('1.2.3')).toMatchObject({ state: 'failed', error: { code: 'MODEL_FAILED', message: 'x' } });
    c.close();
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('refuses a corrupt record in the middle, naming file and line', () => {
    const path = join(tmp.dir, 'l.jsonl');
    writeFileSync(path, '{"v":1,"at":"2026-01-02T03:04:05.000Z","type":"watermark","source":"qido","value":"20260101"}\n{"v":2,"type":"x"}\n{"v":1,"at":"2026-01-02T03:04:05.000Z","type":"watermark","source":"qido","value":"20260102"}\n');
    expect(() => Ledger.open(path)).toThrow(new RegExp(`${path.replace(/[.]/g, '\\.')}:2: invalid ledger record`));
  });

  it('rejects records that are not valid (bad UID) before writing them', () => {
    const l = Ledger.open(join(tmp.dir, 'l.jsonl'));
    expect(() => l.append({ type: 'claimed', study: '1.2', series: 'abc', rule: 'r', model: 'm', attempt: 1 })).toThrow(/not a DICOM UID/);
    l.close();
    expect(readFileSync(join(tmp.dir, 'l.jsonl'), 'utf8')).toBe('');
  });

  it('one watcher per ledger: a live owner holds the lock, a dead owner\'s lock is taken over', () => {
    const path = join(tmp.dir, 'l.jsonl');
    const a = Ledger.open(path);
    expect(() => Ledger.open(path)).toThrow(/ledger in use by another watcher \(pid \d+/);
    a.close();
    writeFileSync(`${path}.lock`, '2147483646'); // no such process
    const b = Ledger.open(path);
    expect(readFileSync(`${path}.lock`, 'utf8')).toBe(String(process.pid));
    b.close();
  });

  it('feeds a schema-valid status: counts, newest first, ignored left out', () => {
    let t = 0;
    const l = Ledger.open(join(tmp.dir, 'l.jsonl'), { now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, t++)) });
    l.append({ type: 'claimed', study: '1.2', series: '1.2.3', rule: 'r', model: 'm', attempt: 1 });
    l.append({ type: 'claimed', study: '1.2', series: '1.2.4', rule: 'r', model: 'm', attempt: 1 });
    l.append({ type: 'failed', series: '1.2.3', code: 'BAD_SERIES', message: 'gap' });
    l.append({ type: 'ignored', study: '1.2', series: '1.2.9', reason: 'no rule' });
    const status = buildStatus({ running: true, source: 'qido', pending: 1, inFlight: 0, records: l.records() });
    l.close();
    expect(PacsStatusSchema.parse(status)).toEqual(status);
    expect(status.counts).toEqual({ claimed: 1, done: 0, failed: 1, ignored: 1 });
    expect(status.series.map((s) => [s.seriesInstanceUID, s.state])).toEqual([['1.2.3', 'failed'], ['1.2.4', 'claimed']]);
    expect(status.series[0]!.error).toEqual({ code: 'BAD_SERIES', message: 'gap' });
  });
});

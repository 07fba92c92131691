import { JobBook, type BookEntry } from '../../../server/src/jobs/job-book.js';
import type { JobEvent, SegmentRequest } from '../../../server/src/jobs/types.js';

const folder = (sessionId: string): SegmentRequest => ({
  sessionId,
  series: { kind: 'folder', path: '/spool/x' },
  options: { model: 'm' },
});
const pacs = (sessionId: string): SegmentRequest => ({
  sessionId,
  series: { kind: 'dicomweb', studyInstanceUID: '1.2', seriesInstanceUID: '1.3' },
  options: { model: 'm' },
});

function add(book: JobBook<BookEntry>, req: SegmentRequest, events: JobEvent[] = []): BookEntry {
  const entry: BookEntry = { record: book.newRecord(req), listeners: new Set([(e) => events.push(e)]), request: req };
  book.entries.set(entry.record.id, entry);
  return entry;
}

describe('JobBook: what both segment queues keep', () => {
  it('admits by the same rules for every queue: shape, model, PACS, per-session and queued limits', () => {
    const book = new JobBook<BookEntry>();
    const known = {
      get: (name: string) =>
        name === 'm'
          ? {}
          : (() => {
              throw Object.assign(new Error(`no model ${name}`), { code: 'UNKNOWN_MODEL' });
            })(),
    };
    expect(() => book.admit({ ...folder('s'), options: { model: '' } }, { pacsConfigured: true })).toThrow(
      expect.objectContaining({ code: 'BAD_SERIES' }),
    );
    expect(() =>
      book.admit({ ...folder('s'), options: { model: 'x' } }, { registry: known as never, pacsConfigured: true }),
    ).toThrow('no model x');
    expect(() => book.admit(pacs('s'), { pacsConfigured: false })).toThrow(expect.objectContaining({ code: 'PACS_UNAVAILABLE' }));
    expect(book.admit(pacs('s'), { pacsConfigured: true }).series.kind).toBe('dicomweb');
    add(book, folder('s'));
    add(book, folder('s'));
    expect(() => book.admit(folder('s'), { pacsConfigured: false, maxJobsPerSession: 2 })).toThrow(
      expect.objectContaining({ code: 'LIMIT_EXCEEDED', message: expect.stringContaining('limit 2') }),
    );
    expect(() => book.admit(folder('t'), { pacsConfigured: false, maxQueuedJobs: 2 })).toThrow('the server has 2 jobs waiting');
    expect(book.admit(folder('t'), { pacsConfigured: false, maxQueuedJobs: 3 }).sessionId).toBe('t');
  });

  it('ends a job once, tells its listeners, then replays the final event to late subscribers', () => {
    const book = new JobBook<BookEntry>();
    const events: JobEvent[] = [];
    const entry = add(book, folder('s'), events);
    const persisted: string[] = [];
    const id = entry.record.id;
    expect(book.end(entry, 'cancelled', { type: 'cancelled', jobId: id }, (e) => persisted.push(e.record.state))).toBe(true);
    expect(book.end(entry, 'failed', { type: 'error', jobId: id, code: 'INTERNAL', message: 'late' })).toBe(false);
    expect(events).toEqual([{ type: 'cancelled', jobId: id }]);
    expect(persisted).toEqual(['cancelled']);
    expect(book.get(id)).toMatchObject({ state: 'cancelled', endedAt: expect.any(String) });
    expect(entry.listeners.size).toBe(0);
    expect(entry.terminal).toEqual({ type: 'cancelled', jobId: id });
    expect(book.terminalFromRecord({ ...entry.record, state: 'failed', error: { code: 'BAD_SERIES', message: 'm' } })).toEqual({
      type: 'error',
      jobId: id,
      code: 'BAD_SERIES',
      message: 'm',
    });
  });

  it('keeps at most keepEndedJobs ended jobs, oldest dropped first, running ones always', () => {
    const book = new JobBook<BookEntry>({ keepEndedJobs: 2 });
    const ended = [0, 1, 2].map(() => add(book, folder('s')));
    const running = add(book, folder('s'));
    running.record.state = 'running';
    for (const e of ended) book.end(e, 'succeeded', { type: 'cancelled', jobId: e.record.id });
    expect(
      book
        .list()
        .map((r) => r.id)
        .sort(),
    ).toEqual([ended[1].record.id, ended[2].record.id, running.record.id].sort());
  });

  it('keeps a listener that throws from breaking the others', () => {
    const lines: string[] = [];
    const book = new JobBook<BookEntry>({ log: (l) => lines.push(l) });
    const seen: JobEvent[] = [];
    const entry = add(book, folder('s'));
    entry.listeners = new Set([
      () => {
        throw new Error('boom');
      },
      (e) => seen.push(e),
    ]);
    book.emit(entry, { type: 'queued', jobId: entry.record.id, position: 1 });
    expect(seen).toHaveLength(1);
    expect(lines[0]).toMatch(/a listener threw on 'queued': boom/);
  });
});

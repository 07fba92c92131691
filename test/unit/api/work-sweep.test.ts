import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sweepWorkDir } from '../../../server/src/api/work-sweep.js';
import { loggableMessage } from '../../../server/src/contract/job-errors.js';
import { defaultMaxExtractedBytes } from '../../../server/src/models/zip-archive.js';
import { resolveServerConfig } from '../../../server/src/config/server-config.js';
import { makeTempDir } from '../../helpers/tmp.js';

describe('sweeping spooled patient data', () => {
  function workDir() {
    const t = makeTempDir();
    for (const f of ['uploads/a', 'uploads/b', 'uploads/live']) mkdirSync(join(t.dir, f), { recursive: true });
    mkdirSync(join(t.dir, 'imports'));
    writeFileSync(join(t.dir, 'imports', 'x.zip'), 'zip');
    writeFileSync(join(t.dir, 'uploads/a/instance-000000.dcm'), 'dicom');
    return t;
  }

  it('at start-up removes everything no live job reads', () => {
    const t = workDir();
    const n = sweepWorkDir({ workDir: t.dir, inUse: () => new Set([resolve(t.dir, 'uploads/live')]), olderThanMs: 0, unknownUseTtlMs: 86_400_000 });
    expect(n).toBe(3);
    expect(readdirSync(join(t.dir, 'uploads'))).toEqual(['live']);
    expect(readdirSync(join(t.dir, 'imports'))).toEqual([]);
    t.cleanup();
  });

  it('later keeps what was touched within the TTL, and waits a day when it cannot know what is in use', () => {
    const t = workDir();
    const old = (Date.now() - 3_600_000) / 1000;
    utimesSync(join(t.dir, 'uploads/a'), old, old);
    expect(sweepWorkDir({ workDir: t.dir, inUse: () => new Set(), olderThanMs: 600_000, unknownUseTtlMs: 86_400_000 })).toBe(1);
    expect(readdirSync(join(t.dir, 'uploads')).sort()).toEqual(['b', 'live']);
    expect(sweepWorkDir({ workDir: t.dir, inUse: () => null, olderThanMs: 0, unknownUseTtlMs: 86_400_000 })).toBe(0);
    expect(sweepWorkDir({ workDir: t.dir, inUse: () => null, olderThanMs: 0, unknownUseTtlMs: 86_400_000, now: Date.now() + 2 * 86_400_000 })).toBe(3);
    t.cleanup();
  });
});

describe('small guards', () => {
  it('masks UIDs and quoted values in log lines', () => {
    expect(loggableMessage('mixed series: b.dcm (SOPInstanceUID 1.2.840.113619.2.55.3) has "DOE^JOHN"')).toBe('mixed series: b.dcm (SOPInstanceUID <uid>) has "…"');
  });

  it('a zip may expand to 8× its size (at least 64 MiB, at most 20 GiB)', () => {
    expect(defaultMaxExtractedBytes(1 << 20)).toBe(64 * 2 ** 20);
    expect(defaultMaxExtractedBytes(100 * 2 ** 20)).toBe(800 * 2 ** 20);
    expect(defaultMaxExtractedBytes(10 * 2 ** 30)).toBe(20 * 2 ** 30);
  });

  it('an empty work dir is refused instead of becoming the current directory', () => {
    expect(() => resolveServerConfig({ formatVersion: 1 }, { NNSEG_WORK_DIR: '' })).toThrow(/NNSEG_WORK_DIR is empty/);
    expect(() => resolveServerConfig({ formatVersion: 1, workDir: ' ' }, {})).toThrow(/workDir is empty/);
  });
});

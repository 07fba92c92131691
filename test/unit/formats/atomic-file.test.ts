import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicWith, writeJsonAtomic } from '../../../server/src/formats/atomic-file.js';
import { makeTempDir } from '../../helpers/tmp.js';

const tmp = makeTempDir('atomic-file');

describe('atomic file writes', () => {
  it('replace the whole file and leave no temporary file', () => {
    const path = join(tmp.dir, 'a.bin');
    writeFileSync(path, 'old contents, longer than the new');
    writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    writeFileAtomic(path, 'text ü');
    expect(readFileSync(path, 'utf8')).toBe('text ü');
    expect(readdirSync(tmp.dir).filter((n) => n.startsWith('a.bin'))).toEqual(['a.bin']);
  });

  it('keep the old file and remove the temporary one when the writer fails', () => {
    const path = join(tmp.dir, 'b.json');
    writeFileSync(path, '{"old":true}');
    expect(() =>
      writeFileAtomicWith(path, () => {
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(readFileSync(path, 'utf8')).toBe('{"old":true}');
    expect(readdirSync(tmp.dir).filter((n) => n.startsWith('b.json'))).toEqual(['b.json']);
  });

  it('create new files with the requested mode', () => {
    const path = join(tmp.dir, 'c.txt');
    writeFileAtomic(path, 'x', { mode: 0o600, durable: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('write JSON as JSON.stringify or, for nnU-Net files, as Python json.dump does', () => {
    const path = join(tmp.dir, 'd.json');
    writeJsonAtomic(path, { b: 1, a: [0.5, 2] }, { indent: 1 });
    expect(readFileSync(path, 'utf8')).toBe('{\n "b": 1,\n "a": [\n  0.5,\n  2\n ]\n}\n');
    writeJsonAtomic(path, { b: 1, a: [0.5, NaN] }, { python: { sortKeys: true } });
    expect(readFileSync(path, 'utf8')).toBe('{\n    "a": [\n        0.5,\n        NaN\n    ],\n    "b": 1\n}');
    expect(existsSync(`${path}.tmp`)).toBe(false);
  });
});

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import { extractZip, safeEntryPath } from '../../../server/src/models/zip-archive.js';
import { makeTempDir } from '../../helpers/tmp.js';

describe('model zip extraction', () => {
  const tmp = makeTempDir();
  afterAll(tmp.cleanup);

  function writeZip(name: string, files: Parameters<typeof zipSync>[0]): string {
    const path = join(tmp.dir, name);
    writeFileSync(path, zipSync(files));
    return path;
  }

  it('extracts nested entries', async () => {
    const zip = writeZip('ok.zip', {
      'Dataset001_X/nnUNetTrainer__nnUNetPlans__3d_fullres/plans.json': strToU8('{"a":1}'),
      'Dataset001_X/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0/checkpoint_final.pth': new Uint8Array([1, 2, 3]),
    });
    const out = join(tmp.dir, 'ok');
    const written = await extractZip(zip, out);
    expect(written).toHaveLength(2);
    expect(readFileSync(join(out, 'Dataset001_X/nnUNetTrainer__nnUNetPlans__3d_fullres/plans.json'), 'utf8')).toBe('{"a":1}');
  });

  it.each(['../evil.txt', 'a/../../evil.txt', '/etc/evil.txt', 'C:/evil.txt', 'a\\..\\..\\evil.txt'])(
    'refuses the zip-slip entry %s and writes nothing',
    async (entry) => {
      const zip = writeZip('slip.zip', { 'good.txt': strToU8('fine'), [entry]: strToU8('bad') });
      const out = join(tmp.dir, 'slip-out');
      await expect(extractZip(zip, out)).rejects.toThrow(/absolute path|escapes the target folder|not a readable zip/);
      expect(existsSync(join(out, 'good.txt'))).toBe(false);
      expect(existsSync(join(tmp.dir, 'evil.txt'))).toBe(false);
    },
  );

  it('refuses symbolic links', async () => {
    const zip = writeZip('link.zip', { link: [strToU8('/etc/passwd'), { attrs: (0o120777 << 16) >>> 0, os: 3 }] });
    await expect(extractZip(zip, join(tmp.dir, 'link-out'))).rejects.toThrow(/symbolic link/);
  });

  it('refuses archives that expand past the limit', async () => {
    const zip = writeZip('big.zip', { big: new Uint8Array(10_000) });
    await expect(extractZip(zip, join(tmp.dir, 'big-out'), { maxTotalBytes: 1000 })).rejects.toThrow(/more than 1000 bytes/);
  });

  it('by default refuses a small zip that expands to far more than itself (a zip bomb), writing nothing', async () => {
    const zip = writeZip('bomb.zip', { 'Dataset001_X/zeros.bin': [new Uint8Array(80 << 20), { level: 9 }] });
    const out = join(tmp.dir, 'bomb-out');
    await expect(extractZip(zip, out)).rejects.toThrow(/expands to more than 67108864 bytes/);
    expect(existsSync(join(out, 'Dataset001_X/zeros.bin'))).toBe(false);
  });

  it('names a file that is not a zip', async () => {
    const path = join(tmp.dir, 'not.zip');
    writeFileSync(path, 'hello');
    await expect(extractZip(path, join(tmp.dir, 'x'))).rejects.toThrow(/not\.zip: not a readable zip archive/);
  });

  it('normalizes harmless paths', () => {
    expect(safeEntryPath('a/./b/../c.txt')).toBe(join('a', 'c.txt'));
  });
});

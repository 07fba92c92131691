import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { register } from '../../../server/src/cli/commands/phantom.js';
import { makeTempDir } from '../../helpers/tmp.js';

function program(): Command {
  const p = new Command().exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  register(p);
  return p;
}

describe('nnseg phantom', () => {
  it('dataset writes a 2D raw dataset; series writes one DICOM file per slice', async () => {
    const { dir, cleanup } = makeTempDir('phantom-cli-');
    const out = process.stdout.write;
    const err = process.stderr.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      await program().parseAsync(['node', 'nnseg', 'phantom', 'dataset', join(dir, 'ds'), '--cases', '2', '--shape', '1,32,32', '--spacing', '1,2,2', '--seed', '4']);
      expect(readdirSync(join(dir, 'ds', 'imagesTr')).sort()).toEqual(['phantom_000_0000.nii.gz', 'phantom_001_0000.nii.gz']);
      expect(existsSync(join(dir, 'ds', 'dataset.json'))).toBe(true);
      await program().parseAsync(['node', 'nnseg', 'phantom', 'series', join(dir, 'dcm'), '--shape', '3,16,16']);
      expect(readdirSync(join(dir, 'dcm'))).toHaveLength(3);
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
      cleanup();
    }
  });

  it('rejects a malformed --shape, naming the option', async () => {
    await expect(program().parseAsync(['node', 'nnseg', 'phantom', 'dataset', '/nonexistent', '--shape', '1,2'])).rejects.toThrow(/--shape must be three positive integers/);
  });
});

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NNSEG_VERSION } from '../../../server/src/contract/version.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

describe('NNSEG_VERSION', () => {
  it.each(['package.json', 'server/package.json', 'extension/package.json', 'modes/nnseg/package.json'])('is the version of %s', (file) => {
    expect(JSON.parse(readFileSync(join(root, file), 'utf8')).version).toBe(NNSEG_VERSION);
  });
});

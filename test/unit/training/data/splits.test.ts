import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateCrossvalSplit, readOrCreateSplits, selectFold, SPLITS_FILE, type Split } from '../../../../server/src/training/data/splits.js';
import { makeTempDir } from '../../../helpers/tmp.js';

interface Fixture {
  ids: string[];
  splits: Split[];
  random80: Record<string, Split>;
}
const fixtures = JSON.parse(readFileSync(new URL('../../../fixtures/training-data/splits.json', import.meta.url), 'utf8')) as Fixture[];

describe('generateCrossvalSplit (nnU-Net KFold(5, shuffle, 12345))', () => {
  it.each(fixtures.map((f) => [f.ids.length, f] as const))('matches numpy/sklearn for %i cases', (_n, f) => {
    expect(generateCrossvalSplit(f.ids)).toEqual(f.splits);
  });

  it('sorts the ids first, so input order does not matter', () => {
    const f = fixtures[1];
    expect(generateCrossvalSplit([...f.ids].reverse())).toEqual(f.splits);
  });

  it('every case is validated exactly once and never trained on in its own fold', () => {
    const f = fixtures[3];
    const s = generateCrossvalSplit(f.ids);
    const vals = s.flatMap((x) => x.val).sort();
    expect(vals).toEqual([...f.ids].sort());
    for (const x of s) for (const v of x.val) expect(x.train).not.toContain(v);
  });

  it('fails with fewer than 5 cases, naming the count', () => {
    expect(() => generateCrossvalSplit(['a', 'b', 'c'])).toThrow(/3 case\(s\)/);
  });
});

describe('readOrCreateSplits', () => {
  it('writes splits_final.json when absent, then reads it back', () => {
    const { dir, cleanup } = makeTempDir('splits-');
    try {
      const f = fixtures[0];
      const s = readOrCreateSplits(dir, f.ids);
      expect(s).toEqual(f.splits);
      expect(JSON.parse(readFileSync(join(dir, SPLITS_FILE), 'utf8'))).toEqual(f.splits);
      expect(readOrCreateSplits(dir, ['ignored'])).toEqual(f.splits);
    } finally {
      cleanup();
    }
  });

  it("keeps a user's (or nnU-Net's) splits file as is", () => {
    const { dir, cleanup } = makeTempDir('splits-');
    try {
      const custom = [{ train: ['b', 'c'], val: ['a'] }];
      writeFileSync(join(dir, SPLITS_FILE), JSON.stringify(custom));
      expect(readOrCreateSplits(dir, ['a', 'b', 'c', 'd', 'e', 'f'])).toEqual(custom);
    } finally {
      cleanup();
    }
  });

  it('rejects a malformed splits file, naming the file and key', () => {
    const { dir, cleanup } = makeTempDir('splits-');
    try {
      writeFileSync(join(dir, SPLITS_FILE), JSON.stringify([{ train: ['a'], validation: ['b'] }]));
      expect(() => readOrCreateSplits(dir, ['a'])).toThrow(/splits_final\.json[\s\S]*0\.val/);
      expect(existsSync(join(dir, SPLITS_FILE))).toBe(true);
    } finally {
      cleanup();
    }
  });
});

describe('selectFold (nnUNetTrainer.do_split)', () => {
  const f = fixtures[2];
  it('returns the fold of the splits file', () => {
    expect(selectFold(f.splits, 3, f.ids)).toEqual(f.splits[3]);
  });
  it('"all" trains and validates on every case', () => {
    expect(selectFold(f.splits, 'all', f.ids)).toEqual({ train: f.ids, val: f.ids });
  });
  it.each([5, 6])('fold %i beyond the file: random 80:20 with RandomState(12345 + fold)', (fold) => {
    for (const g of fixtures) expect(selectFold(g.splits, fold, g.ids)).toEqual(g.random80[String(fold)]);
  });
  it('names cases of the splits file that are not in the data', () => {
    expect(() => selectFold([{ train: ['x'], val: ['case_000'] }], 0, f.ids)).toThrow(/case\(s\) not in the preprocessed data: x/);
  });
});

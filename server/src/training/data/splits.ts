/**
 * Cross-validation splits as nnU-Net makes them (nnUNetTrainer.do_split and
 * nnunetv2/utilities/crossval_split.py `generate_crossval_split`):
 * - `<preprocessed dataset>/splits_final.json` is read when present (a list of { train, val });
 * - else KFold(n_splits=5, shuffle=True, random_state=12345) over the sorted case ids is written there.
 *   sklearn's KFold: indices = arange(n) shuffled by RandomState(seed).shuffle (legacy Fisher–Yates),
 *   folds are contiguous slices of n//5 (+1 for the first n%5); val keeps the shuffled order, train is
 *   the remaining ids ascending.
 * - with fewer than 5 cases KFold raises, so nnU-Net cannot train folds; we fail the same way, naming
 *   the count (fold "all" still works).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { RandomState } from '../../nnunet/experiment_planning/random-state.js';
import { legacyPermutation } from '../../nnunet/preprocessing/class-locations.js';
import { writeJsonAtomic } from '../../formats/atomic-file.js';

export interface Split {
  train: string[];
  val: string[];
}

export const SPLITS_FILE = 'splits_final.json';
export const SPLIT_SEED = 12345;
export const NUM_FOLDS = 5;

export const SplitsSchema = z.array(z.object({ train: z.array(z.string()), val: z.array(z.string()) })).min(1);

/** numpy's sort order for str arrays: by code point. */
function sortIds(ids: readonly string[]): string[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** `generate_crossval_split(sorted ids, seed, n_splits)`; pure. */
export function generateCrossvalSplit(caseIds: readonly string[], seed = SPLIT_SEED, nSplits = NUM_FOLDS): Split[] {
  const ids = sortIds(caseIds);
  const n = ids.length;
  if (new Set(ids).size !== n) throw new Error('generateCrossvalSplit: case ids are not unique');
  if (n < nSplits)
    throw new Error(`cannot make a ${nSplits}-fold cross-validation split of ${n} case(s) (nnU-Net's KFold needs at least ${nSplits}); train fold "all" or add cases`);
  const shuffled = legacyPermutation(new RandomState(seed), n);
  const splits: Split[] = [];
  let start = 0;
  for (let f = 0; f < nSplits; f++) {
    const size = Math.floor(n / nSplits) + (f < n % nSplits ? 1 : 0);
    const inVal = new Uint8Array(n);
    const val: string[] = [];
    for (let i = start; i < start + size; i++) {
      inVal[shuffled[i]] = 1;
      val.push(ids[shuffled[i]]);
    }
    const train = ids.filter((_, i) => inVal[i] === 0);
    splits.push({ train, val });
    start += size;
  }
  return splits;
}

/** Reads `splits_final.json` of a preprocessed dataset folder, or writes nnU-Net's default one for `caseIds`. */
export function readOrCreateSplits(preprocessedDatasetFolder: string, caseIds: readonly string[]): Split[] {
  const file = join(preprocessedDatasetFolder, SPLITS_FILE);
  if (existsSync(file)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
    }
    const r = SplitsSchema.safeParse(raw);
    if (!r.success)
      throw new Error(`${file}: not an nnU-Net splits file (a list of { train: [...], val: [...] }):\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`);
    return r.data;
  }
  const splits = generateCrossvalSplit(caseIds);
  // nnU-Net's save_json (indent 4)
  writeJsonAtomic(file, splits, { python: { indent: 4 } });
  return splits;
}

/**
 * The training and validation cases of one fold (nnUNetTrainer.do_split): "all" trains and validates on
 * every case; a fold beyond the splits file gets a random 80:20 split with RandomState(12345 + fold)
 * (`choice(n, int(0.8 n), replace=False)` on the sorted ids, val = the rest ascending).
 */
export function selectFold(splits: readonly Split[], fold: number | 'all', caseIds: readonly string[]): Split {
  if (fold === 'all') {
    const ids = sortIds(caseIds);
    return { train: ids, val: [...ids] };
  }
  if (!Number.isInteger(fold) || fold < 0) throw new Error(`fold must be a non-negative integer or "all", got ${fold}`);
  if (fold < splits.length) {
    const known = new Set(caseIds);
    const s = splits[fold];
    const missing = [...s.train, ...s.val].filter((id) => !known.has(id));
    if (missing.length > 0) throw new Error(`${SPLITS_FILE} fold ${fold} names case(s) not in the preprocessed data: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ' …' : ''}`);
    return { train: [...s.train], val: [...s.val] };
  }
  const keys = sortIds(caseIds);
  const nTrain = Math.floor(keys.length * 0.8);
  const perm = legacyPermutation(new RandomState(SPLIT_SEED + fold), keys.length);
  const trIdx = Array.from(perm.subarray(0, nTrain));
  const isTr = new Set(trIdx);
  return { train: trIdx.map((i) => keys[i]), val: keys.filter((_, i) => !isTr.has(i)) };
}

/**
 * `nnseg accumulate-crossval-results` (nnUNetv2_accumulate_crossval_results) on a results folder built so
 * the answer is known: three validation cases over two folds, one predicted half, one reference case outside
 * the folds. The merged summary's mean Dice is (1 + 2/3 + 1) / 3.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeImage } from '../../server/src/io/image-file.js';
import type { Vec3 } from '../../server/src/imaging/volume.js';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const SHAPE: Vec3 = [4, 8, 8];
const NAME = 'Dataset042_Boxes';
const MODEL = 'nnUNetTrainer__nnUNetPlans__3d_fullres';

async function labels(path: string, rows: number): Promise<void> {
  const data = new Uint8Array(SHAPE[0] * SHAPE[1] * SHAPE[2]);
  // label 1 in z 1..2, y 2..(2+rows), x 2..5
  for (let z = 1; z < 3; z++) for (let y = 2; y < 2 + rows; y++) for (let x = 2; x < 6; x++) data[(z * SHAPE[1] + y) * SHAPE[2] + x] = 1;
  await writeImage({ data, shape: SHAPE, spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] }, path);
}

describe('nnseg accumulate-crossval-results', () => {
  const tmp = makeTempDir('crossval-');
  afterAll(tmp.cleanup);
  const results = join(tmp.dir, 'nnUNet_results');
  const raw = join(tmp.dir, 'nnUNet_raw');
  const model = join(results, NAME, MODEL);
  const env = { ...process.env, nnUNet_results: results, nnUNet_raw: raw };
  const nnseg = (...args: string[]) => run('node', [CLI, ...args], { env });

  beforeAll(async () => {
    mkdirSync(join(raw, NAME, 'labelsTr'), { recursive: true });
    for (const c of [0, 1, 2, 3]) await labels(join(raw, NAME, 'labelsTr', `case_${c}.nii.gz`), 4);
    for (const f of [0, 1]) mkdirSync(join(model, `fold_${f}`, 'validation'), { recursive: true });
    await labels(join(model, 'fold_0/validation/case_0.nii.gz'), 4);
    await labels(join(model, 'fold_0/validation/case_1.nii.gz'), 2); // half the rows: Dice 2/3
    await labels(join(model, 'fold_1/validation/case_2.nii.gz'), 4);
    writeFileSync(join(model, 'dataset.json'), JSON.stringify({ labels: { background: 0, box: 1 }, file_ending: '.nii.gz', channel_names: { '0': 'CT' }, numTraining: 4 }));
    writeFileSync(join(model, 'plans.json'), JSON.stringify({ dataset_name: NAME, plans_name: 'nnUNetPlans' }));
  });

  it('gathers the folds into crossval_results_folds_0_1 and evaluates them together', async () => {
    await nnseg('accumulate-crossval-results', '42', '-c', '3d_fullres', '-f', '0', '1');
    const merged = join(model, 'crossval_results_folds_0_1');
    expect(readdirSync(merged).sort()).toEqual(['case_0.nii.gz', 'case_1.nii.gz', 'case_2.nii.gz', 'dataset.json', 'plans.json', 'summary.json']);
    const summary = JSON.parse(readFileSync(join(merged, 'summary.json'), 'utf8'));
    expect(summary.metric_per_case).toHaveLength(3);
    expect(summary.mean['1'].Dice).toBeCloseTo((1 + 2 / 3 + 1) / 3, 10);
    expect(summary.foreground_mean.Dice).toBeCloseTo((1 + 2 / 3 + 1) / 3, 10);
  });

  it('refuses folds that predict the same case, and a fold without validation', async () => {
    copyFileSync(join(model, 'fold_0/validation/case_0.nii.gz'), join(model, 'fold_1/validation/case_0.nii.gz'));
    await expect(nnseg('accumulate-crossval-results', NAME, '-c', '3d_fullres', '-f', '0', '1')).rejects.toMatchObject({
      stderr: expect.stringMatching(/case case_0\.nii\.gz is predicted by fold 0 and fold 1/),
    });
    await expect(nnseg('accumulate-crossval-results', NAME, '-c', '3d_fullres')).rejects.toMatchObject({ stderr: expect.stringMatching(/fold 2 of .* has no validation predictions/) });
  });
});

/**
 * `nnseg predict` addressed as nnUNetv2_predict is (`-d -tr -p -c -f` under $nnUNet_results, nnU-Net's flag
 * spellings), on a model the real nnU-Net v2.8.1 trained, against the prediction nnU-Net made of the same image.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readImage } from '../../server/src/io/image-file.js';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const FIX = join(process.cwd(), 'test/fixtures/nnunet-oracle');

describe('nnseg predict -d -tr -p -c -f (a model under nnUNet_results)', () => {
  const tmp = makeTempDir('predict-results-');
  afterAll(tmp.cleanup);
  const env = { ...process.env, nnUNet_results: join(FIX, 'models/plain3d') };
  const nnseg = (...args: string[]) => run('node', [CLI, ...args], { env, maxBuffer: 1 << 24 });

  it('predicts what nnU-Net predicted with the same model', async () => {
    const input = join(tmp.dir, 'in');
    mkdirSync(input);
    copyFileSync(join(FIX, 'images/spheres_010_0000.nii.gz'), join(input, 'spheres_010_0000.nii.gz'));
    const out = join(tmp.dir, 'out');
    await nnseg(
      'predict',
      '-i',
      input,
      '-o',
      out,
      '-d',
      '901',
      '-tr',
      'nnUNetTrainer_25epochs_40it',
      '-p',
      'nnUNetPlans_tiny',
      '-c',
      '3d_fullres',
      '-f',
      '0',
      '-step_size',
      '0.5',
      '--store',
      join(tmp.dir, 'store'),
    );
    const ours = (await readImage(join(out, 'spheres_010.nii.gz'))).data;
    const theirs = (await readImage(join(FIX, 'predictions/3d_tta/spheres_010.nii.gz'))).data;
    expect(ours.length).toBe(theirs.length);
    let same = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] === theirs[i]) same++;
    expect(same / ours.length).toBeGreaterThanOrEqual(0.999);
  });

  it('names what is missing: -c, the dataset, the trained model, or both -m and -d', async () => {
    const input = join(tmp.dir, 'in');
    const out = join(tmp.dir, 'never');
    await expect(nnseg('predict', '-i', input, '-o', out, '-d', '901')).rejects.toMatchObject({
      stderr: expect.stringMatching(/give -c/),
    });
    await expect(nnseg('predict', '-i', input, '-o', out, '-d', '902', '-c', '3d_fullres')).rejects.toMatchObject({
      stderr: expect.stringMatching(/no dataset with id 902 \(Dataset902_\*\) in nnUNet_results/),
    });
    await expect(nnseg('predict', '-i', input, '-o', out, '-d', '901', '-c', '2d')).rejects.toMatchObject({
      stderr: expect.stringMatching(/nnUNetTrainer__nnUNetPlans__2d: no such trained model/),
    });
    await expect(nnseg('predict', '-i', input, '-o', out, '-d', '901', '-m', 'x', '-c', '2d')).rejects.toMatchObject({
      stderr: expect.stringMatching(/not both/),
    });
  });
});

/**
 * nnUNetv2_export_model_to_zip and nnUNetv2_install_pretrained_model_from_zip from the `nnseg` command, on
 * models the real nnU-Net v2.8.1 trained: export from nnUNet_results, install into another nnUNet_results
 * (and nnU-Net's own export zip), then predict from the installed model as nnUNetv2_predict addresses it.
 * A zip is untrusted: escaping entries and archives without a model are refused, leaving nothing behind.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { zipSync } from 'fflate';
import yauzl from 'yauzl';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const FIX = join(process.cwd(), 'test/fixtures/nnunet-oracle');
const MODEL = 'Dataset901_SpheresCT/nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__3d_fullres';

function zipEntries(path: string): Promise<string[]> {
  return new Promise((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const names: string[] = [];
      zip!.on('entry', (e: yauzl.Entry) => {
        names.push(e.fileName);
        zip!.readEntry();
      });
      zip!.on('end', () => resolve(names.sort()));
      zip!.readEntry();
    }),
  );
}

describe('model zips: export-model-to-zip, install-pretrained-model-from-zip', () => {
  const tmp = makeTempDir('model-zip-');
  afterAll(tmp.cleanup);
  const installed = join(tmp.dir, 'installed_results');
  const nnseg = (results: string, ...args: string[]) => run('node', [CLI, ...args], { env: { ...process.env, nnUNet_results: results }, maxBuffer: 1 << 24 });

  it('exports what nnU-Net exports, installs it, and predicts from it by -d -tr -p -c', async () => {
    const zip = join(tmp.dir, 'plain3d.zip');
    await nnseg(join(FIX, 'models/plain3d'), 'export-model-to-zip', '-d', '901', '-o', zip, '-tr', 'nnUNetTrainer_25epochs_40it', '-p', 'nnUNetPlans_tiny', '-c', '3d_fullres', '-chk', 'checkpoint_final.pth', 'checkpoint_best.pth');
    const entries = await zipEntries(zip);
    for (const f of ['plans.json', 'dataset.json', 'dataset_fingerprint.json', 'fold_0/checkpoint_final.pth', 'fold_0/checkpoint_best.pth']) expect(entries).toContain(`${MODEL}/${f}`);
    await nnseg(installed, 'install-pretrained-model-from-zip', zip);
    for (const f of ['plans.json', 'fold_0/checkpoint_final.pth', 'fold_0/checkpoint_best.pth'])
      expect(readFileSync(join(installed, MODEL, f)).equals(readFileSync(join(FIX, 'models/plain3d', MODEL, f)))).toBe(true);
    const input = join(tmp.dir, 'in');
    mkdirSync(input);
    writeFileSync(join(input, 'spheres_011_0000.nii.gz'), readFileSync(join(FIX, 'images/spheres_011_0000.nii.gz')));
    const out = join(tmp.dir, 'out');
    await nnseg(installed, 'predict', '-i', input, '-o', out, '-d', '901', '-tr', 'nnUNetTrainer_25epochs_40it', '-p', 'nnUNetPlans_tiny', '-c', '3d_fullres', '-f', '0', '--store', join(tmp.dir, 'store'));
    expect(readdirSync(out)).toContain('spheres_011.nii.gz');
  });

  it("installs nnU-Net's own export zip beside it, and replaces a model installed again", async () => {
    await nnseg(installed, 'install-pretrained-model-from-zip', join(FIX, 'export_2d.zip'));
    const twoD = join(installed, 'Dataset901_SpheresCT/nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__2d');
    expect(readdirSync(join(twoD, 'fold_0')).sort()).toEqual(['checkpoint_final.pth', 'debug.json', 'progress.png', 'validation']);
    writeFileSync(join(twoD, 'fold_0', 'stale.txt'), 'left over from the old install');
    await nnseg(installed, 'install-pretrained-model-from-zip', join(FIX, 'export_2d.zip'));
    expect(readdirSync(join(twoD, 'fold_0'))).not.toContain('stale.txt');
    expect(readdirSync(join(installed, 'Dataset901_SpheresCT')).sort()).toEqual([
      'nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__2d',
      'nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__3d_fullres',
    ]);
  });

  it('refuses an escaping entry or an archive without a model, and leaves nothing behind', async () => {
    const results = join(tmp.dir, 'hostile_results');
    mkdirSync(results);
    const slip = join(tmp.dir, 'slip.zip');
    writeFileSync(slip, zipSync({ 'Dataset001_X/../../escaped.txt': new TextEncoder().encode('x') }));
    await expect(nnseg(results, 'install-pretrained-model-from-zip', slip)).rejects.toMatchObject({ stderr: expect.stringMatching(/escapes the target folder/) });
    const empty = join(tmp.dir, 'nomodel.zip');
    writeFileSync(empty, zipSync({ 'Dataset001_X/readme.txt': new TextEncoder().encode('no model here') }));
    await expect(nnseg(results, 'install-pretrained-model-from-zip', empty)).rejects.toMatchObject({ stderr: expect.stringMatching(/not an nnU-Net model export/) });
    expect(readdirSync(results)).toEqual([]);
    expect(readdirSync(tmp.dir)).not.toContain('escaped.txt');
  });
});

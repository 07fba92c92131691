/**
 * `nnseg export-model` / `export-onnx` through the built command. The layout they write is nnU-Net's; that the
 * real nnU-Net predicts with it is checked with the oracle (test/fixtures/nnunet-oracle/nnseg-trained: a model
 * trained by nnseg, exported, predicted by nnUNetv2_predict_from_modelfolder — see nnunet-oracle.test.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { unzipSync } from 'fflate';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const nnseg = (...args: string[]) => run('node', [CLI, ...args], { maxBuffer: 1 << 24 });
const FIX = join(process.cwd(), 'test/fixtures/nnunet-oracle');
const FOLDER = 'nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__3d_fullres';

describe('exporting a stored model', () => {
  const tmp = makeTempDir();
  const store = join(tmp.dir, 'store');
  afterAll(tmp.cleanup);

  beforeAll(async () => {
    await nnseg('import-model', join(FIX, 'models/plain3d'), '--store', store, '--name', 'spheres');
  });

  it('as an nnU-Net results tree: the same files nnU-Net wrote, the checkpoints byte for byte', async () => {
    const out = join(tmp.dir, 'results');
    const r = await nnseg('export-model', '-m', 'spheres', '-o', out, '--store', store);
    expect(r.stdout).toMatch(/nnUNetv2_predict_from_modelfolder -m .*Dataset901_SpheresCT\/nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__3d_fullres/);
    const folder = join(out, 'Dataset901_SpheresCT', FOLDER);
    expect(readdirSync(folder).sort()).toEqual(['dataset.json', 'dataset_fingerprint.json', 'fold_0', 'plans.json']);
    const original = join(FIX, 'models/plain3d/Dataset901_SpheresCT', FOLDER);
    for (const f of ['plans.json', 'dataset.json', 'fold_0/checkpoint_final.pth'])
      expect(Buffer.compare(readFileSync(join(folder, f)), readFileSync(join(original, f)))).toBe(0);
    // an export into a folder that holds the dataset already is refused, and leaves nothing behind
    await expect(nnseg('export-model', '-m', 'spheres', '-o', out, '--store', store)).rejects.toMatchObject({ stderr: expect.stringMatching(/exists already/) });
    expect(readdirSync(out)).toEqual(['Dataset901_SpheresCT']);
  });

  it('as the zip nnUNetv2_export_model_to_zip writes, which imports back to the same model', async () => {
    const zip = join(tmp.dir, 'spheres.zip');
    await nnseg('export-model', '-m', 'spheres', '-o', zip, '--store', store, '-f', '0');
    const names: string[] = [];
    unzipSync(new Uint8Array(readFileSync(zip)), { filter: (f) => (names.push(f.name), false) });
    names.sort();
    expect(names).toEqual(
      [`Dataset901_SpheresCT/${FOLDER}/dataset.json`, `Dataset901_SpheresCT/${FOLDER}/dataset_fingerprint.json`, `Dataset901_SpheresCT/${FOLDER}/fold_0/checkpoint_final.pth`, `Dataset901_SpheresCT/${FOLDER}/plans.json`].sort(),
    );
    const back = await nnseg('import-model', zip, '--store', store, '--name', 'spheres-again');
    expect(back.stdout).toMatch(/configurations: 3d_fullres \(folds 0\)/);
    const listed = JSON.parse((await nnseg('list-models', '--store', store, '--json')).stdout) as { models: { name: string; configurations: { folds: { sha256: string }[] }[] }[] };
    const sha = (n: string) => listed.models.find((m) => m.name === n)!.configurations[0]!.folds[0]!.sha256;
    expect(sha('spheres-again')).toBe(sha('spheres'));
    await expect(nnseg('export-model', '-m', 'spheres', '-o', zip, '--store', store)).rejects.toMatchObject({ stderr: expect.stringMatching(/exists already/) });
    await expect(nnseg('export-model', '-m', 'spheres', '-o', join(tmp.dir, 'x.zip'), '--store', store, '-f', '3')).rejects.toMatchObject({ stderr: expect.stringMatching(/has no fold 3 \(has 0\)/) });
    expect(existsSync(join(tmp.dir, 'x.zip'))).toBe(false);
  });

  it('as ONNX with what a consumer needs around the graph', async () => {
    const out = join(tmp.dir, 'onnx');
    await nnseg('export-onnx', '-m', 'spheres', '-o', out, '--store', store);
    expect(readdirSync(out).sort()).toEqual(['dataset.json', 'fold_0', 'onnx-export.json', 'plans.json']);
    const d = JSON.parse(readFileSync(join(out, 'onnx-export.json'), 'utf8'));
    expect(d).toMatchObject({ configuration: '3d_fullres', folds: ['0'], input: { name: 'input', layout: 'b,c,z,y,x' }, output: { name: 'logits' }, patch_size: [28, 56, 64], normalization_schemes: ['CTNormalization'], inference_allowed_mirroring_axes: [0, 1, 2] });
    // the exported graph imports as a bare .onnx with its plans and dataset.json, and predicts
    await nnseg('import-model', join(out, 'fold_0/model.onnx'), '--plans', join(out, 'plans.json'), '--dataset-json', join(out, 'dataset.json'), '-c', '3d_fullres', '--store', store, '--name', 'from-onnx');
    const pred = join(tmp.dir, 'pred-onnx');
    await nnseg('predict', '-i', join(FIX, 'images'), '-o', pred, '-m', 'from-onnx', '--store', store, '--disable-tta');
    const ref = join(tmp.dir, 'pred-ckpt');
    await nnseg('predict', '-i', join(FIX, 'images'), '-o', ref, '-m', 'spheres', '--store', store, '--disable-tta');
    for (const f of readdirSync(ref).filter((x) => x.endsWith('.nii.gz'))) expect(Buffer.compare(readFileSync(join(pred, f)), readFileSync(join(ref, f)))).toBe(0);
    // a model stored as ONNX only has no checkpoint for nnU-Net: export-model says so
    await expect(nnseg('export-model', '-m', 'from-onnx', '-o', join(tmp.dir, 'no'), '--store', store)).rejects.toMatchObject({ stderr: expect.stringMatching(/imported as ONNX only: it has no checkpoint nnU-Net can load/) });
  });
});

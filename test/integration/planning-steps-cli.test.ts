/**
 * nnU-Net's planning workflow step by step through the built `nnseg` command, checked against what the real
 * nnU-Net v2.8.1 wrote for the same dataset (test/fixtures/nnunet-oracle/preprocessed/Dataset901_SpheresCT:
 * its dataset_fingerprint.json, nnUNetPlans.json and DefaultPreprocessor arrays of spheres_000):
 * extract-fingerprint → plan-experiment (also with a custom plans name) → edit the plans → preprocess.
 * Command lines are written as nnU-Net's documentation spells them (-gpu_memory_target, -plans_name, -np).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readNpz } from '../../server/src/formats/npz.js';
import { readPreprocessedCase } from '../../server/src/io/nnunet-preprocessed.js';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const FIX = join(process.cwd(), 'test/fixtures/nnunet-oracle');
const REAL = join(FIX, 'preprocessed/Dataset901_SpheresCT');
const NAME = 'Dataset901_SpheresCT';
const readJson = (...p: string[]) => JSON.parse(readFileSync(join(...p), 'utf8'));

describe('nnU-Net planning steps from the nnseg command, against the real nnU-Net', () => {
  const tmp = makeTempDir('planning-steps-');
  afterAll(tmp.cleanup);
  const raw = join(tmp.dir, 'nnUNet_raw');
  const pre = join(tmp.dir, 'nnUNet_preprocessed');
  const env = { ...process.env, nnUNet_raw: raw, nnUNet_preprocessed: pre };
  const nnseg = (...args: string[]) => run('node', [CLI, ...args], { env });

  beforeAll(() => {
    // the raw dataset: nnU-Net's dataset.json and the one training case the fixtures keep; the fingerprint
    // nnU-Net extracted from all ten cases is put where nnUNetv2_extract_fingerprint writes it
    for (const sub of ['imagesTr', 'labelsTr']) mkdirSync(join(raw, NAME, sub), { recursive: true });
    copyFileSync(join(REAL, 'dataset.json'), join(raw, NAME, 'dataset.json'));
    copyFileSync(join(FIX, 'images/imagesTr/spheres_000_0000.nii.gz'), join(raw, NAME, 'imagesTr/spheres_000_0000.nii.gz'));
    copyFileSync(join(FIX, 'images/labelsTr/spheres_000.nii.gz'), join(raw, NAME, 'labelsTr/spheres_000.nii.gz'));
    mkdirSync(join(pre, NAME), { recursive: true });
    copyFileSync(join(REAL, 'dataset_fingerprint.json'), join(pre, NAME, 'dataset_fingerprint.json'));
  });

  it('extract-fingerprint keeps an existing fingerprint unless --clean', async () => {
    const { stderr } = await nnseg('extract-fingerprint', '-d', '901', '-np', '1');
    expect(stderr).toMatch(/dataset_fingerprint\.json exists; kept/);
    expect(readFileSync(join(pre, NAME, 'dataset_fingerprint.json'), 'utf8')).toBe(readFileSync(join(REAL, 'dataset_fingerprint.json'), 'utf8'));
  });

  // The one expected difference: the oracle runs without SimpleITK (../shared/nnunet-oracle patches its
  // planner to NibabelIO), where nnU-Net with SimpleITK installed picks SimpleITKIO for .nii.gz, as we do.
  const realPlans = () => ({ ...readJson(REAL, 'nnUNetPlans.json'), image_reader_writer: 'SimpleITKIO' });

  it('plan-experiment writes the plans nnU-Net wrote, and copies dataset.json', async () => {
    await nnseg('plan-experiment', '-d', '901');
    expect(readJson(REAL, 'nnUNetPlans.json').image_reader_writer).toBe('NibabelIO');
    expect(readJson(pre, NAME, 'nnUNetPlans.json')).toEqual(realPlans());
    expect(readJson(pre, NAME, 'dataset.json')).toEqual(readJson(REAL, 'dataset.json'));
  });

  it('plan-experiment -overwrite_plans_name names the plans file and its data identifiers', async () => {
    await nnseg('plan-experiment', '-d', NAME, '-gpu_memory_target', '4', '-overwrite_plans_name', 'nnUNetPlans_4G');
    const plans = readJson(pre, NAME, 'nnUNetPlans_4G.json');
    expect(plans.plans_name).toBe('nnUNetPlans_4G');
    expect(plans.configurations['3d_fullres'].data_identifier).toBe('nnUNetPlans_4G_3d_fullres');
    expect(plans.configurations['2d'].data_identifier).toBe('nnUNetPlans_4G_2d');
    // the default plans are left as they were
    expect(readJson(pre, NAME, 'nnUNetPlans.json')).toEqual(realPlans());
  });

  it('preprocess reproduces nnU-Net DefaultPreprocessor arrays from the plans on disk', async () => {
    await nnseg('preprocess', '-d', '901', '-plans_name', 'nnUNetPlans', '-c', '3d_fullres', '-np', '1');
    const ours = readPreprocessedCase(join(pre, NAME, 'nnUNetPlans_3d_fullres'), 'spheres_000');
    const theirs = readNpz(join(REAL, 'nnUNetPlans_3d_fullres', 'spheres_000.npz'));
    const data = theirs.get('data')!;
    expect([ours.channels, ...ours.shape]).toEqual(data.shape);
    let maxDiff = 0;
    for (let i = 0; i < data.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours.data[i] - data.data[i]));
    expect(maxDiff).toBeLessThanOrEqual(1e-4);
    const seg = theirs.get('seg')!.data;
    let differing = 0;
    for (let i = 0; i < seg.length; i++) if (seg[i] !== ours.seg![i]) differing++;
    expect(differing).toBe(0);
  });

  it('preprocess uses edited plans as they are (a coarser spacing gives a smaller case)', async () => {
    const plans = readJson(pre, NAME, 'nnUNetPlans.json');
    const fullres = plans.configurations['3d_fullres'];
    plans.plans_name = 'nnUNetPlans_coarse';
    fullres.data_identifier = 'nnUNetPlans_coarse_3d_fullres';
    fullres.spacing = fullres.spacing.map((s: number) => s * 2);
    writeFileSync(join(pre, NAME, 'nnUNetPlans_coarse.json'), JSON.stringify(plans, null, 4));
    await nnseg('preprocess', '-d', '901', '-p', 'nnUNetPlans_coarse', '-c', '3d_fullres');
    const fine = readPreprocessedCase(join(pre, NAME, 'nnUNetPlans_3d_fullres'), 'spheres_000');
    const coarse = readPreprocessedCase(join(pre, NAME, 'nnUNetPlans_coarse_3d_fullres'), 'spheres_000');
    coarse.shape.forEach((n, a) => expect(Math.abs(n - fine.shape[a] / 2)).toBeLessThanOrEqual(1));
  });

  it('preprocess names a configuration the plans lack, and skips the default ones they lack', async () => {
    await expect(nnseg('preprocess', '-d', '901', '-c', '3d_lowres')).rejects.toMatchObject({
      stderr: expect.stringMatching(/plans have no configuration 3d_lowres \(available: 2d, 3d_fullres\)/),
    });
    const { stderr } = await nnseg('preprocess', '-d', '901', '-plans_name', 'nnUNetPlans_4G');
    expect(stderr).toMatch(/configuration 3d_lowres is not in nnUNetPlans_4G\.json of Dataset901_SpheresCT; skipped/);
    const ours2d = readPreprocessedCase(join(pre, NAME, 'nnUNetPlans_4G_2d'), 'spheres_000');
    expect([ours2d.channels, ...ours2d.shape]).toEqual(readNpz(join(REAL, 'nnUNetPlans_2d', 'spheres_000.npz')).get('data')!.shape);
  });
});

/**
 * `nnseg determine-postprocessing` / `apply-postprocessing` (nnUNetv2_determine_postprocessing /
 * nnUNetv2_apply_postprocessing) on cases built so the answer is known: label 1 is predicted with a spurious
 * blob far from the organ (keeping its largest component helps), label 2 is truly two separate pieces (keeping
 * only one hurts), so the all-foreground step hurts label 2 and only the label-1 step is kept.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readImage, writeImage } from '../../server/src/io/image-file.js';
import type { Vec3 } from '../../server/src/imaging/volume.js';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const SHAPE: Vec3 = [16, 24, 24];

function box(data: Uint8Array, label: number, [z0, y0, x0]: number[], [z1, y1, x1]: number[]): void {
  for (let z = z0; z < z1; z++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data[(z * SHAPE[1] + y) * SHAPE[2] + x] = label;
}

async function write(folder: string, name: string, data: Uint8Array): Promise<void> {
  mkdirSync(folder, { recursive: true });
  await writeImage({ data, shape: SHAPE, spacing: [2, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] }, join(folder, name));
}

describe('nnseg determine-postprocessing / apply-postprocessing', () => {
  const tmp = makeTempDir('postprocessing-');
  afterAll(tmp.cleanup);
  const ref = join(tmp.dir, 'ref');
  const pred = join(tmp.dir, 'pred');

  beforeAll(async () => {
    for (const c of [0, 1, 2]) {
      const truth = new Uint8Array(SHAPE[0] * SHAPE[1] * SHAPE[2]);
      box(truth, 1, [2, 2, 2], [8, 10, 10]); // the organ
      box(truth, 2, [10, 2, 14], [14, 6, 18]); // a structure in two separate pieces
      box(truth, 2, [10, 16, 14], [13, 19, 17]);
      const p = truth.slice();
      box(p, 1, [12, 20, 2], [14, 22, 4 + c]); // a false-positive blob of label 1, far from the organ
      await write(ref, `case_${c}.nii.gz`, truth);
      await write(pred, `case_${c}.nii.gz`, p);
    }
    writeFileSync(join(pred, 'dataset.json'), JSON.stringify({ labels: { background: 0, organ: 1, pieces: 2 }, file_ending: '.nii.gz', channel_names: { '0': 'CT' }, numTraining: 3 }));
  });

  it('keeps the steps that raise Dice and writes what nnU-Net writes', async () => {
    await run('node', [CLI, 'determine-postprocessing', '-i', pred, '-ref', ref, '-np', '1']);
    const pp = JSON.parse(readFileSync(join(pred, 'postprocessing.json'), 'utf8'));
    expect(pp.postprocessing_fns).toEqual(['remove_all_but_largest_component_from_segmentation']);
    expect(pp.postprocessing_kwargs).toEqual([{ labels_or_regions: 1 }]);
    expect(pp.input_folder.mean['1'].Dice).toBeLessThan(1);
    expect(pp.postprocessed.mean['1'].Dice).toBe(1);
    expect(pp.postprocessed.mean['2'].Dice).toBe(1);
    expect(readdirSync(pred)).toEqual(expect.arrayContaining(['summary.json', 'postprocessing.pkl', 'postprocessed']));
    for (const c of [0, 1, 2]) {
      const fixed = await readImage(join(pred, 'postprocessed', `case_${c}.nii.gz`));
      expect(Buffer.from(fixed.data.buffer).equals(Buffer.from((await readImage(join(ref, `case_${c}.nii.gz`))).data.buffer))).toBe(true);
    }
  });

  it('postprocessing.pkl is a pickle CPython reads as nnU-Net does: (functions by name, kwargs)', async () => {
    // find_class returns the qualified name instead of importing nnunetv2
    const script = [
      'import pickle, sys',
      'class U(pickle.Unpickler):',
      '    def find_class(self, module, name): return module + "." + name',
      'fns, kwargs = U(open(sys.argv[1], "rb")).load()',
      'print(repr((fns, kwargs)))',
    ].join('\n');
    const { stdout } = await run('python3', ['-c', script, join(pred, 'postprocessing.pkl')]);
    expect(stdout.trim()).toBe("(['nnunetv2.postprocessing.remove_connected_components.remove_all_but_largest_component_from_segmentation'], [{'labels_or_regions': 1}])");
  });

  it('apply-postprocessing with the .pkl gives the postprocessed files', async () => {
    const out = join(tmp.dir, 'applied');
    await run('node', [CLI, 'apply-postprocessing', '-i', pred, '-o', out, '-pp_pkl_file', join(pred, 'postprocessing.pkl')]);
    for (const c of [0, 1, 2]) {
      const a = await readImage(join(out, `case_${c}.nii.gz`));
      const b = await readImage(join(pred, 'postprocessed', `case_${c}.nii.gz`));
      expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true);
    }
  });
});

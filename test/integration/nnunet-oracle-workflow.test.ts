/**
 * The workflow steps after training, checked against what the real nnU-Net v2.8.1 wrote for the same inputs
 * (test/fixtures/nnunet-oracle/workflow, made by make_workflow_fixtures.sh): nnUNetv2_find_best_configuration
 * (accumulated cross-validation, determine_postprocessing, inference_information.json,
 * inference_instructions.txt) and nnUNetv2_plot_overlay_pngs --use_raw. Paths nnU-Net wrote are its own
 * results root; they are compared with ours swapped in.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readPostprocessingFile } from '../../server/src/pipelines/determine-postprocessing.js';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const FIX = join(process.cwd(), 'test/fixtures/nnunet-oracle/workflow');
const THEIRS = join(FIX, 'outputs');
const NAME = 'Dataset951_Workflow';
const CV = `${NAME}/nnUNetTrainer__nnUNetPlans__3d_fullres/crossval_results_folds_0_1`;

/** Deep equality with numbers equal to 12 significant digits (summation order may differ in the last bits). */
function expectClose(ours: unknown, theirs: unknown, path = '$'): void {
  if (typeof theirs === 'number' && typeof ours === 'number') {
    if (Number.isNaN(theirs)) expect([path, ours]).toEqual([path, NaN]);
    else expect([path, Math.abs(ours - theirs) <= 1e-12 * Math.max(1, Math.abs(theirs))]).toEqual([path, true]);
  } else if (theirs && typeof theirs === 'object') {
    expect([path, Object.keys(ours as object).sort()]).toEqual([path, Object.keys(theirs).sort()]);
    for (const k of Object.keys(theirs)) expectClose((ours as Record<string, unknown>)[k], (theirs as Record<string, unknown>)[k], `${path}.${k}`);
  } else expect([path, ours]).toEqual([path, theirs]);
}

/** RGB pixels of a PNG, any filter, RGB or RGBA (CPython's zlib; PIL is not needed). */
function pngPixels(path: string): number[] {
  const script = `
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
i, idat = 8, b''
while i < len(b):
    n, = struct.unpack('>I', b[i:i+4]); t = b[i+4:i+8]; d = b[i+8:i+8+n]
    if t == b'IHDR': w, h, depth, ctype = struct.unpack('>IIBB', d[:10])
    if t == b'IDAT': idat += d
    i += 12 + n
bpp = {2: 3, 6: 4}[ctype]
raw, out, prev = zlib.decompress(idat), [], bytearray(w * bpp)
for y in range(h):
    f, line = raw[y * (w * bpp + 1)], bytearray(raw[y * (w * bpp + 1) + 1:(y + 1) * (w * bpp + 1)])
    for x in range(len(line)):
        a = line[x - bpp] if x >= bpp else 0; up = prev[x]; c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + up) & 255
        elif f == 3: line[x] = (line[x] + (a + up) // 2) & 255
        elif f == 4:
            p = a + up - c; pa, pb, pc = abs(p - a), abs(p - up), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else up if pb <= pc else c)) & 255
    out += [v for k, v in enumerate(line) if k % bpp < 3]
    prev = line
print(w, h, *out)
`;
  return execFileSync('python3', ['-c', script, path]).toString().trim().split(' ').map(Number);
}

describe('workflow steps against the real nnU-Net (find-best-configuration, postprocessing, overlays)', () => {
  const tmp = makeTempDir('oracle-workflow-');
  afterAll(tmp.cleanup);
  const env = {
    ...process.env,
    nnUNet_raw: join(tmp.dir, 'nnUNet_raw'),
    nnUNet_preprocessed: join(tmp.dir, 'nnUNet_preprocessed'),
    nnUNet_results: join(tmp.dir, 'nnUNet_results'),
  };
  const nnseg = (...args: string[]) => run('node', [CLI, ...args], { env, maxBuffer: 1 << 24 });
  const theirRoot = readFileSync(join(THEIRS, 'results_root.txt'), 'utf8').trim();
  const json = (...p: string[]) => JSON.parse(readFileSync(join(...p), 'utf8'));
  const swapRoot = (text: string) => text.split(theirRoot).join(env.nnUNet_results);

  beforeAll(async () => {
    cpSync(join(FIX, 'inputs'), tmp.dir, { recursive: true });
    await nnseg('find-best-configuration', '951', '-c', '3d_fullres', '-f', '0', '1', '-np', '1', '--disable_ensembling');
  });

  it('accumulates the cross-validation to nnU-Net\'s summary.json', () => {
    expectClose(json(env.nnUNet_results, CV, 'summary.json'), swapPaths(json(THEIRS, 'crossval', 'summary.json')));
  });

  it('determines the postprocessing nnU-Net determines: postprocessing.json, .pkl and the postprocessed summary', () => {
    expectClose(json(env.nnUNet_results, CV, 'postprocessing.json'), json(THEIRS, 'crossval', 'postprocessing.json'));
    // nnU-Net pickles the label as a numpy int64 (protocol 4), we as a Python int (protocol 2): the same steps
    const ours = readPostprocessingFile(join(env.nnUNet_results, CV, 'postprocessing.pkl'));
    expect(ours).toEqual(readPostprocessingFile(join(THEIRS, 'crossval', 'postprocessing.pkl')));
    expect(ours).toEqual([{ fn: 'remove_all_but_largest_component_from_segmentation', labels: [1] }]);
    expectClose(json(env.nnUNet_results, CV, 'postprocessed', 'summary.json').foreground_mean, json(THEIRS, 'crossval', 'postprocessed_summary.json').foreground_mean);
  });

  it('writes inference_information.json and inference_instructions.txt as nnU-Net does', () => {
    expectClose(json(env.nnUNet_results, NAME, 'inference_information.json'), JSON.parse(swapRoot(readFileSync(join(THEIRS, 'inference_information.json'), 'utf8'))));
    expect(readFileSync(join(env.nnUNet_results, NAME, 'inference_instructions.txt'), 'utf8')).toBe(swapRoot(readFileSync(join(THEIRS, 'inference_instructions.txt'), 'utf8')));
  });

  it('draws the overlays nnU-Net draws (same slice, same colours; pixels within 1 of matplotlib\'s)', async () => {
    const out = join(tmp.dir, 'overlays');
    await nnseg('plot-overlay-pngs', '-d', '951', '-o', out, '--use_raw', '-np', '1');
    const names = readdirSync(join(THEIRS, 'overlays')).sort();
    expect(readdirSync(out).sort()).toEqual(names);
    for (const n of names) {
      const [ours, theirs] = [pngPixels(join(out, n)), pngPixels(join(THEIRS, 'overlays', n))];
      expect(ours.slice(0, 2)).toEqual(theirs.slice(0, 2));
      const worst = ours.reduce((m, v, i) => Math.max(m, Math.abs(v - theirs[i]!)), 0);
      expect([n, worst <= 1]).toEqual([n, true]);
    }
  });

  /** summary.json's per-case file paths are nnU-Net's absolute ones */
  function swapPaths(summary: { metric_per_case: { reference_file: string; prediction_file: string }[] }) {
    for (const c of summary.metric_per_case) {
      c.reference_file = c.reference_file.replace(/^.*\/nnUNet_preprocessed\//, `${env.nnUNet_preprocessed}/`).replace(/^.*\/nnUNet_raw\//, `${env.nnUNet_raw}/`);
      c.prediction_file = swapRoot(c.prediction_file);
    }
    return summary;
  }
});

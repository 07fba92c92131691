/**
 * plan → weights → checkpoint in nnU-Net's results layout → import-model → predict → evaluate, all through
 * the built `nnseg` command. The network is constructed so its answer is known: every weight zero except
 * the segmentation head's bias, which favours label 1 — so the prediction must be label 1 exactly inside the
 * crop-to-nonzero box of each image and 0 outside, on the image's own grid, whatever the resampling in between.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readImage } from '../../server/src/io/image-file.js';
import { networkSpecFromPlans } from '../../server/src/nnunet/network/from-plans.js';
import { writeNnunetCheckpoint } from '../../server/src/models/checkpoint/writer.js';
import { makeTempDir } from '../helpers/tmp.js';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const nnseg = (...args: string[]) => run('node', [CLI, ...args], { maxBuffer: 1 << 24 });

describe('nnseg plan → import-model → predict → evaluate', () => {
  const tmp = makeTempDir();
  afterAll(tmp.cleanup);

  it('predicts the known answer of a constructed model on the original grid', async () => {
    const ds = await writeSyntheticDataset(join(tmp.dir, 'raw'), { kind: '3d', numCases: 3 });
    const pp = join(tmp.dir, 'preprocessed');
    await nnseg('plan-and-preprocess', '-d', ds.folder, '-o', pp, '--no-preprocess');
    const plans = JSON.parse(readFileSync(join(pp, ds.name, 'nnUNetPlans.json'), 'utf8'));
    const datasetJson = JSON.parse(readFileSync(join(ds.folder, 'dataset.json'), 'utf8'));

    const spec = networkSpecFromPlans(plans, '3d_fullres', datasetJson);
    const weights = new Map(spec.params.map((p) => [p.name, new Float32Array(p.shape.reduce((a, b) => a * b, 1))]));
    const headBias = spec.params.filter((p) => /^decoder\.seg_layers\.\d+\.bias$/.test(p.name)).pop()!;
    weights.get(headBias.name)!.set([0, 3, 1]);
    const results = join(tmp.dir, 'results', ds.name, 'nnUNetTrainer__nnUNetPlans__3d_fullres');
    mkdirSync(join(results, 'fold_0'), { recursive: true });
    writeFileSync(join(results, 'plans.json'), JSON.stringify(plans));
    writeFileSync(join(results, 'dataset.json'), JSON.stringify(datasetJson));
    writeFileSync(
      join(results, 'fold_0', 'checkpoint_final.pth'),
      writeNnunetCheckpoint({ spec, weights, plans, configuration: '3d_fullres', fold: 0, datasetJson, inferenceAllowedMirroringAxes: [0, 1, 2] }),
    );

    const store = join(tmp.dir, 'store');
    const imported = await nnseg('import-model', join(tmp.dir, 'results', ds.name), '--store', store, '--name', 'synthetic');
    expect(imported.stdout).toMatch(/imported "synthetic"/);
    const listed = JSON.parse((await nnseg('list-models', '--store', store, '--json')).stdout);
    expect(listed.models[0].configurations[0]).toMatchObject({ configuration: '3d_fullres', inferenceAllowedMirroringAxes: [0, 1, 2] });

    const out = join(tmp.dir, 'pred');
    const predicted = await nnseg('predict', '-i', join(ds.folder, 'imagesTr'), '-o', out, '-m', 'synthetic', '--store', store, '-f', '0', '--step', '0.5');
    expect(predicted.stderr).toMatch(/network [\d.]+ s/);
    // as nnUNetv2_predict: the segmentations plus the model's dataset.json and plans.json
    expect(readdirSync(out).sort()).toEqual([...ds.cases.map((c) => `${c.id}.nii.gz`), 'dataset.json', 'plans.json'].sort());

    for (const c of ds.cases) {
      const seg = await readImage(join(out, `${c.id}.nii.gz`));
      expect(seg.shape).toEqual(c.shape);
      seg.spacing.forEach((s, i) => expect(s).toBeCloseTo(c.spacing[i], 5));
      const [nz, ny, nx] = c.shape;
      let wrong = 0;
      for (let z = 0; z < nz; z++)
        for (let y = 0; y < ny; y++)
          for (let x = 0; x < nx; x++) {
            const inside = z >= 2 && z < nz - 2 && y >= 2 && y < ny - 2 && x >= 2 && x < nx - 2;
            if (seg.data[(z * ny + y) * nx + x] !== (inside ? 1 : 0)) wrong++;
          }
      expect(wrong).toBe(0);
    }

    const summaryPath = join(tmp.dir, 'summary.json');
    await nnseg('evaluate', '-ref', join(ds.folder, 'labelsTr'), '-pred', out, '-l', '1', '2', '-o', summaryPath);
    const summary = JSON.parse(readFileSync(summaryPath, 'utf8').replace(/\bNaN\b/g, 'null'));
    expect(summary.metric_per_case).toHaveLength(3);
    // label 2 is never predicted: Dice 0; label 1 covers the whole body box, so its Dice is below 1 but above 0
    expect(summary.mean['2'].Dice).toBe(0);
    expect(summary.mean['1'].Dice).toBeGreaterThan(0);
    expect(summary.mean['1'].Dice).toBeLessThan(1);
  });
});

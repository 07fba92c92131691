/**
 * nnseg against the real nnU-Net v2.8.1. Every model, checkpoint, prediction, probability map, logit and
 * preprocessed array under test/fixtures/nnunet-oracle was written by the real nnU-Net (PyTorch, torch.save)
 * with the commands in that folder's README; nothing here needs torch. Tolerances: labels per-label Dice
 * ≥ 0.999; probabilities max |Δ| ≤ 5e-3 (nnU-Net accumulates sliding-window logits in float16, nnseg in
 * float32); network logits max |Δ| ≤ 1e-3 of their range (both float32, different kernels).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Volume } from '../../server/src/imaging/volume.js';
import { OnnxSession } from '../../server/src/engines/onnx/session.js';
import { readImage } from '../../server/src/io/image-file.js';
import { readNpz } from '../../server/src/formats/npz.js';
import { unpickle } from '../../server/src/formats/pickle.js';
import { pyToJson } from '../../server/src/formats/pickle.js';
import { readNnunetCheckpoint } from '../../server/src/models/checkpoint/reader.js';
import { LoadedModel } from '../../server/src/models/loaded-model.js';
import { ModelStore, type StoredModel } from '../../server/src/models/model-store.js';
import { preprocessCase } from '../../server/src/nnunet/preprocessing/default-preprocessor.js';
import { makeTempDir } from '../helpers/tmp.js';
import { parsePlans } from '../../server/src/nnunet/plans/plans.js';

const FIX = join(process.cwd(), 'test/fixtures/nnunet-oracle');
const CASES = ['spheres_010', 'spheres_011', 'spheres_012'];
const PROBABILITY_CASE = 'spheres_010';

/** Dice of one label between two label maps; 1 when both lack it (nnU-Net's evaluation would give NaN). */
function dice(a: ArrayLike<number>, b: ArrayLike<number>, label: number): number {
  let inter = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] === label;
    const y = b[i] === label;
    if (x) na++;
    if (y) nb++;
    if (x && y) inter++;
  }
  return na + nb === 0 ? 1 : (2 * inter) / (na + nb);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

interface OracleCase {
  /** predictions/<name> written by nnUNetv2_predict / nnUNetv2_predict_from_modelfolder */
  predictions: string;
  /** what to import: a path under the fixture folder */
  source: string;
  configuration?: string;
  checkpointName?: string;
  useMirroring: boolean;
  /** label values nnU-Net predicts (regions: the values regions_class_order writes) */
  labels: number[];
  /** at least this many foreground voxels in nnU-Net's answer, so agreement is not agreement on nothing */
  minForeground: number;
  /** default: per-label Dice ≥ 0.999, probabilities max |Δ| ≤ 5e-3 */
  tolerance?: { dice: number; maxProbability: number; meanProbability?: number };
}

const ORACLE_CASES: Record<string, OracleCase> = {
  '3D PlainConvUNet, mirroring': { predictions: '3d_tta', source: 'models/plain3d', useMirroring: true, labels: [1, 2], minForeground: 2000 },
  '3D PlainConvUNet, --disable_tta': { predictions: '3d_notta', source: 'models/plain3d', useMirroring: false, labels: [1, 2], minForeground: 2000 },
  '3D checkpoint_best.pth': { predictions: '3d_best', source: 'models/plain3d', checkpointName: 'checkpoint_best.pth', useMirroring: true, labels: [1, 2], minForeground: 2000 },
  '2D, from nnUNetv2_export_model_to_zip': { predictions: '2d_tta', source: 'export_2d.zip', useMirroring: true, labels: [1, 2], minForeground: 2000 },
  'ResEnc M (reduced width)': { predictions: 'resencm_tta', source: 'models/resencm', useMirroring: true, labels: [1, 2], minForeground: 2000 },
  // five short epochs at half resolution: it has not learned to say foreground yet
  '3d_lowres': { predictions: 'lowres_tta', source: 'models/cascade', configuration: '3d_lowres', useMirroring: true, labels: [1, 2], minForeground: 0 },
  // The fullres stage is nnU-Net's initialisation (see the fixture README). Untrained, it gives logits in the
  // thousands on the first and last slices, where nnU-Net's float16 accumulator has steps of 1.0: its
  // probabilities there are exactly softmax of logits one float16 step apart (e.g. 0.2119/0.2119/0.5761 where
  // float32 gives 0.28/0.30/0.42). Measured: max |Δp| 0.15 and 174 of 82 680 labels on those slices, mean
  // |Δp| 5e-4. So this case is held to what float16 allows there; the trained models above to 5e-3.
  '3d_lowres → 3d_cascade_fullres': {
    predictions: 'cascade_tta',
    source: 'models/cascade',
    configuration: '3d_cascade_fullres',
    useMirroring: true,
    labels: [1, 2],
    minForeground: 2000,
    tolerance: { dice: 0.95, maxProbability: 0.2, meanProbability: 1e-3 },
  },
  'region-based (regions_class_order)': { predictions: 'regions_tta', source: 'models/regions', useMirroring: true, labels: [1, 2], minForeground: 2000 },
  'ignore label': { predictions: 'ignore_tta', source: 'models/ignore', useMirroring: true, labels: [1, 2], minForeground: 2000 },
  'NoMirroring checkpoint in a renamed folder': { predictions: 'nomirror', source: 'models/variants/renamed_nomirror_model', useMirroring: true, labels: [1, 2], minForeground: 2000 },
  'numpy-2 pickled checkpoint in a renamed folder': { predictions: '3d_tta', source: 'models/variants/renamed_numpy2_model', useMirroring: true, labels: [1, 2], minForeground: 2000 },
  // the other direction: a checkpoint nnseg wrote (fine-tuned here, `nnseg export-model`), predicted by nnU-Net
  'a model fine-tuned and exported by nnseg, predicted by nnUNetv2_predict_from_modelfolder': {
    predictions: 'nnseg_trained',
    source: 'models/nnseg-trained',
    useMirroring: true,
    labels: [1, 2],
    minForeground: 2000,
  },
};

describe('nnseg predicts what the real nnU-Net v2.8.1 predicts', () => {
  const tmp = makeTempDir();
  const store = new ModelStore(join(tmp.dir, 'store'));
  const images = new Map<string, Volume>();
  let n = 0;
  afterAll(tmp.cleanup);

  beforeAll(async () => {
    for (const c of CASES) images.set(c, await readImage(join(FIX, 'images', `${c}_0000.nii.gz`)));
  });

  async function importCase(oc: OracleCase): Promise<StoredModel> {
    return store.importModel(join(FIX, oc.source), { name: `m${n++}`, checkpointName: oc.checkpointName });
  }

  it.each(Object.entries(ORACLE_CASES))('%s', async (_, oc) => {
    const stored = await importCase(oc);
    const model = await LoadedModel.load(stored, { configuration: oc.configuration, folds: ['0'], intraOpThreads: 1 });
    try {
      for (const caseId of CASES) {
        const probabilities: Float32Array[] = [];
        const result = await model.predict([images.get(caseId)!], {
          useMirroring: oc.useMirroring,
          stepSize: 0.5,
          onProbabilities: caseId === PROBABILITY_CASE ? (_c, _n, p) => probabilities.push(p.slice()) : undefined,
        });
        const theirs = await readImage(join(FIX, 'predictions', oc.predictions, `${caseId}.nii.gz`));
        expect(result.segmentation.shape).toEqual(theirs.shape);
        let foreground = 0;
        for (let i = 0; i < theirs.data.length; i++) if (theirs.data[i] !== 0) foreground++;
        expect(foreground).toBeGreaterThanOrEqual(oc.minForeground);
        const tol = oc.tolerance ?? { dice: 0.999, maxProbability: 5e-3 };
        for (const label of oc.labels) expect(dice(result.segmentation.data, theirs.data, label)).toBeGreaterThanOrEqual(tol.dice);

        if (caseId === PROBABILITY_CASE && existsSync(join(FIX, 'predictions', oc.predictions, `${caseId}.npz`))) {
          const npz = readNpz(join(FIX, 'predictions', oc.predictions, `${caseId}.npz`)).get('probabilities')!;
          const [channels, ...shape] = npz.shape;
          expect(probabilities.length).toBe(channels);
          expect(shape).toEqual(theirs.shape);
          const voxels = shape.reduce((a, b) => a * b, 1);
          let sum = 0;
          for (let c = 0; c < channels!; c++) {
            const theirsC = npz.data.subarray(c * voxels, (c + 1) * voxels);
            expect(maxAbsDiff(probabilities[c]!, theirsC)).toBeLessThanOrEqual(tol.maxProbability);
            for (let i = 0; i < voxels; i++) sum += Math.abs(probabilities[c]![i]! - theirsC[i]!);
          }
          if (tol.meanProbability !== undefined) expect(sum / (voxels * channels!)).toBeLessThanOrEqual(tol.meanProbability);
          // nnU-Net's properties pickle for the same case says the same crop box and shapes
          const props = pyToJson(unpickle(new Uint8Array(readFileSync(join(FIX, 'predictions', oc.predictions, `${caseId}.pkl`))))) as Record<string, unknown>;
          expect(result.properties.bbox_used_for_cropping).toEqual(props.bbox_used_for_cropping);
          expect(result.properties.shape_after_cropping_and_before_resampling).toEqual(props.shape_after_cropping_and_before_resampling);
        }
      }
    } finally {
      await model.release();
    }
  });
});

describe('the network built from a real checkpoint computes what PyTorch computes', () => {
  const tmp = makeTempDir();
  const store = new ModelStore(join(tmp.dir, 'store'));
  afterAll(tmp.cleanup);

  it.each([
    ['plain3d', 'models/plain3d', undefined],
    ['plain2d', 'export_2d.zip', undefined],
    ['resencm', 'models/resencm', undefined],
    ['cascade', 'models/cascade', '3d_cascade_fullres'],
    ['regions', 'models/regions', undefined],
  ])('%s', async (name, source, configuration) => {
    const stored = await store.importModel(join(FIX, source), { name });
    const conf = stored.card.configurations.find((c) => c.configuration === (configuration ?? c.configuration))!;
    const fixture = readNpz(join(FIX, 'logits', `${name}.npz`));
    const input = fixture.get('input')!;
    const logits = fixture.get('logits')!;
    const session = await OnnxSession.create(new Uint8Array(readFileSync(join(stored.path, conf.folder, 'fold_0', 'model.onnx'))), { intraOpThreads: 1 });
    try {
      const ours = await session.run(input.data, input.shape);
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of logits.data) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
      expect(maxAbsDiff(ours.data, logits.data) / (hi - lo)).toBeLessThanOrEqual(1e-3);
    } finally {
      await session.release();
    }
  });
});

describe('checkpoints saved by the real torch.save', () => {
  it('restore the state_dict _metadata as an attribute, not as a weight (the bug that blocked every real model)', () => {
    const ck = readNnunetCheckpoint(
      new Uint8Array(readFileSync(join(FIX, 'models/plain3d/Dataset901_SpheresCT/nnUNetTrainer_25epochs_40it__nnUNetPlans_tiny__3d_fullres/fold_0/checkpoint_final.pth'))),
    );
    expect(ck.networkWeights.has('_metadata')).toBe(false);
    expect(ck.networkWeights.get('encoder.stages.0.0.convs.0.conv.weight')?.shape).toEqual([4, 1, 1, 3, 3]);
    expect(ck.trainerName).toBe('nnUNetTrainer_25epochs_40it');
    expect(ck.configuration).toBe('3d_fullres');
    expect(ck.inferenceAllowedMirroringAxes).toEqual([0, 1, 2]);
  });

  it('read the NoMirroring variant as "never mirror", and the numpy-2 variant as the original', () => {
    const variant = (v: string) => readNnunetCheckpoint(new Uint8Array(readFileSync(join(FIX, 'models/variants', v, 'fold_0/checkpoint_final.pth'))));
    expect(variant('renamed_nomirror_model').inferenceAllowedMirroringAxes).toBeNull();
    const np2 = variant('renamed_numpy2_model');
    expect(np2.inferenceAllowedMirroringAxes).toEqual([0, 1, 2]);
    expect(typeof np2.bestEma).toBe('number');
  });
});

describe('preprocessing equals nnU-Net DefaultPreprocessor output', () => {
  it.each(['3d_fullres', '2d'])('%s', async (configuration) => {
    const pre = join(FIX, 'preprocessed/Dataset901_SpheresCT');
    const plans = parsePlans(JSON.parse(readFileSync(join(pre, 'nnUNetPlans.json'), 'utf8')));
    const datasetJson = JSON.parse(readFileSync(join(pre, 'dataset.json'), 'utf8'));
    const image = await readImage(join(FIX, 'images/imagesTr/spheres_000_0000.nii.gz'));
    const seg = await readImage(join(FIX, 'images/labelsTr/spheres_000.nii.gz'));
    const ours = preprocessCase([image], seg, plans, configuration, datasetJson, 'spheres_000');
    const theirs = readNpz(join(pre, `nnUNetPlans_${configuration}`, 'spheres_000.npz'));
    const data = theirs.get('data')!;
    expect([ours.channels, ...ours.shape]).toEqual(data.shape);
    expect(maxAbsDiff(ours.data, data.data)).toBeLessThanOrEqual(1e-4);
    const theirSeg = theirs.get('seg')!.data;
    let differing = 0;
    for (let i = 0; i < theirSeg.length; i++) if (theirSeg[i] !== ours.seg![i]) differing++;
    expect(differing).toBe(0);
  });
});

it('every committed fixture is accounted for', () => {
  // the tests above use each prediction folder; a new oracle output without a test is a gap
  const used = new Set(Object.values(ORACLE_CASES).map((c) => c.predictions));
  expect(readdirSync(join(FIX, 'predictions')).filter((p) => !used.has(p))).toEqual([]);
  expect(existsSync(join(FIX, 'README.md'))).toBe(true);
});

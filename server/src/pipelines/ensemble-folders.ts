/**
 * nnUNetv2_ensemble (nnunetv2/ensembling/ensemble.py): the probabilities (`<case>.npz` + `<case>.pkl`) several
 * predictions saved, averaged per case and segmented from the mean. Like nnU-Net, the first folder's
 * dataset.json describes the labels and every folder must hold every case of the first. Also
 * `ensemble_crossvalidations`: the same over each fold's `validation/` of two trained models.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NpzWriter, readNpz } from '../formats/npz.js';
import type { Vec3 } from '../imaging/volume.js';
import { writeImage } from '../io/image-file.js';
import { readPredictionGeometry } from '../io/prediction-properties.js';
import { LabelManager } from '../nnunet/dataset/labels.js';
import { MeanAccumulator } from '../nnunet/inference/ensemble.js';
import { probabilitiesToSegmentation } from '../nnunet/inference/label-handling.js';

export interface EnsembleOptions {
  inputs: readonly string[];
  output: string;
  /** dataset.json of the members (default: the first input's) */
  datasetJsonFile?: string;
  /** also write the mean probabilities (`<case>.npz` + `<case>.pkl`) */
  saveNpz?: boolean;
  onCase?: (done: number, total: number, caseId: string) => void;
}

/** The cases (`<case>.npz`) of a prediction folder, sorted. */
export function casesWithProbabilities(folder: string): string[] {
  return existsSync(folder)
    ? readdirSync(folder)
        .filter((f) => f.endsWith('.npz'))
        .map((f) => f.slice(0, -4))
        .sort()
    : [];
}

interface LabelHandling {
  datasetJson: { file_ending: string };
  handling: { channels: number; regionsClassOrder: number[] | null };
}

function labelHandling(datasetJsonPath: string): LabelHandling {
  if (!existsSync(datasetJsonPath)) throw new Error(`${datasetJsonPath} is missing (predict writes it beside the predictions)`);
  const datasetJson = JSON.parse(readFileSync(datasetJsonPath, 'utf8'));
  const labels = new LabelManager(datasetJson.labels, datasetJson.regions_class_order);
  return { datasetJson, handling: { channels: labels.numSegmentationHeads, regionsClassOrder: labels.hasRegions ? (labels.regionsClassOrder ?? null) : null } };
}

/** One case: the members' probabilities averaged, segmented, written on the grid its `.pkl` describes. */
async function ensembleCase(caseId: string, members: readonly string[], output: string, h: LabelHandling, saveNpz: boolean): Promise<void> {
  const mean = new MeanAccumulator();
  let shape: number[] | undefined;
  for (const folder of members) {
    const path = join(folder, `${caseId}.npz`);
    const p = readNpz(path).get('probabilities');
    if (!p) throw new Error(`${path} has no "probabilities" array`);
    if (p.shape[0] !== h.handling.channels) throw new Error(`${path}: ${p.shape[0]} channels, dataset.json needs ${h.handling.channels}`);
    if (shape && p.shape.join() !== shape.join()) throw new Error(`${path}: shape [${p.shape.join(', ')}] differs from [${shape.join(', ')}] in ${members[0]}`);
    shape = p.shape;
    mean.add(p.data, { consume: true });
  }
  const probabilities = mean.mean();
  const geometry = readPredictionGeometry(join(members[0]!, `${caseId}.pkl`));
  const spatial = shape!.slice(1) as Vec3;
  const spacing = (geometry.spacing.length === 3 ? geometry.spacing : [1, ...geometry.spacing]) as Vec3;
  await writeImage(
    {
      data: probabilitiesToSegmentation(probabilities, h.handling),
      shape: spatial,
      spacing,
      origin: (geometry.origin ?? [0, 0, 0]) as Vec3,
      direction: geometry.direction ?? [1, 0, 0, 0, 1, 0, 0, 0, 1],
    },
    join(output, `${caseId}${h.datasetJson.file_ending}`),
  );
  if (saveNpz) {
    const w = new NpzWriter(join(output, `${caseId}.npz`));
    w.beginFloat32('probabilities', shape!);
    w.append(probabilities);
    w.close();
    copyFileSync(join(members[0]!, `${caseId}.pkl`), join(output, `${caseId}.pkl`));
  }
}

export async function ensembleFolders(o: EnsembleOptions): Promise<string[]> {
  if (o.inputs.length < 2) throw new Error(`ensemble needs at least two input folders, got ${o.inputs.length}`);
  for (const f of o.inputs) if (!existsSync(f)) throw new Error(`${f}: no such folder`);
  const first = o.inputs[0]!;
  const h = labelHandling(o.datasetJsonFile ?? join(first, 'dataset.json'));
  const cases = casesWithProbabilities(first);
  if (cases.length === 0) throw new Error(`${first}: no <case>.npz files (run predict with --save-probabilities)`);
  for (const folder of o.inputs.slice(1)) {
    const missing = cases.filter((c) => !existsSync(join(folder, `${c}.npz`)));
    if (missing.length) throw new Error(`${folder} lacks ${missing.length} case(s) of ${first}: ${missing.slice(0, 5).join(', ')}`);
  }
  mkdirSync(o.output, { recursive: true });
  for (const f of ['dataset.json', 'plans.json']) if (existsSync(join(first, f))) copyFileSync(join(first, f), join(o.output, f));
  let done = 0;
  for (const caseId of cases) {
    await ensembleCase(caseId, o.inputs, o.output, h, !!o.saveNpz);
    o.onCase?.(++done, cases.length, caseId);
  }
  return cases;
}

/**
 * ensemble_crossvalidations: the validation probabilities of several trained models, case by case (each model
 * may have split the cases differently across folds), ensembled into one folder
 * (`ensembles/ensemble___<m1>___<m2>___<folds>`) with the first model's dataset.json and plans.json.
 */
export async function ensembleCrossvalidations(modelFolders: readonly string[], output: string, folds: readonly string[]): Promise<number> {
  // per model: case → the fold validation folder holding its probabilities
  const where = modelFolders.map((m) => {
    const map = new Map<string, string>();
    for (const fold of folds) {
      const validation = join(m, `fold_${fold}`, 'validation');
      if (!existsSync(validation)) throw new Error(`${m}: fold ${fold} has no validation folder: train every requested fold`);
      const cases = casesWithProbabilities(validation);
      if (cases.length === 0) throw new Error(`${validation}: no .npz probabilities (train with --npz to ensemble configurations)`);
      for (const c of cases) map.set(c, validation);
    }
    return map;
  });
  const cases = [...new Set(where.flatMap((m) => [...m.keys()]))].sort();
  where.forEach((m, i) => {
    const missing = cases.filter((c) => !m.has(c));
    if (missing.length) throw new Error(`${modelFolders[i]} has no validation prediction of ${missing.slice(0, 5).join(', ')}: the models cover different cases`);
  });
  const h = labelHandling(join(modelFolders[0]!, 'dataset.json'));
  rmSync(output, { recursive: true, force: true });
  mkdirSync(output, { recursive: true });
  for (const c of cases) await ensembleCase(c, where.map((m) => m.get(c)!), output, h, false);
  for (const f of ['dataset.json', 'plans.json']) copyFileSync(join(modelFolders[0]!, f), join(output, f));
  return cases.length;
}

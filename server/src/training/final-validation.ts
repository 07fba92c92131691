/**
 * nnUNetTrainer.perform_actual_validation through our real predictor: the trained weights become the same
 * ONNX graph `nnseg predict` runs, each validation case is predicted from its raw images (predictCase:
 * preprocessing, sliding window with mirroring, export to the original grid), written to
 * `fold_X/validation/<case><file_ending>`, and evaluated against labelsTr into `validation/summary.json`
 * (compute_metrics_on_folder: foreground labels, the ignore label excluded).
 * Difference: nnU-Net predicts from the preprocessed arrays; we re-preprocess the raw images (same code
 * path as inference, so the numbers are the ones users get).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildOnnxModel, type NetworkWeights } from '../engines/onnx/graph.js';
import { OnnxSession } from '../engines/onnx/session.js';
import { NpzWriter } from '../formats/npz.js';
import { readImage, writeImage } from '../io/image-file.js';
import { writePredictionProperties } from '../io/prediction-properties.js';
import { listTrainingCases, loadDatasetJson } from '../io/nnunet-raw.js';
import { LabelManager } from '../nnunet/dataset/labels.js';
import { evaluateFolder } from '../pipelines/evaluate-folder.js';
import type { Summary } from '../nnunet/evaluation/summary.js';
import { predictCase } from '../nnunet/inference/predict-case.js';
import type { NetworkSpec } from '../nnunet/network/spec.js';
import { parsePlans } from '../nnunet/plans/plans.js';

export interface FinalValidationOptions {
  spec: NetworkSpec;
  weights: NetworkWeights;
  plans: Record<string, unknown>;
  configuration: string;
  rawDatasetFolder: string;
  caseIds: string[];
  foldFolder: string;
  mirrorAxes: number[] | null;
  /** also write `<case>.npz` (probabilities) and `<case>.pkl` (properties), as nnU-Net's `--npz` */
  saveProbabilities?: boolean;
  onCase?: (done: number, total: number, caseId: string) => void;
  signal?: AbortSignal;
}

export async function runFinalValidation(o: FinalValidationOptions): Promise<Summary> {
  const dj = loadDatasetJson(o.rawDatasetFolder);
  const cases = listTrainingCases(o.rawDatasetFolder, dj);
  const missing = o.caseIds.filter((c) => !cases.has(c));
  if (missing.length) throw new Error(`final validation: cases ${missing.join(', ')} are not in ${o.rawDatasetFolder}/imagesTr`);
  const outDir = join(o.foldFolder, 'validation');
  mkdirSync(outDir, { recursive: true });
  const plans = parsePlans(o.plans, 'plans.json');
  const session = await OnnxSession.create(buildOnnxModel(o.spec, o.weights), { device: 'cpu' });
  try {
    let done = 0;
    for (const id of o.caseIds) {
      if (o.signal?.aborted) throw new Error('final validation cancelled');
      const c = cases.get(id)!;
      const images = await Promise.all(c.images.map((f) => readImage(f)));
      let npz: NpzWriter | undefined;
      const onProbabilities = o.saveProbabilities
        ? (ch: number, channels: number, p: Float32Array, shape: readonly number[]) => {
            if (ch === 0) (npz = new NpzWriter(join(outDir, `${id}.npz`))).beginFloat32('probabilities', [channels, ...shape]);
            npz!.append(p);
          }
        : undefined;
      const pred = await predictCase(
        images,
        {
          plans,
          configuration: o.configuration,
          datasetJson: dj,
          folds: [{ fold: 'train', network: async (input, shape) => (await session.run(input, [...shape])).data }],
          mirrorAxes: o.mirrorAxes,
        },
        { signal: o.signal, onProbabilities },
      );
      if (npz) {
        npz.close();
        writePredictionProperties(join(outDir, `${id}.pkl`), pred.properties);
      }
      await writeImage(pred.segmentation, join(outDir, `${id}${dj.file_ending}`));
      o.onCase?.(++done, o.caseIds.length, id);
    }
  } finally {
    await session.release();
  }
  const labels = new LabelManager(dj.labels, dj.regions_class_order ?? undefined);
  return evaluateFolder({
    referenceFolder: join(o.rawDatasetFolder, 'labelsTr'),
    predictionFolder: outDir,
    labelsOrRegions: labels.foregroundLabels,
    ignoreLabel: labels.ignoreLabel ?? null,
    fileEnding: dj.file_ending,
    outputFile: join(outDir, 'summary.json'),
    chill: true,
  });
}

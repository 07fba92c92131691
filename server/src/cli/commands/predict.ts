import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { listDicomFiles, readSeriesFolder } from '../../dicom/series-folder.js';
import { describeSegment } from '../../dicom/segment-codes.js';
import { writeSeg } from '../../dicom/seg-writer.js';
import { readImage, writeImage } from '../../io/image-file.js';
import { datasetNameIn, requireNnunetRoot } from '../../io/nnunet-paths.js';
import { NpzWriter } from '../../formats/npz.js';
import { writePredictionProperties } from '../../io/prediction-properties.js';
import { groupCaseFiles } from '../../io/prediction-inputs.js';
import { LoadedModel } from '../../models/loaded-model.js';
import type { ModelCard } from '../../models/model-card.js';
import { ModelStore, type StoredModel } from '../../models/model-store.js';
import { modelStoreRoot } from '../../models/store-location.js';
import type { PredictionProgress } from '../../nnunet/inference/predict-case.js';
import { acceptNnunetSpelling } from '../nnunet-flags.js';
import { ProgressBar } from '../progress.js';
import { trainedModelFolderName } from '../../io/nnunet-paths.js';

function isDicomFolder(folder: string): boolean {
  try {
    return listDicomFiles(folder).length > 0;
  } catch {
    return false;
  }
}

/**
 * nnUNetv2_predict's addressing: `-d <id|name> -tr <trainer> -p <plans> -c <configuration>` names
 * $nnUNet_results/<Dataset>/<trainer>__<plans>__<configuration>.
 */
export function resultsModelFolder(dataset: string, trainer: string, plans: string, configuration: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (!configuration) throw new Error('-d addresses a model under nnUNet_results by -d, -tr, -p and -c: give -c');
  const root = requireNnunetRoot('nnUNet_results', env);
  const name = datasetNameIn('nnUNet_results', dataset, env);
  const folder = join(root, name, trainedModelFolderName(trainer, plans, configuration));
  if (!existsSync(folder)) throw new Error(`${folder}: no such trained model (nnUNet_results=${root})`);
  return folder;
}

/** `-m` is a store name, or a results folder / zip / .onnx imported into a throw-away store. */
async function resolveModel(spec: string, storeOption: string | undefined): Promise<{ stored: StoredModel; cleanup: () => void }> {
  if (existsSync(spec)) {
    const dir = mkdtempSync(join(tmpdir(), 'nnseg-model-'));
    const cleanup = () => rmSync(dir, { recursive: true, force: true });
    try {
      return { stored: await new ModelStore(dir).importModel(spec, { name: 'model' }), cleanup };
    } catch (e) {
      cleanup();
      throw e;
    }
  }
  return { stored: new ModelStore(modelStoreRoot(storeOption)).get(spec), cleanup: () => {} };
}

function segmentDescriptions(card: ModelCard) {
  return Object.entries(card.labels)
    .filter(([name, v]) => name !== 'background' && name !== 'ignore' && typeof v === 'number' && v > 0)
    .map(([name, v]) => describeSegment(v as number, name, { name: `nnseg ${card.name}`, version: card.importedAt }));
}

export function register(program: Command): void {
  acceptNnunetSpelling('predict', {
    '-tr': '--trainer',
    '-step_size': '--step',
    '-chk': '--chk',
    '--disable_tta': '--disable-tta',
    '--save_probabilities': '--save-probabilities',
  });
  program
    .command('predict')
    .description('segment images with a stored or given nnU-Net model (nnUNetv2_predict equivalent)')
    .requiredOption('-i, --input <folder>', 'folder of <case>_0000<ending> files, or a DICOM series folder')
    .requiredOption('-o, --output <folder>', 'output folder')
    .option('-m, --model <name|path>', 'model name in the store, or a results folder / export zip / .onnx')
    .option('-d, --dataset <id|name>', 'instead of -m: the model trained under $nnUNet_results, addressed as nnUNetv2_predict does (with -tr, -p, -c)')
    .option('--trainer <name>', 'with -d: trainer class (also -tr)', 'nnUNetTrainer')
    .option('-p, --plans <name>', 'with -d: plans identifier', 'nnUNetPlans')
    .option('-c, --configuration <name>', 'configuration (default: 3d_fullres when present; required with -d)')
    .option('-f, --folds <folds...>', "folds to ensemble ('0' … '4' or 'all'; default: every fold stored)")
    .option('--chk <file>', 'checkpoint to use for a results folder, -m or -d (also -chk; default checkpoint_final.pth)')
    .option('--disable-tta', 'no mirroring test-time augmentation')
    .option('--step <fraction>', 'sliding-window step as a fraction of the patch (also -step_size)', '0.5')
    .option('--save-probabilities', 'also write <case>.npz (probabilities, c×z×y×x float32) and <case>.pkl, for `nnseg ensemble`')
    .option('--fill-holes', 'fill background enclosed by one label with that label (not part of nnU-Net)')
    .option('--output-format <format>', 'nifti (the model\'s file ending) or dicom-seg (DICOM input only)', 'nifti')
    .option('--threads <n>', 'onnxruntime intra-op threads')
    .option('--device <device>', 'cpu, cuda or auto', 'auto')
    .option('--store <folder>', 'model store (default $NNSEG_MODEL_STORE or ~/.nnseg/models)')
    .action(async (o) => {
      const step = Number(o.step);
      if (!(step > 0 && step <= 1)) throw new Error(`--step must be in (0, 1], got ${o.step}`);
      if (!['nifti', 'dicom-seg'].includes(o.outputFormat)) throw new Error(`--output-format must be nifti or dicom-seg, got ${o.outputFormat}`);
      if (!existsSync(o.input)) throw new Error(`${o.input}: no such folder`);
      if ((o.model === undefined) === (o.dataset === undefined)) throw new Error('give the model with -m (store name or folder) or with -d (-tr, -p, -c) under nnUNet_results, not both');
      const spec = o.model ?? resultsModelFolder(o.dataset, o.trainer, o.plans, o.configuration);
      const { stored, cleanup } = await resolveModel(spec, o.store);
      let model: LoadedModel | undefined;
      try {
        model = await LoadedModel.load(stored, {
          configuration: o.configuration,
          folds: o.folds,
          device: o.device,
          intraOpThreads: o.threads ? Number(o.threads) : undefined,
        });
        mkdirSync(o.output, { recursive: true });
        const card = stored.card;
        const numChannels = Object.keys(card.channelNames).length;
        const dicom = isDicomFolder(o.input) && !existsSync(join(o.input, 'dataset.json'));
        if (o.outputFormat === 'dicom-seg' && !dicom) throw new Error('--output-format dicom-seg needs a DICOM series folder as input');

        // as nnUNetv2_predict: the output folder says which model made it, and `ensemble` reads these
        const folder = join(stored.path, model.configuration.folder);
        for (const f of ['dataset.json', 'plans.json']) copyFileSync(join(folder, f), join(o.output, f));

        const run = async (caseId: string, images: Awaited<ReturnType<typeof readImage>>[]) => {
          let bar: ProgressBar | undefined;
          const onProgress = (p: PredictionProgress) => {
            if (p.stage !== 'predicting' || !p.total) return;
            bar ??= new ProgressBar(`${caseId}: predicting`, p.total);
            bar.update(p.done!);
          };
          let npz: NpzWriter | undefined;
          const onProbabilities = o.saveProbabilities
            ? (c: number, channels: number, p: Float32Array, shape: readonly number[]) => {
                if (c === 0) {
                  npz = new NpzWriter(join(o.output, `${caseId}.npz`));
                  npz.beginFloat32('probabilities', [channels, ...shape]);
                }
                npz!.append(p);
              }
            : undefined;
          const result = await model!.predict(images, { useMirroring: !o.disableTta, stepSize: step, onProgress, onProbabilities, fillHoles: !!o.fillHoles });
          if (npz) {
            npz.close();
            writePredictionProperties(join(o.output, `${caseId}.pkl`), result.properties);
          }
          const t = result.timings;
          process.stderr.write(
            `${caseId}: preprocessing ${t.preprocessing.toFixed(2)} s, network ${t.predicting.toFixed(2)} s, export ${t.exporting.toFixed(2)} s, postprocessing ${t.postprocessing.toFixed(2)} s\n`,
          );
          return result.segmentation;
        };

        if (dicom) {
          if (numChannels !== 1) throw new Error(`a DICOM series is one channel; model "${card.name}" needs ${numChannels}`);
          const series = await readSeriesFolder(o.input);
          for (const w of series.warnings) process.stderr.write(`warning: ${w}\n`);
          const caseId = series.seriesInstanceUID;
          const seg = await run(caseId, [series.volume]);
          if (o.outputFormat === 'dicom-seg') {
            const bytes = writeSeg(seg, series, segmentDescriptions(card), { algorithmName: `nnseg ${card.name}`, algorithmVersion: '1' });
            writeFileSync(join(o.output, `${caseId}.dcm`), bytes);
          } else {
            await writeImage(seg, join(o.output, `${caseId}${card.fileEnding}`));
          }
          return;
        }
        const cases = groupCaseFiles(o.input, card.fileEnding, numChannels);
        for (const [caseId, files] of cases) {
          const images = await Promise.all(files.map((f) => readImage(f)));
          const seg = await run(caseId, images);
          await writeImage(seg, join(o.output, `${caseId}${card.fileEnding}`));
        }
      } finally {
        await model?.release();
        cleanup();
      }
    });
}

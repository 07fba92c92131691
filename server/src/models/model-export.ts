/**
 * A stored model back out as nnU-Net lays it out, so the real nnU-Net predicts with it unchanged:
 *
 *   <out>/<DatasetXXX_Name>/<Trainer>__<Plans>__<Configuration>/{plans.json, dataset.json, dataset_fingerprint.json,
 *                                                              fold_<k>/{checkpoint_final.pth, validation/summary.json}}
 *
 * as a folder (copy it under `nnUNet_results`, or give the configuration folder to
 * `nnUNetv2_predict_from_modelfolder`), or as the zip `nnUNetv2_export_model_to_zip` writes (the same tree from
 * the dataset folder down; `nnUNetv2_install_pretrained_model_from_zip` extracts it into `nnUNet_results`).
 * Checkpoints are copied byte for byte: for imported models they are nnU-Net's own, for models trained here
 * they are written by `checkpoint/writer.ts` in torch.save's format (checked against the real nnU-Net,
 * docs/models.md). A configuration stored without a checkpoint (a bare .onnx import) cannot be exported.
 */
import { copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { Zip, ZipPassThrough } from 'fflate';
import { configurationDict, type PlansConfigurations } from '../nnunet/plans/plans.js';
import type { StoredModel } from './model-store.js';
import { describeTrainedModelFolder } from './results-folder.js';
import { trainedModelFolderName } from '../io/nnunet-paths.js';

export interface ExportSelection {
  /** configurations to export (default: every one stored) */
  configurations?: string[];
  /** folds to export (default: every fold stored) */
  folds?: string[];
}

/** One file of the export: where it comes from in the store, and its path relative to the export root. */
interface ExportFile {
  source: string;
  relative: string;
}

const CONFIGURATION_FILES = ['plans.json', 'dataset.json', 'dataset_fingerprint.json', 'postprocessing.json'];
const FOLD_FILES = ['debug.json', 'progress.png', join('validation', 'summary.json')];

/**
 * What an export reads: one dataset's configuration folders with their folds and the checkpoint each fold
 * exports. Built from a stored model (`exportSourceOfModel`) or from nnU-Net's results folders
 * (`exportSourceOfResults`, what `nnUNetv2_export_model_to_zip` reads).
 */
export interface ExportSource {
  /** what errors call it */
  label: string;
  datasetName: string;
  configurations: {
    configuration: string;
    /** absolute path of the `<Trainer>__<Plans>__<Configuration>` folder, and its name */
    folder: string;
    folderName: string;
    previousStage: string | null;
    /** the checkpoints each fold exports; when none, `missing` says why */
    folds: { fold: string; checkpoints: string[]; missing?: string }[];
  }[];
}

export function exportSourceOfModel(stored: StoredModel): ExportSource {
  const { card } = stored;
  return {
    label: `model "${card.name}"`,
    datasetName: card.datasetName,
    configurations: card.configurations.map((c) => ({
      configuration: c.configuration,
      folder: join(stored.path, c.folder),
      folderName: c.folder,
      previousStage: c.previousStage,
      folds: c.folds.map((f) => (f.checkpoint ? { fold: f.fold, checkpoints: [f.checkpoint] } : { fold: f.fold, checkpoints: [], missing: 'was imported as ONNX only' })),
    })),
  };
}

/**
 * nnUNetv2_export_model_to_zip's selection under nnUNet_results: `<resultsRoot>/<dataset>/<trainer>__<plans>__<c>`
 * for each configuration that exists, with the checkpoints named in `checkpoints` (default checkpoint_final.pth).
 */
export function exportSourceOfResults(
  resultsRoot: string,
  datasetName: string,
  o: { trainer: string; plans: string; configurations: string[]; checkpoints?: string[] },
): ExportSource {
  const wanted = o.checkpoints ?? ['checkpoint_final.pth'];
  const configurations: ExportSource['configurations'] = [];
  for (const configuration of o.configurations) {
    const folderName = trainedModelFolderName(o.trainer, o.plans, configuration);
    const folder = join(resultsRoot, datasetName, folderName);
    if (!existsSync(folder)) continue;
    const described = describeTrainedModelFolder(folder);
    const plans = JSON.parse(readFileSync(join(folder, 'plans.json'), 'utf8')) as PlansConfigurations;
    const previous = configurationDict(plans, configuration, `${folderName}/plans.json`).previous_stage;
    configurations.push({
      configuration,
      folder,
      folderName,
      previousStage: typeof previous === 'string' ? previous : null,
      folds: described.folds.map((f) => ({
        fold: f.fold,
        checkpoints: wanted.filter((c) => f.checkpoints.includes(c)),
        missing: `has none of ${wanted.join(', ')} (has ${f.checkpoints.join(', ') || 'no checkpoint'})`,
      })),
    });
  }
  if (configurations.length === 0)
    throw new Error(`${join(resultsRoot, datasetName)}: no ${trainedModelFolderName(o.trainer, o.plans, '<c>')} folder for ${o.configurations.join(', ')}`);
  return { label: join(resultsRoot, datasetName), datasetName, configurations };
}

/** The files an export holds, checked before anything is written. */
function exportFiles(source: ExportSource, selection: ExportSelection): ExportFile[] {
  const wanted = selection.configurations ?? source.configurations.map((c) => c.configuration);
  const files: ExportFile[] = [];
  for (const name of wanted) {
    const conf = source.configurations.find((c) => c.configuration === name);
    if (!conf)
      throw new Error(`${source.label} has no configuration ${name} (has ${source.configurations.map((c) => c.configuration).join(', ')})`);
    // a cascade stage is useless to nnU-Net without the stage it reads
    if (conf.previousStage && !wanted.includes(conf.previousStage))
      throw new Error(`configuration ${name} is a cascade stage after ${conf.previousStage}: export both (-c ${conf.previousStage} ${name})`);
    const base = join(source.datasetName, conf.folderName);
    for (const f of CONFIGURATION_FILES) if (existsSync(join(conf.folder, f))) files.push({ source: join(conf.folder, f), relative: join(base, f) });
    const folds = selection.folds ? conf.folds.filter((f) => selection.folds!.includes(f.fold)) : conf.folds;
    if (selection.folds)
      for (const f of selection.folds)
        if (!conf.folds.some((x) => x.fold === f)) throw new Error(`${source.label} ${name} has no fold ${f} (has ${conf.folds.map((x) => x.fold).join(', ')})`);
    for (const fold of folds) {
      if (fold.checkpoints.length === 0)
        throw new Error(`${source.label} ${name} fold ${fold.fold} ${fold.missing ?? 'has no checkpoint'}: it has no checkpoint nnU-Net can load`);
      const foldIn = join(conf.folder, `fold_${fold.fold}`);
      const foldOut = join(base, `fold_${fold.fold}`);
      for (const checkpoint of fold.checkpoints) files.push({ source: join(foldIn, checkpoint), relative: join(foldOut, checkpoint) });
      // what nnU-Net's export_pretrained_model adds beside the checkpoints, when there
      for (const f of FOLD_FILES) if (existsSync(join(foldIn, f))) files.push({ source: join(foldIn, f), relative: join(foldOut, f) });
    }
  }
  return files;
}

/** Writes the results tree under `outRoot` (created; an existing dataset folder there is refused). */
export function exportResultsFolder(source: ExportSource, outRoot: string, selection: ExportSelection = {}): string[] {
  const files = exportFiles(source, selection);
  const target = join(outRoot, source.datasetName);
  if (existsSync(target)) throw new Error(`${target} exists already: export into another folder`);
  // staged beside the target and renamed into place: a failed export leaves nothing behind
  const staging = join(outRoot, `.${source.datasetName}.partial-${process.pid}`);
  mkdirSync(outRoot, { recursive: true });
  try {
    for (const f of files) {
      const out = join(staging, f.relative.slice(source.datasetName.length + 1));
      mkdirSync(dirname(out), { recursive: true });
      copyFileSync(f.source, out);
    }
    renameSync(staging, target);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  return files.map((f) => f.relative);
}

/**
 * Writes the `nnUNetv2_export_model_to_zip` archive. Entries are stored, not deflated (checkpoints are
 * zips of float data already), and streamed, so a 5-fold default-size model never sits in memory.
 */
export async function exportModelZip(source: ExportSource, zipPath: string, selection: ExportSelection = {}): Promise<string[]> {
  const files = exportFiles(source, selection);
  const partial = `${zipPath}.partial-${process.pid}`;
  const out = createWriteStream(partial);
  const zip = new Zip((err, chunk, final) => {
    if (err) out.destroy(err);
    else {
      out.write(chunk);
      if (final) out.end();
    }
  });
  try {
    for (const f of files) {
      const entry = new ZipPassThrough(f.relative.split('\\').join('/'));
      zip.add(entry);
      for await (const chunk of createReadStream(f.source)) {
        entry.push(chunk as Uint8Array);
        // backpressure: let the file stream drain before reading on
        if (out.writableNeedDrain) await new Promise<void>((r) => out.once('drain', () => r()));
      }
      entry.push(new Uint8Array(0), true);
    }
    zip.end();
    await finished(out);
    renameSync(partial, zipPath);
  } catch (e) {
    out.destroy();
    rmSync(partial, { force: true });
    throw e;
  }
  return files.map((f) => f.relative);
}

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
import { copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { Zip, ZipPassThrough } from 'fflate';
import type { StoredModel } from './model-store.js';

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

/** The files an export holds, checked before anything is written. */
function exportFiles(stored: StoredModel, selection: ExportSelection): ExportFile[] {
  const { card } = stored;
  const wanted = selection.configurations ?? card.configurations.map((c) => c.configuration);
  const files: ExportFile[] = [];
  for (const name of wanted) {
    const conf = card.configurations.find((c) => c.configuration === name);
    if (!conf)
      throw new Error(`model "${card.name}" has no configuration ${name} (has ${card.configurations.map((c) => c.configuration).join(', ')})`);
    // a cascade stage is useless to nnU-Net without the stage it reads
    if (conf.previousStage && !wanted.includes(conf.previousStage))
      throw new Error(`configuration ${name} is a cascade stage after ${conf.previousStage}: export both (-c ${conf.previousStage} ${name})`);
    const folder = join(stored.path, conf.folder);
    const base = join(card.datasetName, conf.folder);
    for (const f of CONFIGURATION_FILES) if (existsSync(join(folder, f))) files.push({ source: join(folder, f), relative: join(base, f) });
    const folds = selection.folds ? conf.folds.filter((f) => selection.folds!.includes(f.fold)) : conf.folds;
    if (selection.folds)
      for (const f of selection.folds)
        if (!conf.folds.some((x) => x.fold === f)) throw new Error(`model "${card.name}" ${name} has no fold ${f} (has ${conf.folds.map((x) => x.fold).join(', ')})`);
    for (const fold of folds) {
      if (!fold.checkpoint)
        throw new Error(`model "${card.name}" ${name} fold ${fold.fold} was imported as ONNX only: it has no checkpoint nnU-Net can load`);
      const foldIn = join(folder, `fold_${fold.fold}`);
      files.push({ source: join(foldIn, fold.checkpoint), relative: join(base, `fold_${fold.fold}`, fold.checkpoint) });
      const summary = join(foldIn, 'validation', 'summary.json');
      if (existsSync(summary)) files.push({ source: summary, relative: join(base, `fold_${fold.fold}`, 'validation', 'summary.json') });
    }
  }
  return files;
}

/** Writes the results tree under `outRoot` (created; an existing dataset folder there is refused). */
export function exportResultsFolder(stored: StoredModel, outRoot: string, selection: ExportSelection = {}): string[] {
  const files = exportFiles(stored, selection);
  const target = join(outRoot, stored.card.datasetName);
  if (existsSync(target)) throw new Error(`${target} exists already: export into another folder`);
  // staged beside the target and renamed into place: a failed export leaves nothing behind
  const staging = join(outRoot, `.${stored.card.datasetName}.partial-${process.pid}`);
  mkdirSync(outRoot, { recursive: true });
  try {
    for (const f of files) {
      const out = join(staging, f.relative.slice(stored.card.datasetName.length + 1));
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
export async function exportModelZip(stored: StoredModel, zipPath: string, selection: ExportSelection = {}): Promise<string[]> {
  const files = exportFiles(stored, selection);
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

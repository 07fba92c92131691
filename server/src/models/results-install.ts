/**
 * nnUNetv2_install_pretrained_model_from_zip: a model zip (nnUNetv2_export_model_to_zip's, or `nnseg
 * export-model`'s) into nnUNet_results, where `nnUNetv2_predict -d -tr -p -c` and `nnseg predict -d` find it.
 * nnU-Net extracts the archive straight over nnUNet_results; here it is extracted safely (zip-archive.ts:
 * no escaping paths, bounded size) into a staging folder beside the targets, must hold at least one nnU-Net
 * model folder, and each model folder is then renamed into place, replacing one of the same name as nnU-Net
 * does. A failure undoes what was moved and removes the staging folder: nothing is left half installed.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { extractZip } from './zip-archive.js';
import { findTrainedModelFolders } from './results-folder.js';

/** Installs the model folders of `zipPath` under `resultsRoot`; returns their paths relative to it. */
export async function installModelZip(zipPath: string, resultsRoot: string): Promise<string[]> {
  mkdirSync(resultsRoot, { recursive: true });
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const staging = join(resultsRoot, `.nnseg-install-${tag}`);
  const moved: { target: string; previous?: string }[] = [];
  try {
    await extractZip(zipPath, staging);
    // <Dataset>/<Trainer>__<Plans>__<Configuration>/ as nnU-Net's export writes it
    const folders = findTrainedModelFolders(staging, 2).map((f) => relative(staging, f));
    const misplaced = folders.filter((f) => f.split(/[\\/]/).length !== 2);
    if (folders.length === 0 || misplaced.length)
      throw new Error(`${zipPath}: not an nnU-Net model export (expected <DatasetXXX_Name>/<Trainer>__<Plans>__<Configuration>/ with plans.json, dataset.json and fold_<k>/)`);
    for (const rel of folders) {
      const target = join(resultsRoot, rel);
      mkdirSync(dirname(target), { recursive: true });
      const entry: { target: string; previous?: string } = { target };
      if (existsSync(target)) {
        entry.previous = `${target}.replaced-${tag}`;
        renameSync(target, entry.previous);
      }
      moved.push(entry);
      renameSync(join(staging, rel), target);
    }
    for (const m of moved) if (m.previous) rmSync(m.previous, { recursive: true, force: true });
    return folders;
  } catch (e) {
    for (const m of moved.reverse()) {
      rmSync(m.target, { recursive: true, force: true });
      if (m.previous) renameSync(m.previous, m.target);
    }
    throw e;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

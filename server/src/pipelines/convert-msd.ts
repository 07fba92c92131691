/**
 * nnUNetv2_convert_MSD_dataset (nnunetv2/dataset_conversion/convert_MSD_dataset.py): a Medical Segmentation
 * Decathlon task folder (`TaskXX_Name` with 4D NIfTI images) → the nnU-Net raw dataset `DatasetXXX_Name`:
 * each image split into `_0000`, `_0001`, … channel files, labels copied, dataset.json rewritten as nnU-Net
 * does (labels name → value, `channel_names` from `modality`, `file_ending`, no file lists). Built in a staging
 * folder and renamed into place, so a failure leaves nothing in nnUNet_raw.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeJsonAtomic } from '../formats/atomic-file.js';
import { datasetPrefix, nnunetRoot, type NnunetRoot } from '../io/nnunet-paths.js';
import { splitNifti4d } from '../io/nifti-split.js';

export interface ConvertMsdOptions {
  /** the extracted MSD task folder, e.g. …/Task01_BrainTumour */
  sourceFolder: string;
  /** nnUNet_raw */
  rawRoot: string;
  /** `-overwrite_id`: the dataset id instead of the task's */
  overwriteId?: number;
  env?: NodeJS.ProcessEnv;
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
/** subfiles(…, suffix='.nii.gz') without hidden and `_`-prefixed files (macOS `._*` forks), sorted */
const niftis = (folder: string) => readdirSync(folder).filter((n) => n.endsWith('.nii.gz') && !n.startsWith('.') && !n.startsWith('_')).sort();

/** find_candidate_datasets: a dataset with this id anywhere in nnUNet_raw, _preprocessed or _results. */
function datasetsWithId(id: number, env: NodeJS.ProcessEnv): string[] {
  const prefix = datasetPrefix(id);
  const roots: NnunetRoot[] = ['nnUNet_raw', 'nnUNet_preprocessed', 'nnUNet_results'];
  return roots.flatMap((r) => {
    const root = nnunetRoot(r, env);
    return root && isDir(root) ? readdirSync(root).filter((n) => n.startsWith(prefix)).map((n) => `${r}/${n}`) : [];
  });
}

export function convertMsdDataset(o: ConvertMsdOptions): { datasetName: string; folder: string; training: number; test: number } {
  const src = o.sourceFolder.replace(/[\\/]+$/, '');
  for (const sub of ['labelsTr', 'imagesTs', 'imagesTr']) if (!isDir(join(src, sub))) throw new Error(`${src}: ${sub} subfolder missing (an MSD task folder has imagesTr, imagesTs, labelsTr, dataset.json)`);
  if (!existsSync(join(src, 'dataset.json'))) throw new Error(`${src}: dataset.json missing`);
  const parts = basename(src).split('_');
  const taskId = parts.length === 2 && /^Task\d+$/.test(parts[0]!) ? Number(parts[0]!.slice(4)) : NaN;
  if (!Number.isInteger(taskId)) throw new Error(`${src}: an MSD task folder is named TaskXX_Name (e.g. Task01_BrainTumour)`);
  const id = o.overwriteId ?? taskId;
  const taken = datasetsWithId(id, o.env ?? process.env);
  if (taken.length)
    throw new Error(`dataset id ${id} is already taken (${taken.join(', ')}); choose another with -overwrite_id`);
  const datasetName = `${datasetPrefix(id)}${parts[1]}`;
  const target = join(o.rawRoot, datasetName);
  const staging = join(o.rawRoot, `.${datasetName}.partial-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    for (const sub of ['imagesTr', 'imagesTs', 'labelsTr']) mkdirSync(join(staging, sub), { recursive: true });
    const trainImages = niftis(join(src, 'imagesTr'));
    const testImages = niftis(join(src, 'imagesTs'));
    for (const f of trainImages) splitNifti4d(join(src, 'imagesTr', f), join(staging, 'imagesTr'), f.slice(0, -'.nii.gz'.length));
    for (const f of testImages) splitNifti4d(join(src, 'imagesTs', f), join(staging, 'imagesTs'), f.slice(0, -'.nii.gz'.length));
    for (const f of niftis(join(src, 'labelsTr'))) copyFileSync(join(src, 'labelsTr', f), join(staging, 'labelsTr', f));

    const dj = JSON.parse(readFileSync(join(src, 'dataset.json'), 'utf8')) as Record<string, unknown>;
    const labels = dj.labels as Record<string, string> | undefined;
    const modality = dj.modality as Record<string, string> | undefined;
    if (!labels || typeof labels !== 'object' || !modality || typeof modality !== 'object')
      throw new Error(`${src}/dataset.json: an MSD dataset.json has "labels" (value → name) and "modality"`);
    const inverted: Record<string, number> = {};
    for (const [value, name] of Object.entries(labels)) {
      if (!/^\d+$/.test(value)) throw new Error(`${src}/dataset.json: label value "${value}" is not an integer`);
      inverted[name] = Number(value);
    }
    dj.labels = inverted;
    dj.file_ending = '.nii.gz';
    dj.channel_names = modality;
    delete dj.modality;
    delete dj.training;
    delete dj.test;
    writeJsonAtomic(join(staging, 'dataset.json'), dj, { python: { sortKeys: false } });
    mkdirSync(o.rawRoot, { recursive: true });
    renameSync(staging, target);
    return { datasetName, folder: target, training: trainImages.length, test: testImages.length };
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
}

/**
 * nnU-Net's folder conventions (nnunetv2/paths.py, utilities/dataset_name_id_conversion.py): the roots
 * come from the env vars nnUNet_raw / nnUNet_preprocessed / nnUNet_results; a dataset is
 * `Dataset<ID 3+ digits>_<Name>` and may be named by its id, its full name, or (here) a folder path.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

export type NnunetRoot = 'nnUNet_raw' | 'nnUNet_preprocessed' | 'nnUNet_results';

export function nnunetRoot(which: NnunetRoot, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env[which];
  return v && v.length > 0 ? resolve(v) : undefined;
}

export function requireNnunetRoot(which: NnunetRoot, env: NodeJS.ProcessEnv = process.env): string {
  const v = nnunetRoot(which, env);
  if (!v) throw new Error(`environment variable ${which} is not set (point it at your ${which} folder, or pass a folder path)`);
  return v;
}

const NAME_RE = /^Dataset(\d{3,})_(.+)$/;

/** `Dataset004_Hippocampus` → 4; undefined for a folder not named that way. */
export function datasetIdFromName(name: string): number | undefined {
  const m = NAME_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The `Dataset%03d_` prefix nnU-Net looks for. */
export function datasetPrefix(id: number): string {
  return `Dataset${String(id).padStart(3, '0')}_`;
}

export interface ResolvedDataset {
  /** folder name, e.g. Dataset901_Synthetic (used for nnUNet_preprocessed / nnUNet_results) */
  name: string;
  id: number | undefined;
  /** absolute path of the raw dataset folder */
  folder: string;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Resolves `-d` like nnU-Net's `maybe_convert_to_dataset_name`, plus folder paths:
 * an existing folder → that folder; `901` → the one `Dataset901_*` under nnUNet_raw;
 * `Dataset901_Name` → nnUNet_raw/Dataset901_Name.
 */
export function resolveRawDataset(spec: string, env: NodeJS.ProcessEnv = process.env): ResolvedDataset {
  const asPath = resolve(spec);
  if ((spec.includes('/') || spec.startsWith('.')) && !isDir(asPath)) throw new Error(`dataset folder ${asPath} does not exist`);
  if (isDir(asPath) && existsSync(join(asPath, 'dataset.json'))) {
    const name = basename(asPath);
    return { name, id: datasetIdFromName(name), folder: asPath };
  }
  const root = nnunetRoot('nnUNet_raw', env);
  if (/^\d+$/.test(spec)) {
    const name = datasetNameById('nnUNet_raw', Number(spec), env);
    return { name, id: Number(spec), folder: join(root!, name) };
  }
  if (root && isDir(join(root, spec))) return { name: spec, id: datasetIdFromName(spec), folder: join(root, spec) };
  throw new Error(`cannot find dataset "${spec}": not a folder with a dataset.json${root ? `, not in nnUNet_raw=${root}` : ' (nnUNet_raw is not set)'}`);
}

/** The one `Dataset<id>_*` folder under an nnU-Net root (maybe_convert_to_dataset_name), by id. */
export function datasetNameById(which: NnunetRoot, id: number, env: NodeJS.ProcessEnv = process.env): string {
  const root = nnunetRoot(which, env);
  if (!root) throw new Error(`dataset id ${id} given but ${which} is not set; set it or pass the dataset by name or folder`);
  const prefix = datasetPrefix(id);
  const candidates = isDir(root) ? readdirSync(root).filter((n) => n.startsWith(prefix) && isDir(join(root, n))) : [];
  if (candidates.length === 0) throw new Error(`no dataset with id ${id} (${prefix}*) in ${which}=${root}`);
  if (candidates.length > 1) throw new Error(`more than one dataset with id ${id} in ${which}=${root}: ${candidates.join(', ')}`);
  return candidates[0]!;
}

/** maybe_convert_to_dataset_name under one root: an id becomes the one `Dataset<id>_*` there, a name stays. */
export function datasetNameIn(which: NnunetRoot, spec: string, env: NodeJS.ProcessEnv = process.env): string {
  return /^\d+$/.test(spec) ? datasetNameById(which, Number(spec), env) : spec;
}

/** `<preprocessed root>/<dataset name>`; the root defaults to nnUNet_preprocessed. */
export function preprocessedDatasetFolder(name: string, root?: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(root ? resolve(root) : requireNnunetRoot('nnUNet_preprocessed', env), name);
}

/** get_output_folder's `<Trainer>__<Plans>__<Configuration>` (nnunetv2/utilities/file_path_utilities.py). */
export function trainedModelFolderName(trainer: string, plansName: string, configuration: string): string {
  return `${trainer}__${plansName}__${configuration}`;
}

export function parseTrainedModelFolderName(name: string): { trainer: string; plans: string; configuration: string } | undefined {
  const parts = name.split('__');
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) return undefined;
  return { trainer: parts[0], plans: parts[1], configuration: parts[2] };
}

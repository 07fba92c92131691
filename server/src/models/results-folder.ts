/**
 * nnU-Net v2 trained model folders: plans.json, dataset.json and fold_<k>/checkpoint_{final,best}.pth.
 * nnU-Net names them `<Trainer>__<Plans>__<Configuration>` (nnunetv2/utilities/file_path_utilities.py:
 * get_output_folder), but `nnUNetv2_predict_from_modelfolder` accepts any folder with that content and takes
 * trainer and configuration from the checkpoint (nnUNetPredictor.initialize_from_trained_model_folder). So do
 * we: a folder is recognised by its files, and a name that does not parse is answered from the checkpoint.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readNnunetCheckpointInfo } from './checkpoint/reader.js';
import { parseTrainedModelFolderName, trainedModelFolderName } from '../io/nnunet-paths.js';

export interface TrainedModelFolder {
  /** absolute path of the `<Trainer>__<Plans>__<Configuration>` folder */
  path: string;
  folderName: string;
  trainer: string;
  plans: string;
  configuration: string;
  /** fold names as nnU-Net writes them: '0'…'4' or 'all' */
  folds: FoldContents[];
}

export interface FoldContents {
  fold: string;
  checkpoints: string[];
  onnx?: string;
  /** `validation/summary.json` foreground mean Dice when nnU-Net's validation ran */
  validationDice?: number;
}

const CHECKPOINT_NAMES = ['checkpoint_final.pth', 'checkpoint_best.pth', 'checkpoint_latest.pth'];

function readValidationDice(foldDir: string): number | undefined {
  const summary = join(foldDir, 'validation', 'summary.json');
  if (!existsSync(summary)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(summary, 'utf8')) as { foreground_mean?: { Dice?: number } };
    const dice = parsed.foreground_mean?.Dice;
    return typeof dice === 'number' && Number.isFinite(dice) ? dice : undefined;
  } catch {
    return undefined;
  }
}

function scanFolds(path: string): FoldContents[] {
  const folds: FoldContents[] = [];
  for (const entry of readdirSync(path).sort()) {
    const m = /^fold_(\d+|all)$/.exec(entry);
    if (!m || !statSync(join(path, entry)).isDirectory()) continue;
    const dir = join(path, entry);
    const files = readdirSync(dir);
    const checkpoints = CHECKPOINT_NAMES.filter((c) => files.includes(c));
    const onnx = files.includes('model.onnx') ? 'model.onnx' : undefined;
    if (checkpoints.length === 0 && !onnx) continue;
    folds.push({ fold: m[1]!, checkpoints, onnx, validationDice: readValidationDice(dir) });
  }
  return folds;
}

/** plans.json, dataset.json and at least one fold with a checkpoint or model.onnx: a trained model folder. */
export function isTrainedModelFolder(path: string): boolean {
  return existsSync(join(path, 'plans.json')) && existsSync(join(path, 'dataset.json')) && scanFolds(path).length > 0;
}

/** Trainer, plans and configuration of a folder whose name does not say them: plans.json and a checkpoint do. */
function identityFromContent(path: string, folds: FoldContents[]): { trainer: string; plans: string; configuration: string } {
  const withCheckpoint = folds.find((f) => f.checkpoints.length > 0);
  if (!withCheckpoint)
    throw new Error(`${path}: the folder name is not <Trainer>__<Plans>__<Configuration> and no fold has a checkpoint that names its configuration`);
  const pth = join(path, `fold_${withCheckpoint.fold}`, withCheckpoint.checkpoints[0]!);
  let info;
  try {
    info = readNnunetCheckpointInfo(new Uint8Array(readFileSync(pth)));
  } catch (e) {
    throw new Error(`${pth}: not a readable nnU-Net checkpoint (${(e as Error).message})`);
  }
  let plansName: unknown;
  try {
    plansName = (JSON.parse(readFileSync(join(path, 'plans.json'), 'utf8')) as { plans_name?: unknown }).plans_name;
  } catch (e) {
    throw new Error(`${path}/plans.json: not valid JSON (${(e as Error).message})`);
  }
  if (typeof plansName !== 'string' || plansName === '') throw new Error(`${path}/plans.json: plans_name is missing`);
  return { trainer: info.trainerName ?? 'nnUNetTrainer', plans: plansName, configuration: info.configuration };
}

export function describeTrainedModelFolder(path: string): TrainedModelFolder {
  const base = path.replace(/[\\/]+$/, '').split(/[\\/]/).pop()!;
  for (const f of ['plans.json', 'dataset.json'])
    if (!existsSync(join(path, f))) throw new Error(`${path}: ${f} is missing (an nnU-Net model folder holds plans.json, dataset.json and fold_<k>/)`);
  const folds = scanFolds(path);
  if (folds.length === 0) throw new Error(`${path}: no fold_<k> folder with a checkpoint (checkpoint_final.pth / checkpoint_best.pth) or model.onnx`);
  const identity = parseTrainedModelFolderName(base) ?? identityFromContent(path, folds);
  // the canonical name, whatever the folder was renamed to: that is how the store and nnU-Net lay it out
  const folderName = trainedModelFolderName(identity.trainer, identity.plans, identity.configuration);
  return { path, folderName, ...identity, folds };
}

/**
 * Finds every trained model folder at or below `root` (a model folder itself, a DatasetXXX_Name folder,
 * or the root of an extracted export zip), at most three levels deep. Recognised by content, not by name.
 */
export function findTrainedModelFolders(root: string, depth = 3): string[] {
  if (isTrainedModelFolder(root)) return [root];
  if (depth === 0) return [];
  const found: string[] = [];
  for (const entry of readdirSync(root).sort()) {
    const child = join(root, entry);
    if (statSync(child).isDirectory()) found.push(...findTrainedModelFolders(child, depth - 1));
  }
  return found;
}

/**
 * nnUNetv2_determine_postprocessing (nnunetv2/postprocessing/remove_connected_components.py,
 * determine_postprocessing) and nnUNetv2_apply_postprocessing on folders of label files.
 *
 * On cross-validation predictions and their references: first, does keeping only the largest connected
 * component of all foreground together raise the foreground mean Dice without lowering any label's? Then, when
 * there is more than one label (or region), for each in dataset.json order: does keeping only its largest
 * component raise its Dice? Kept steps accumulate. Candidates are scored in memory (no temporary folders);
 * the outcome is written as nnU-Net writes it: `summary.json` of the input (when absent),
 * `postprocessing.json`, `postprocessing.pkl` (the function by name and its kwargs, as nnU-Net pickles
 * them, so nnU-Net's apply_postprocessing_to_folder reads it) and, unless told not to, `postprocessed/`.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../formats/atomic-file.js';
import { Pickler, PyTuple, WriteGlobal, type WriteValue } from '../formats/pickler.js';
import { pyToJson, unpickle } from '../formats/pickle.js';
import type { LabelOrRegion } from '../imaging/connected-components.js';
import type { Volume } from '../imaging/volume.js';
import { readImage, writeImage } from '../io/image-file.js';
import { LabelManager } from '../nnunet/dataset/labels.js';
import type { LabelValue } from '../nnunet/dataset/dataset-json.js';
import { labelOrRegionKey } from '../nnunet/evaluation/metrics.js';
import type { Summary } from '../nnunet/evaluation/summary.js';
import { applyPostprocessing, LARGEST_COMPONENT_FN, parsePostprocessingJson, type PostprocessingStep } from '../nnunet/postprocessing/postprocessing.js';
import { evaluateFolder } from './evaluate-folder.js';

const PP_MODULE = 'nnunetv2.postprocessing.remove_connected_components';

interface DatasetJsonLabels {
  labels: Record<string, LabelValue>;
  regions_class_order?: number[] | null;
  file_ending: string;
}

export interface DeterminePostprocessingOptions {
  predictionFolder: string;
  referenceFolder: string;
  /** dataset.json (default: the one nnU-Net's prediction writes into the prediction folder) */
  datasetJson?: DatasetJsonLabels;
  /** cases scored concurrently */
  concurrency?: number;
  /** write `postprocessed/` with the chosen steps applied (nnU-Net's keep_postprocessed_files, default true) */
  keepPostprocessed?: boolean;
  log?: (line: string) => void;
}

/** One candidate or kept step, with the kwargs exactly as nnU-Net writes them (a list, an int or a tuple). */
interface Step extends PostprocessingStep {
  kwargs: number | number[] | PyTuple;
}

const ends = (ending: string) => (f: string) => f.endsWith(ending);

export async function determinePostprocessing(o: DeterminePostprocessingOptions): Promise<{ steps: PostprocessingStep[]; before: Summary; after: Summary }> {
  const log = o.log ?? (() => {});
  const dj = o.datasetJson ?? (JSON.parse(readFileSync(join(o.predictionFolder, 'dataset.json'), 'utf8')) as DatasetJsonLabels);
  const labels = new LabelManager(dj.labels, dj.regions_class_order ?? null);
  const labelsOrRegions: LabelOrRegion[] = labels.hasRegions ? labels.foregroundRegions! : labels.foregroundLabels;
  const score = (steps: readonly Step[]) =>
    evaluateFolder({
      referenceFolder: o.referenceFolder,
      predictionFolder: o.predictionFolder,
      labelsOrRegions,
      ignoreLabel: labels.ignoreLabel ?? null,
      fileEnding: dj.file_ending,
      chill: true,
      concurrency: o.concurrency,
      transformPrediction: steps.length ? (v) => withSteps(v, steps) : undefined,
    });
  const predicted = readdirSync(o.predictionFolder).filter(ends(dj.file_ending));
  const missing = readdirSync(o.referenceFolder).filter(ends(dj.file_ending)).filter((f) => !predicted.includes(f));
  if (missing.length) log(`WARNING: ${missing.length} reference case(s) have no prediction; determine postprocessing on the whole dataset`);

  const before = await score([]);
  if (!existsSync(join(o.predictionFolder, 'summary.json'))) writeJsonAtomic(join(o.predictionFolder, 'summary.json'), before, { python: { sortKeys: true } });
  const kept: Step[] = [];
  let current = before;

  const allForeground: Step = { fn: LARGEST_COMPONENT_FN, labels: labels.foregroundLabels, kwargs: labels.foregroundLabels };
  const withAll = await score([allForeground]);
  const fgDice = (s: Summary) => s.foreground_mean.Dice ?? NaN;
  let helps = fgDice(withAll) > fgDice(before);
  for (const k of Object.keys(withAll.mean)) if (withAll.mean[k]!.Dice! < before.mean[k]!.Dice!) helps = false;
  if (helps) {
    log(`all but the largest foreground region removed: foreground mean Dice ${fgDice(before).toFixed(5)} → ${fgDice(withAll).toFixed(5)}`);
    kept.push(allForeground);
    current = withAll;
  } else log('removing all but the largest foreground region did not improve results');

  // per label or region, in dataset.json order (regions can overlap, so one at a time, on top of what is kept)
  if (labelsOrRegions.length > 1)
    for (const lr of labelsOrRegions) {
      const key = labelOrRegionKey(lr);
      const step: Step =
        typeof lr === 'number' ? { fn: LARGEST_COMPONENT_FN, labels: [lr], kwargs: lr } : { fn: LARGEST_COMPONENT_FN, labels: [...lr], kwargs: new PyTuple([...lr]) };
      const candidate = await score([...kept, step]);
      const was = current.mean[key]!.Dice!;
      const now = candidate.mean[key]!.Dice!;
      if (now > was) {
        log(`all but the largest component of ${key} removed: Dice ${was.toFixed(5)} → ${now.toFixed(5)}`);
        kept.push(step);
        current = candidate;
      } else log(`removing all but the largest component of ${key} did not improve results (Dice ${was.toFixed(5)} → ${now.toFixed(5)})`);
    }

  if (o.keepPostprocessed ?? true) {
    const out = join(o.predictionFolder, 'postprocessed');
    mkdirSync(out, { recursive: true });
    for (const f of predicted) await writeImage(withSteps(await readImage(join(o.predictionFolder, f)), kept), join(out, f));
    writeJsonAtomic(join(out, 'summary.json'), current, { python: { sortKeys: true } });
  }
  const pick = (s: Summary) => ({ foreground_mean: s.foreground_mean, mean: s.mean });
  writeJsonAtomic(
    join(o.predictionFolder, 'postprocessing.json'),
    {
      input_folder: pick(before),
      postprocessed: pick(current),
      postprocessing_fns: kept.map((s) => s.fn),
      postprocessing_kwargs: kept.map((s) => ({ labels_or_regions: s.kwargs instanceof PyTuple ? s.kwargs.items : s.kwargs })),
    },
    { python: { sortKeys: true } },
  );
  writeFileAtomic(join(o.predictionFolder, 'postprocessing.pkl'), postprocessingPickle(kept));
  return { steps: kept.map(({ fn, labels: l }) => ({ fn, labels: l })), before, after: current };
}

function withSteps(v: Volume, steps: readonly PostprocessingStep[]): Volume {
  return { ...v, data: applyPostprocessing(v.data, v.shape, steps) };
}

/** `save_pickle((pp_fns, pp_fn_kwargs), …)`: the functions by qualified name, kwargs as dicts. */
export function postprocessingPickle(steps: readonly Step[]): Uint8Array {
  const fns: WriteValue[] = steps.map(() => new WriteGlobal(PP_MODULE, LARGEST_COMPONENT_FN));
  const kwargs: WriteValue[] = steps.map((s) => ({ labels_or_regions: s.kwargs }));
  return new Pickler().dump(new PyTuple([fns, kwargs]));
}

/**
 * The steps of a postprocessing.pkl (read as data: the function is known by name, never imported), or of a
 * postprocessing.json.
 */
export function readPostprocessingFile(path: string): PostprocessingStep[] {
  if (path.endsWith('.json')) return parsePostprocessingJson(readFileSync(path, 'utf8'), path);
  const value = pyToJson(unpickle(new Uint8Array(readFileSync(path))));
  if (!Array.isArray(value) || value.length !== 2 || !Array.isArray(value[0]) || !Array.isArray(value[1]))
    throw new Error(`${path}: not nnU-Net's postprocessing.pkl (a tuple of functions and their kwargs)`);
  const [fns, kwargs] = value as [unknown[], unknown[]];
  const unknown = fns.filter((f) => f !== `${PP_MODULE}.${LARGEST_COMPONENT_FN}`);
  if (unknown.length) throw new Error(`${path}: postprocessing function ${String(unknown[0])} is not nnU-Net's ${LARGEST_COMPONENT_FN}`);
  return parsePostprocessingJson(JSON.stringify({ postprocessing_fns: fns.map(() => LARGEST_COMPONENT_FN), postprocessing_kwargs: kwargs }), path);
}

/** nnUNetv2_apply_postprocessing: every label file of `inputFolder` with the steps applied, into `outputFolder`. */
export async function applyPostprocessingToFolder(inputFolder: string, outputFolder: string, steps: readonly PostprocessingStep[], fileEnding: string): Promise<string[]> {
  mkdirSync(outputFolder, { recursive: true });
  const files = readdirSync(inputFolder).filter(ends(fileEnding)).sort();
  for (const f of files) await writeImage(withSteps(await readImage(join(inputFolder, f)), steps), join(outputFolder, f));
  return files;
}

/**
 * nnU-Net v2 postprocessing (nnunetv2/postprocessing/remove_connected_components.py).
 *
 * `determine_postprocessing` writes two files next to the cross-validation results:
 * - postprocessing.pkl: a pickle of `(pp_fns, pp_fn_kwargs)`, i.e. a list of Python function
 *   objects (always `remove_all_but_largest_component_from_segmentation`) and their kwargs. We never
 *   unpickle it (it references code); the same information is in
 * - postprocessing.json: `{input_folder: {foreground_mean, mean}, postprocessed: {...},
 *   postprocessing_fns: [function names], postprocessing_kwargs: [{labels_or_regions: ...}]}`,
 *   which we read. `labels_or_regions` is an int, a list of ints (the all-foreground step uses
 *   `foreground_labels`) or a region tuple written as a list; all of these mean "the union of these
 *   labels is one mask", so a nested list is simply flattened.
 * Steps are applied in order; each keeps only the largest connected component (26-connectivity) of
 * its mask and sets the rest to background.
 */
import { z } from 'zod';
import { removeAllButLargestComponent, type LabelOrRegion, type Shape3 } from '../../imaging/connected-components.js';
import { parsePythonJson } from '../../formats/python-json.js';

export const LARGEST_COMPONENT_FN = 'remove_all_but_largest_component_from_segmentation';

export interface PostprocessingStep {
  fn: typeof LARGEST_COMPONENT_FN;
  /** the labels forming one mask */
  labels: number[];
}

const labelsOrRegions: z.ZodType<number | unknown[]> = z.union([z.number().int(), z.array(z.lazy(() => labelsOrRegions))]);
const metricTable = z.record(z.string(), z.union([z.number(), z.nan(), z.null()]));
const resultBlock = z.object({ foreground_mean: metricTable, mean: z.record(z.string(), metricTable) }).partial();

/** nnU-Net's postprocessing.json. */
export const PostprocessingJsonSchema = z.object({
  input_folder: resultBlock.optional(),
  postprocessed: resultBlock.optional(),
  postprocessing_fns: z.array(z.string()),
  postprocessing_kwargs: z.array(z.object({ labels_or_regions: labelsOrRegions }).passthrough()),
});

function flatten(x: unknown, out: number[] = []): number[] {
  if (typeof x === 'number') out.push(x);
  else if (Array.isArray(x)) for (const y of x) flatten(y, out);
  return out;
}

/** The steps described by a postprocessing.json text; unknown functions are an error naming them. */
export function parsePostprocessingJson(text: string, source = 'postprocessing.json'): PostprocessingStep[] {
  let raw: unknown;
  try {
    raw = parsePythonJson(text);
  } catch (e) {
    throw new Error(`${source}: not valid JSON (${(e as Error).message})`);
  }
  const r = PostprocessingJsonSchema.safeParse(raw);
  if (!r.success) throw new Error(`${source}: not an nnU-Net postprocessing.json: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const { postprocessing_fns: fns, postprocessing_kwargs: kwargs } = r.data;
  if (fns.length !== kwargs.length) throw new Error(`${source}: ${fns.length} postprocessing_fns but ${kwargs.length} postprocessing_kwargs`);
  return fns.map((fn, i) => {
    if (fn !== LARGEST_COMPONENT_FN) throw new Error(`${source}: postprocessing function "${fn}" (step ${i}) is not supported; only ${LARGEST_COMPONENT_FN}`);
    return { fn: LARGEST_COMPONENT_FN, labels: [...new Set(flatten(kwargs[i].labels_or_regions))] };
  });
}

/** nnU-Net's `apply_postprocessing`: the steps in order; returns a new array of the input's type. */
export function applyPostprocessing<T extends ArrayLike<number> & { slice(): T }>(seg: T, shape: Shape3, steps: readonly PostprocessingStep[]): T {
  let out = seg.slice();
  for (const s of steps) out = removeAllButLargestComponent(out, shape, s.labels as LabelOrRegion[]);
  return out;
}

/** Builds the postprocessing.json content for steps we decided ourselves (same layout as nnU-Net's). */
export function postprocessingJsonFor(steps: readonly PostprocessingStep[]): { postprocessing_fns: string[]; postprocessing_kwargs: { labels_or_regions: number | number[] }[] } {
  return {
    postprocessing_fns: steps.map((s) => s.fn),
    postprocessing_kwargs: steps.map((s) => ({ labels_or_regions: s.labels.length === 1 ? s.labels[0] : s.labels })),
  };
}

export interface PostprocessingDecisionInput {
  /** foreground labels (or regions) as evaluated */
  keys: readonly string[];
  baseline: { foreground_mean: Record<string, number>; mean: Record<string, Record<string, number>> };
  /** summary after keeping the largest all-foreground component */
  allForeground: { foreground_mean: Record<string, number>; mean: Record<string, Record<string, number>> };
}

/**
 * nnU-Net's first decision in `determine_postprocessing`: keep the all-foreground largest-component
 * step only if the foreground mean Dice improves and no label's mean Dice gets worse.
 */
export function allForegroundStepHelps({ keys, baseline, allForeground }: PostprocessingDecisionInput): boolean {
  if (!(allForeground.foreground_mean.Dice > baseline.foreground_mean.Dice)) return false;
  return keys.every((k) => !(allForeground.mean[k]?.Dice < baseline.mean[k]?.Dice));
}

/**
 * nnU-Net's summary.json (nnunetv2/evaluation/evaluate_predictions.py, `compute_metrics_on_folder`
 * + `save_summary_json`):
 * { "foreground_mean": {metric: mean over the per-label means, label "0" excluded},
 *   "mean": {key: {metric: nanmean over cases}},
 *   "metric_per_case": [{"metrics": {key: {...}}, "prediction_file": ..., "reference_file": ...}] }
 * Keys are `str(label)` or `str(tuple)`; written with sort_keys=True, indent=4, NaN as a bare token.
 * Extra metric names (HD95, SurfaceDice, volume_*) ride along in the same dicts.
 */
import { z } from 'zod';
import { COUNT_METRICS, type RegionMetrics } from './metrics.js';
import { dumpPythonJson, parsePythonJson } from '../../formats/python-json.js';

export interface CaseResult {
  reference_file: string;
  prediction_file: string;
  /** key (labelOrRegionKey) → metrics */
  metrics: Map<string, RegionMetrics> | Record<string, RegionMetrics>;
}

export type MetricTable = Record<string, number>;

export interface Summary {
  metric_per_case: { reference_file: string; prediction_file: string; metrics: Record<string, MetricTable> }[];
  mean: Record<string, MetricTable>;
  foreground_mean: MetricTable;
}

// NaN is a legal value (absent structures); null is read as NaN for files written by plain JSON tools
const metricValue = z.union([z.number(), z.nan(), z.null().transform(() => NaN)]);
const metricTable = z.record(z.string(), metricValue);
export const SummarySchema = z.object({
  foreground_mean: metricTable,
  mean: z.record(z.string(), metricTable),
  metric_per_case: z.array(
    z.object({
      metrics: z.record(z.string(), metricTable),
      prediction_file: z.string(),
      reference_file: z.string(),
    }),
  ),
});

/** numpy nanmean: mean of the non-NaN values, NaN when there are none. */
export function nanMean(values: readonly number[]): number {
  let s = 0;
  let k = 0;
  for (const v of values)
    if (!Number.isNaN(v)) {
      s += v;
      k++;
    }
  return k ? s / k : NaN;
}

function toRecord(m: CaseResult['metrics']): Record<string, MetricTable> {
  const entries = m instanceof Map ? [...m.entries()] : Object.entries(m);
  return Object.fromEntries(entries.map(([k, v]) => [k, { ...(v as unknown as MetricTable) }]));
}

/** Per-label means and the foreground mean exactly as nnU-Net aggregates them. */
export function summarize(cases: readonly CaseResult[]): Summary {
  if (cases.length === 0) throw new Error('summary: no cases were evaluated');
  const perCase = cases.map((c) => ({ reference_file: c.reference_file, prediction_file: c.prediction_file, metrics: toRecord(c.metrics) }));
  const keys = Object.keys(perCase[0].metrics);
  if (keys.length === 0) throw new Error('summary: the first case has no labels/regions');
  // nnU-Net takes the metric names from the first case's first label
  const metricNames = Object.keys(perCase[0].metrics[keys[0]]);
  const mean: Record<string, MetricTable> = {};
  for (const k of keys) {
    mean[k] = {};
    for (const m of metricNames)
      mean[k][m] = nanMean(
        perCase.map((c) => {
          const v = c.metrics[k]?.[m];
          if (v === undefined) throw new Error(`summary: case ${c.prediction_file} has no ${m} for ${k}`);
          return v;
        }),
      );
  }
  const foreground_mean: MetricTable = {};
  for (const m of metricNames) {
    const values = keys.filter((k) => k !== '0').map((k) => mean[k][m]);
    // np.mean: NaN propagates; empty → NaN
    foreground_mean[m] = values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
  }
  return { metric_per_case: perCase, mean, foreground_mean };
}

/** summary.json text as nnU-Net writes it (counts in metric_per_case as ints, all else floats). */
export function serializeSummary(summary: Summary): string {
  return dumpPythonJson(summary, {
    indent: 4,
    sortKeys: true,
    isFloat: (path) => !(path[0] === 'metric_per_case' && path[2] === 'metrics' && COUNT_METRICS.has(path[4] ?? '')),
  });
}

/** Reads a summary.json (ours or nnU-Net's), NaN tokens included. */
export function parseSummary(text: string, source = 'summary.json'): Summary {
  let raw: unknown;
  try {
    raw = parsePythonJson(text);
  } catch (e) {
    throw new Error(`${source}: not valid JSON (${(e as Error).message})`);
  }
  const r = SummarySchema.safeParse(raw);
  if (!r.success) throw new Error(`${source}: not an nnU-Net summary: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

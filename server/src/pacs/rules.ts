/** Routing: which rule (first match wins) applies to a discovered series. Pure. */
import type { RoutingRule, RuleMatch } from './config.js';

/** What discovery knows about a series (from QIDO-RS, plus the sender when the PACS tells it). */
export interface SeriesAttributes {
  studyInstanceUID: string;
  seriesInstanceUID: string;
  modality?: string;
  bodyPart?: string;
  seriesDescription?: string;
  callingAE?: string;
  /** NumberOfSeriesRelatedInstances when known */
  instances?: number;
}

/** Derived and non-image objects are never segmented, whatever the rules say. */
export const NON_IMAGE_MODALITIES = new Set(['SEG', 'SR', 'PR', 'KO', 'RTSTRUCT', 'RTPLAN', 'RTDOSE', 'RTRECORD', 'REG', 'DOC', 'OT_REPORT', 'FID', 'AU', 'ECG']);

const list = (v: string | string[] | undefined) => (v === undefined ? undefined : (Array.isArray(v) ? v : [v]).map((s) => s.trim().toUpperCase()));

function oneOf(wanted: string | string[] | undefined, actual: string | undefined): boolean {
  const w = list(wanted);
  if (!w) return true;
  return actual !== undefined && w.includes(actual.trim().toUpperCase());
}

export function ruleMatches(match: RuleMatch, s: SeriesAttributes): boolean {
  if (!oneOf(match.modality, s.modality)) return false;
  if (!oneOf(match.bodyPart, s.bodyPart)) return false;
  if (!oneOf(match.callingAE, s.callingAE)) return false;
  if (match.seriesDescription !== undefined && !new RegExp(match.seriesDescription, 'i').test(s.seriesDescription ?? '')) return false;
  return true;
}

/** Name used for a rule in the ledger and the status. */
export const ruleName = (rule: RoutingRule, index: number) => rule.name ?? `rule-${index}`;

/** First matching rule with its name, or undefined (also for non-image modalities). */
export function routeSeries(rules: readonly RoutingRule[], s: SeriesAttributes): { rule: RoutingRule; name: string } | undefined {
  if (s.modality && NON_IMAGE_MODALITIES.has(s.modality.trim().toUpperCase())) return undefined;
  for (let i = 0; i < rules.length; i++) if (ruleMatches(rules[i]!.match, s)) return { rule: rules[i]!, name: ruleName(rules[i]!, i) };
  return undefined;
}

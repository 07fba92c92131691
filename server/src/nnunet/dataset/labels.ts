/**
 * Label semantics of nnU-Net v2 (nnunetv2/utilities/label_handling/label_handling.py, `LabelManager`):
 * plain labels or regions (lists of labels, region-based training), an optional `ignore` label.
 */
import type { LabelValue } from './dataset-json.js';

/**
 * The regions of a region-based label dict, named, in dataset.json order (LabelManager._get_regions): every
 * entry is a region — a scalar label too, as a one-label region — except `ignore` and background (0, or a list
 * of nothing but 0).
 */
export function regionEntries(labelDict: Record<string, LabelValue>): [name: string, members: number[]][] {
  const out: [string, number[]][] = [];
  for (const [k, v] of Object.entries(labelDict)) {
    if (k === 'ignore') continue;
    const members = Array.isArray(v) ? [...v] : [v];
    if (members.every((x) => x === 0)) continue;
    out.push([k, members]);
  }
  return out;
}

export class LabelManager {
  readonly labelDict: Record<string, LabelValue>;
  readonly regionsClassOrder: number[] | undefined;
  /** every label value except ignore, sorted, unique (`all_labels`) */
  readonly allLabels: number[];
  readonly hasRegions: boolean;
  readonly hasIgnoreLabel: boolean;
  readonly ignoreLabel: number | undefined;
  /** regions without background (`foreground_regions`), undefined without regions */
  readonly foregroundRegions: number[][] | undefined;

  constructor(labelDict: Record<string, LabelValue>, regionsClassOrder?: number[] | null) {
    LabelManager.sanityCheck(labelDict);
    this.labelDict = labelDict;
    this.regionsClassOrder = regionsClassOrder ?? undefined;
    // has_regions: any entry that is a list of more than one label
    this.hasRegions = Object.values(labelDict).some((v) => Array.isArray(v) && v.length > 1);
    const ignore = labelDict.ignore;
    if (ignore !== undefined && typeof ignore !== 'number')
      throw new Error(`dataset.json labels: "ignore" must be a single integer, got ${JSON.stringify(ignore)}`);
    this.ignoreLabel = ignore;
    this.hasIgnoreLabel = ignore !== undefined;
    const all = new Set<number>();
    for (const [k, v] of Object.entries(labelDict)) {
      if (k === 'ignore') continue;
      for (const x of Array.isArray(v) ? v : [v]) all.add(x);
    }
    this.allLabels = [...all].sort((a, b) => a - b);
    if (this.hasRegions) {
      const regions = regionEntries(labelDict).map(([, members]) => members);
      if (!this.regionsClassOrder)
        throw new Error('dataset.json: region-based labels need "regions_class_order" (one label per region, used to convert regions back to a label map)');
      if (this.regionsClassOrder.length !== regions.length)
        throw new Error(`dataset.json: regions_class_order has ${this.regionsClassOrder.length} entries but there are ${regions.length} regions`);
      this.foregroundRegions = regions;
    }
  }

  private static sanityCheck(labelDict: Record<string, LabelValue>): void {
    if (!('background' in labelDict)) throw new Error('dataset.json labels: background label not declared (it must be "background": 0)');
    const bg = labelDict.background;
    if (Array.isArray(bg) || bg !== 0) throw new Error(`dataset.json labels: background must be 0, got ${JSON.stringify(bg)}`);
  }

  /** `foreground_labels`: all labels but 0 */
  get foregroundLabels(): number[] {
    return this.allLabels.filter((l) => l !== 0);
  }

  /** network output channels: one per region, else one per label incl. background */
  get numSegmentationHeads(): number {
    return this.hasRegions ? this.foregroundRegions!.length : this.allLabels.length;
  }

  /** labels a segmentation file may contain: all labels plus the ignore label (verify_dataset_integrity) */
  get expectedLabelValues(): number[] {
    const v = [...this.allLabels];
    if (this.ignoreLabel !== undefined) v.push(this.ignoreLabel);
    return v;
  }
}

/**
 * nnU-Net requires consecutive labels 0, 1, 2, … (ignore label included, as the last one).
 * Returns the offending values (empty when fine).
 */
export function nonConsecutiveLabels(expected: number[]): number[] {
  const bad: number[] = [];
  for (let i = 1; i < expected.length; i++) if (expected[i] - expected[i - 1] !== 1) bad.push(expected[i]);
  return bad;
}

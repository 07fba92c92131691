/**
 * Rows of the per-segment statistics table (volume in mL, mean intensity: HU for CT). Pure; the panel
 * renders them.
 */
import type { SegmentStatistics } from '../../server/src/contract/job-schemas.js';

export type { SegmentStatistics };

export interface StatsRow {
  segmentNumber: number;
  name: string;
  volume: string;
  mean: string;
  range: string;
  voxels: number;
}

/** mL with 3 significant digits below 10 mL, 1 decimal above (a reader compares volumes, not microlitres). */
export function formatVolumeMl(ml: number): string {
  if (!Number.isFinite(ml)) return '–';
  if (ml === 0) return '0 mL';
  if (ml < 10) return `${Number(ml.toPrecision(3))} mL`;
  return `${ml.toFixed(1)} mL`;
}

export function intensityUnit(modality: string | undefined): string {
  return modality?.toUpperCase() === 'CT' ? ' HU' : '';
}

export function formatIntensity(v: number | null, modality: string | undefined): string {
  if (v === null || !Number.isFinite(v)) return '–';
  return `${v.toFixed(1)}${intensityUnit(modality)}`;
}

export function statsRows(segments: readonly SegmentStatistics[], modality: string | undefined): StatsRow[] {
  return [...segments]
    .sort((a, b) => a.segmentNumber - b.segmentNumber)
    .map((s) => ({
      segmentNumber: s.segmentNumber,
      name: s.name,
      volume: formatVolumeMl(s.volumeMl),
      mean: formatIntensity(s.meanIntensity, modality),
      range: s.minIntensity === null || s.maxIntensity === null ? '–' : `${formatIntensity(s.minIntensity, modality)} … ${formatIntensity(s.maxIntensity, modality)}`,
      voxels: s.voxelCount,
    }));
}

/** "2:30" style, for the ETA next to the progress bar. */
export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')} min`;
}

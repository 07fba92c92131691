/**
 * What predicting one image will cost, from its geometry alone, before any voxel is touched: so a server can
 * refuse a job (a 1e-9 step, a 16384² slice at 4 mm) before it starts instead of dying in it.
 *
 * nnU-Net's own rules, as an upper bound (cropping to nonzero can only shrink the image):
 * - the image transposed (transpose_forward) and resampled to the configuration's spacing
 *   (`compute_new_shape`), padded to at least the patch (`pad_nd_image`);
 * - tiles from `compute_steps_for_sliding_window`: ceil((size − patch) / (patch · step)) + 1 per axis; a 2D
 *   configuration tiles every slice;
 * - each tile runs once, plus once per mirror combination when mirroring, for every fold.
 */
import { computeNewShape } from '../preprocessing/resampling.js';
import { mirrorCombinations } from './sliding-window.js';

export interface PredictionCostInput {
  /** image shape and spacing, [z, y, x] as read */
  shape: readonly number[];
  spacing: readonly number[];
  transposeForward: readonly number[];
  /** the configuration's patch size and spacing (2 or 3 entries, in transposed order) */
  patchSize: readonly number[];
  targetSpacing: readonly number[];
  stepSize: number;
  /** mirroring axes the checkpoint allows (null: none), and whether mirroring is asked for */
  mirrorAxes: readonly number[] | null;
  useMirroring: boolean;
  folds: number;
}

export interface PredictionCost {
  /** voxels of the image on the configuration's grid (padded to the patch) */
  voxels: number;
  /** sliding-window tiles (all slices, for a 2D configuration) */
  tiles: number;
  /** network evaluations: tiles × (1 + mirror combinations) × folds */
  networkCalls: number;
}

export function predictionCost(o: PredictionCostInput): PredictionCost {
  if (o.shape.length !== 3 || o.spacing.length !== 3) throw new Error('predictionCost: shape and spacing need 3 entries [z, y, x]');
  if (!(o.stepSize > 0 && o.stepSize <= 1)) throw new Error(`predictionCost: step size must be in (0, 1], got ${o.stepSize}`);
  const shape = o.transposeForward.map((a) => o.shape[a]!);
  const spacing = o.transposeForward.map((a) => o.spacing[a]!);
  const twoD = o.patchSize.length === 2;
  // a 2D configuration's spacing covers the in-plane axes; the first axis is kept as it is
  const target = twoD ? [spacing[0]!, ...o.targetSpacing] : [...o.targetSpacing];
  const resampled = computeNewShape(shape, spacing, target).map((n) => Math.max(1, n));
  const planes = twoD ? resampled[0]! : 1;
  const tiled = twoD ? resampled.slice(1) : resampled;
  let tilesPerImage = 1;
  let voxels = planes;
  tiled.forEach((n, d) => {
    const p = o.patchSize[d]!;
    const size = Math.max(n, p);
    voxels *= size;
    tilesPerImage *= Math.ceil((size - p) / (p * o.stepSize)) + 1;
  });
  const tiles = tilesPerImage * planes;
  const mirrors = o.useMirroring && o.mirrorAxes ? 1 + mirrorCombinations(o.mirrorAxes).length : 1;
  return { voxels, tiles, networkCalls: tiles * mirrors * o.folds };
}

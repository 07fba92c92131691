/**
 * One training batch the way `nnUNetDataLoader.generate_train_batch` + the transforms make it: cases
 * drawn with replacement, the last `oversample` share of the batch forced to contain foreground, a bbox
 * from get_bbox, crop-and-pad (data 0, seg -1), the augmentation per sample, RemoveLabel(-1 → 0) and
 * the deep-supervision targets. Reads only the slices each patch needs (readNpySlab).
 */
import { readNpySlab } from '../../formats/npy.js';
import { casePaths, readPreprocessedProperties } from '../../io/nnunet-preprocessed.js';
import { augmentSample, downsampleSegForDS, removeLabel, type AugmentationParams } from './augmentation.js';
import { Rng } from './rng.js';
import { annotatedKey, cropAndPad, forceForeground, getBbox, type ClassLocations } from './sampling.js';
import type { TrainingBatch } from './types.js';

/** Everything a batch maker needs besides the seed (sent once to each worker). */
export interface BatchConfig {
  preprocessedFolder: string;
  caseIds: string[];
  /** the configuration's final patch, [z, y, x] or [y, x] */
  patchSize: number[];
  /** the patch cut before augmentation (= patchSize without augmentation), same axes */
  initialPatchSize: number[];
  batchSize: number;
  oversampleForegroundPercent: number;
  deepSupervisionScales: number[][];
  augmentation: AugmentationParams | null;
  is2d: boolean;
}

interface CaseInfo {
  shape: number[];
  channels: number;
  locations: ClassLocations | undefined;
  hasIgnore: boolean;
}

/** Per-process cache of case properties (class locations are read once). */
export class CaseCache {
  private readonly cases = new Map<string, CaseInfo>();
  constructor(private readonly folder: string) {}

  get(id: string): CaseInfo {
    let c = this.cases.get(id);
    if (!c) {
      const meta = readPreprocessedProperties(this.folder, id);
      if (!meta.seg_dtype) throw new Error(`${casePaths(this.folder, id).properties}: case "${id}" has no segmentation (not a training case)`);
      const raw = meta.properties.class_locations;
      let locations: ClassLocations | undefined;
      if (raw) {
        locations = {};
        for (const [k, rows] of Object.entries(raw)) {
          const flat = new Int32Array(rows.length * 4);
          rows.forEach((r, i) => flat.set(r, i * 4));
          locations[k] = flat;
        }
      }
      c = { shape: [...meta.shape], channels: meta.channels, locations, hasIgnore: locations ? annotatedKey(locations) !== undefined : false };
      this.cases.set(id, c);
    }
    return c;
  }
}

const to3d = (p: readonly number[], is2d: boolean): number[] => (is2d ? [1, ...p] : [...p]);

export function makeBatch(cfg: BatchConfig, cache: CaseCache, seed: number): TrainingBatch {
  const rng = new Rng(seed);
  const patch = to3d(cfg.patchSize, cfg.is2d);
  const initial = to3d(cfg.initialPatchSize, cfg.is2d);
  const needToPad = initial.map((s, d) => s - patch[d]);
  const b = cfg.batchSize;
  const keys: string[] = [];
  for (let j = 0; j < b; j++) keys.push(cfg.caseIds[rng.randint(0, cfg.caseIds.length)]);
  const channels = cache.get(keys[0]).channels;
  const nInit = initial[0] * initial[1] * initial[2];
  const nOut = patch[0] * patch[1] * patch[2];
  const data = new Float32Array(b * channels * nOut);
  const fullSeg = new Int16Array(b * nOut);
  const dataIn = new Float32Array(channels * nInit);
  const segIn = new Int16Array(nInit);
  for (let j = 0; j < b; j++) {
    const id = keys[j];
    const info = cache.get(id);
    if (info.channels !== channels) throw new Error(`case "${id}" has ${info.channels} channels, case "${keys[0]}" has ${channels}`);
    const force = forceForeground(j, b, cfg.oversampleForegroundPercent);
    const { lbs } = getBbox(info.shape, initial, needToPad, force, info.locations, info.hasIgnore, rng);
    // only the slices the bbox touches
    const z0 = Math.max(0, lbs[0]);
    const z1 = Math.min(info.shape[0], lbs[0] + initial[0]);
    const paths = casePaths(cfg.preprocessedFolder, id);
    if (z1 > z0) {
      const d = readNpySlab(paths.data, z0, z1);
      const s = readNpySlab(paths.seg, z0, z1);
      cropAndPad(d.data, channels, info.shape, z0, z1 - z0, lbs, initial, 0, dataIn, 0);
      cropAndPad(s.data, 1, info.shape, z0, z1 - z0, lbs, initial, -1, segIn, 0);
    } else {
      dataIn.fill(0);
      segIn.fill(-1);
    }
    let img: Float32Array;
    let seg: Int16Array;
    if (cfg.augmentation) {
      const r = augmentSample(dataIn, segIn, channels, initial, patch, cfg.augmentation, rng, cfg.is2d);
      img = r.image;
      seg = r.seg!;
    } else if (nInit === nOut) {
      img = dataIn;
      seg = segIn;
    } else throw new Error('makeBatch: without augmentation the initial patch must equal the patch');
    data.set(img, j * channels * nOut);
    fullSeg.set(seg, j * nOut);
  }
  removeLabel(fullSeg);
  const targets: Int16Array[] = [];
  const targetPatches: number[][] = [];
  for (const scale of cfg.deepSupervisionScales) {
    if (scale.length !== cfg.patchSize.length) throw new Error(`deep supervision scale [${scale.join(', ')}] has ${scale.length} axes, the patch has ${cfg.patchSize.length}`);
    const s3 = to3d(scale, cfg.is2d);
    const shape = patch.map((p, d) => Math.round(p * s3[d]));
    const n = shape[0] * shape[1] * shape[2];
    const t = new Int16Array(b * n);
    for (let j = 0; j < b; j++) t.set(downsampleSegForDS(fullSeg.subarray(j * nOut, (j + 1) * nOut), patch, s3).seg, j * n);
    targets.push(t);
    targetPatches.push(cfg.is2d ? shape.slice(1) : shape);
  }
  return { data, targets, shape: { batch: b, channels, patch: [...cfg.patchSize], targetPatches }, keys };
}

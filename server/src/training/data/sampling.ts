/**
 * Patch sampling as nnU-Net's `nnUNetDataLoader` does it (nnunetv2/training/dataloading/data_loader.py)
 * and the trainer's choice of rotation range, dummy-2D augmentation, mirror axes and the larger initial
 * patch (nnUNetTrainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size, batchgenerators
 * `get_patch_size`). Pure code, no I/O. Internally every patch is 3D (z, y, x); a 2D configuration's
 * patch is (1, y, x) like nnU-Net's `patch_size_was_2d` path.
 */
import { ANISO_THRESHOLD } from '../../nnunet/plans/plans.js';
import type { Rng } from './rng.js';

const DEG = Math.PI / 180;

export interface AugmentationConfig {
  /** rotation range in radians (each angle uniform in it) */
  rotation: [number, number];
  /** 3D patch much flatter in z than in-plane: augment in-plane only */
  dummy2d: boolean;
  /** axes of the configuration's patch (0-based, 2D: [y, x]) that may be mirrored */
  mirrorAxes: number[];
  /** the patch the loader cuts before the spatial transform, per configuration patch axis */
  initialPatchSize: number[];
}

/** Row vector · matrix, as numpy's `np.dot(coords.T, rot_matrix).T` in batchgenerators' rotate_coords_*. */
function rowTimes(v: number[], m: number[][]): number[] {
  return m[0].map((_, c) => v.reduce((s, vi, r) => s + vi * m[r][c], 0));
}

/** batchgenerators.augmentations.utils `get_patch_size`: bounding size of the rotated, downscaled patch. */
export function getPatchSize(finalPatchSize: readonly number[], rotX: [number, number], rotY: [number, number], rotZ: [number, number], scaleRange: [number, number]): number[] {
  const clampRot = (r: [number, number]) => Math.min(90 * DEG, Math.max(Math.abs(r[0]), Math.abs(r[1])));
  const rx = clampRot(rotX);
  const ry = clampRot(rotY);
  const rz = clampRot(rotZ);
  const coords = [...finalPatchSize];
  let out = [...coords];
  const take = (v: number[]) => (out = out.map((o, i) => Math.max(o, Math.abs(v[i]))));
  if (coords.length === 3) {
    const [c, s] = [Math.cos(rx), Math.sin(rx)];
    take(rowTimes(coords, [[1, 0, 0], [0, c, -s], [0, s, c]]));
    const [cy, sy] = [Math.cos(ry), Math.sin(ry)];
    take(rowTimes(coords, [[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]));
    const [cz, sz] = [Math.cos(rz), Math.sin(rz)];
    take(rowTimes(coords, [[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]));
  } else if (coords.length === 2) {
    const [c, s] = [Math.cos(rx), Math.sin(rx)];
    take(rowTimes(coords, [[c, -s], [s, c]]));
  } else throw new Error(`getPatchSize: patch must be 2D or 3D, got [${finalPatchSize.join(', ')}]`);
  const mn = Math.min(scaleRange[0], scaleRange[1]);
  // numpy: final_shape /= min(scale_range); astype(int) truncates
  return out.map((v) => Math.trunc(v / mn));
}

/** nnUNetTrainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size for a configuration's patch size. */
export function configureAugmentation(patchSize: readonly number[]): AugmentationConfig {
  let rotation: [number, number];
  let dummy2d = false;
  let mirrorAxes: number[];
  if (patchSize.length === 2) {
    rotation = Math.max(...patchSize) / Math.min(...patchSize) > 1.5 ? [-15 * DEG, 15 * DEG] : [-180 * DEG, 180 * DEG];
    mirrorAxes = [0, 1];
  } else if (patchSize.length === 3) {
    dummy2d = Math.max(...patchSize) / patchSize[0] > ANISO_THRESHOLD;
    rotation = dummy2d ? [-180 * DEG, 180 * DEG] : [-30 * DEG, 30 * DEG];
    mirrorAxes = [0, 1, 2];
  } else throw new Error(`configureAugmentation: patch size must have 2 or 3 axes, got [${patchSize.join(', ')}]`);
  return { rotation, dummy2d, mirrorAxes, initialPatchSize: initialPatchSize(patchSize, rotation, dummy2d) };
}

/** The patch the loader cuts so rotation and down-scaling (≥ 0.85) never reach outside it; z kept for dummy 2D. */
export function initialPatchSize(patchSize: readonly number[], rotation: [number, number], dummy2d: boolean): number[] {
  const initial = getPatchSize(patchSize, rotation, rotation, rotation, [0.85, 1.25]);
  if (dummy2d && patchSize.length === 3) initial[0] = patchSize[0];
  return initial;
}

/** `_oversample_last_XX_percent`: sample j of a batch must contain foreground. Python's round is half-to-even. */
export function forceForeground(sampleIdx: number, batchSize: number, percent: number): boolean {
  return !(sampleIdx < roundHalfEven(batchSize * (1 - percent)));
}

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Class locations of one case: key (classKey: "1", "[1,2]", "[-1,0,1]") → flat (c, z, y, x) quadruples. */
export type ClassLocations = Record<string, ArrayLike<number>>;

/** The key of an ignore-label case's "annotated voxels" entry: `(-1, *all_labels)` → "[-1,…]". */
export function annotatedKey(locations: ClassLocations): string | undefined {
  return Object.keys(locations).find((k) => k.startsWith('[-1,'));
}

/**
 * `nnUNetDataLoader.get_bbox` for a 3D (z, y, x) data shape. needToPad = patch - final patch (the room the
 * spatial transform needs); the patch may hang over the border by up to half of it (padded later).
 */
export function getBbox(
  dataShape: readonly number[],
  patchSize: readonly number[],
  needToPadIn: readonly number[],
  forceFg: boolean,
  classLocations: ClassLocations | undefined,
  hasIgnore: boolean,
  rng: Rng,
): { lbs: number[]; ubs: number[]; selectedClass: string | null } {
  const dim = dataShape.length;
  const needToPad = [...needToPadIn];
  for (let d = 0; d < dim; d++) if (needToPad[d] + dataShape[d] < patchSize[d]) needToPad[d] = patchSize[d] - dataShape[d];
  // python floor division: -n // 2 rounds down
  const lbs = needToPad.map((n) => Math.floor(-n / 2));
  const ubs = dataShape.map((s, d) => s + Math.floor(needToPad[d] / 2) + (needToPad[d] % 2) - patchSize[d]);
  const random = () => lbs.map((lb, d) => rng.randint(lb, ubs[d] + 1));
  let bboxLbs: number[];
  let selectedClass: string | null = null;
  if (!forceFg && !hasIgnore) bboxLbs = random();
  else {
    const locs = classLocations ?? {};
    if (!forceFg && hasIgnore) {
      const key = annotatedKey(locs);
      selectedClass = key !== undefined && locs[key].length > 0 ? key : null;
    } else {
      if (!classLocations) throw new Error('get_bbox: foreground oversampling needs class_locations in the case properties');
      let eligible = Object.keys(locs).filter((k) => locs[k].length > 0);
      const ann = annotatedKey(locs);
      if (ann !== undefined && eligible.includes(ann) && eligible.length > 1) eligible = eligible.filter((k) => k !== ann);
      selectedClass = eligible.length === 0 ? null : eligible[rng.randint(0, eligible.length)];
    }
    if (selectedClass !== null) {
      const flat = locs[selectedClass];
      const n = flat.length / 4;
      const v = rng.randint(0, n);
      // the selected voxel is the patch centre; location [c, z, y, x] → +1 skips the channel
      bboxLbs = lbs.map((lb, d) => Math.max(lb, flat[v * 4 + d + 1] - Math.floor(patchSize[d] / 2)));
    } else bboxLbs = random();
  }
  return { lbs: bboxLbs, ubs: bboxLbs.map((l, d) => l + patchSize[d]), selectedClass };
}

/**
 * acvl_utils `crop_and_pad_nd` for a (c, z, y, x) array that holds only slices [z0, z0 + nzHeld) of a
 * case of `fullShape`: copies the bbox into `out` at `outOffset`, `padValue` where the bbox leaves the case.
 */
export function cropAndPad<T extends Float32Array | Int16Array | Int8Array>(
  src: Float32Array | Int16Array | Int8Array | Uint8Array | Int32Array,
  channels: number,
  fullShape: readonly number[],
  z0: number,
  nzHeld: number,
  lbs: readonly number[],
  patch: readonly number[],
  padValue: number,
  out: T,
  outOffset: number,
): void {
  const [, ny, nx] = fullShape;
  const [pz, py, px] = patch;
  const patchVox = pz * py * px;
  const x0 = Math.max(0, lbs[2]);
  const x1 = Math.min(nx, lbs[2] + px);
  for (let c = 0; c < channels; c++) {
    const oc = outOffset + c * patchVox;
    for (let k = 0; k < pz; k++) {
      const z = lbs[0] + k;
      const zl = z - z0;
      for (let j = 0; j < py; j++) {
        const y = lbs[1] + j;
        const orow = oc + (k * py + j) * px;
        if (z < 0 || z >= fullShape[0] || zl < 0 || zl >= nzHeld || y < 0 || y >= ny || x1 <= x0) {
          out.fill(padValue, orow, orow + px);
          continue;
        }
        const srow = ((c * nzHeld + zl) * ny + y) * nx;
        const before = x0 - lbs[2];
        if (before > 0) out.fill(padValue, orow, orow + before);
        // typed-array set converts between element types (int8 seg → int16)
        out.set(src.subarray(srow + x0, srow + x1), orow + (x0 - lbs[2]));
        const after = lbs[2] + px - x1;
        if (after > 0) out.fill(padValue, orow + px - after, orow + px);
      }
    }
  }
}

/**
 * nnUNetTrainer._get_deep_supervision_scales: 1 / cumprod(pool_op_kernel_sizes) per stage, the lowest
 * resolution dropped (the network has one output per decoder stage).
 */
export function deepSupervisionScales(poolOpKernelSizes: readonly (readonly number[])[]): number[][] {
  const out: number[][] = [];
  let prod = poolOpKernelSizes[0].map(() => 1);
  for (const k of poolOpKernelSizes) {
    prod = prod.map((p, d) => p * k[d]);
    out.push(prod.map((p) => 1 / p));
  }
  return out.slice(0, -1);
}

/**
 * nnU-Net's default training augmentation (nnUNetTrainer.get_training_transforms, batchgeneratorsv2
 * transforms) as pure functions on typed arrays; runs inside the loader workers. Order and
 * probabilities as nnU-Net:
 *
 *   SpatialTransform (p_rotation 0.2, rotation_for_DA; p_scaling 0.2, scale 0.7–1.4 same on all axes;
 *     p_elastic_deform 0; centre crop of the final patch; dummy 2D: in-plane per slice)
 *   GaussianNoise p 0.1 (σ ~ U(0, 0.1), one σ for all channels)
 *   GaussianBlur p 0.2 (per channel p 0.5, σ ~ U(0.5, 1) per axis, z included for dummy 2D)
 *   MultiplicativeBrightness p 0.15 (BGContrast(0.75, 1.25) per channel)
 *   Contrast p 0.15 (BGContrast(0.75, 1.25), preserve range, per channel)
 *   SimulateLowResolution p 0.25 (per channel p 0.5, zoom U(0.5, 1) same on all axes, nearest down,
 *     linear up; dummy 2D leaves z alone)
 *   Gamma p 0.1 inverted, p 0.3 plain (BGContrast(0.7, 1.5), retain stats)
 *   Mirror (each allowed axis with p 0.5)
 *   RemoveLabel(-1 → 0), then deep-supervision downsampling of the target (loader).
 *
 * Arrays are (c, z, y, x); 2D patches are (c, 1, y, x). The generator is ours (seeded MT19937), so the
 * random stream differs from torch's while the distributions match.
 */
import type { Rng } from './rng.js';
import { roundHalfEven } from './sampling.js';

export interface AugmentationParams {
  /** rotation range in radians for each angle, nnU-Net's rotation_for_DA */
  rotation: [number, number];
  pRotation: number;
  scaling: [number, number];
  pScaling: number;
  /** nnU-Net default 0 */
  pElasticDeform: number;
  /** elastic: σ of the smoothed field as a fraction of the patch, and its largest displacement as a fraction of the patch */
  elasticScale: [number, number];
  elasticMagnitude: [number, number];
  /** 3D patch with anisotropic z: augment in-plane only (nnU-Net's do_dummy_2d_data_aug); always true in effect for 2D patches */
  dummy2d: boolean;
  /** axes of the spatial patch ((z, y, x) for 3D, (y, x) for 2D) that may be mirrored */
  mirrorAxes: number[];
  pNoise: number;
  noiseStd: [number, number];
  pBlur: number;
  blurSigma: [number, number];
  pBrightness: number;
  brightness: [number, number];
  pContrast: number;
  contrast: [number, number];
  pLowRes: number;
  lowResScale: [number, number];
  pGammaInverted: number;
  pGamma: number;
  gamma: [number, number];
}

/** nnU-Net's defaults for a configuration, from configureAugmentation's rotation / dummy2d / mirror axes. */
export function nnunetAugmentation(cfg: { rotation: [number, number]; dummy2d: boolean; mirrorAxes: number[] }): AugmentationParams {
  return {
    rotation: cfg.rotation,
    pRotation: 0.2,
    scaling: [0.7, 1.4],
    pScaling: 0.2,
    pElasticDeform: 0,
    elasticScale: [0, 0.2],
    elasticMagnitude: [0, 0.2],
    dummy2d: cfg.dummy2d,
    mirrorAxes: [...cfg.mirrorAxes],
    pNoise: 0.1,
    noiseStd: [0, 0.1],
    pBlur: 0.2,
    blurSigma: [0.5, 1],
    pBrightness: 0.15,
    brightness: [0.75, 1.25],
    pContrast: 0.15,
    contrast: [0.75, 1.25],
    pLowRes: 0.25,
    lowResScale: [0.5, 1],
    pGammaInverted: 0.1,
    pGamma: 0.3,
    gamma: [0.7, 1.5],
  };
}

/** batchgeneratorsv2 BGContrast: half the time below 1, half above (when the range straddles 1). */
export function sampleBgContrast(range: [number, number], rng: Rng): number {
  if (rng.random() < 0.5 && range[0] < 1) return rng.uniform(range[0], 1);
  return rng.uniform(Math.max(range[0], 1), range[1]);
}

// ───────────────────────────── spatial ─────────────────────────────

/**
 * The sampling transform of SpatialTransform: output voxel o (patch P) reads source position
 * (o - (P-1)/2) · A + (S-1)/2 per axis (the centres coincide, as bgv2's grid with centre S/2).
 * `matrix` acts on the coordinates in (x, y, z) order (2D: (x, y)), as bgv2's affine acts on grid_sample's
 * (x, y, z) grid; we apply it in voxel units (bgv2 applies it to the [-1, 1] grid, which shears
 * non-cubic patches slightly; voxel units keep the rotation rigid). `displacement` (elastic) is added
 * in voxels before the matrix, (axis, ...patch) with axes in (z, y, x) order.
 */
export interface SpatialParams {
  /** 3×3 (3D) or 2×2 (in-plane) row-major, (x, y, z) order; null = no rotation/scaling */
  matrix: number[] | null;
  /** in-plane only: 2×2 matrix applied to each z slice (dummy 2D / 2D patches) */
  inPlane: boolean;
  displacement: Float32Array | null;
}

/** bgv2 create_affine_matrix_3d: Rz·Ry·Rx·S on (x, y, z). */
export function affine3d(angles: [number, number, number], scales: [number, number, number]): number[] {
  const [a, b, c] = angles;
  const rx = [1, 0, 0, 0, Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a)];
  const ry = [Math.cos(b), 0, Math.sin(b), 0, 1, 0, -Math.sin(b), 0, Math.cos(b)];
  const rz = [Math.cos(c), -Math.sin(c), 0, Math.sin(c), Math.cos(c), 0, 0, 0, 1];
  const s = [scales[0], 0, 0, 0, scales[1], 0, 0, 0, scales[2]];
  return mul3(mul3(mul3(rz, ry), rx), s);
}

function mul3(p: number[], q: number[]): number[] {
  const r = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) r[i * 3 + j] += p[i * 3 + k] * q[k * 3 + j];
  return r;
}

/** bgv2 create_affine_matrix_2d: R·S on (x, y). */
export function affine2d(angle: number, scales: [number, number]): number[] {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return [c * scales[0], -s * scales[1], s * scales[0], c * scales[1]];
}

/** Draws SpatialTransform's parameters (order of draws as bgv2's get_parameters). */
export function sampleSpatial(p: AugmentationParams, patch: readonly number[], rng: Rng): SpatialParams {
  const inPlane = p.dummy2d || patch[0] === 1;
  const dim = inPlane ? 2 : 3;
  const doRotation = rng.random() < p.pRotation;
  const doScale = rng.random() < p.pScaling;
  const doDeform = rng.random() < p.pElasticDeform;
  const angles = doRotation ? Array.from({ length: dim }, () => rng.uniform(p.rotation[0], p.rotation[1])) : new Array<number>(dim).fill(0);
  // p_synchronize_scaling_across_axes = 1: one factor for all axes
  const scale = doScale ? rng.uniform(p.scaling[0], p.scaling[1]) : 1;
  let matrix: number[] | null = null;
  if (doRotation || doScale)
    matrix = dim === 3 ? affine3d(angles as [number, number, number], [scale, scale, scale]) : affine2d(angles[dim - 1], [scale, scale]);
  let displacement: Float32Array | null = null;
  if (doDeform) displacement = elasticField(p, patch, inPlane, rng);
  return { matrix, inPlane, displacement };
}

/**
 * A smooth random displacement field (voxels), bgv2's recipe without the FFT: unit normal noise per
 * axis, Gaussian-smoothed with σ = U(elasticScale) · patch, rescaled so its largest |value| is
 * U(elasticMagnitude) · patch.
 */
function elasticField(p: AugmentationParams, patch: readonly number[], inPlane: boolean, rng: Rng): Float32Array {
  const n = patch[0] * patch[1] * patch[2];
  const field = new Float32Array(3 * n);
  for (let a = inPlane ? 1 : 0; a < 3; a++) {
    const f = field.subarray(a * n, (a + 1) * n);
    for (let i = 0; i < n; i++) f[i] = rng.normal();
    const sigmas = [0, 1, 2].map((d) => (inPlane && d === 0 ? 0 : rng.uniform(p.elasticScale[0], p.elasticScale[1]) * patch[d]));
    gaussianFilter(f, patch, sigmas);
    let mx = 0;
    for (let i = 0; i < n; i++) mx = Math.max(mx, Math.abs(f[i]));
    const magnitude = rng.uniform(p.elasticMagnitude[0], p.elasticMagnitude[1]) * patch[a];
    const k = mx > 0 ? magnitude / mx : 0;
    for (let i = 0; i < n; i++) f[i] *= k;
  }
  return field;
}

/**
 * Resamples image (c, ...inShape) and seg (1, ...inShape) onto `patch` with one interpolation pass: linear
 * for the image (zeros outside, grid_sample padding "zeros"), and for the seg bgv2's default
 * (bg_style_seg_sampling False): each label's one-hot linearly interpolated, the label with the largest
 * weight wins (ties → smaller label; nothing inside → the smallest label of the seg). No transform: a
 * centre crop at floor(S/2) - floor(P/2) with zero padding, like bgv2's crop_tensor shortcut.
 */
export function spatialTransform(
  image: Float32Array,
  seg: Int16Array | null,
  channels: number,
  inShape: readonly number[],
  patch: readonly number[],
  sp: SpatialParams,
): { image: Float32Array; seg: Int16Array | null } {
  const [sz, sy, sx] = inShape;
  const [pz, py, px] = patch;
  const nOut = pz * py * px;
  const nIn = sz * sy * sx;
  const outImg = new Float32Array(channels * nOut);
  const outSeg = seg ? new Int16Array(nOut) : null;
  if (!sp.matrix && !sp.displacement) {
    const lo = [0, 1, 2].map((d) => Math.floor(inShape[d] / 2) - Math.floor(patch[d] / 2));
    for (let c = 0; c < channels; c++) cropInto(image, c * nIn, inShape, lo, patch, outImg, c * nOut, 0);
    if (seg && outSeg) cropInto(seg, 0, inShape, lo, patch, outSeg, 0, 0);
    return { image: outImg, seg: outSeg };
  }
  // label weights are indexed by value - min (one pass for the range; absent values never win a vote
  // because every voxel's weights are positive for present labels only)
  let minLabel = 0;
  let nL = 0;
  if (seg) {
    let lo = 32767;
    let hi = -32768;
    for (let i = 0; i < seg.length; i++) {
      const v = seg[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    minLabel = lo;
    nL = hi - lo + 1;
  }
  const weights = new Float64Array(Math.max(1, nL));
  const m = sp.matrix;
  const disp = sp.displacement;
  const cz = (pz - 1) / 2;
  const cy = (py - 1) / 2;
  const cx = (px - 1) / 2;
  const scz = (sz - 1) / 2;
  const scy = (sy - 1) / 2;
  const scx = (sx - 1) / 2;
  const corners = new Int32Array(8);
  const cw = new Float64Array(8);
  const plane = sy * sx;
  const pickLabel = (nc: number): number => {
    // the label with the largest summed weight; ties → the smaller label
    weights.fill(0, 0, nL);
    for (let q = 0; q < nc; q++) weights[seg![corners[q]] - minLabel] += cw[q];
    let best = 0;
    for (let l = 1; l < nL; l++) if (weights[l] > weights[best] + 1e-12) best = l;
    return best + minLabel;
  };
  let o = 0;
  for (let k = 0; k < pz; k++)
    for (let j = 0; j < py; j++)
      for (let i = 0; i < px; i++, o++) {
        // centred output coordinate (x, y, z)
        let gx = i - cx;
        let gy = j - cy;
        let gz = k - cz;
        if (disp) {
          gz += disp[o];
          gy += disp[nOut + o];
          gx += disp[2 * nOut + o];
        }
        let qx = gx;
        let qy = gy;
        let qz = gz;
        if (m) {
          if (sp.inPlane) {
            // row vector (x, y) · M
            qx = gx * m[0] + gy * m[2];
            qy = gx * m[1] + gy * m[3];
          } else {
            qx = gx * m[0] + gy * m[3] + gz * m[6];
            qy = gx * m[1] + gy * m[4] + gz * m[7];
            qz = gx * m[2] + gy * m[5] + gz * m[8];
          }
        }
        const fx = qx + scx;
        const fy = qy + scy;
        const fz = sp.inPlane ? k + Math.floor(sz / 2) - Math.floor(pz / 2) + (disp ? disp[o] : 0) : qz + scz;
        const x0 = Math.floor(fx);
        const y0 = Math.floor(fy);
        const z0 = Math.floor(fz);
        const tx = fx - x0;
        const ty = fy - y0;
        const tz = fz - z0;
        if (x0 >= 0 && y0 >= 0 && z0 >= 0 && x0 + 1 < sx && y0 + 1 < sy && z0 + 1 < sz) {
          // all eight neighbours inside: the common case, no bounds logic
          const a = (z0 * sy + y0) * sx + x0;
          const w000 = (1 - tz) * (1 - ty) * (1 - tx);
          const w001 = (1 - tz) * (1 - ty) * tx;
          const w010 = (1 - tz) * ty * (1 - tx);
          const w011 = (1 - tz) * ty * tx;
          const w100 = tz * (1 - ty) * (1 - tx);
          const w101 = tz * (1 - ty) * tx;
          const w110 = tz * ty * (1 - tx);
          const w111 = tz * ty * tx;
          for (let c = 0; c < channels; c++) {
            const b = c * nIn + a;
            outImg[c * nOut + o] =
              w000 * image[b] + w001 * image[b + 1] + w010 * image[b + sx] + w011 * image[b + sx + 1] +
              w100 * image[b + plane] + w101 * image[b + plane + 1] + w110 * image[b + plane + sx] + w111 * image[b + plane + sx + 1];
          }
          if (seg && outSeg) {
            const l0 = seg[a];
            if (l0 === seg[a + 1] && l0 === seg[a + sx] && l0 === seg[a + sx + 1] && l0 === seg[a + plane] && l0 === seg[a + plane + 1] && l0 === seg[a + plane + sx] && l0 === seg[a + plane + sx + 1])
              outSeg[o] = l0;
            else {
              corners[0] = a;
              corners[1] = a + 1;
              corners[2] = a + sx;
              corners[3] = a + sx + 1;
              corners[4] = a + plane;
              corners[5] = a + plane + 1;
              corners[6] = a + plane + sx;
              corners[7] = a + plane + sx + 1;
              cw[0] = w000;
              cw[1] = w001;
              cw[2] = w010;
              cw[3] = w011;
              cw[4] = w100;
              cw[5] = w101;
              cw[6] = w110;
              cw[7] = w111;
              outSeg[o] = pickLabel(8);
            }
          }
          continue;
        }
        let nc = 0;
        for (let dz = 0; dz < 2; dz++) {
          const z = z0 + dz;
          const wz = dz ? tz : 1 - tz;
          if (z < 0 || z >= sz || wz === 0) continue;
          for (let dy = 0; dy < 2; dy++) {
            const y = y0 + dy;
            const wy = dy ? ty : 1 - ty;
            if (y < 0 || y >= sy || wy === 0) continue;
            for (let dx = 0; dx < 2; dx++) {
              const x = x0 + dx;
              const wx = dx ? tx : 1 - tx;
              if (x < 0 || x >= sx || wx === 0) continue;
              corners[nc] = (z * sy + y) * sx + x;
              cw[nc++] = wz * wy * wx;
            }
          }
        }
        for (let c = 0; c < channels; c++) {
          let acc = 0;
          const base = c * nIn;
          for (let q = 0; q < nc; q++) acc += cw[q] * image[base + corners[q]];
          outImg[c * nOut + o] = acc;
        }
        if (seg && outSeg) outSeg[o] = nc === 0 ? minLabel : pickLabel(nc);
      }
  return { image: outImg, seg: outSeg };
}

function cropInto(src: Float32Array | Int16Array, srcOff: number, shape: readonly number[], lo: number[], patch: readonly number[], out: Float32Array | Int16Array, outOff: number, pad: number): void {
  const [sz, sy, sx] = shape;
  const [pz, py, px] = patch;
  const x0 = Math.max(0, lo[2]);
  const x1 = Math.min(sx, lo[2] + px);
  let o = outOff;
  for (let k = 0; k < pz; k++) {
    const z = lo[0] + k;
    for (let j = 0; j < py; j++, o += px) {
      const y = lo[1] + j;
      if (z < 0 || z >= sz || y < 0 || y >= sy || x1 <= x0) {
        out.fill(pad, o, o + px);
        continue;
      }
      if (x0 - lo[2] > 0) out.fill(pad, o, o + x0 - lo[2]);
      const row = srcOff + (z * sy + y) * sx;
      out.set(src.subarray(row + x0, row + x1), o + x0 - lo[2]);
      if (x1 < lo[2] + px) out.fill(pad, o + x1 - lo[2], o + px);
    }
  }
}

// ───────────────────────────── intensity ─────────────────────────────

/**
 * GaussianNoiseTransform with nnU-Net's synchronize_channels=True: one σ and one noise field, added to
 * every channel (bgv2 expands a (1, ...) field over the channels).
 */
export function gaussianNoise(image: Float32Array, channels: number, sigma: number, rng: Rng): void {
  if (sigma === 0) return;
  const n = image.length / channels;
  // a fast xorshift stream seeded from the pipeline's generator (MT draws per voxel would dominate)
  let st = rng.nextSeed() | 1;
  const u = () => {
    st ^= st << 13;
    st ^= st >>> 17;
    st ^= st << 5;
    return ((st >>> 0) + 0.5) / 4294967296;
  };
  const add = (i: number, v: number) => {
    for (let c = 0; c < channels; c++) image[c * n + i] += v;
  };
  for (let i = 0; i < n; i += 2) {
    // Box–Muller: two normals per pair of uniforms
    const r = sigma * Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    add(i, r * Math.cos(t));
    if (i + 1 < n) add(i + 1, r * Math.sin(t));
  }
}

/**
 * bgv2 `_build_kernel` as `blur_dimension` calls it (truncate 6): size = nearest odd to 6σ + 0.5 (Python
 * rounding), taps at -(size-1)/2 … (size-1)/2, normalised.
 */
export function gaussianKernel(sigma: number, truncate = 6): Float64Array {
  const n = sigma * truncate + 0.5;
  const rounded = roundHalfEven(n);
  const size = Math.max(1, rounded % 2 === 1 ? rounded : n - rounded >= 0 ? rounded + 1 : rounded - 1);
  const r = (size - 1) / 2;
  const k = new Float64Array(size);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp(-0.5 * (i / sigma) ** 2);
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** Reflect index (torch "reflect": d c b | a b c d | c b a) for any offset. */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

/** Separable Gaussian blur of one (z, y, x) volume in place; σ per axis (0 = leave that axis). */
export function gaussianFilter(vol: Float32Array, shape: readonly number[], sigmas: readonly number[]): void {
  const [nz, ny, nx] = shape;
  const strides = [ny * nx, nx, 1];
  for (let axis = 0; axis < 3; axis++) {
    if (!(sigmas[axis] > 0) || shape[axis] === 1) continue;
    const k = gaussianKernel(sigmas[axis]);
    const r = (k.length - 1) / 2;
    const n = shape[axis];
    const stride = strides[axis];
    // the line with `r` reflected values on each side, so the inner loop has no bounds logic
    const line = new Float64Array(n + 2 * r);
    const refl = new Int32Array(2 * r);
    for (let t = 0; t < r; t++) {
      refl[t] = reflect(t - r, n);
      refl[r + t] = reflect(n + t, n);
    }
    const lines = (nz * ny * nx) / n;
    for (let l = 0; l < lines; l++) {
      let start: number;
      if (axis === 2) start = l * nx;
      else if (axis === 1) start = Math.floor(l / nx) * ny * nx + (l % nx);
      else start = l;
      for (let i = 0; i < n; i++) line[r + i] = vol[start + i * stride];
      for (let t = 0; t < r; t++) {
        line[t] = line[r + refl[t]];
        line[n + r + t] = line[r + refl[r + t]];
      }
      for (let i = 0; i < n; i++) {
        let acc = 0;
        for (let t = 0; t < k.length; t++) acc += k[t] * line[i + t];
        vol[start + i * stride] = acc;
      }
    }
  }
}

/** Multiplies one channel by a factor. */
export function brightness(image: Float32Array, off: number, n: number, factor: number): void {
  for (let i = off; i < off + n; i++) image[i] *= factor;
}

/** ContrastTransform with preserve_range: (x - mean)·f + mean, clipped to the channel's former [min, max]. */
export function contrast(image: Float32Array, off: number, n: number, factor: number): void {
  let mean = 0;
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = off; i < off + n; i++) {
    const v = image[i];
    mean += v;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  mean /= n;
  for (let i = off; i < off + n; i++) image[i] = Math.min(mx, Math.max(mn, (image[i] - mean) * factor + mean));
}

/**
 * GammaTransform on one channel: optional inversion, x → ((x - min)/range)^γ · range + min, retaining
 * mean and std (p_retain_stats 1): torch's unbiased std, the new one clamped to ≥ 1e-7.
 */
export function gamma(image: Float32Array, off: number, n: number, g: number, invert: boolean): void {
  const sgn = invert ? -1 : 1;
  let mean = 0;
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = off; i < off + n; i++) {
    const v = sgn * image[i];
    mean += v;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  mean /= n;
  let ss = 0;
  for (let i = off; i < off + n; i++) ss += (sgn * image[i] - mean) ** 2;
  const std = Math.sqrt(ss / Math.max(1, n - 1));
  const range = Math.max(mx - mn, 1e-7);
  let m2 = 0;
  for (let i = off; i < off + n; i++) {
    const v = Math.pow(Math.max(0, (sgn * image[i] - mn) / range), g) * range + mn;
    image[i] = v;
    m2 += v;
  }
  m2 /= n;
  let ss2 = 0;
  for (let i = off; i < off + n; i++) ss2 += (image[i] - m2) ** 2;
  const std2 = Math.sqrt(ss2 / Math.max(1, n - 1));
  for (let i = off; i < off + n; i++) image[i] = sgn * (((image[i] - m2) * std) / Math.max(std2, 1e-7) + mean);
}

/** Resizes one (z, y, x) volume: nearest-exact (src = floor((o + 0.5)·in/out)) or linear (align_corners False). */
export function resize(src: Float32Array, inShape: readonly number[], outShape: readonly number[], mode: 'nearest' | 'linear'): Float32Array {
  let cur = src;
  let shape = [...inShape];
  // one separable pass per axis (exact for both modes)
  for (let axis = 0; axis < 3; axis++) {
    if (shape[axis] === outShape[axis]) continue;
    const next = [...shape];
    next[axis] = outShape[axis];
    const out = new Float32Array(next[0] * next[1] * next[2]);
    const nIn = shape[axis];
    const nOut = next[axis];
    const scale = nIn / nOut;
    const idx0 = new Int32Array(nOut);
    const idx1 = new Int32Array(nOut);
    const w1 = new Float32Array(nOut);
    for (let o = 0; o < nOut; o++) {
      if (mode === 'nearest') {
        idx0[o] = idx1[o] = Math.min(nIn - 1, Math.floor((o + 0.5) * scale));
      } else {
        const f = Math.max(0, (o + 0.5) * scale - 0.5);
        const i0 = Math.min(nIn - 1, Math.floor(f));
        idx0[o] = i0;
        idx1[o] = Math.min(nIn - 1, i0 + 1);
        w1[o] = f - i0;
      }
    }
    const [a, b, c] = next;
    const inStr = [shape[1] * shape[2], shape[2], 1];
    const st = inStr[axis];
    let v = 0;
    for (let z = 0; z < a; z++)
      for (let y = 0; y < b; y++)
        for (let x = 0; x < c; x++, v++) {
          let o: number;
          let base: number;
          if (axis === 0) {
            o = z;
            base = y * inStr[1] + x;
          } else if (axis === 1) {
            o = y;
            base = z * inStr[0] + x;
          } else {
            o = x;
            base = z * inStr[0] + y * inStr[1];
          }
          const v0 = cur[base + idx0[o] * st];
          const v1 = cur[base + idx1[o] * st];
          out[v] = v0 + (v1 - v0) * w1[o];
        }
    cur = out;
    shape = next;
  }
  return cur === src ? Float32Array.from(src) : cur;
}

/** SimulateLowResolutionTransform on one channel: down (nearest) by `zoom`, back up (linear); `ignoreZ` keeps z. */
export function simulateLowResolution(image: Float32Array, off: number, shape: readonly number[], zoom: number, ignoreZ: boolean): void {
  const n = shape[0] * shape[1] * shape[2];
  const ch = image.subarray(off, off + n);
  const small = shape.map((s, d) => (d === 0 && (ignoreZ || s === 1) ? s : Math.max(1, Math.round(s * zoom))));
  const down = resize(ch, shape, small, 'nearest');
  const up = resize(down, small, shape, 'linear');
  ch.set(up);
}

/** Flips (c, z, y, x) image and (1, z, y, x) seg along a spatial axis (0 z, 1 y, 2 x). */
export function mirror(arr: Float32Array | Int16Array, channels: number, shape: readonly number[], axis: number): void {
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  for (let c = 0; c < channels; c++) {
    const base = c * n;
    if (axis === 2) {
      for (let r = 0; r < nz * ny; r++) arr.subarray(base + r * nx, base + (r + 1) * nx).reverse();
    } else if (axis === 1) {
      for (let z = 0; z < nz; z++)
        for (let y = 0; y < ny >> 1; y++) {
          const a = base + (z * ny + y) * nx;
          const b = base + (z * ny + (ny - 1 - y)) * nx;
          for (let x = 0; x < nx; x++) {
            const t = arr[a + x];
            arr[a + x] = arr[b + x];
            arr[b + x] = t;
          }
        }
    } else {
      const plane = ny * nx;
      for (let z = 0; z < nz >> 1; z++) {
        const a = base + z * plane;
        const b = base + (nz - 1 - z) * plane;
        for (let p = 0; p < plane; p++) {
          const t = arr[a + p];
          arr[a + p] = arr[b + p];
          arr[b + p] = t;
        }
      }
    }
  }
}

// ───────────────────────────── the pipeline ─────────────────────────────

/**
 * One sample through nnU-Net's training transforms (without RemoveLabel / deep supervision, which the
 * loader applies to every batch). `image` (c, ...inShape) is the larger initial patch; returns the
 * final `patch`. `patchIs2d`: the configuration's patch is 2D ([y, x] mirror axes).
 */
export function augmentSample(
  image: Float32Array,
  seg: Int16Array | null,
  channels: number,
  inShape: readonly number[],
  patch: readonly number[],
  p: AugmentationParams,
  rng: Rng,
  patchIs2d = false,
): { image: Float32Array; seg: Int16Array | null } {
  const sp = sampleSpatial(p, patch, rng);
  const r = spatialTransform(image, seg, channels, inShape, patch, sp);
  const img = r.image;
  const n = patch[0] * patch[1] * patch[2];
  const inPlane = p.dummy2d || patchIs2d;
  if (rng.random() < p.pNoise) gaussianNoise(img, channels, rng.uniform(p.noiseStd[0], p.noiseStd[1]), rng);
  if (rng.random() < p.pBlur)
    for (let c = 0; c < channels; c++) {
      if (rng.random() >= 0.5) continue;
      // nnU-Net blurs after Convert2DTo3D, so dummy-2D patches are blurred along z too; 2D patches have no z
      const sig = [0, 1, 2].map((d) => (d === 0 && patchIs2d ? 0 : rng.uniform(p.blurSigma[0], p.blurSigma[1])));
      gaussianFilter(img.subarray(c * n, (c + 1) * n), patch, sig);
    }
  if (rng.random() < p.pBrightness) for (let c = 0; c < channels; c++) brightness(img, c * n, n, sampleBgContrast(p.brightness, rng));
  if (rng.random() < p.pContrast) for (let c = 0; c < channels; c++) contrast(img, c * n, n, sampleBgContrast(p.contrast, rng));
  if (rng.random() < p.pLowRes) {
    for (let c = 0; c < channels; c++) {
      if (rng.random() >= 0.5) continue;
      simulateLowResolution(img, c * n, patch, rng.uniform(p.lowResScale[0], p.lowResScale[1]), inPlane);
    }
  }
  if (rng.random() < p.pGammaInverted) for (let c = 0; c < channels; c++) gamma(img, c * n, n, sampleBgContrast(p.gamma, rng), true);
  if (rng.random() < p.pGamma) for (let c = 0; c < channels; c++) gamma(img, c * n, n, sampleBgContrast(p.gamma, rng), false);
  // mirror axes are axes of the configuration's patch; internal arrays are always (z, y, x)
  for (const a of p.mirrorAxes) {
    if (rng.random() >= 0.5) continue;
    const axis = patchIs2d ? a + 1 : a;
    mirror(img, channels, patch, axis);
    if (r.seg) mirror(r.seg, 1, patch, axis);
  }
  return { image: img, seg: r.seg };
}

/** nnU-Net's RemoveLabelTansform(-1, 0). */
export function removeLabel(seg: Int16Array, label = -1, replacement = 0): void {
  for (let i = 0; i < seg.length; i++) if (seg[i] === label) seg[i] = replacement;
}

/**
 * DownsampleSegForDSTransform (bgv2): per scale, nearest-exact resize of the (1, ...patch) seg to
 * round(patch · scale); a scale of all ones keeps the array.
 */
export function downsampleSegForDS(seg: Int16Array, patch: readonly number[], scale: readonly number[]): { seg: Int16Array; shape: number[] } {
  const shape = patch.map((s, d) => Math.round(s * scale[d]));
  if (scale.every((s) => s === 1)) return { seg, shape: [...patch] };
  const idx = patch.map((s, d) => {
    const o = shape[d];
    const a = new Int32Array(o);
    for (let i = 0; i < o; i++) a[i] = Math.min(s - 1, Math.floor((i + 0.5) * (s / o)));
    return a;
  });
  const out = new Int16Array(shape[0] * shape[1] * shape[2]);
  const [, py, px] = patch;
  let v = 0;
  for (let k = 0; k < shape[0]; k++)
    for (let j = 0; j < shape[1]; j++) {
      const row = (idx[0][k] * py + idx[1][j]) * px;
      for (let i = 0; i < shape[2]; i++) out[v++] = seg[row + idx[2][i]];
    }
  return { seg: out, shape };
}

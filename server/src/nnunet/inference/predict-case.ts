/**
 * nnUNetPredictor for one case, engine-agnostic (nnunetv2/inference/predict_from_raw_data.py and
 * export_prediction.py): preprocess → sliding window per fold (logits averaged) → resample logits back to
 * the cropped original grid → segmentation → postprocessing (on the crop box) → undo crop and transpose.
 *
 * Memory: the fold accumulator and one fold's logits on the preprocessed grid; the export resamples one
 * class channel at a time and keeps a running maximum, so the original grid never holds all classes.
 * argmax(softmax(x)) = argmax(x), so label models need no softmax for the segmentation.
 */
import type { Vec3, Volume } from '../../imaging/volume.js';
import type { LabelValue } from '../dataset/dataset-json.js';
import { LabelManager } from '../dataset/labels.js';
import { applyPostprocessing, type PostprocessingStep } from '../postprocessing/postprocessing.js';
import { fillEnclosedBackground } from '../postprocessing/fill-holes.js';
import { preprocessCase, type PreprocessedProperties } from '../preprocessing/default-preprocessor.js';
import { resampleDataOrSegToShape } from '../preprocessing/resampling.js';
import { MeanAccumulator } from './ensemble.js';
import { sigmoid, softmaxChannels } from './label-handling.js';
import { predictSlidingWindow, type NetworkFn } from './sliding-window.js';
import { type Plans, resolveConfiguration } from '../plans/plans.js';

export type PredictionStage = 'preprocessing' | 'predicting' | 'exporting' | 'postprocessing';

export interface PredictionProgress {
  stage: PredictionStage;
  /** for 'predicting': network calls done / total over all folds */
  done?: number;
  total?: number;
  fold?: string;
}

export interface CaseModel {
  plans: Plans;
  configuration: string;
  datasetJson: { labels: Record<string, LabelValue>; regions_class_order?: number[] | null };
  /** one network per fold; their logits are averaged */
  folds: { fold: string; network: NetworkFn }[];
  /** the model's `inference_allowed_mirroring_axes` (null: no mirroring allowed) */
  mirrorAxes: readonly number[] | null;
  postprocessing?: readonly PostprocessingStep[];
}

export interface PredictCaseOptions {
  /** default true (nnU-Net's default); false = --disable_tta */
  useMirroring?: boolean;
  stepSize?: number;
  /** cascade: the previous stage's segmentation of this case, on the image grid */
  previousStageSegmentation?: Volume;
  onProgress?: (p: PredictionProgress) => void;
  signal?: AbortSignal;
  /**
   * --save-probabilities: receives the probabilities (softmax, or sigmoid per region) of each output class in
   * turn, on the image's own grid and axis order — outside the crop box background is 1 (regions 0), as
   * nnU-Net's `revert_cropping_on_probabilities`. Costs one float32 copy of every class on the cropped grid.
   */
  onProbabilities?: (channel: number, channels: number, probabilities: Float32Array, shape: Vec3) => void;
  /** after the model's postprocessing: fill enclosed background holes of each label (off by default, not in nnU-Net) */
  fillHoles?: boolean;
}

export interface CasePrediction {
  segmentation: Volume<Uint8Array | Uint16Array>;
  /** nnU-Net's properties of the case (what `<case>.pkl` holds) */
  properties: PreprocessedProperties;
  /** seconds spent per stage */
  timings: Record<PredictionStage, number>;
}

function transposeBack<T extends Uint8Array | Uint16Array | Float32Array>(src: T, shape: Vec3, backward: readonly number[]): { data: T; shape: Vec3 } {
  if (backward[0] === 0 && backward[1] === 1 && backward[2] === 2) return { data: src, shape };
  const out = new (src.constructor as new (n: number) => T)(src.length);
  const newShape = backward.map((a) => shape[a]) as Vec3;
  const strides = [shape[1] * shape[2], shape[2], 1];
  const [s0, s1, s2] = backward.map((a) => strides[a]);
  let o = 0;
  for (let a = 0; a < newShape[0]; a++)
    for (let b = 0; b < newShape[1]; b++) {
      const row = a * s0 + b * s1;
      for (let c = 0; c < newShape[2]; c++) out[o++] = src[row + c * s2];
    }
  return { data: out, shape: newShape };
}

const EMPTY = new Float32Array(0);

/** One-hot of the previous stage's foreground labels, appended as extra input channels (cascade). */
function appendOneHot(data: Float32Array, n: number, seg: Int16Array, foregroundLabels: readonly number[]): Float32Array {
  const out = new Float32Array(data.length + foregroundLabels.length * n);
  out.set(data);
  foregroundLabels.forEach((label, i) => {
    const off = data.length + i * n;
    for (let v = 0; v < n; v++) if (seg[v] === label) out[off + v] = 1;
  });
  return out;
}

export async function predictCase(images: Volume[], model: CaseModel, options: PredictCaseOptions = {}): Promise<CasePrediction> {
  const report = options.onProgress ?? (() => {});
  const timings: Record<PredictionStage, number> = { preprocessing: 0, predicting: 0, exporting: 0, postprocessing: 0 };
  const clock = (stage: PredictionStage, t0: number) => (timings[stage] += (performance.now() - t0) / 1000);
  if (model.folds.length === 0) throw new Error('the model has no folds to predict with');
  const config = resolveConfiguration(model.plans, model.configuration);
  const labels = new LabelManager(model.datasetJson.labels, model.datasetJson.regions_class_order ?? undefined);
  const numOutputs = labels.numSegmentationHeads;

  let t0 = performance.now();
  report({ stage: 'preprocessing' });
  const pp = preprocessCase(images, options.previousStageSegmentation, model.plans, model.configuration, model.datasetJson);
  const n = pp.shape[0] * pp.shape[1] * pp.shape[2];
  let input = pp.data;
  let channels = pp.channels;
  if (options.previousStageSegmentation) {
    input = appendOneHot(pp.data, n, pp.seg!, labels.foregroundLabels);
    channels += labels.foregroundLabels.length;
  }
  clock('preprocessing', t0);

  t0 = performance.now();
  const patchSize = config.patch_size;
  if (!patchSize) throw new Error(`plans.json: configuration "${model.configuration}" has no patch_size`);
  const mirrorAxes = options.useMirroring === false ? null : model.mirrorAxes;
  const accumulator = new MeanAccumulator();
  let done = 0;
  let foldTotal = 0;
  for (const fold of model.folds) {
    const logits = await predictSlidingWindow({
      data: input,
      channels,
      shape: pp.shape,
      patchSize,
      numClasses: numOutputs,
      network: fold.network,
      stepSize: options.stepSize ?? 0.5,
      mirrorAxes,
      signal: options.signal,
      onProgress: (d, total) => {
        foldTotal = total;
        report({ stage: 'predicting', fold: fold.fold, done: done + d, total: total * model.folds.length });
      },
    });
    done += foldTotal;
    accumulator.add(logits, { consume: true });
  }
  const logits = accumulator.mean();
  // the network input is not needed any more: let the export reuse its memory
  input = EMPTY;
  pp.data = EMPTY;
  clock('predicting', t0);

  t0 = performance.now();
  report({ stage: 'exporting' });
  const props = pp.properties;
  const croppedShape = props.shape_after_cropping_and_before_resampling as Vec3;
  const originalSpacingT = model.plans.transpose_forward.map((i) => props.spacing[i]);
  const currentSpacing = config.spacing.length === 3 ? config.spacing : [originalSpacingT[0], ...config.spacing];
  const probabilityKwargs = { is_seg: false, order: 1, order_z: 0, force_separate_z: null, ...(config.resampling_fn_probabilities_kwargs ?? {}) };
  const m = croppedShape[0] * croppedShape[1] * croppedShape[2];
  const maxLabel = labels.hasRegions ? Math.max(...(model.datasetJson.regions_class_order ?? [0])) : numOutputs - 1;
  const cropSeg = maxLabel < 255 ? new Uint8Array(m) : new Uint16Array(m);
  const best = labels.hasRegions ? null : new Float32Array(m).fill(-Infinity);
  const kept = options.onProbabilities ? new Float32Array(numOutputs * m) : null;
  for (let c = 0; c < numOutputs; c++) {
    options.signal?.throwIfAborted();
    const channel = resampleDataOrSegToShape(logits.subarray(c * n, (c + 1) * n), 1, pp.shape, croppedShape, currentSpacing, originalSpacingT, probabilityKwargs);
    kept?.set(channel, c * m);
    if (best) {
      for (let v = 0; v < m; v++)
        if (channel[v] > best[v]) {
          best[v] = channel[v];
          cropSeg[v] = c;
        }
    } else {
      // sigmoid(x) > 0.5 ⇔ x > 0; later regions overwrite earlier ones (regions_class_order)
      const label = model.datasetJson.regions_class_order![c];
      for (let v = 0; v < m; v++) if (channel[v] > 0) cropSeg[v] = label;
    }
  }
  // revert cropping, then transpose back to the image's axis order
  const before = props.shape_before_cropping as Vec3;
  const [[z0], [y0], [x0]] = props.bbox_used_for_cropping;
  const uncrop = <T extends Uint8Array | Uint16Array | Float32Array>(cropped: T, fill: number): T => {
    const full = new (cropped.constructor as new (k: number) => T)(before[0] * before[1] * before[2]);
    if (fill !== 0) full.fill(fill);
    for (let z = 0; z < croppedShape[0]; z++)
      for (let y = 0; y < croppedShape[1]; y++) {
        const src = (z * croppedShape[1] + y) * croppedShape[2];
        full.set(cropped.subarray(src, src + croppedShape[2]), ((z + z0) * before[1] + (y + y0)) * before[2] + x0);
      }
    return full;
  };
  const backward = model.plans.transpose_backward ?? model.plans.transpose_forward.map((_, i) => model.plans.transpose_forward.indexOf(i));
  clock('exporting', t0);

  // Postprocessing on the crop box (before un-cropping), where nnU-Net runs it on the whole image: outside the
  // box everything is background, which adds no component and connects every box-border background voxel to
  // the image border, so components and holes are the same — on far fewer voxels for a CT with air around.
  t0 = performance.now();
  let processed: Uint8Array | Uint16Array = cropSeg;
  if (model.postprocessing?.length) {
    report({ stage: 'postprocessing' });
    processed = applyPostprocessing(processed, croppedShape, model.postprocessing);
  }
  if (options.fillHoles) {
    report({ stage: 'postprocessing' });
    processed = fillEnclosedBackground(processed, croppedShape);
  }
  clock('postprocessing', t0);

  t0 = performance.now();
  const restored = transposeBack(uncrop(processed, 0), before, backward);
  if (kept) {
    if (labels.hasRegions) sigmoid(kept, kept);
    else softmaxChannels(kept, numOutputs, kept);
    for (let c = 0; c < numOutputs; c++) {
      const p = transposeBack(uncrop(kept.subarray(c * m, (c + 1) * m), c === 0 && !labels.hasRegions ? 1 : 0), before, backward);
      options.onProbabilities!(c, numOutputs, p.data, p.shape);
    }
  }
  clock('exporting', t0);
  const ref = images[0];
  return {
    segmentation: { data: restored.data, shape: restored.shape, spacing: [...ref.spacing] as Vec3, origin: [...ref.origin] as Vec3, direction: [...ref.direction] },
    properties: props,
    timings,
  };
}

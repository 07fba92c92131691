/**
 * nnU-Net's default loss on TensorFlow.js, channels-last logits [b, z, y, x, C] and integer label maps
 * [b, z, y, x]:
 *  - DC_and_CE_loss (nnunetv2/training/loss/compound_losses.py): weight_ce = weight_dice = 1; with an
 *    ignore label the Dice target has ignored voxels set to 0 and they are masked out of the Dice sums,
 *    and CE skips them (ignore_index) — CE is left out entirely when every voxel is ignored.
 *  - MemoryEfficientSoftDiceLoss (nnunetv2/training/loss/dice.py): softmax, background dropped (do_bg
 *    False), sums over the spatial axes (and the batch when batch_dice), dc = (2·I + smooth) /
 *    clip(G + P + smooth, 1e-8), loss = −mean(dc); smooth 1e-5 as nnUNetTrainer._build_loss passes it.
 *  - RobustCrossEntropyLoss: mean over the non-ignored voxels.
 *  - DeepSupervisionWrapper with weights 1/2^i, the lowest resolution weighted 0, normalised
 *    (nnUNetTrainer._build_loss).
 * Region-based training (sigmoid + BCE) is not supported.
 */
import * as tf from '@tensorflow/tfjs';
import { logSoftmax } from '../engines/tfjs/ops.js';

export interface LossOptions {
  /** number of network outputs (segmentation heads, background included) */
  numClasses: number;
  /** configuration's batch_dice from plans.json */
  batchDice: boolean;
  /** label value to ignore (LabelManager.ignore_label), null/undefined when none */
  ignoreLabel?: number | null;
  /** default 1e-5 */
  smooth?: number;
}

/** DC_and_CE_loss for one resolution. `target` holds label values (int32). */
export function dcAndCeLoss(logits: tf.Tensor, target: tf.Tensor, o: LossOptions): tf.Scalar {
  return tf.tidy(() => {
    const c = o.numClasses;
    if (logits.shape[logits.rank - 1] !== c) throw new Error(`logits have ${logits.shape[logits.rank - 1]} channels, numClasses is ${c}`);
    if (target.rank !== logits.rank - 1 || target.shape.some((n, i) => n !== logits.shape[i]))
      throw new Error(`target shape [${target.shape.join(', ')}] does not match logits [${logits.shape.join(', ')}] without channels`);
    const smooth = o.smooth ?? 1e-5;
    const hasIgnore = o.ignoreLabel !== null && o.ignoreLabel !== undefined;
    const mask = hasIgnore ? tf.cast(tf.notEqual(target, o.ignoreLabel!), 'float32') : null;
    const targetDice = hasIgnore ? tf.where(tf.notEqual(target, o.ignoreLabel!), target, tf.zerosLike(target)) : target;
    const logp = logSoftmax(logits);
    const probs = tf.exp(logp);
    const spatial = Array.from({ length: logits.rank - 2 }, (_, i) => i + 1);
    const onehot = tf.oneHot(tf.cast(targetDice, 'int32'), c);
    const m = mask ? tf.expandDims(mask, -1) : null;
    let intersect = tf.sum(m ? tf.mul(tf.mul(probs, onehot), m) : tf.mul(probs, onehot), spatial);
    let sumPred = tf.sum(m ? tf.mul(probs, m) : probs, spatial);
    let sumGt = tf.sum(m ? tf.mul(onehot, m) : onehot, spatial);
    // background dropped (do_bg = False) on the [b, c] sums: slicing the voxel tensors along channels is
    // the slowest kernel of an iteration on wasm
    const fg = (t: tf.Tensor) => tf.slice(t, [0, 1], [-1, -1]);
    intersect = fg(intersect);
    sumPred = fg(sumPred);
    sumGt = fg(sumGt);
    if (o.batchDice) {
      intersect = tf.sum(intersect, 0);
      sumPred = tf.sum(sumPred, 0);
      sumGt = tf.sum(sumGt, 0);
    }
    const dc = tf.div(tf.add(tf.mul(intersect, 2), smooth), tf.maximum(tf.add(tf.add(sumGt, sumPred), smooth), 1e-8));
    const dcLoss = tf.neg(tf.mean(dc));

    // cross-entropy; ignored voxels (one-hot of their Dice target 0) are masked out below
    const voxelCe = tf.neg(tf.sum(tf.mul(onehot, logp), -1));
    if (!mask) return tf.add(tf.mean(voxelCe), dcLoss) as tf.Scalar;
    const n = tf.sum(mask);
    const ce = tf.div(tf.sum(tf.mul(voxelCe, mask)), tf.maximum(n, 1));
    // nnU-Net skips CE when no voxel is labelled (num_fg == 0); the division guard then gives 0 anyway
    return tf.add(ce, dcLoss) as tf.Scalar;
  });
}

/** nnUNetTrainer._build_loss: 1/2^i, the last (lowest resolution) 0, normalised to sum 1. */
export function deepSupervisionWeights(n: number): number[] {
  if (n < 1) throw new Error('deep supervision needs at least one output');
  if (n === 1) return [1];
  const w = Array.from({ length: n }, (_, i) => (i === n - 1 ? 0 : 1 / 2 ** i));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / s);
}

/** DeepSupervisionWrapper: Σ w_i · loss(output_i, target_i), outputs and targets full resolution first. */
export function deepSupervisionLoss(outputs: tf.Tensor[], targets: tf.Tensor[], o: LossOptions): tf.Scalar {
  if (outputs.length !== targets.length)
    throw new Error(`deep supervision: ${outputs.length} network outputs but ${targets.length} target scales`);
  const w = deepSupervisionWeights(outputs.length);
  return tf.tidy(() => {
    const terms: tf.Scalar[] = [];
    for (let i = 0; i < outputs.length; i++) if (w[i]! > 0) terms.push(tf.mul(dcAndCeLoss(outputs[i]!, targets[i]!, o), w[i]!));
    return tf.addN(terms) as tf.Scalar;
  });
}

export interface DiceCounts {
  /** per foreground class (label 1..C-1), summed over the batch and voxels */
  tp: Float64Array;
  fp: Float64Array;
  fn: Float64Array;
}

/**
 * Hard tp/fp/fn of argmax(logits) vs target as nnUNetTrainer.validation_step computes them for the
 * online pseudo Dice (ignored voxels masked, background dropped). `logits` NDHWC float, `labels` label
 * values in the same voxel order.
 */
export function diceCounts(logits: Float32Array, labels: ArrayLike<number>, numClasses: number, ignoreLabel?: number | null): DiceCounts {
  const nv = labels.length;
  if (logits.length !== nv * numClasses) throw new Error(`diceCounts: ${logits.length} logits for ${nv} voxels × ${numClasses} classes`);
  const tp = new Float64Array(numClasses - 1);
  const fp = new Float64Array(numClasses - 1);
  const fn = new Float64Array(numClasses - 1);
  for (let v = 0; v < nv; v++) {
    const t = labels[v]!;
    if (ignoreLabel !== null && ignoreLabel !== undefined && t === ignoreLabel) continue;
    let best = 0;
    let bv = logits[v * numClasses]!;
    for (let c = 1; c < numClasses; c++) {
      const x = logits[v * numClasses + c]!;
      if (x > bv) {
        bv = x;
        best = c;
      }
    }
    if (best === t) {
      if (t > 0) tp[t - 1]!++;
    } else {
      if (best > 0) fp[best - 1]!++;
      if (t > 0) fn[t - 1]!++;
    }
  }
  return { tp, fp, fn };
}

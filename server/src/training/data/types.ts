/**
 * What the training data pipeline hands the trainer: one batch of patches (nnU-Net's
 * `nnUNetDataLoader.generate_train_batch` after the transforms) and the source that yields them.
 */
import type { AugmentationParams } from './augmentation.js';

export interface TrainingBatch {
  /** (b, c, ...patch) C-order, float32 */
  data: Float32Array;
  /**
   * One target per deep-supervision scale, (b, 1, ...scaled patch), full resolution first. nnU-Net's
   * `RemoveLabelTansform(-1, 0)` has run (the -1 "outside the nonzero mask" becomes background); an
   * ignore label is kept as is.
   */
  targets: Int16Array[];
  shape: {
    batch: number;
    channels: number;
    /** spatial patch size: [z, y, x] (3D) or [y, x] (2D) */
    patch: number[];
    /** spatial size of each target, in `targets` order */
    targetPatches: number[][];
  };
  /** the case id each sample was cut from */
  keys: string[];
}

export interface BatchSource {
  /** The next batch (already prefetched by workers when they keep up). */
  next(): Promise<TrainingBatch>;
  /** Stops the workers; pending `next()` calls fail. */
  close(): Promise<void>;
}

export interface LoaderOptions {
  /** the configuration's preprocessed data folder (<case>.npy, <case>_seg.npy, <case>.json) */
  preprocessedFolder: string;
  caseIds: string[];
  /** the configuration's (final) patch size: [z, y, x] or [y, x] for 2D */
  patchSize: number[];
  batchSize: number;
  /** fraction of each batch forced to contain foreground (the last ones), nnU-Net default 0.33 */
  oversampleForegroundPercent?: number;
  /** per network output, fraction of full resolution per spatial axis (1/cumprod(pool_op_kernel_sizes)) */
  deepSupervisionScales: number[][];
  /** null: no augmentation (validation) */
  augmentation: AugmentationParams | null;
  /** worker threads producing batches; 0 = produce in this thread (tests, tiny runs). Default 2 */
  workers?: number;
  /** batches kept ready ahead of `next()`; at least 2. Default max(2, 2 × workers) */
  prefetch?: number;
  seed: number;
  /** 2D configuration: patchSize is [y, x]; patches are single slices of the 3D case */
  is2d?: boolean;
  /** label values of the dataset's ignore label, kept as is (documentation only; nothing maps it) */
  ignoreLabel?: number | null;
}

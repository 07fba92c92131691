/** The training data pipeline: splits, loaders, augmentation (see docs/training-data.md). */
export { readOrCreateSplits, selectFold, generateCrossvalSplit, SPLITS_FILE, type Split } from './splits.js';
export { createTrainingLoader, createValidationLoader } from './loader.js';
export { nnunetAugmentation, type AugmentationParams } from './augmentation.js';
export { configureAugmentation, deepSupervisionScales, getPatchSize, initialPatchSize, type AugmentationConfig } from './sampling.js';
export type { TrainingBatch, BatchSource, LoaderOptions } from './types.js';

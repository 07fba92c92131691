/** Evaluation: nnU-Net metrics (+ HD95, surface Dice, volumes), summary.json, folder evaluation. */
export * from './metrics.js';
export * from './summary.js';
export * from './evaluate-folder.js';

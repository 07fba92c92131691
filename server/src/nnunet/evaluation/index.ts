/** Evaluation: nnU-Net metrics (+ HD95, surface Dice, volumes), summary.json, folder evaluation lives in pipelines/evaluate-folder.ts. */
export * from './metrics.js';
export * from './summary.js';

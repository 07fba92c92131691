/** Worker thread entry: makes training batches (batch.ts) for createTrainingLoader. */
import { workerData } from 'node:worker_threads';
import { serveTasks } from '../../workers/worker-runtime.js';
import { CaseCache, makeBatch, type BatchConfig } from './batch.js';
import type { TrainingBatch } from './types.js';

const cfg = workerData as BatchConfig;
const cache = new CaseCache(cfg.preprocessedFolder);

serveTasks<{ seed: number }, TrainingBatch>(({ seed }) => {
  const batch = makeBatch(cfg, cache, seed);
  return { output: batch, transfer: [batch.data.buffer as ArrayBuffer, ...batch.targets.map((t) => t.buffer as ArrayBuffer)] };
});

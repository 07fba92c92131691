/**
 * The trainer's batch sources: nnU-Net's training loader (larger initial patch, augmentation) and
 * validation loader (final patch, no augmentation), both with foreground oversampling. Batches are
 * made by worker threads (WorkerPool) and kept `prefetch` ahead of the consumer, so the network does
 * not wait for data. Batch i is made from seed deriveSeed(seed, i) and delivered in order, so a run is
 * reproducible whatever the number of workers.
 */
import { existsSync } from 'node:fs';
import { WorkerPool, workerScriptUrl } from '../../workers/pool.js';
import { casePaths } from '../../io/nnunet-preprocessed.js';
import { CaseCache, makeBatch, type BatchConfig } from './batch.js';
import { deriveSeed } from './rng.js';
import { initialPatchSize } from './sampling.js';
import type { BatchSource, LoaderOptions, TrainingBatch } from './types.js';

function validate(o: LoaderOptions): void {
  const dims = o.is2d ? 2 : 3;
  if (o.patchSize.length !== dims) throw new Error(`loader: patchSize [${o.patchSize.join(', ')}] must have ${dims} axes for a ${dims}D configuration`);
  if (o.patchSize.some((s) => !Number.isInteger(s) || s < 1)) throw new Error(`loader: patchSize must be positive integers, got [${o.patchSize.join(', ')}]`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`loader: batchSize must be a positive integer, got ${o.batchSize}`);
  if (o.caseIds.length === 0) throw new Error('loader: no cases');
  if (o.deepSupervisionScales.length === 0) throw new Error('loader: deepSupervisionScales needs at least the full-resolution scale');
  const p = o.oversampleForegroundPercent ?? 0.33;
  if (!(p >= 0 && p <= 1)) throw new Error(`loader: oversampleForegroundPercent must be in [0, 1], got ${p}`);
  for (const id of o.caseIds) {
    const paths = casePaths(o.preprocessedFolder, id);
    for (const f of [paths.data, paths.seg, paths.properties]) if (!existsSync(f)) throw new Error(`loader: case "${id}" is missing ${f}`);
  }
}

function createLoader(o: LoaderOptions, initialPatchSize: number[]): BatchSource {
  validate(o);
  const cfg: BatchConfig = {
    preprocessedFolder: o.preprocessedFolder,
    caseIds: [...o.caseIds],
    patchSize: [...o.patchSize],
    initialPatchSize,
    batchSize: o.batchSize,
    oversampleForegroundPercent: o.oversampleForegroundPercent ?? 0.33,
    deepSupervisionScales: o.deepSupervisionScales.map((s) => [...s]),
    augmentation: o.augmentation,
    is2d: o.is2d ?? false,
  };
  const workers = o.workers ?? 2;
  if (!Number.isInteger(workers) || workers < 0) throw new Error(`loader: workers must be a non-negative integer, got ${workers}`);
  let index = 0;
  if (workers === 0) {
    const cache = new CaseCache(cfg.preprocessedFolder);
    let closed = false;
    return {
      next: async () => {
        if (closed) throw new Error('loader: closed');
        return makeBatch(cfg, cache, deriveSeed(o.seed, index++));
      },
      close: async () => {
        closed = true;
      },
    };
  }
  const pool = new WorkerPool<{ seed: number }, TrainingBatch>(workerScriptUrl('./loader-worker.js', import.meta.url), workers, cfg);
  const ahead = Math.max(2, o.prefetch ?? 2 * workers);
  const queue: Promise<TrainingBatch>[] = [];
  const fill = () => {
    while (queue.length < ahead) {
      const p = pool.run({ seed: deriveSeed(o.seed, index++) });
      // a failure surfaces when that batch is asked for, not as an unhandled rejection
      p.catch(() => undefined);
      queue.push(p);
    }
  };
  fill();
  return {
    next: async () => {
      const p = queue.shift();
      if (!p) throw new Error('loader: closed');
      fill();
      return p;
    },
    close: async () => {
      queue.length = 0;
      await pool.close();
    },
  };
}

/** nnU-Net's training dataloader: initial patch from the rotation range, the default augmentation unless given. */
export function createTrainingLoader(o: LoaderOptions): BatchSource {
  const a = o.augmentation;
  const initial = a ? initialPatchSize(o.patchSize, a.rotation, a.dummy2d) : [...o.patchSize];
  return createLoader(o, initial);
}

/** nnU-Net's validation dataloader: final patch, no augmentation, same oversampling. */
export function createValidationLoader(o: Omit<LoaderOptions, 'augmentation'>): BatchSource {
  return createLoader({ ...o, augmentation: null }, [...o.patchSize]);
}

/**
 * Preprocessing of in-memory cases on worker threads (the server's inference path): the volumes' buffers
 * are transferred to the worker (the caller gives them up) and the preprocessed arrays come back the same way.
 */
import { availableParallelism } from 'node:os';
import type { Volume } from '../imaging/volume.js';
import type { DatasetJsonLabels, PreprocessedCase } from '../nnunet/preprocessing/default-preprocessor.js';
import type { FilesTask, FilesTaskResult, VolumesTask } from './preprocess-task.js';
import { WorkerPool, workerScriptUrl } from '../workers/pool.js';

export type PreprocessPool = WorkerPool<FilesTask | VolumesTask, FilesTaskResult | PreprocessedCase>;

export function createPreprocessPool(size = availableParallelism()): PreprocessPool {
  return new WorkerPool(workerScriptUrl('./preprocess-worker.js', import.meta.url), size);
}

/**
 * Runs `preprocessCase` in a worker. The data buffers of `images` and `seg` are transferred (detached here);
 * pass copies if you still need them.
 */
export async function preprocessInWorker(
  pool: PreprocessPool,
  caseId: string,
  images: Volume[],
  seg: Volume | undefined,
  plans: unknown,
  configuration: string,
  datasetJson: DatasetJsonLabels,
): Promise<PreprocessedCase> {
  const buffers = new Set<ArrayBuffer>();
  for (const v of seg ? [...images, seg] : images) buffers.add(v.data.buffer as ArrayBuffer);
  const task: VolumesTask = {
    kind: 'volumes',
    caseId,
    images: images.map((v) => ({ ...v, direction: [...v.direction] })),
    seg: seg ? { ...seg, direction: [...seg.direction] } : undefined,
    plans,
    configuration,
    datasetJson: { labels: datasetJson.labels, regions_class_order: datasetJson.regions_class_order ?? null },
  };
  return (await pool.run(task, [...buffers])) as PreprocessedCase;
}

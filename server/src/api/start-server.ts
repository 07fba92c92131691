/**
 * The production wiring of `nnseg serve`: model store → model registry → job queue (in-process with a
 * journal, or BullMQ on Redis) → createApp. Used by the CLI, the integration tests and bench/server.
 */
import { join } from 'node:path';
import type { Express } from 'express';
import { jobLimits, type ServerConfig } from '../config/server-config.js';
import { DicomWebClient } from '../dicom/dicomweb/client.js';
import * as jobs from '../jobs/index.js';
import type { JobQueue } from '../jobs/types.js';
import { ModelRegistry } from '../models/model-registry.js';
import { ModelStore } from '../models/model-store.js';
import { TrainingJobs } from '../jobs/training/training-jobs.js';
import { createApp, type ApiServer } from './app.js';
import { stderrLogger, type Logger } from './hub.js';

export interface RunningServer {
  url: string;
  api: ApiServer;
  queue: JobQueue;
  registry: ModelRegistry;
  store: ModelStore;
  /** graceful stop: no new work, running jobs recorded as INTERRUPTED, clients told, models released */
  stop(): Promise<void>;
}

export async function startServer(config: ServerConfig, o: { log?: Logger; mount?: ((app: Express) => void)[] } = {}): Promise<RunningServer> {
  const log = o.log ?? stderrLogger;
  const store = new ModelStore(config.store);
  const registry = new ModelRegistry(store);
  const pacs = config.pacs ? new DicomWebClient({ baseUrl: config.pacs.url, ...(config.pacs.headers ? { headers: config.pacs.headers } : {}) }) : undefined;
  const fetchSeries: jobs.FetchSeries | undefined = pacs
    ? (src, folder, signal, onInstance) => pacs.retrieveSeriesToFolder(src.studyInstanceUID, src.seriesInstanceUID, folder, { signal, ...(onInstance ? { onInstance } : {}) })
    : undefined;
  const common = {
    registry,
    concurrency: config.queue.concurrency,
    maxJobsPerSession: config.limits.maxJobsPerSession,
    spoolRoot: join(config.workDir, 'spool'),
    retainSeries: config.retainSeriesIn !== undefined,
    jobLimits: jobLimits(config.limits),
    ...(fetchSeries ? { fetchSeries } : {}),
    log: (line: string) => log('queue', { message: line }),
  };
  let queue: JobQueue;
  if (config.queue.redisUrl) {
    // this process only queues: `nnseg worker` processes (same store, same Redis) run the jobs
    queue = await jobs.createRedisQueue({
      url: config.queue.redisUrl,
      registry,
      pacsConfigured: fetchSeries !== undefined,
      maxJobsPerSession: config.limits.maxJobsPerSession,
      retainSeries: common.retainSeries,
      log: common.log,
    });
  } else {
    queue = jobs.createInProcessQueue({ ...common, journalPath: config.queue.journal ?? join(config.workDir, 'jobs.jsonl') });
  }
  const training = config.training.enabled
    ? new TrainingJobs({
        root: join(config.workDir, 'training'),
        workDir: config.workDir,
        store,
        ...(config.training.datasetsRoot ? { datasetsRoot: config.training.datasetsRoot } : {}),
        ...(config.pacs ? { pacs: config.pacs } : {}),
        onModelChanged: (name) => void registry.invalidate(name),
        log,
      })
    : undefined;
  const api = createApp({
    config,
    store,
    queue,
    ...(training ? { training } : {}),
    log,
    ...(o.mount ? { mount: o.mount } : {}),
    onModelChanged: (name) => void registry.invalidate(name),
    modelStats: () => ({ loaded: registry.warm().length, bytes: registry.estimatedBytesInUse() }),
  });
  const url = await api.listen(config.port, config.host);
  log('server.listening', { url, store: config.store, queue: config.queue.redisUrl ? 'redis' : 'in-process' });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await api.close({ closeQueue: true });
      await registry.close();
    })());
  return { url, api, queue, registry, store, stop };
}

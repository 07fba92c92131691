/** The job layer's public surface (see types.ts for the contract with the API). */
export * from './types.js';
export { JobError, isAbortError, toJobError } from '../contract/job-errors.js';
export { createInProcessQueue, InProcessQueue, type InProcessQueueOptions } from './in-process-queue.js';
export { InferenceThreads, createInferenceThreads, type InferenceThreadsOptions, type JobExecutor } from './inference-proxy.js';
export { runSegmentJob, type JobRunnerOptions, type FetchSeries, type DicomWebSource } from './run-job.js';
export { JobJournal, JOURNAL_VERSION, type JournalEntry } from './job-journal.js';
export { segmentSeries, segmentStatistics, segmentDescriptions, assembleSeries, STAGE_PERCENT, type SeriesInput, type SegmentContext } from './segment-series.js';
export { SegmentRequestSchema, JobRecordSchema, JobProgressSchema, parseSegmentRequest } from '../contract/job-schemas.js';
export { ModelRegistry, type ModelRegistryOptions, type AcquiredModel } from '../models/model-registry.js';
export { createRedisQueue, RedisQueue, DEFAULT_QUEUE_NAME, type RedisQueueOptions } from './redis-queue.js';
export { startRedisWorker, type RedisWorkerOptions, type RedisWorker } from './redis-worker.js';

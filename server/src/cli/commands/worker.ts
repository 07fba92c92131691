import { join } from 'node:path';
import type { Command } from 'commander';
import { jobLimits, loadServerConfig } from '../../config/server-config.js';
import { DicomWebClient } from '../../dicom/dicomweb/client.js';
import type { FetchSeries } from '../../jobs/run-job.js';
import { DEFAULT_QUEUE_NAME } from '../../jobs/redis-shared.js';
import { startRedisWorker } from '../../jobs/redis-worker.js';
import { ModelRegistry } from '../../models/model-registry.js';
import { ModelStore } from '../../models/model-store.js';

export function register(program: Command): void {
  program
    .command('worker')
    .description('run segment jobs from the Redis (BullMQ) queue that `nnseg serve` fills when NNSEG_REDIS_URL is set')
    .option('--redis <url>', 'Redis URL (default $NNSEG_REDIS_URL or queue.redisUrl of the config)')
    .option('--config <file>', 'server config JSON, for the model store, PACS and work folder (default ./nnseg.config.json if present; env NNSEG_CONFIG)')
    .option('--store <folder>', 'model store (default $NNSEG_MODEL_STORE or ~/.nnseg/models); must hold the models the server offers')
    .option('--concurrency <n>', 'jobs this process runs at once', '1')
    .option('--threads <n>', 'onnxruntime intra-op threads per model')
    .option('--device <device>', 'cpu, cuda or auto', 'auto')
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE_NAME)
    .option('--memory-budget <MiB>', 'warm models kept up to this estimated memory', '4096')
    .addHelpText(
      'after',
      `
A pushed series reaches the worker as a folder path in the server's spool: run workers on the server's machine
or mount its work folder at the same path. DICOMweb series are fetched by the worker from the configured PACS.
A worker that dies mid-job leaves its job to another worker after the lock expires (30 s). See docs/jobs.md.`,
    )
    .action(async (o: { redis?: string; config?: string; store?: string; concurrency: string; threads?: string; device: string; queue: string; memoryBudget: string }) => {
      const config = loadServerConfig(o.config);
      const url = o.redis ?? config.queue.redisUrl;
      if (!url) throw new Error('no Redis URL: pass --redis or set NNSEG_REDIS_URL');
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`--concurrency must be a positive integer, got ${o.concurrency}`);
      const budget = Number(o.memoryBudget);
      if (!(budget > 0)) throw new Error(`--memory-budget must be a positive number of MiB, got ${o.memoryBudget}`);
      if (!['cpu', 'cuda', 'auto'].includes(o.device)) throw new Error(`--device must be cpu, cuda or auto, got ${o.device}`);
      const threads = o.threads === undefined ? undefined : Number(o.threads);
      if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) throw new Error(`--threads must be a positive integer, got ${o.threads}`);
      const store = new ModelStore(o.store ?? config.store);
      const registry = new ModelRegistry(store, {
        memoryBudgetBytes: budget * 1024 ** 2,
        defaults: { device: o.device as 'cpu' | 'cuda' | 'auto', ...(threads ? { intraOpThreads: threads } : {}) },
      });
      const pacs = config.pacs ? new DicomWebClient({ baseUrl: config.pacs.url, ...(config.pacs.headers ? { headers: config.pacs.headers } : {}) }) : undefined;
      const fetchSeries: FetchSeries | undefined = pacs
        ? (src, folder, signal, onInstance) => pacs.retrieveSeriesToFolder(src.studyInstanceUID, src.seriesInstanceUID, folder, { signal, ...(onInstance ? { onInstance } : {}) })
        : undefined;
      const worker = await startRedisWorker({
        url,
        queueName: o.queue,
        registry,
        concurrency,
        spoolRoot: join(config.workDir, 'spool'),
        retainSeries: config.retainSeriesIn !== undefined,
        jobLimits: jobLimits(config.limits),
        ...(fetchSeries ? { fetchSeries } : {}),
        log: (line) => process.stderr.write(`nnseg worker: ${line}\n`),
      });
      process.stdout.write(`nnseg worker: taking jobs from queue "${o.queue}" (concurrency ${concurrency}, models in ${store.root})\n`);
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        if (++signals > 1) process.exit(1);
        process.stderr.write(`nnseg worker: ${sig}: finishing running jobs (again: exit at once, another worker retries them)\n`);
        worker
          .close(false)
          .then(() => registry.close())
          .then(
            () => process.exit(0),
            (e: unknown) => {
              process.stderr.write(`nnseg worker: error while stopping: ${(e as Error).message}\n`);
              process.exit(1);
            },
          );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      await new Promise<never>(() => {});
    });
}

import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DicomWebClient } from '../../dicom/dicomweb/client.js';
import * as jobs from '../../jobs/index.js';
import type { JobQueue } from '../../jobs/types.js';
import { ModelRegistry } from '../../models/model-registry.js';
import { ModelStore } from '../../models/model-store.js';
import { modelStoreRoot } from '../../models/store-location.js';
import { loadPacsConfig, pacsHeaders } from '../../pacs/config.js';
import { pacsStatusHandler } from '../../pacs/status.js';
import { PacsWatcher } from '../../pacs/watcher.js';

interface WatchOptions {
  config: string;
  store?: string;
  workDir?: string;
  redis?: string;
  statusPort?: string;
  statusHost: string;
  once?: boolean;
}

export function register(program: Command): void {
  program
    .command('watch')
    .description('auto-segment new series arriving in a DICOMweb PACS by routing rules, storing each SEG back by STOW-RS (exactly once, across restarts)')
    .requiredOption('--config <rules.json>', 'PACS config: DICOMweb url, discovery, ledger path and routing rules (docs/pacs.md)')
    .option('--store <folder>', 'model store (default $NNSEG_MODEL_STORE or ~/.nnseg/models)')
    .option('--work-dir <folder>', 'spool for retrieved series (default <tmp>/nnseg-watch; env NNSEG_WORK_DIR)')
    .option('--redis <url>', 'submit jobs to the BullMQ queue on this Redis instead of running them here (env NNSEG_REDIS_URL)')
    .option('--status-port <n>', 'serve the status JSON at http://<status-host>:<n>/status')
    .option('--status-host <address>', 'address of the status endpoint', '127.0.0.1')
    .option('--once', 'one discovery round, wait for its jobs, print the status JSON and exit')
    .addHelpText('after', '\nEnvironment: NNSEG_PACS_TOKEN (bearer token for the PACS), NNSEG_REDIS_URL, NNSEG_MODEL_STORE, NNSEG_WORK_DIR.')
    .action(async (o: WatchOptions) => {
      const config = loadPacsConfig(resolve(o.config));
      const log = (message: string) => process.stderr.write(`nnseg watch: ${message}\n`);
      const client = new DicomWebClient({ baseUrl: config.dicomWeb.url, headers: pacsHeaders(config), timeoutMs: config.dicomWeb.timeoutMs, retries: config.dicomWeb.retries });
      const workDir = resolve(o.workDir ?? process.env.NNSEG_WORK_DIR ?? join(tmpdir(), 'nnseg-watch'));
      const registry = new ModelRegistry(new ModelStore(modelStoreRoot(o.store)));
      const common = {
        registry,
        spoolRoot: join(workDir, 'spool'),
        fetchSeries: ((src, folder, signal, onInstance) =>
          client.retrieveSeriesToFolder(src.studyInstanceUID, src.seriesInstanceUID, folder, { signal, ...(onInstance ? { onInstance } : {}) })) as jobs.FetchSeries,
        log: (line: string) => log(line),
      };
      const redisUrl = o.redis ?? process.env.NNSEG_REDIS_URL;
      // with Redis the jobs run in `nnseg worker` processes (they fetch the series from the PACS themselves)
      const queue: JobQueue = redisUrl
        ? await jobs.createRedisQueue({ url: redisUrl, registry, pacsConfigured: true, log: common.log })
        : jobs.createInProcessQueue({ ...common, journalPath: join(workDir, 'jobs.jsonl') });
      const watcher = await PacsWatcher.create({ config, queue, client, log });
      log(`watching ${config.dicomWeb.url} (${watcher.discovery.source}), ledger ${config.ledger}, ${config.rules.length} rule(s)`);

      const shutdown = async () => {
        await watcher.stop();
        await queue.close();
        await registry.close();
      };
      if (o.once) {
        await watcher.pollOnce();
        await watcher.idle();
        process.stdout.write(`${JSON.stringify(watcher.status(), null, 2)}\n`);
        await shutdown();
        return;
      }
      let statusServer: ReturnType<typeof createServer> | undefined;
      if (o.statusPort !== undefined) {
        const port = Number(o.statusPort);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--status-port ${o.statusPort} is not a port number`);
        const handler = pacsStatusHandler(() => watcher.status());
        statusServer = createServer((req, res) => {
          if (req.method === 'GET' && (req.url === '/status' || req.url === '/api/pacs/status')) return handler(req, res);
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /status\n');
        });
        await new Promise<void>((r) => statusServer!.listen(port, o.statusHost, r));
        const a = statusServer.address();
        process.stdout.write(`nnseg watch: status at http://${o.statusHost}:${typeof a === 'object' && a ? a.port : port}/status\n`);
      }
      watcher.start();
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        if (++signals > 1) process.exit(1);
        log(`${sig}: stopping (running jobs stay claimed and resume on the next start)`);
        statusServer?.close();
        shutdown().then(
          () => process.exit(0),
          (e: unknown) => {
            log(`error while stopping: ${(e as Error).message}`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      await new Promise<never>(() => {});
    });
}

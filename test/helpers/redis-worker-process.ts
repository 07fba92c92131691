/**
 * Entry of a separate `nnseg worker`-like process for tests that kill a worker mid-job (bundled with
 * esbuild by the test, since jest's TypeScript transform does not reach child processes).
 * Env: NNSEG_REDIS_URL, NNSEG_MODEL_STORE, NNSEG_QUEUE, NNSEG_LOCK_MS. Prints "ready" once it takes jobs.
 */
import { startRedisWorker } from '../../server/src/jobs/redis-worker.js';
import { ModelRegistry } from '../../server/src/models/model-registry.js';
import { ModelStore } from '../../server/src/models/model-store.js';

const registry = new ModelRegistry(new ModelStore(process.env.NNSEG_MODEL_STORE!), { defaults: { intraOpThreads: 1 } });
await startRedisWorker({
  url: process.env.NNSEG_REDIS_URL!,
  queueName: process.env.NNSEG_QUEUE,
  registry,
  lockDurationMs: Number(process.env.NNSEG_LOCK_MS ?? 30000),
  stalledIntervalMs: Number(process.env.NNSEG_LOCK_MS ?? 30000),
});
process.stdout.write('ready\n');

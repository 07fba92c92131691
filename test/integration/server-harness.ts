/** Starts a real `createApp` server on a free loopback port with a temp work dir and model store. */
import { createApp, type ApiServer, type AppDeps } from '../../server/src/api/app.js';
import { resolveServerConfig, type ServerConfigInput } from '../../server/src/config/server-config.js';
import type { JobQueue } from '../../server/src/jobs/types.js';
import { ModelStore } from '../../server/src/models/model-store.js';
import { makeTempDir } from '../helpers/tmp.js';

export const TOKENS = {
  viewer: 'viewer-token-0123456789',
  annotator: 'annotator-token-0123456789',
  admin: 'admin-token-0123456789abcdef',
  expired: 'expired-token-0123456789',
};

export interface TestServer {
  url: string;
  api: ApiServer;
  store: ModelStore;
  dir: string;
  logs: { event: string; fields: Record<string, unknown> }[];
  stop(): Promise<void>;
}

export async function startTestServer(
  queue: JobQueue | ((workDir: string, store: ModelStore) => JobQueue | Promise<JobQueue>),
  o: { config?: Partial<ServerConfigInput>; store?: ModelStore; dir?: string; mount?: AppDeps['mount'] } = {},
): Promise<TestServer> {
  const tmp = o.dir ? { dir: o.dir, cleanup: () => {} } : makeTempDir('nnseg-server-');
  const store = o.store ?? new ModelStore(`${tmp.dir}/models`);
  const config = resolveServerConfig(
    {
      formatVersion: 1,
      port: 0,
      store: store.root,
      workDir: `${tmp.dir}/work`,
      tokens: [
        { token: TOKENS.viewer, subject: 'reader-1', role: 'viewer' },
        { token: TOKENS.annotator, subject: 'annotator-1', role: 'annotator' },
        { token: TOKENS.admin, subject: 'admin-1', role: 'admin' },
        { token: TOKENS.expired, subject: 'old-reader', role: 'viewer', expiresAt: '2020-01-01T00:00:00Z' },
      ],
      origins: ['http://allowed.example'],
      ...o.config,
    },
    {},
  );
  const q = typeof queue === 'function' ? await queue(config.workDir, store) : queue;
  const logs: TestServer['logs'] = [];
  const api = createApp({ config, store, queue: q, log: (event, fields = {}) => logs.push({ event, fields }), ...(o.mount ? { mount: o.mount } : {}) });
  const url = await api.listen(0, '127.0.0.1');
  return {
    url,
    api,
    store,
    dir: tmp.dir,
    logs,
    stop: async () => {
      await api.close();
      tmp.cleanup();
    },
  };
}

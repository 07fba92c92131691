/**
 * The running server (`startServer` with the viewer mount `nnseg serve` uses) against a DICOMweb proxy abuser
 * and a DNS-rebinding page, and what a killed server leaves on disk. A fake PACS records every request that
 * reaches it: a refused request must never get there.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../../server/src/api/start-server.js';
import { WS_SUBPROTOCOL } from '../../server/src/contract/protocol.js';
import { resolveServerConfig } from '../../server/src/config/server-config.js';
import { viewerMounts } from '../../server/src/viewer/server-mount.js';
import { makeTempDir } from '../helpers/tmp.js';

const VIEWER = 'proxy-viewer-token-00000000';

/** A raw HTTP request (fetch would normalise dots and refuse to set Host). */
function request(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const r = http.request({ host: u.hostname, port: u.port, path, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    r.on('error', reject);
    r.end();
  });
}

describe('the PACS proxy and browser checks of a running server', () => {
  let tmp: { dir: string; cleanup: () => void };
  let pacs: http.Server;
  let srv: RunningServer;
  const reached: { url: string; auth?: string }[] = [];

  beforeAll(async () => {
    tmp = makeTempDir('nnseg-proxy-');
    pacs = http.createServer((req, res) => {
      reached.push({ url: req.url!, auth: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/dicom+json' });
      res.end('[]');
    });
    await new Promise<void>((r) => pacs.listen(0, '127.0.0.1', () => r()));
    const viewerRoot = join(tmp.dir, 'ohif');
    mkdirSync(viewerRoot);
    writeFileSync(join(viewerRoot, 'index.html'), '<html>viewer</html>');
    const config = resolveServerConfig(
      {
        formatVersion: 1,
        port: 0,
        store: join(tmp.dir, 'models'),
        workDir: join(tmp.dir, 'work'),
        tokens: [{ token: VIEWER, subject: 'page', role: 'viewer' }],
        pacs: { url: `http://127.0.0.1:${(pacs.address() as AddressInfo).port}/dicom-web`, headers: { authorization: 'Basic cGFjczpzZWNyZXQ=' } },
        viewer: { root: viewerRoot },
        training: { enabled: false },
      },
      {},
    );
    srv = await startServer(config, { log: () => {}, mount: viewerMounts(config, { NNSEG_VIEWER_TOKEN: VIEWER }, () => {}) });
  });

  afterAll(async () => {
    await srv.stop();
    await new Promise<void>((r) => pacs.close(() => r()));
    tmp.cleanup();
  });

  it.each([
    ['no token', '/dicom-web/studies', {}, 401],
    ['parent segments', '/dicom-web/../../tools/execute-script', { authorization: `Bearer ${VIEWER}` }, 404],
    ['encoded parent segments', '/dicom-web/%2e%2e/%2e%2e/patients', { authorization: `Bearer ${VIEWER}` }, 404],
    ['an absolute URL to another host', '/dicom-web/http://169.254.169.254/latest', { authorization: `Bearer ${VIEWER}` }, 404],
    ['a DNS-rebinding Host', '/dicom-web/studies', { authorization: `Bearer ${VIEWER}`, host: 'rebind.example:8000' }, 403],
    ['a foreign Origin', '/dicom-web/studies', { authorization: `Bearer ${VIEWER}`, origin: 'https://evil.example' }, 403],
  ])('refuses %s without reaching the PACS', async (_, path, headers, status) => {
    const before = reached.length;
    expect((await request(srv.url, path, headers as Record<string, string>)).status).toBe(status);
    expect(reached.length).toBe(before);
  });

  it('answers the page (its cookie) and a token holder; the PACS sees only its own credential', async () => {
    const page = await fetch(`${srv.url}/app-config.js`);
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    expect((await request(srv.url, '/dicom-web/studies?limit=1', { cookie })).status).toBe(200);
    expect(reached.at(-1)).toEqual({ url: '/dicom-web/studies?limit=1', auth: 'Basic cGFjczpzZWNyZXQ=' });
    expect((await request(srv.url, '/dicom-web/studies/1.2.3/series', { authorization: `Bearer ${VIEWER}` })).status).toBe(200);
  });

  it('refuses the API and the WebSocket to a DNS-rebinding Host', async () => {
    expect((await request(srv.url, '/api/models', { authorization: `Bearer ${VIEWER}`, host: 'rebind.example' })).status).toBe(403);
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/ws`, [WS_SUBPROTOCOL], { headers: { host: 'rebind.example:80' } });
      ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    });
    expect(status).toBe(403);
  });
});

describe('what a killed server left behind', () => {
  it('is swept when the next server starts: spooled series and import archives', async () => {
    const tmp = makeTempDir('nnseg-leftovers-');
    const work = join(tmp.dir, 'work');
    const upload = join(work, 'uploads', '0b7c1a9e-5c1e-4f7e-9d1b-3a2c4e5f6a7b');
    mkdirSync(upload, { recursive: true });
    writeFileSync(join(upload, 'instance-000000.dcm'), 'a patient’s image');
    mkdirSync(join(work, 'imports'), { recursive: true });
    writeFileSync(join(work, 'imports', '5f0e2b7d-1111-4a4a-8b8b-000000000000.zip'), 'half an archive');
    const config = resolveServerConfig({ formatVersion: 1, port: 0, store: join(tmp.dir, 'models'), workDir: work, training: { enabled: false } }, {});
    const srv = await startServer(config, { log: () => {} });
    try {
      expect(existsSync(upload)).toBe(false);
      expect(existsSync(join(work, 'imports', '5f0e2b7d-1111-4a4a-8b8b-000000000000.zip'))).toBe(false);
    } finally {
      await srv.stop();
      tmp.cleanup();
    }
  });
});

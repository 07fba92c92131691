import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import { mountViewer } from '../../../server/src/viewer/mount.js';
import { NnsegClientConfigSchema } from '../../../server/src/contract/client-config.js';
import { buildAppConfig, renderAppConfig } from '../../../server/src/viewer/app-config.js';
import { viewerMounts } from '../../../server/src/viewer/server-mount.js';
import { makeTempDir } from '../../helpers/tmp.js';

function listen(server: http.Server): Promise<string> {
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}
const close = (s: http.Server) => new Promise<void>((r) => s.close(() => r()));
const TOKENS = { viewer: 'viewer-token-0123456789', annotator: 'annotator-token-0123456789' };
const TOKEN_CONFIG = [
  { token: TOKENS.viewer, subject: 'reader-1', role: 'viewer' as const },
  { token: TOKENS.annotator, subject: 'annotator-1', role: 'annotator' as const },
];
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('renderAppConfig', () => {
  it('local files only without a PACS, our bundles as runtime modules', () => {
    const c = buildAppConfig();
    expect(c.extensions).toEqual(['/plugins/nnseg-extension.mjs']);
    expect(c.modes).toEqual(['/plugins/nnseg-mode.mjs']);
    expect((c.dataSources as { sourceName: string }[]).map((d) => d.sourceName)).toEqual(['dicomlocal']);
    expect(c.defaultDataSourceName).toBe('dicomlocal');
    expect(NnsegClientConfigSchema.parse(c.nnseg)).toEqual({ version: 1, serverUrl: '/ws', serverReachesPacs: false });
  });

  it('adds DICOMweb on the page origin when a PACS is configured (evaluated as the browser would)', () => {
    const text = renderAppConfig({ pacs: true, serverUrl: '/ws', token: 't0k' });
    const window = { location: { origin: 'http://viewer.example:3000' } } as { location: { origin: string }; config?: { dataSources: { sourceName: string; configuration: Record<string, string> }[]; defaultDataSourceName: string; nnseg: unknown } };
    vm.runInNewContext(text, { window });
    const ds = window.config!.dataSources;
    expect(ds.map((d: { sourceName: string }) => d.sourceName)).toEqual(['dicomweb', 'dicomlocal']);
    expect(window.config!.defaultDataSourceName).toBe('dicomweb');
    expect(ds[0].configuration.wadoRoot).toBe('http://viewer.example:3000/dicom-web');
    expect(ds[0].configuration.qidoRoot).toBe('http://viewer.example:3000/dicom-web');
    expect(window.config!.nnseg).toEqual({ version: 1, serverUrl: '/ws', token: 't0k', serverReachesPacs: true });
  });
});

describe('mountViewer', () => {
  let tmp: { dir: string; cleanup: () => void };
  let pacs: http.Server;
  let pacsUrl: string;
  let app: http.Server;
  let base: string;
  const seen: { method: string; url: string; body: number; auth?: string }[] = [];

  beforeAll(async () => {
    tmp = makeTempDir();
    const root = join(tmp.dir, '.cache', 'ohif'); // a dot-folder, like the real cache
    mkdirSync(join(root, 'assets'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<html>OHIF</html>');
    writeFileSync(join(root, 'app.bundle.js'), 'console.log(1)');
    writeFileSync(join(root, 'app-config.js'), 'window.config = "stock";');
    mkdirSync(join(tmp.dir, '.cache', 'ext'), { recursive: true });
    writeFileSync(join(tmp.dir, '.cache', 'ext', 'e.mjs'), 'export default { id: "x" };');

    // A fake PACS: echoes what it got and streams a 5 MB body in chunks.
    pacs = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, body: n, auth: req.headers.authorization });
        if (req.url!.includes('/frames/')) {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          const chunk = Buffer.alloc(1 << 20, 7);
          let sent = 0;
          const push = () => {
            while (sent < 5) {
              sent++;
              if (!res.write(chunk)) return res.once('drain', push);
            }
            res.end();
          };
          push();
          return;
        }
        res.writeHead(req.url!.includes('9.9.9') ? 404 : 200, { 'content-type': 'application/dicom+json', 'x-pacs': 'orthanc', 'set-cookie': 'pacs-session=1' });
        res.end(JSON.stringify({ url: req.url, method: req.method, body: n }));
      });
    });
    pacsUrl = `${await listen(pacs)}/dicom-web`;

    const e = express();
    mountViewer(e, {
      pacsUrl,
      pacsHeaders: { authorization: 'Basic cGFjczpzZWNyZXQ=' },
      token: TOKENS.annotator,
      auth: { tokens: TOKEN_CONFIG, anonymousRole: null },
      viewerRoot: root,
      extensionBundle: join(tmp.dir, '.cache', 'ext', 'e.mjs'),
      modeBundle: join(tmp.dir, '.cache', 'ext', 'missing.mjs'),
    });
    // an API route added after the viewer (the SPA fallback must not shadow it)
    e.get('/api/health', (_req, res) => {
      res.json({ ok: true });
    });
    app = http.createServer(e);
    base = await listen(app);
  });

  afterAll(async () => {
    await close(app);
    await close(pacs);
    tmp.cleanup();
  });

  it('sends COOP/COEP on viewer files, generated config, plugins, API and proxied responses', async () => {
    for (const path of ['/', '/app.bundle.js', '/app-config.js', '/plugins/nnseg-extension.mjs', '/dicom-web/studies', '/api/health']) {
      const r = await fetch(base + path, { headers: bearer(TOKENS.viewer) });
      expect([path, r.headers.get('cross-origin-opener-policy')]).toEqual([path, 'same-origin']);
      expect([path, r.headers.get('cross-origin-embedder-policy')]).toEqual([path, 'require-corp']);
    }
  });

  it('serves our app-config.js instead of the stock one', async () => {
    const text = await (await fetch(`${base}/app-config.js`)).text();
    expect(text).not.toContain('stock');
    expect(text).toContain('/plugins/nnseg-mode.mjs');
    expect(text).toContain("'dicomweb'");
  });

  it('serves the extension bundle as JavaScript and names the build step when a bundle is missing', async () => {
    const r = await fetch(`${base}/plugins/nnseg-extension.mjs`);
    expect(r.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await r.text()).toContain('export default');
    const m = await fetch(`${base}/plugins/nnseg-mode.mjs`);
    expect(m.status).toBe(404);
    expect(await m.text()).toMatch(/missing\.mjs is not built/);
  });

  it('falls back to index.html for client routes but not for API, plugin or proxy paths', async () => {
    const r = await fetch(`${base}/nnseg?StudyInstanceUIDs=1.2.3`, { headers: { accept: 'text/html' } });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('<html>OHIF</html>');
    expect((await fetch(`${base}/api/nothing`, { headers: { accept: 'text/html' } })).status).toBe(404);
    expect((await fetch(`${base}/plugins/other.mjs`, { headers: { accept: 'text/html' } })).status).toBe(404);
    expect((await fetch(`${base}/api/health`)).status).toBe(200);
  });

  it('proxies DICOMweb with method, query and body, keeping upstream status; the PACS gets its own credential, never the client\'s', async () => {
    const q = await fetch(`${base}/dicom-web/studies?PatientName=A*&includefield=all`, { headers: { ...bearer(TOKENS.viewer), cookie: 'sid=browser' } });
    expect(q.status).toBe(200);
    expect(q.headers.get('x-pacs')).toBe('orthanc');
    expect(q.headers.get('set-cookie')).toBeNull();
    expect(await q.json()).toEqual({ url: '/dicom-web/studies?PatientName=A*&includefield=all', method: 'GET', body: 0 });
    expect(seen.at(-1)!.auth).toBe('Basic cGFjczpzZWNyZXQ=');
    const body = new Uint8Array(300_000).fill(1);
    const s = await fetch(`${base}/dicom-web/studies`, { method: 'POST', body, headers: { ...bearer(TOKENS.annotator), 'content-type': 'multipart/related; type="application/dicom"' } });
    expect(await s.json()).toEqual({ url: '/dicom-web/studies', method: 'POST', body: 300_000 });
    expect((await fetch(`${base}/dicom-web/studies/9.9.9/series`, { headers: bearer(TOKENS.viewer) })).status).toBe(404);
  });

  it('answers only with a token (header, or the cookie app-config.js sets); STOW needs the annotator role', async () => {
    const before = seen.length;
    const anonymous = await fetch(`${base}/dicom-web/studies`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    expect((await fetch(`${base}/dicom-web/studies`, { headers: bearer('not-a-token-at-all-xx') })).status).toBe(401);
    const viewerStow = await fetch(`${base}/dicom-web/studies`, { method: 'POST', body: 'x', headers: bearer(TOKENS.viewer) });
    expect(viewerStow.status).toBe(403);
    expect((await fetch(`${base}/dicom-web/studies/1.2`, { method: 'DELETE', headers: bearer(TOKENS.annotator) })).status).toBe(405);
    expect(seen.length).toBe(before);
    const page = await fetch(`${base}/app-config.js`);
    const setCookie = page.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^nnseg_dicomweb=annotator-token-0123456789; Path=\/dicom-web; HttpOnly; SameSite=Strict/);
    const withCookie = await fetch(`${base}/dicom-web/studies`, { headers: { cookie: setCookie.split(';')[0]! } });
    expect(withCookie.status).toBe(200);
  });

  it.each([
    ['parent segments', '/dicom-web/../../tools/find'],
    ['encoded parent segments', '/dicom-web/%2e%2e/%2e%2e/tools/find'],
    ['an absolute URL', '/dicom-web/http://evil.example/studies'],
    ['a protocol-relative URL', '/dicom-web//evil.example/studies'],
    ['a backslash', '/dicom-web/studies\\..\\..\\system'],
    ['a non-DICOMweb resource', '/dicom-web/patients'],
    ['an Orthanc REST path below a study', '/dicom-web/studies/1.2/../../../instances'],
  ])('refuses %s and never reaches the PACS', async (_, path) => {
    const before = seen.length;
    // raw request: fetch would normalise the dots away before sending
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(base);
      const r = http.request({ host: u.hostname, port: u.port, path, headers: bearer(TOKENS.viewer) }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      r.on('error', reject);
      r.end();
    });
    expect(status).toBe(404);
    expect(seen.length).toBe(before);
  });

  it('streams a large upstream body through', async () => {
    const r = await fetch(`${base}/dicom-web/studies/1.2/series/3.4/instances/5.6/frames/1`, { headers: bearer(TOKENS.viewer) });
    const buf = new Uint8Array(await r.arrayBuffer());
    expect(buf.length).toBe(5 << 20);
    expect(buf[buf.length - 1]).toBe(7);
  });

  it('answers 502 naming the PACS when it is unreachable', async () => {
    const e = express();
    mountViewer(e, { pacsUrl: 'http://127.0.0.1:1/dicom-web', viewerRoot: join(tmp.dir, '.cache', 'ohif'), auth: { tokens: [], anonymousRole: 'viewer' } });
    const s = http.createServer(e);
    const b = await listen(s);
    const r = await fetch(`${b}/dicom-web/studies`);
    expect(r.status).toBe(502);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('PACS_UNAVAILABLE');
    await close(s);
  });

  it('refuses to mount without an unpacked viewer and says how to fetch it', () => {
    expect(() => mountViewer(express(), { viewerRoot: join(tmp.dir, 'nope') })).toThrow(/fetch-ohif\.mjs/);
  });
});

describe('viewerMounts (nnseg serve)', () => {
  it('mounts nothing when disabled, reports a missing download, mounts with the PACS proxy otherwise', async () => {
    const lines: string[] = [];
    const noAuth = { tokens: [], anonymousRole: null };
    expect(viewerMounts({ viewer: { enabled: false }, ...noAuth }, {}, (l) => lines.push(l))).toEqual([]);
    expect(viewerMounts({ viewer: { enabled: true, root: '/nonexistent/ohif' }, ...noAuth }, {}, (l) => lines.push(l))).toEqual([]);
    expect(lines).toEqual([expect.stringMatching(/\/nonexistent\/ohif\/index\.html is missing.*fetch-ohif/)]);

    const t = makeTempDir();
    writeFileSync(join(t.dir, 'index.html'), '<html>x</html>');
    const mounts = viewerMounts(
      { viewer: { enabled: true, root: t.dir }, pacs: { url: 'http://127.0.0.1:1/dicom-web' }, tokens: [{ token: 'viewer-token-of-the-page', subject: 'page', role: 'viewer' }], anonymousRole: null },
      { NNSEG_VIEWER_TOKEN: 'viewer-token-of-the-page' },
      () => {},
    );
    expect(mounts).toHaveLength(1);
    const e = express();
    mounts[0](e);
    const s = http.createServer(e);
    const b = await listen(s);
    const cfg = await (await fetch(`${b}/app-config.js`)).text();
    expect(cfg).toContain('"token": "viewer-token-of-the-page"');
    expect(cfg).toContain("'dicomweb'");
    // the server's own tokens guard the proxy
    expect((await fetch(`${b}/dicom-web/studies`)).status).toBe(401);
    expect((await fetch(`${b}/dicom-web/studies`, { headers: bearer('viewer-token-of-the-page') })).status).toBe(502);
    await close(s);
    t.cleanup();
  });
});

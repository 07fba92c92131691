import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import { mountViewer } from '../../../server/src/viewer/mount.js';
import { buildAppConfig, renderAppConfig, NnsegClientConfigSchema } from '../../../server/src/viewer/app-config.js';
import { viewerMounts } from '../../../server/src/viewer/server-mount.js';
import { makeTempDir } from '../../helpers/tmp.js';

function listen(server: http.Server): Promise<string> {
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}
const close = (s: http.Server) => new Promise<void>((r) => s.close(() => r()));

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
        if (req.url!.startsWith('/dicom-web/big')) {
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
        res.writeHead(req.url!.includes('missing') ? 404 : 200, { 'content-type': 'application/dicom+json', 'x-pacs': 'orthanc' });
        res.end(JSON.stringify({ url: req.url, method: req.method, body: n }));
      });
    });
    pacsUrl = `${await listen(pacs)}/dicom-web`;

    const e = express();
    mountViewer(e, { pacsUrl, viewerRoot: root, extensionBundle: join(tmp.dir, '.cache', 'ext', 'e.mjs'), modeBundle: join(tmp.dir, '.cache', 'ext', 'missing.mjs') });
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
      const r = await fetch(base + path);
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

  it('proxies DICOMweb with method, query, body and headers, keeping upstream status', async () => {
    const q = await fetch(`${base}/dicom-web/studies?PatientName=A*&includefield=all`, { headers: { authorization: 'Bearer x' } });
    expect(q.status).toBe(200);
    expect(q.headers.get('x-pacs')).toBe('orthanc');
    expect(await q.json()).toEqual({ url: '/dicom-web/studies?PatientName=A*&includefield=all', method: 'GET', body: 0 });
    expect(seen.at(-1)!.auth).toBe('Bearer x');
    const body = new Uint8Array(300_000).fill(1);
    const s = await fetch(`${base}/dicom-web/studies`, { method: 'POST', body, headers: { 'content-type': 'multipart/related; type="application/dicom"' } });
    expect(await s.json()).toEqual({ url: '/dicom-web/studies', method: 'POST', body: 300_000 });
    expect((await fetch(`${base}/dicom-web/missing`)).status).toBe(404);
  });

  it('streams a large upstream body through', async () => {
    const r = await fetch(`${base}/dicom-web/big`);
    const buf = new Uint8Array(await r.arrayBuffer());
    expect(buf.length).toBe(5 << 20);
    expect(buf[buf.length - 1]).toBe(7);
  });

  it('answers 502 naming the PACS when it is unreachable', async () => {
    const e = express();
    mountViewer(e, { pacsUrl: 'http://127.0.0.1:1/dicom-web', viewerRoot: join(tmp.dir, '.cache', 'ohif') });
    const s = http.createServer(e);
    const b = await listen(s);
    const r = await fetch(`${b}/dicom-web/studies`);
    expect(r.status).toBe(502);
    expect(((await r.json()) as { error: string }).error).toBe('PACS_UNAVAILABLE');
    await close(s);
  });

  it('refuses to mount without an unpacked viewer and says how to fetch it', () => {
    expect(() => mountViewer(express(), { viewerRoot: join(tmp.dir, 'nope') })).toThrow(/fetch-ohif\.mjs/);
  });
});

describe('viewerMounts (nnseg serve)', () => {
  it('mounts nothing when disabled, reports a missing download, mounts with the PACS proxy otherwise', async () => {
    const lines: string[] = [];
    expect(viewerMounts({ viewer: { enabled: false } }, {}, (l) => lines.push(l))).toEqual([]);
    expect(viewerMounts({ viewer: { enabled: true, root: '/nonexistent/ohif' } }, {}, (l) => lines.push(l))).toEqual([]);
    expect(lines).toEqual([expect.stringMatching(/\/nonexistent\/ohif\/index\.html is missing.*fetch-ohif/)]);

    const t = makeTempDir();
    writeFileSync(join(t.dir, 'index.html'), '<html>x</html>');
    const mounts = viewerMounts({ viewer: { enabled: true, root: t.dir }, pacs: { url: 'http://127.0.0.1:1/dicom-web' } }, { NNSEG_VIEWER_TOKEN: 'tok' }, () => {});
    expect(mounts).toHaveLength(1);
    const e = express();
    mounts[0](e);
    const s = http.createServer(e);
    const b = await listen(s);
    const cfg = await (await fetch(`${b}/app-config.js`)).text();
    expect(cfg).toContain('"token": "tok"');
    expect(cfg).toContain("'dicomweb'");
    expect((await fetch(`${b}/dicom-web/studies`)).status).toBe(502);
    await close(s);
    t.cleanup();
  });
});

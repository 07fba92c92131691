/**
 * Serves the prebuilt OHIF viewer, our runtime-loaded extension/mode bundles and a generated
 * app-config.js on an express app, with a streaming `/dicom-web` reverse proxy to the PACS so that the
 * viewer, the nnseg API and DICOMweb share one origin (no CORS). Every response gets COOP/COEP: the
 * viewer uses SharedArrayBuffer, which needs a cross-origin isolated page.
 */
import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DICOMWEB_PROXY_PATH, EXTENSION_BUNDLE_PATH, MODE_BUNDLE_PATH, renderAppConfig } from './app-config.js';

export interface MountViewerOptions {
  /** base URL of the PACS DICOMweb service, e.g. http://127.0.0.1:8042/dicom-web */
  pacsUrl?: string;
  /** headers added to every proxied PACS request (e.g. Authorization for a PACS behind Basic auth) */
  pacsHeaders?: Record<string, string>;
  /** folder holding the unpacked OHIF `dist` (default `<repo>/.cache/ohif/dist`, see fetch-ohif.mjs) */
  viewerRoot?: string;
  /** WebSocket path/URL of the nnseg server written into app-config.js (default '/ws') */
  serverUrl?: string;
  token?: string;
  /** the nnseg server can pull series from the same PACS itself (default: true when pacsUrl is given) */
  serverReachesPacs?: boolean;
  /** built bundles (default `<repo>/extension/dist/nnseg-extension.mjs`, `<repo>/modes/nnseg/dist/nnseg-mode.mjs`) */
  extensionBundle?: string;
  modeBundle?: string;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DEFAULT_VIEWER_ROOT = join(repoRoot, '.cache', 'ohif', 'dist');
export const DEFAULT_EXTENSION_BUNDLE = join(repoRoot, 'extension', 'dist', 'nnseg-extension.mjs');
export const DEFAULT_MODE_BUNDLE = join(repoRoot, 'modes', 'nnseg', 'dist', 'nnseg-mode.mjs');

/** Paths the SPA fallback must never answer with index.html. */
const NON_SPA_PREFIXES = ['/api', '/ws', '/plugins', DICOMWEB_PROXY_PATH];

export function setIsolationHeaders(res: Response): void {
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

export function mountViewer(app: Express, options: MountViewerOptions = {}): void {
  const viewerRoot = resolve(options.viewerRoot ?? DEFAULT_VIEWER_ROOT);
  if (!existsSync(join(viewerRoot, 'index.html'))) {
    throw new Error(
      `OHIF viewer not found: ${join(viewerRoot, 'index.html')} is missing; run \`node extension/scripts/fetch-ohif.mjs\``,
    );
  }
  const extensionBundle = resolve(options.extensionBundle ?? DEFAULT_EXTENSION_BUNDLE);
  const modeBundle = resolve(options.modeBundle ?? DEFAULT_MODE_BUNDLE);
  const appConfig = renderAppConfig({
    pacs: options.pacsUrl !== undefined,
    ...(options.serverUrl !== undefined ? { serverUrl: options.serverUrl } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.serverReachesPacs !== undefined ? { serverReachesPacs: options.serverReachesPacs } : {}),
  });

  app.use((_req: Request, res: Response, next: NextFunction) => {
    setIsolationHeaders(res);
    next();
  });

  if (options.pacsUrl !== undefined) app.use(DICOMWEB_PROXY_PATH, dicomWebProxy(options.pacsUrl, options.pacsHeaders));

  app.get('/app-config.js', (_req, res) => {
    res.type('application/javascript').setHeader('Cache-Control', 'no-store');
    res.send(appConfig);
  });
  const sendBundle = (file: string) => (_req: Request, res: Response) => {
    if (!existsSync(file)) {
      res.status(404).type('text/plain').send(`${file} is not built; run \`node extension/scripts/build.mjs\``);
      return;
    }
    // Always revalidate: the bundle changes with every build and has no hash in its name.
    // `root` + relative name: `send` refuses absolute paths with dot-folders (the cache is `.cache/ohif`)
    res.sendFile(basename(file), { root: dirname(file), headers: { 'Content-Type': 'text/javascript', 'Cache-Control': 'no-cache' } });
  };
  app.get(EXTENSION_BUNDLE_PATH, sendBundle(extensionBundle));
  app.get(MODE_BUNDLE_PATH, sendBundle(modeBundle));
  // Service worker: the prebuilt one precaches the app; serving it would pin stale app-config/bundles.
  app.get('/sw.js', (_req, res) => {
    res.type('application/javascript').send('self.addEventListener("install",()=>self.skipWaiting());');
  });

  app.use(express.static(viewerRoot, { index: 'index.html', fallthrough: true }));

  // SPA fallback: client-side routes (/viewer, /segmentation, /nnseg, /local, …) get index.html.
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (NON_SPA_PREFIXES.some((p) => req.path === p || req.path.startsWith(`${p}/`))) return next();
    if (!req.accepts('html')) return next();
    res.sendFile('index.html', { root: viewerRoot });
  });
}

/**
 * A streaming reverse proxy: request and response bodies are piped, never buffered (a series retrieve is
 * hundreds of MB). Mounted under DICOMWEB_PROXY_PATH, so `req.url` is the path below it.
 */
export function dicomWebProxy(pacsUrl: string, extraHeaders: Record<string, string> = {}) {
  const base = new URL(pacsUrl.endsWith('/') ? pacsUrl : `${pacsUrl}/`);
  const transport = base.protocol === 'https:' ? https : http;
  return (req: Request, res: Response): void => {
    const target = new URL(req.url.replace(/^\/+/, ''), base);
    const headers = { ...req.headers };
    delete headers.host;
    delete headers.connection;
    delete headers.cookie;
    const upstream = transport.request(
      target,
      { method: req.method, headers: { ...headers, ...extraHeaders, host: base.host } },
      (up) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers)) {
          if (v === undefined || k === 'connection' || k === 'transfer-encoding') continue;
          out[k] = v;
        }
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.destroy(err);
        return;
      }
      res.status(502).json({ error: 'PACS_UNAVAILABLE', message: `DICOMweb proxy to ${base.origin}: ${err.message}` });
    });
    // The client went away: stop the upstream transfer too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };
}

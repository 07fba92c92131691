/**
 * Serves the prebuilt OHIF viewer, our runtime-loaded extension/mode bundles and a generated
 * app-config.js on an express app, with the `/dicom-web` reverse proxy to the PACS (./dicomweb-proxy.ts) so
 * that the viewer, the nnseg API and DICOMweb share one origin (no CORS). Every response gets COOP/COEP: the
 * viewer uses SharedArrayBuffer, which needs a cross-origin isolated page.
 */
import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Authenticator, roleAllows, tokenFromRequest } from '../api/auth.js';
import type { Role } from '../contract/protocol.js';
import type { TokenConfig } from '../config/server-config.js';
import { DICOMWEB_PROXY_PATH, EXTENSION_BUNDLE_PATH, MODE_BUNDLE_PATH } from '../contract/client-config.js';
import { renderAppConfig } from './app-config.js';
import { dicomWebProxy, PROXY_TOKEN_COOKIE } from './dicomweb-proxy.js';

export interface MountViewerOptions {
  /** base URL of the PACS DICOMweb service, e.g. http://127.0.0.1:8042/dicom-web */
  pacsUrl?: string;
  /** headers added to every proxied PACS request (e.g. Authorization for a PACS behind Basic auth) */
  pacsHeaders?: Record<string, string>;
  /** who may use the PACS proxy: the API's tokens and anonymous role (default: nobody without a token) */
  auth?: { tokens: TokenConfig[]; anonymousRole: Role | null };
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

  if (options.pacsUrl !== undefined) {
    const auth = new Authenticator(options.auth?.tokens ?? [], options.auth?.anonymousRole ?? null);
    // the viewer's image requests cannot carry a bearer header: its token comes as the cookie set below
    const authenticate = (req: Request) => auth.authenticate(tokenFromRequest(req) ?? cookie(req, PROXY_TOKEN_COOKIE));
    app.use(DICOMWEB_PROXY_PATH, dicomWebProxy(options.pacsUrl, options.pacsHeaders ?? {}, authenticate, roleAllows));
  }

  app.get('/app-config.js', (_req, res) => {
    res.type('application/javascript').setHeader('Cache-Control', 'no-store');
    // the page holds the viewer token anyway (app-config); the cookie hands it to the DICOMweb proxy only
    if (options.token !== undefined && options.pacsUrl !== undefined)
      res.cookie(PROXY_TOKEN_COOKIE, options.token, { httpOnly: true, sameSite: 'strict', path: DICOMWEB_PROXY_PATH });
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

/** One cookie's value from the Cookie header (no cookie-parser dependency for one name). */
function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

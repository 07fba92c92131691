/**
 * The same-origin `/dicom-web` reverse proxy to the configured PACS, closed to everything but DICOMweb:
 *
 * - **who**: the API's authentication (a bearer token, or the viewer-token cookie `mountViewer` sets with
 *   app-config.js); reading needs the viewer role, STOW (`POST /studies`) the annotator role. The client's own
 *   Authorization and cookies never reach the PACS; the PACS credential from the configuration is added instead.
 * - **what**: only QIDO/WADO/STOW resources below the configured base path: `studies|series|instances` then
 *   UIDs and DICOMweb keywords, segment by segment; no `%` escapes, `..`, backslashes or absolute URLs, so the
 *   target always stays on the PACS origin and under its base path (checked once more on the built URL).
 * - **how**: streamed both ways, never buffered (a series retrieve is hundreds of MB); the upstream transfer
 *   stops when the client goes away.
 */
import type { Request, Response } from 'express';
import http from 'node:http';
import https from 'node:https';
import type { AuthResult } from '../api/auth.js';
import type { ErrorCode, Role } from '../contract/protocol.js';

/** The cookie that carries the viewer token to the proxy (browsers send it with every image request). */
export const PROXY_TOKEN_COOKIE = 'nnseg_dicomweb';

const FIRST_SEGMENTS = new Set(['studies', 'series', 'instances']);
/** A DICOMweb path segment: a keyword, a UID, a frame list or a bulk data tag. */
const SEGMENT = /^(?:[A-Za-z]{1,16}|[0-9]+(?:\.[0-9]+){0,63}|[0-9]+(?:,[0-9]+){0,4095}|[0-9A-Fa-f]{8}(?:,[0-9A-Fa-f]{8})*)$/;
const MAX_PATH = 4096;

export type ProxyAuthenticate = (req: Request) => AuthResult;
export type RoleCheck = (role: Role, needed: Role) => boolean;

/**
 * The PACS URL a request path (below the mount) maps to, or the reason it does not. Pure: unit-tested.
 */
export function dicomWebTarget(base: URL, url: string): { ok: true; target: URL } | { ok: false; reason: string } {
  if (url.length > MAX_PATH) return { ok: false, reason: 'path too long' };
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  if (query.includes('#')) return { ok: false, reason: 'fragment in the query' };
  if (!/^\/[A-Za-z0-9.,/]*$/.test(path)) return { ok: false, reason: 'characters outside a DICOMweb path' };
  const segments = path.slice(1).split('/');
  if (!FIRST_SEGMENTS.has(segments[0]!)) return { ok: false, reason: 'not a QIDO/WADO/STOW resource (studies, series, instances)' };
  for (const s of segments) if (!SEGMENT.test(s)) return { ok: false, reason: 'not a DICOMweb path segment' };
  const basePath = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  const target = new URL(`${base.origin}${basePath}${segments.join('/')}${query}`);
  // belt and braces: whatever the URL parser made of it, it must still be the PACS under its base path
  if (target.origin !== base.origin || !target.pathname.startsWith(basePath)) return { ok: false, reason: 'leaves the DICOMweb base' };
  return { ok: true, target };
}

function deny(res: Response, status: number, code: ErrorCode, message: string): void {
  if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
  res.status(status).json({ error: { code, message } });
}

export function dicomWebProxy(pacsUrl: string, extraHeaders: Record<string, string>, authenticate: ProxyAuthenticate, roleAllows: RoleCheck) {
  const base = new URL(pacsUrl.endsWith('/') ? pacsUrl : `${pacsUrl}/`);
  const transport = base.protocol === 'https:' ? https : http;
  return (req: Request, res: Response): void => {
    const auth = authenticate(req);
    if (!auth.ok) return deny(res, 401, auth.code, auth.message);
    const store = req.method === 'POST';
    if (!store && req.method !== 'GET' && req.method !== 'HEAD') return deny(res, 405, 'BAD_MESSAGE', `${req.method} is not a DICOMweb read or STOW`);
    const needed: Role = store ? 'annotator' : 'viewer';
    if (!roleAllows(auth.principal.role, needed))
      return deny(res, 403, 'FORBIDDEN', `${store ? 'storing in' : 'reading'} the PACS needs the ${needed} role; "${auth.principal.subject}" has ${auth.principal.role}`);
    const mapped = dicomWebTarget(base, req.url);
    if (!mapped.ok) return deny(res, 404, 'NOT_FOUND', `not a DICOMweb resource of this PACS (${mapped.reason})`);
    if (store && mapped.target.pathname !== `${base.pathname.replace(/\/?$/, '/')}studies`) return deny(res, 405, 'BAD_MESSAGE', 'STOW goes to /studies only');

    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      // hop-by-hop headers, the client's credentials and its view of the host stay here
      if (v === undefined || ['host', 'connection', 'cookie', 'authorization', 'proxy-authorization', 'origin', 'referer', 'keep-alive', 'upgrade'].includes(k)) continue;
      headers[k] = v;
    }
    const upstream = transport.request(mapped.target, { method: req.method, headers: { ...headers, ...extraHeaders, host: base.host } }, (up) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) {
        if (v === undefined || k === 'connection' || k === 'transfer-encoding' || k === 'set-cookie' || k === 'www-authenticate') continue;
        out[k] = v;
      }
      res.writeHead(up.statusCode ?? 502, out);
      up.pipe(res);
    });
    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.destroy(err);
        return;
      }
      res.status(502).json({ error: { code: 'PACS_UNAVAILABLE', message: `DICOMweb proxy to ${base.origin}: ${err.message}` } });
    });
    // The client went away: stop the upstream transfer too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };
}

/**
 * The companion server: express routes (health, metrics, models, jobs, OpenAPI) and the WebSocket at /ws
 * on one http.Server. `createApp` wires them to a model store and a job queue; it never runs a model itself.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { join, resolve } from 'node:path';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { WebSocketServer } from 'ws';
import type { ServerConfig } from '../config/server-config.js';
import type { JobQueue, JobRecord } from '../jobs/types.js';
import { MODEL_NAME_PATTERN, type ModelStore } from '../models/model-store.js';
import { CorrectionStore, correctionsRoot } from '../corrections/correction-store.js';
import { mountCorrectionRoutes } from './corrections.js';
import { CORRECTION_HEADER } from '../contract/corrections.js';
import { mountTrainingRoutes } from './training-routes.js';
import type { TrainingJobs } from '../jobs/training/training-jobs.js';
import { Authenticator, hostAllowed, isLoopback, originAllowed, roleAllows, tokenFromRequest, type Principal, type ServerIdentity } from './auth.js';
import { Hub, stderrLogger, type Logger } from './hub.js';
import { ApiMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { CHUNK_HEADER_BYTES, PROTOCOL_VERSION, WS_SUBPROTOCOL, type ErrorCode, type Role } from '../contract/protocol.js';
import { NNSEG_VERSION } from '../contract/version.js';
import { WsSession, modelSummaries } from './ws/session.js';
import { sweepWorkDir } from './work-sweep.js';

/** How often stale uploads and import archives are looked for. */
const WORK_SWEEP_INTERVAL_MS = 5 * 60_000;

export interface AppDeps {
  config: ServerConfig;
  store: ModelStore;
  queue: JobQueue;
  /** train jobs (admin); without them the training routes and messages answer that this server does not train */
  training?: TrainingJobs;
  log?: Logger;
  /** extra routes mounted after the API and before the 404 fallback (e.g. the viewer's `mountViewer`) */
  mount?: ((app: Express) => void)[];
  /** told after a model was imported or deleted over HTTP (e.g. to evict it from a warm-model cache) */
  onModelChanged?: (name: string) => void;
  /** warm-model cache figures for /metrics */
  modelStats?: () => { loaded: number; bytes: number };
}

export interface ApiServer {
  app: Express;
  server: Server;
  wss: WebSocketServer;
  hub: Hub;
  metrics: ApiMetrics;
  /** starts listening; resolves with the base URL (http://host:port) */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops taking connections and jobs, tells every client SHUTTING_DOWN, drops upload spools. With
   * `closeQueue` (default true) also closes the queue, which records running jobs as interrupted.
   */
  close(options?: { closeQueue?: boolean }): Promise<void>;
}

type AuthedRequest = Request & { principal?: Principal };

function sendError(res: Response, status: number, code: ErrorCode, message: string): void {
  res.status(status).json({ error: { code, message } });
}

export function createApp(deps: AppDeps): ApiServer {
  const { config, store, queue } = deps;
  const log = deps.log ?? stderrLogger;
  const metrics = new ApiMetrics();
  const auth = new Authenticator(config.tokens, config.anonymousRole);
  const hub = new Hub(config, queue, metrics, log);
  const startedAt = Date.now();
  const importFolder = join(config.workDir, 'imports');
  mkdirSync(importFolder, { recursive: true });
  // what a crash left behind goes now; what a dead client leaves goes after the upload's resume time
  const inUse = (): Set<string> | null => {
    const live = queue.liveSeriesFolders?.();
    if (!live) return null;
    return new Set([...live, ...[...hub.uploads.values()].map((u) => u.spool.folder), ...activeImports].map((p) => resolve(p)));
  };
  const activeImports = new Set<string>();
  const sweepTtl = { unknownUseTtlMs: 24 * 3600_000 };
  const sweptAtStart = sweepWorkDir({ workDir: config.workDir, inUse, olderThanMs: 0, ...sweepTtl });
  if (sweptAtStart) log('work.swept', { entries: sweptAtStart, when: 'start' });
  const sweeper = setInterval(() => {
    const n = sweepWorkDir({ workDir: config.workDir, inUse, olderThanMs: config.limits.uploadResumeSeconds * 1000 + 60_000, ...sweepTtl });
    if (n) log('work.swept', { entries: n, when: 'ttl' });
  }, WORK_SWEEP_INTERVAL_MS);
  sweeper.unref();

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // the listening socket says who we are (set once listening; requests arrive only after that)
  let identity: ServerIdentity | undefined;
  app.use((req: Request, res: Response, next: NextFunction) => {
    metrics.httpRequests++;
    if (!hostAllowed(req.headers.host, identity)) {
      sendError(res, 403, 'FORBIDDEN', 'this server answers to localhost only (Host header refused)');
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!originAllowed(origin, config.origins, identity)) {
        sendError(res, 403, 'FORBIDDEN', `origin ${origin} is not allowed`);
        return;
      }
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Headers', `Authorization, Content-Type, ${CORRECTION_HEADER}`);
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
      res.setHeader('Access-Control-Max-Age', '600');
    }
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next();
  });

  const requireRole =
    (role: Role) =>
    (req: AuthedRequest, res: Response, next: NextFunction): void => {
      const r = auth.authenticate(tokenFromRequest(req));
      if (!r.ok) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        sendError(res, 401, r.code, r.message);
        return;
      }
      if (!roleAllows(r.principal.role, role)) {
        sendError(res, 403, 'FORBIDDEN', `this needs the ${role} role; the token of "${r.principal.subject}" has ${r.principal.role}`);
        return;
      }
      req.principal = r.principal;
      next();
    };

  app.get('/health', (_req, res) => {
    const jobs = queue.list();
    res.json({
      status: hub.shuttingDown ? 'stopping' : 'ok',
      version: NNSEG_VERSION,
      protocolVersion: PROTOCOL_VERSION,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      jobs: { queued: jobs.filter((j) => j.state === 'queued').length, running: jobs.filter((j) => j.state === 'running').length },
    });
  });

  app.get('/metrics', (_req, res) => {
    const s = deps.modelStats?.();
    res.type('text/plain; version=0.0.4').send(metrics.render(queue.list(), s ? { modelsLoaded: s.loaded, modelBytes: s.bytes } : {}));
  });

  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(NNSEG_VERSION));
  });

  app.get('/api/models', requireRole('viewer'), (_req, res) => {
    const { broken } = store.list();
    res.json({ models: modelSummaries(store), broken });
  });

  app.get('/api/models/:name', requireRole('viewer'), (req, res) => {
    try {
      res.json(store.get(String(req.params.name)).card);
    } catch (e) {
      sendError(res, 404, 'UNKNOWN_MODEL', (e as Error).message);
    }
  });

  app.delete('/api/models/:name', requireRole('admin'), (req: AuthedRequest, res) => {
    const name = String(req.params.name);
    try {
      store.get(name);
    } catch (e) {
      sendError(res, 404, 'UNKNOWN_MODEL', (e as Error).message);
      return;
    }
    store.delete(name);
    deps.onModelChanged?.(name);
    log('model.deleted', { model: name, by: req.principal?.subject });
    res.status(204).end();
  });

  app.post('/api/models/import', requireRole('admin'), (req: AuthedRequest, res) => {
    const limit = config.limits.maxImportBytes;
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      sendError(res, 413, 'PAYLOAD_TOO_LARGE', `model archive of ${declared} bytes exceeds the limit of ${limit}`);
      req.resume();
      return;
    }
    const name = typeof req.query.name === 'string' ? req.query.name : undefined;
    if (name !== undefined && !MODEL_NAME_PATTERN.test(name)) {
      sendError(res, 400, 'BAD_MODEL', `"${name.slice(0, 130)}" is not a valid model name (letters, digits, . _ -)`);
      req.resume();
      return;
    }
    const file = join(importFolder, `${randomUUID()}.zip`);
    activeImports.add(file);
    const out = createWriteStream(file);
    let bytes = 0;
    let failed = false;
    const abort = (status: number, code: ErrorCode, message: string) => {
      if (failed) return;
      failed = true;
      out.destroy();
      rmSync(file, { force: true });
      activeImports.delete(file);
      sendError(res, status, code, message);
    };
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength;
      if (bytes > limit) {
        abort(413, 'PAYLOAD_TOO_LARGE', `model archive exceeds the limit of ${limit} bytes`);
        req.destroy();
      }
    });
    req.on('error', () => abort(400, 'BAD_MESSAGE', 'the upload was interrupted'));
    req.pipe(out);
    out.on('error', (e) => abort(500, 'INTERNAL', `could not spool the archive: ${e.message}`));
    out.on('finish', () => {
      if (failed) return;
      if (bytes === 0) {
        abort(400, 'BAD_MODEL', 'empty request body: send the model zip as the body');
        return;
      }
      const replace = req.query.replace === 'true' || req.query.replace === '1';
      const t0 = Date.now();
      store
        .importModel(file, { ...(name !== undefined ? { name } : {}), replace })
        .then((m) => {
          deps.onModelChanged?.(m.card.name);
          log('model.imported', { model: m.card.name, bytes, seconds: (Date.now() - t0) / 1000, by: req.principal?.subject });
          res.status(201).json({ model: m.card });
        })
        .catch((e: unknown) => {
          log('model.import_failed', { bytes, by: req.principal?.subject });
          sendError(res, 400, 'BAD_MODEL', (e as Error).message);
        })
        .finally(() => {
          rmSync(file, { force: true });
          activeImports.delete(file);
        });
    });
  });

  // the session id is the WebSocket client's ownership secret: only admins see it
  const publicRecord = (p: Principal, j: JobRecord) => (p.role === 'admin' ? j : (({ sessionId: _secret, ...rest }) => rest)(j));
  app.get('/api/jobs', requireRole('viewer'), (req: AuthedRequest, res) => {
    const p = req.principal!;
    res.json({ jobs: queue.list().filter((j) => p.role === 'admin' || j.owner === p.subject).map((j) => publicRecord(p, j)) });
  });

  app.get('/api/jobs/:id', requireRole('viewer'), (req: AuthedRequest, res) => {
    const p = req.principal!;
    const job = queue.get(String(req.params.id));
    if (!job || (p.role !== 'admin' && job.owner !== p.subject)) {
      sendError(res, 404, 'UNKNOWN_JOB', `no job ${String(req.params.id).slice(0, 128)} for this token`);
      return;
    }
    res.json(publicRecord(p, job));
  });

  mountCorrectionRoutes(app, { config, store: new CorrectionStore(correctionsRoot(config.workDir)), requireRole, sendError, log });
  if (deps.training) mountTrainingRoutes(app, { training: deps.training, requireRole, sendError, log });

  for (const mount of deps.mount ?? []) mount(app);

  app.use((req, res) => sendError(res, 404, 'NOT_FOUND', `no route ${req.method} ${req.path.slice(0, 200)}`));
  // express error handler (4 arguments): malformed requests, body errors
  // body-parser's messages quote the body (a malformed JSON body would be echoed to the client and the log):
  // answer by error type only
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    log('http.error', { type: err.type ?? 'unknown', status });
    if (res.headersSent) return;
    if (err.type === 'entity.too.large') sendError(res, 413, 'PAYLOAD_TOO_LARGE', 'the request body exceeds its limit');
    else if (err.type === 'entity.parse.failed') sendError(res, 400, 'BAD_MESSAGE', 'the request body is not valid JSON');
    else if (status < 500) sendError(res, status, 'BAD_MESSAGE', 'malformed request');
    else sendError(res, 500, 'INTERNAL', 'internal error');
  });

  const server = createServer(app);
  const maxPayload = Math.max(config.limits.maxMessageBytes, config.limits.maxChunkBytes + CHUNK_HEADER_BYTES);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
  });
  const sessions = new Set<WsSession>();

  const refuse = (socket: Duplex, status: number, reason: string) => {
    metrics.wsRejected++;
    const body = JSON.stringify({ error: { code: status === 401 ? 'UNAUTHORIZED' : status === 403 ? 'FORBIDDEN' : 'NOT_FOUND', message: reason } });
    socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 503 ? 'Service Unavailable' : 'Not Found'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/ws') return refuse(socket, 404, `no WebSocket endpoint at ${path.slice(0, 200)}`);
    if (hub.shuttingDown) return refuse(socket, 503, 'the server is shutting down');
    const origin = req.headers.origin;
    if (!hostAllowed(req.headers.host, identity)) {
      log('ws.refused', { reason: 'host' });
      return refuse(socket, 403, 'this server answers to localhost only (Host header refused)');
    }
    if (!originAllowed(origin, config.origins, identity)) {
      log('ws.refused', { reason: 'origin' });
      return refuse(socket, 403, `origin ${String(origin).slice(0, 200)} is not allowed`);
    }
    const token = tokenFromRequest(req);
    let principal: Principal | undefined;
    if (token !== undefined) {
      const r = auth.authenticate(token);
      if (!r.ok) {
        log('ws.refused', { reason: r.code });
        return refuse(socket, 401, r.message);
      }
      principal = r.principal;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const s = new WsSession(ws, { hub, store, auth, ...(deps.training ? { training: deps.training } : {}) }, principal);
      sessions.add(s);
      ws.on('close', () => sessions.delete(s));
    });
  });

  const listen = (port = config.port, host = config.host) =>
    new Promise<string>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const a = server.address() as AddressInfo;
        identity = { port: a.port, loopbackOnly: isLoopback(a.address) };
        const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        resolveListen(`http://${h}:${a.port}`);
      });
    });

  const close = async (options: { closeQueue?: boolean } = {}) => {
    if (hub.shuttingDown) return;
    hub.shuttingDown = true;
    clearInterval(sweeper);
    log('server.stopping', { sessions: sessions.size });
    const stopped = new Promise<void>((r) => server.close(() => r()));
    // closing the queue first lets INTERRUPTED reach the clients still connected
    if (options.closeQueue ?? true) await queue.close();
    await deps.training?.close();
    for (const s of sessions) s.shutdown();
    for (const c of wss.clients) c.terminate();
    server.closeAllConnections();
    await hub.dropAllUploads();
    wss.close();
    await stopped;
    log('server.stopped', {});
  };

  return { app, server, wss, hub, metrics, listen, close };
}

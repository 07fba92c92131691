/**
 * HTTP routes of the corrections store (corrections/correction-store.ts): POST /api/corrections (annotator)
 * spools the body and commits it whole, GET lists, DELETE removes (admin).
 */
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Express, NextFunction, Request, Response } from 'express';
import type { ServerConfig } from '../config/server-config.js';
import type { Principal } from './auth.js';
import type { Logger } from './hub.js';
import type { ErrorCode, Role } from '../contract/protocol.js';
import {
  CORRECTION_HEADER,
  allowedLabelTable,
  correctionVoxels,
  firstForeignLabel,
  parseCorrectionHeader,
  type StoredCorrection,
} from '../contract/corrections.js';
import { CORRECTION_LABELS_FILE, type CorrectionStore } from '../corrections/correction-store.js';

/** Largest correction body accepted: a labelmap is one byte per voxel of a series, so the series limit bounds it. */
export function maxCorrectionBytes(config: Pick<ServerConfig, 'limits'>): number {
  return config.limits.maxSeriesBytes;
}

type AuthedRequest = Request & { principal?: Principal };

export interface CorrectionRoutesDeps {
  config: ServerConfig;
  store: CorrectionStore;
  requireRole: (role: Role) => (req: AuthedRequest, res: Response, next: NextFunction) => void;
  sendError: (res: Response, status: number, code: ErrorCode, message: string) => void;
  log: Logger;
}

/** POST /api/corrections (annotator), GET /api/corrections (admin), DELETE /api/corrections/:id (admin). */
export function mountCorrectionRoutes(app: Express, deps: CorrectionRoutesDeps): void {
  const { config, store, requireRole, sendError, log } = deps;
  store.dropStaleSpools();

  app.post('/api/corrections', requireRole('annotator'), (req: AuthedRequest, res) => {
    // a refusal before the body was read: drain it so the client sees the answer, not a reset
    const refuse = (status: number, code: ErrorCode, message: string) => {
      sendError(res, status, code, message);
      req.resume();
    };
    const parsed = parseCorrectionHeader(req.get(CORRECTION_HEADER));
    if (!parsed.ok) return refuse(400, 'BAD_MESSAGE', parsed.message);
    const header = parsed.header;
    const expected = correctionVoxels(header);
    const limit = maxCorrectionBytes(config);
    if (expected > limit) return refuse(413, 'PAYLOAD_TOO_LARGE', `a correction of shape ${header.shape.join('×')} has ${expected} bytes, over the limit of ${limit}`);
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared !== expected)
      return refuse(400, 'BAD_MESSAGE', `body has ${declared} bytes but shape ${header.shape.join('×')} needs ${expected} (one uint8 label per voxel)`);

    const allowed = allowedLabelTable(header);
    const spool = store.newSpool();
    const out = createWriteStream(join(spool.folder, CORRECTION_LABELS_FILE));
    let bytes = 0;
    let failed = false;
    const abort = (status: number, code: ErrorCode, message: string, stopReading: boolean) => {
      if (failed) return;
      failed = true;
      req.unpipe(out);
      out.destroy();
      rmSync(spool.folder, { recursive: true, force: true });
      if (stopReading) {
        // the client keeps sending more than announced: answer, then drop the connection
        res.setHeader('Connection', 'close');
        res.once('finish', () => req.destroy());
      } else req.resume();
      sendError(res, status, code, message);
    };
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      const at = bytes;
      bytes += chunk.byteLength;
      if (bytes > expected) return abort(400, 'BAD_MESSAGE', `body is longer than the ${expected} bytes shape ${header.shape.join('×')} needs`, true);
      const bad = firstForeignLabel(chunk, allowed, at);
      if (bad) {
        const [, ny, nx] = header.shape;
        const i = bad.index % nx;
        const j = Math.floor(bad.index / nx) % ny;
        const k = Math.floor(bad.index / (nx * ny));
        abort(400, 'BAD_MESSAGE', `label value ${bad.value} at voxel ${bad.index} (z ${k}, y ${j}, x ${i}) is not in the header's labels (${Object.values(header.labels).sort((a, b) => a - b).join(', ')})`, false);
      }
    });
    req.on('error', () => abort(400, 'BAD_MESSAGE', 'the upload was interrupted', false));
    out.on('error', (e) => abort(500, 'INTERNAL', `could not spool the correction: ${e.message}`, false));
    req.pipe(out);
    out.on('finish', () => {
      if (failed) return;
      if (bytes !== expected) return abort(400, 'BAD_MESSAGE', `body has ${bytes} bytes but shape ${header.shape.join('×')} needs ${expected} (one uint8 label per voxel)`, false);
      const record: StoredCorrection = { id: spool.id, header, receivedAt: new Date().toISOString(), subject: req.principal!.subject, byteLength: bytes };
      try {
        store.commit(spool, record);
      } catch (e) {
        rmSync(spool.folder, { recursive: true, force: true });
        sendError(res, 500, 'INTERNAL', `could not store the correction: ${(e as Error).message}`);
        return;
      }
      log('correction.stored', { id: spool.id, model: header.model, voxels: bytes, by: record.subject });
      res.status(201).json({ id: spool.id });
    });
  });

  app.get('/api/corrections', requireRole('admin'), (_req, res) => {
    res.json(store.list());
  });

  app.delete('/api/corrections/:id', requireRole('admin'), (req: AuthedRequest, res) => {
    const id = String(req.params.id);
    if (!store.delete(id)) {
      sendError(res, 404, 'NOT_FOUND', `no correction ${id.slice(0, 64)}`);
      return;
    }
    log('correction.deleted', { id, by: req.principal?.subject });
    res.status(204).end();
  });
}

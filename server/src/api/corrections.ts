/**
 * Corrected labelmaps sent by annotators ("Send correction" in the viewer), kept as training labels.
 * Storage: `<workDir>/corrections/<uuid>/labels.u8` (the request body as sent) + `correction.json`
 * (`StoredCorrectionSchema`: the header, `receivedAt`, the token subject; never patient data). A request
 * is spooled into `<root>/.incoming/<uuid>/` and renamed into place only once complete and valid, so a
 * listed correction is always whole.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Express, NextFunction, Request, Response } from 'express';
import type { ServerConfig } from '../config/server-config.js';
import type { Principal } from './auth.js';
import type { Logger } from './hub.js';
import type { ErrorCode, Role } from './protocol.js';
import {
  CORRECTION_HEADER,
  StoredCorrectionSchema,
  allowedLabelTable,
  correctionVoxels,
  firstForeignLabel,
  parseCorrectionHeader,
  type StoredCorrection,
} from './corrections-schema.js';

export const CORRECTION_LABELS_FILE = 'labels.u8';
export const CORRECTION_RECORD_FILE = 'correction.json';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Where corrections live under a server work dir. */
export function correctionsRoot(workDir: string): string {
  return join(workDir, 'corrections');
}

/** Largest correction body accepted: a labelmap is one byte per voxel of a series, so the series limit bounds it. */
export function maxCorrectionBytes(config: Pick<ServerConfig, 'limits'>): number {
  return config.limits.maxSeriesBytes;
}

/** The stored corrections of one folder: list, read, delete, and the atomic hand-over of a spooled request. */
export class CorrectionStore {
  constructor(readonly root: string) {}

  private folder(id: string): string {
    if (!UUID_RE.test(id)) throw new Error(`"${id.slice(0, 64)}" is not a correction id (a UUID)`);
    return join(this.root, id);
  }

  has(id: string): boolean {
    return UUID_RE.test(id) && existsSync(join(this.root, id, CORRECTION_RECORD_FILE));
  }

  /** Every stored correction, oldest first; folders that do not parse are reported, not thrown. */
  list(): { corrections: StoredCorrection[]; broken: { id: string; reason: string }[] } {
    const corrections: StoredCorrection[] = [];
    const broken: { id: string; reason: string }[] = [];
    if (!existsSync(this.root)) return { corrections, broken };
    for (const name of readdirSync(this.root).sort()) {
      if (!UUID_RE.test(name)) continue; // .incoming and anything else
      try {
        corrections.push(this.get(name));
      } catch (e) {
        broken.push({ id: name, reason: (e as Error).message });
      }
    }
    corrections.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.id.localeCompare(b.id));
    return { corrections, broken };
  }

  get(id: string): StoredCorrection {
    const file = join(this.folder(id), CORRECTION_RECORD_FILE);
    if (!existsSync(file)) throw new Error(`no correction ${id}`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
    }
    const r = StoredCorrectionSchema.safeParse(raw);
    if (!r.success) throw new Error(`${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    if (r.data.id !== id) throw new Error(`${file}: id ${r.data.id} does not match its folder ${id}`);
    return r.data;
  }

  labelsPath(id: string): string {
    return join(this.folder(id), CORRECTION_LABELS_FILE);
  }

  /** The labels as sent (x fastest, planes ascending along the normal); checked against the record's length. */
  readLabels(id: string): Uint8Array {
    const rec = this.get(id);
    const bytes = new Uint8Array(readFileSync(this.labelsPath(id)));
    if (bytes.length !== rec.byteLength) throw new Error(`correction ${id}: ${CORRECTION_LABELS_FILE} holds ${bytes.length} bytes, correction.json says ${rec.byteLength}`);
    return bytes;
  }

  /** Removes a correction; false when there was none. */
  delete(id: string): boolean {
    if (!this.has(id)) return false;
    rmSync(this.folder(id), { recursive: true, force: true });
    return true;
  }

  /** A fresh spool folder for an incoming request (same file system as the store, so the rename is atomic). */
  newSpool(): { id: string; folder: string } {
    const id = randomUUID();
    const folder = join(this.root, '.incoming', id);
    mkdirSync(folder, { recursive: true });
    return { id, folder };
  }

  /** Writes the record next to the spooled labels and moves the folder into place. */
  commit(spool: { id: string; folder: string }, record: StoredCorrection): void {
    writeFileSync(join(spool.folder, CORRECTION_RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
    renameSync(spool.folder, join(this.root, spool.id));
  }

  /**
   * Spools left by requests that never finished (e.g. a crash), removed at start-up; only those older than
   * `minAgeMs`, so a second server sharing the work dir keeps the uploads it is receiving.
   */
  dropStaleSpools(minAgeMs = 3_600_000, now = Date.now()): void {
    const incoming = join(this.root, '.incoming');
    if (!existsSync(incoming)) return;
    for (const name of readdirSync(incoming)) {
      const p = join(incoming, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (st && now - st.mtimeMs > minAgeMs) rmSync(p, { recursive: true, force: true });
    }
  }
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

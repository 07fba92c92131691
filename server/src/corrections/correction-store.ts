/**
 * Corrected labelmaps sent by annotators ("Send correction" in the viewer), kept as training labels.
 * Storage: `<workDir>/corrections/<uuid>/labels.u8` (the request body as sent) + `correction.json`
 * (`StoredCorrectionSchema`: the header, `receivedAt`, the token subject; never patient data). A request
 * is spooled into `<root>/.incoming/<uuid>/` and renamed into place only once complete and valid, so a
 * listed correction is always whole.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StoredCorrectionSchema, type StoredCorrection } from '../contract/corrections.js';

export const CORRECTION_LABELS_FILE = 'labels.u8';
export const CORRECTION_RECORD_FILE = 'correction.json';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Where corrections live under a server work dir. */
export function correctionsRoot(workDir: string): string {
  return join(workDir, 'corrections');
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

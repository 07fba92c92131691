/**
 * Patient data the server spooled must not outlive its use: pushed series (`<workDir>/uploads/<id>/`) and
 * model archives being imported (`<workDir>/imports/<uuid>.zip`). A crash or `kill -9` skips every cleanup
 * path, so the server sweeps both folders at start-up (everything no live job still reads) and then every
 * few minutes (what nothing holds and nobody touched for the TTL).
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface SweepOptions {
  workDir: string;
  /** absolute paths still in use (open uploads, series of queued or running jobs); null: unknown */
  inUse: () => Set<string> | null;
  /** entries modified within this many ms are kept (0 at start-up) */
  olderThanMs: number;
  /** when `inUse` is unknown, entries younger than this are kept whatever olderThanMs says */
  unknownUseTtlMs: number;
  now?: number;
}

export const SWEPT_FOLDERS = ['uploads', 'imports'] as const;

/** Removes stale entries of the swept folders; returns how many were removed. Never throws. */
export function sweepWorkDir(o: SweepOptions): number {
  const now = o.now ?? Date.now();
  const used = o.inUse();
  const minAge = used === null ? Math.max(o.olderThanMs, o.unknownUseTtlMs) : o.olderThanMs;
  let removed = 0;
  for (const folder of SWEPT_FOLDERS) {
    const dir = join(o.workDir, folder);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const path = resolve(dir, name);
      if (used?.has(path)) continue;
      try {
        if (now - statSync(path).mtimeMs < minAge) continue;
        rmSync(path, { recursive: true, force: true });
        removed++;
      } catch {
        // vanished meanwhile, or not ours to remove: the next sweep tries again
      }
    }
  }
  return removed;
}

/** Shared pieces of the job-layer tests: spooled synthetic series, segment requests, event collectors. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JobEvent, SegmentRequest } from '../../server/src/jobs/types.js';
import { syntheticSeries } from './synthetic-series.js';

let folderCount = 0;

/** A fresh spool folder under `root` holding a small synthetic CT series (the queue removes it after the job). */
export function seriesFolder(
  root: string,
  o: { nx?: number; ny?: number; nz?: number; pixelSpacing?: [number, number]; sliceSpacing?: number } = {},
): string {
  const folder = join(root, `spool-${process.pid}-${++folderCount}`);
  mkdirSync(folder);
  const s = syntheticSeries({ nx: o.nx ?? 16, ny: o.ny ?? 16, nz: o.nz ?? 4, pixelSpacing: o.pixelSpacing ?? [1, 1], sliceSpacing: o.sliceSpacing ?? 2 });
  s.files.forEach((f, i) => writeFileSync(join(folder, `${i}.dcm`), f));
  return folder;
}

/** A segment request for the test model (`test/helpers/test-model.ts`) on a spooled folder, TTA off. */
export const segmentRequest = (sessionId: string, path: string, extra: Partial<SegmentRequest['options']> = {}): SegmentRequest => ({
  sessionId,
  series: { kind: 'folder', path },
  options: { model: 'test-ct', tta: false, ...extra },
});

/** Collects a job's events; `ended` resolves with the one that ends it. */
export function collector() {
  const events: JobEvent[] = [];
  let resolve!: (e: JobEvent) => void;
  const ended = new Promise<JobEvent>((r) => (resolve = r));
  const onEvent = (e: JobEvent) => {
    events.push(e);
    if (e.type === 'result' || e.type === 'error' || e.type === 'cancelled') resolve(e);
  };
  return { events, ended, onEvent };
}

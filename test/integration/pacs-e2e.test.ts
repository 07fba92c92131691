/**
 * End to end with the real job layer: a CT series uploaded into a real Orthanc is discovered through the
 * change feed, segmented by the real in-process queue (DICOMweb fetch + the tiny test model), and its SEG
 * is stored back by STOW-RS — once; a restart in the middle of the job still leaves exactly one SEG.
 * Known answer (test-model.ts): label 1 exactly inside the bounding box of the image's nonzero voxels.
 */
import { join } from 'node:path';
import { DicomWebClient, jsonValue } from '../../server/src/dicom/dicomweb/client.js';
import { readSeg } from '../../server/src/dicom/seg-reader.js';
import { seriesToVolume } from '../../server/src/dicom/series-to-volume.js';
import { createInProcessQueue, ModelRegistry, type InProcessQueue } from '../../server/src/jobs/index.js';
import { ModelStore } from '../../server/src/models/model-store.js';
import { parsePacsConfig } from '../../server/src/pacs/config.js';
import { PacsWatcher } from '../../server/src/pacs/watcher.js';
import { validateDicom } from '../helpers/dicom-validate.js';
import { startOrthanc, type OrthancHandle } from '../helpers/orthanc.js';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { createTestModel } from '../helpers/test-model.js';
import { makeTempDir } from '../helpers/tmp.js';

const NX = 32, NY = 32, NZ = 16;
const BOX = { i: [4, 20], j: [6, 18], k: [2, 10] } as const; // nonzero voxels: the expected label-1 region
const inBox = (i: number, j: number, k: number) => i >= BOX.i[0] && i < BOX.i[1] && j >= BOX.j[0] && j < BOX.j[1] && k >= BOX.k[0] && k < BOX.k[1];

let orthanc: OrthancHandle;
let client: DicomWebClient;
const tmp = makeTempDir('nnseg-pacs-e2e-');
let modelName = '';
let n = 0;

function ctSeries() {
  n++;
  const study = `1.2.826.0.1.3680043.8.498.88.${n}`;
  const series = `${study}.1`;
  const s = syntheticSeries({ nx: NX, ny: NY, nz: NZ, intercept: 0, studyInstanceUID: study, seriesInstanceUID: series, frameOfReferenceUID: `${study}.2`, value: (i, j, k) => (inBox(i, j, k) ? 200 : 0) });
  return { files: s.files, study, series };
}

const registries: ModelRegistry[] = [];
function makeQueue(): InProcessQueue {
  const registry = new ModelRegistry(new ModelStore(join(tmp.dir, 'store')));
  registries.push(registry);
  return createInProcessQueue({
    registry,
    spoolRoot: join(tmp.dir, 'spool'),
    fetchSeries: (src, folder, signal, onInstance) => client.retrieveSeriesToFolder(src.studyInstanceUID, src.seriesInstanceUID, folder, { signal, onInstance }),
  });
}

const config = (ledger: string) =>
  parsePacsConfig({
    version: 1,
    dicomWeb: { url: orthanc.dicomWebUrl },
    discovery: { mode: 'orthanc-changes', startFrom: 'now' },
    ledger: join(tmp.dir, ledger),
    rules: [{ name: 'ct', match: { modality: 'CT' }, model: modelName, options: { tta: false } }],
  });

async function segsFor(series: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const s of await client.searchForSeries({ Modality: 'SEG' })) {
    const study = jsonValue(s, '0020000D')!;
    for (const m of await client.retrieveSeriesMetadata(study, jsonValue(s, '0020000E')!)) {
      const refs = (m['00081115']?.Value ?? []) as Record<string, unknown>[];
      if (refs.some((r) => jsonValue(r, '0020000E') === series)) out.push(await client.retrieveInstance(study, jsonValue(s, '0020000E')!, jsonValue(m, '00080018')!));
    }
  }
  return out;
}

async function pollUntil(watcher: PacsWatcher, done: () => boolean, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out; status ${JSON.stringify(watcher.status())}`);
    await watcher.pollOnce();
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  orthanc = await startOrthanc({ stableAge: 1 });
  client = new DicomWebClient({ baseUrl: orthanc.dicomWebUrl });
  modelName = (await createTestModel(join(tmp.dir, 'store'))).card.name;
});
afterAll(async () => {
  for (const r of registries) await r.close();
  await orthanc?.stop();
  tmp.cleanup();
});

describe('PACS auto-segmentation end to end (Orthanc + in-process queue + test model)', () => {
  it('upload a CT series → exactly one valid SEG with the known answer appears in Orthanc', async () => {
    const queue = makeQueue();
    const watcher = await PacsWatcher.create({ config: config('e2e.jsonl'), queue });
    try {
      await watcher.pollOnce();
      const ct = ctSeries();
      const t0 = Date.now();
      for (const f of ct.files) await orthanc.upload(f);
      await pollUntil(watcher, () => watcher.ledger.get(ct.series)?.state === 'done' || watcher.ledger.get(ct.series)?.state === 'failed');
      const seconds = (Date.now() - t0) / 1000;
      expect(watcher.ledger.get(ct.series)).toMatchObject({ state: 'done', reused: false, modelVersion: { name: modelName } });
      process.stdout.write(`pacs e2e: upload → SEG stored in ${seconds.toFixed(1)} s\n`);
      for (let i = 0; i < 3; i++) await watcher.pollOnce();
      await watcher.idle();
      const segs = await segsFor(ct.series);
      expect(segs).toHaveLength(1);
      expect(validateDicom(segs[0]!).errors).toEqual([]);
      const source = await seriesToVolume(ct.files);
      const read = await readSeg(segs[0]!, source);
      // the model's labels: liver (1) and tumor (2, never predicted: an empty segment)
      expect(read.segments.map((s) => s.label)).toEqual(['liver', 'tumor']);
      expect(read.masks[1]!.every((v) => v === 0)).toBe(true);
      let wrong = 0;
      let inside = 0;
      const mask = read.masks[0]!;
      for (let k = 0; k < NZ; k++) for (let j = 0; j < NY; j++) for (let i = 0; i < NX; i++) {
        const v = mask[(k * NY + j) * NX + i]!;
        if (v !== (inBox(i, j, k) ? 1 : 0)) wrong++;
        inside += v;
      }
      expect(wrong).toBe(0);
      expect(inside).toBe(16 * 12 * 8);
    } finally {
      await watcher.stop();
      await queue.close();
    }
  });

  it('restart (watcher and queue) in the middle of the job → still exactly one SEG', async () => {
    const cfg = config('restart.jsonl');
    const q1 = makeQueue();
    const w1 = await PacsWatcher.create({ config: cfg, queue: q1 });
    await w1.pollOnce();
    const ct = ctSeries();
    for (const f of ct.files) await orthanc.upload(f);
    await pollUntil(w1, () => w1.ledger.get(ct.series)?.jobId !== undefined, 30);
    await w1.stop();
    await q1.close();
    expect(w1.ledger.get(ct.series)?.state).toBe('claimed');

    const q2 = makeQueue();
    const w2 = await PacsWatcher.create({ config: cfg, queue: q2 });
    try {
      await pollUntil(w2, () => w2.ledger.get(ct.series)?.state === 'done');
      expect(w2.ledger.get(ct.series)).toMatchObject({ attempts: 2, reused: false });
      for (let i = 0; i < 3; i++) await w2.pollOnce();
      await w2.idle();
      expect(await segsFor(ct.series)).toHaveLength(1);
    } finally {
      await w2.stop();
      await q2.close();
    }
  });
});

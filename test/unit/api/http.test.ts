import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { zipSync } from 'fflate';
import { createTestModel } from '../../helpers/test-model.js';
import { TOKENS, startTestServer, type TestServer } from '../../integration/server-harness.js';
import { TestClient, manifestOf, pushInstances } from '../../integration/server-client.js';
import { syntheticSeries } from '../../helpers/synthetic-series.js';
import { ScriptedQueue } from './scripted-queue.js';

let srv: TestServer;
let queue: ScriptedQueue;
let model: string;
let modelFolder: string;

const get = (path: string, token?: string, headers: Record<string, string> = {}) =>
  fetch(`${srv.url}${path}`, { headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers } });

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Json = any;
const json = async (r: Response | Promise<Response>): Promise<Json> => (await r).json();

function zipFolder(folder: string): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n !== 'model.onnx' && n !== 'model-card.json') files[relative(folder, p)] = new Uint8Array(readFileSync(p));
    }
  };
  walk(folder);
  return zipSync(files);
}

beforeAll(async () => {
  queue = new ScriptedQueue();
  srv = await startTestServer(queue, { mount: [(app) => app.get('/extra', (_req, res) => res.send('mounted'))] });
  const stored = await createTestModel(srv.store.root);
  model = stored.card.name;
  modelFolder = stored.path;
});
afterAll(() => srv.stop());

describe('HTTP API', () => {
  it('GET /health needs no token', async () => {
    const r = await get('/health');
    expect(r.status).toBe(200);
    expect(await json(r)).toMatchObject({ status: 'ok', protocolVersion: 1, jobs: { queued: 0, running: 0 } });
  });

  it('GET /api/models and /api/models/:name', async () => {
    const list = await json(get('/api/models', TOKENS.viewer));
    expect(list.models.map((m: { name: string }) => m.name)).toEqual([model]);
    expect(list.broken).toEqual([]);
    const card = await json(get(`/api/models/${model}`, TOKENS.viewer));
    expect(card).toMatchObject({ formatVersion: 1, name: model, channelNames: { '0': 'CT' } });
  });

  it('GET /api/jobs lists own jobs (admin: all) and /metrics counts them', async () => {
    const files = syntheticSeries({ nx: 16, ny: 16, nz: 2 }).files;
    const { client } = await TestClient.ready(srv.url, TOKENS.viewer);
    client.send({ type: 'segment', requestId: 'q', series: { kind: 'push', manifest: { instances: manifestOf(files) } }, options: { model } });
    await pushInstances(client, files, await client.next('uploadStatus'));
    const { jobId } = await client.next('queued');
    expect((await json(get('/api/jobs', TOKENS.viewer))).jobs.map((j: { id: string }) => j.id)).toEqual([jobId]);
    expect((await json(get('/api/jobs', TOKENS.annotator))).jobs).toEqual([]);
    expect((await json(get('/api/jobs', TOKENS.admin))).jobs).toHaveLength(1);
    expect(await json(get(`/api/jobs/${jobId}`, TOKENS.viewer))).toMatchObject({ id: jobId, state: 'queued', owner: 'reader-1' });
    expect((await get(`/api/jobs/${jobId}`, TOKENS.annotator)).status).toBe(404);
    const metrics = await (await get('/metrics')).text();
    expect(metrics).toContain('nnseg_jobs{state="queued"} 1');
    expect(metrics).toContain('nnseg_queue_length 1');
    expect(metrics).toMatch(/nnseg_upload_bytes_total (\d+)/);
    expect(Number(/nnseg_upload_bytes_total (\d+)/.exec(metrics)![1])).toBe(files.reduce((s, f) => s + f.byteLength, 0));
    expect(metrics).toContain('nnseg_ws_connections 1');
    queue.cancel(jobId);
    await client.close();
  });

  it('GET /openapi.json describes every route', async () => {
    const doc = await json(get('/openapi.json'));
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/api/corrections', '/api/corrections/{id}', '/api/jobs', '/api/jobs/{id}', '/api/models', '/api/models/import', '/api/models/{name}', '/api/training', '/api/training/{id}', '/api/training/{id}/cancel', '/api/training/{id}/resume', '/health', '/metrics', '/openapi.json', '/ws']);
    expect(doc.paths['/api/models/{name}'].delete.responses['403']).toBeDefined();
  });

  it('answers a CORS preflight from an allowed origin', async () => {
    const r = await fetch(`${srv.url}/api/models`, { method: 'OPTIONS', headers: { Origin: 'http://allowed.example', 'Access-Control-Request-Method': 'GET' } });
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe('http://allowed.example');
    expect(r.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
  });

  it('mounts extra routes before the 404 fallback', async () => {
    expect(await (await get('/extra')).text()).toBe('mounted');
    expect((await get('/nothing')).status).toBe(404);
  });

  it('admin imports a model zip (streamed) and deletes it', async () => {
    const zip = new Blob([new Uint8Array(zipFolder(modelFolder))]);
    const r = await fetch(`${srv.url}/api/models/import?name=copy-1`, { method: 'POST', headers: { Authorization: `Bearer ${TOKENS.admin}`, 'Content-Type': 'application/zip' }, body: zip });
    const body: Json = await r.json();
    expect(r.status).toBe(201);
    expect(body.model).toMatchObject({ name: 'copy-1', source: { kind: 'zip' } });
    expect((await json(get('/api/models', TOKENS.viewer))).models.map((m: { name: string }) => m.name)).toEqual(['copy-1', model]);
    // same name again without replace: refused, the stored one untouched
    const again = await fetch(`${srv.url}/api/models/import?name=copy-1`, { method: 'POST', headers: { Authorization: `Bearer ${TOKENS.admin}` }, body: zip });
    expect(again.status).toBe(400);
    expect(((await again.json()) as Json).error.message).toMatch(/already stored/);
    const del = await fetch(`${srv.url}/api/models/copy-1`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKENS.admin}` } });
    expect(del.status).toBe(204);
    expect((await get('/api/models/copy-1', TOKENS.viewer)).status).toBe(404);
    expect(readdirSync(join(srv.dir, 'work', 'imports'))).toEqual([]);
  });
});

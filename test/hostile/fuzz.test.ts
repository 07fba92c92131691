/**
 * Fuzzing the real server for a bounded time: several abusive clients send random and mutated protocol
 * messages, random binary frames and abrupt closes, while one well-behaved client pings throughout and must
 * always be answered. The server runs in this process: if any input crashed it, the test process would die.
 * After the abuse, open file descriptors return to their baseline and RSS stays bounded (both printed).
 * Seeded, so a failure reproduces: NNSEG_FUZZ_SEED=<n>; NNSEG_FUZZ_SECONDS sets the duration (default 12).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../server/src/api/start-server.js';
import { PROTOCOL_VERSION, encodeChunk } from '../../server/src/contract/protocol.js';
import { resolveServerConfig } from '../../server/src/config/server-config.js';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { createTestModel } from '../helpers/test-model.js';
import { mulberry32 } from '../helpers/prng.js';
import { makeTempDir } from '../helpers/tmp.js';
import { TestClient, manifestOf } from '../integration/server-client.js';
import { within } from '../helpers/patience.js';

const SEED = Number(process.env.NNSEG_FUZZ_SEED ?? 20261207);
const SECONDS = Number(process.env.NNSEG_FUZZ_SECONDS ?? 12);
const TOKEN = 'fuzz-viewer-token-000000000';
const STEADY = 'fuzz-steady-token-000000000';
const ADMIN = 'fuzz-admin-token-0000000000';


const openFds = () => readdirSync('/proc/self/fd').length;

describe('fuzzing the server', () => {
  let tmp: { dir: string; cleanup: () => void };
  let srv: RunningServer;
  let model: string;

  beforeAll(async () => {
    tmp = makeTempDir('nnseg-fuzz-');
    model = (await createTestModel(join(tmp.dir, 'models'))).card.name;
    const config = resolveServerConfig(
      {
        formatVersion: 1,
        port: 0,
        store: join(tmp.dir, 'models'),
        workDir: join(tmp.dir, 'work'),
        tokens: [
          { token: TOKEN, subject: 'fuzzer', role: 'viewer' },
          { token: STEADY, subject: 'steady', role: 'viewer' },
          { token: ADMIN, subject: 'fuzz-admin', role: 'admin' },
        ],
        limits: { maxMessageBytes: 16 * 1024, maxChunkBytes: 16 * 1024, maxSeriesBytes: 1 << 20, maxInstances: 20, uploadResumeSeconds: 2, idleTimeoutSeconds: 5, maxSendBacklogBytes: 1 << 20 },
        training: { enabled: false },
      },
      {},
    );
    srv = await startServer(config, { log: () => {} });
  });

  afterAll(async () => {
    await srv.stop();
    tmp.cleanup();
  });

  it(`survives ${SECONDS} s of random and mutated messages and serves a well-behaved client throughout (seed ${SEED})`, async () => {
    const rnd = mulberry32(SEED);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
    const int = (n: number) => Math.floor(rnd() * n);
    const files = syntheticSeries({ nx: 16, ny: 16, nz: 3 }).files;
    const manifest = manifestOf(files);

    const weird: unknown[] = [null, true, -1, 0, 1e308, -1e-308, NaN, '', 'x'.repeat(300), '../../etc/passwd', '__proto__', [], {}, { $gt: '' }, [1, [2, [3]]], '\u0000', '2.25.1', 1.5, 'all'];
    const valid = (): Record<string, unknown>[] => [
      { type: 'hello', protocolVersion: PROTOCOL_VERSION, client: { name: 'fuzz' }, token: TOKEN },
      { type: 'ping', nonce: 'n' },
      { type: 'listModels', requestId: 'r' },
      { type: 'segment', requestId: 'r', series: { kind: 'push', manifest: { instances: manifest } }, options: { model, step: 0.5, folds: ['0'] } },
      { type: 'segment', requestId: 'r', series: { kind: 'dicomweb', studyInstanceUID: '1.2.3', seriesInstanceUID: '1.2.4' }, options: { model } },
      { type: 'resumeUpload', uploadId: '12345678-1234-4234-8234-123456789abc' },
      { type: 'cancel', jobId: 'job' },
      { type: 'subscribe', jobId: 'job' },
      { type: 'train', request: { dataset: 'Dataset001_X', configuration: '3d_fullres' } },
    ];
    /** A valid message with one field replaced, removed or added, at any depth. */
    const mutate = (v: unknown, depth = 0): unknown => {
      if (v === null || typeof v !== 'object' || depth > 4) return rnd() < 0.5 ? pick(weird) : v;
      const o: Record<string, unknown> = Array.isArray(v) ? ([...v] as unknown as Record<string, unknown>) : { ...(v as Record<string, unknown>) };
      const keys = Object.keys(o);
      const r = rnd();
      if (r < 0.15 && keys.length) delete o[pick(keys)];
      else if (r < 0.3) o[pick(['extra', 'type', 'options', '__proto__', 'constructor'])] = pick(weird);
      else if (keys.length) {
        const k = pick(keys);
        o[k] = mutate(o[k], depth + 1);
      }
      return o;
    };
    const frame = (): string | Uint8Array => {
      const r = rnd();
      if (r < 0.55) return JSON.stringify(mutate(pick(valid())));
      if (r < 0.7) return JSON.stringify(pick(valid()));
      if (r < 0.8) return Buffer.from(Array.from({ length: int(200) }, () => int(256))).toString('latin1');
      if (r < 0.9) return encodeChunk({ uploadId: '12345678-1234-4234-8234-123456789abc', index: int(40) - 5, offset: int(1 << 20) - 10 }, new Uint8Array(int(2000)));
      return new Uint8Array(Array.from({ length: int(64) }, () => int(256)));
    };

    const fdsBefore = openFds();
    const rssBefore = process.memoryUsage().rss;
    const steady = (await TestClient.ready(srv.url, STEADY)).client;
    let pings = 0;
    let worstPongMs = 0;
    const deadline = Date.now() + SECONDS * 1000;
    let sent = 0;
    let connections = 0;

    const abuser = async () => {
      while (Date.now() < deadline) {
        let c: TestClient;
        try {
          c = rnd() < 0.8 ? (await TestClient.ready(srv.url, TOKEN)).client : await TestClient.connect(srv.url);
        } catch {
          continue; // a refused upgrade or a welcome that never came is fine: the server decides
        }
        connections++;
        const n = 20 + int(200);
        for (let i = 0; i < n && c.ws.readyState === c.ws.OPEN; i++) {
          const f = frame();
          if (typeof f === 'string') c.ws.send(f);
          else c.ws.send(f, { binary: true });
          sent++;
          if (i % 25 === 0) await new Promise((r) => setImmediate(r));
        }
        if (rnd() < 0.5) await c.terminate();
        else await c.close();
      }
    };
    const watcher = async () => {
      while (Date.now() < deadline) {
        const nonce = `p${++pings}`;
        const t0 = Date.now();
        steady.send({ type: 'ping', nonce });
        await steady.next('pong', within(5000), (p) => p.nonce === nonce);
        worstPongMs = Math.max(worstPongMs, Date.now() - t0);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await Promise.all([abuser(), abuser(), abuser(), watcher()]);

    // the well-behaved client still gets a full answer
    steady.send({ type: 'listModels' });
    expect((await steady.next('models')).models.map((m) => m.name)).toEqual([model]);
    await steady.close();

    // uploads the fuzzers started expire (uploadResumeSeconds 2): then descriptors are back where they were
    let fdsAfter = openFds();
    for (let t = 0; t < 100 && fdsAfter > fdsBefore + 2; t++) {
      await new Promise((r) => setTimeout(r, 100));
      fdsAfter = openFds();
    }
    await new Promise((r) => setTimeout(r, 2500));
    fdsAfter = openFds();
    const rssAfter = process.memoryUsage().rss;
    console.log(
      `fuzz: seed ${SEED}, ${SECONDS} s, ${connections} connections, ${sent} frames; steady client: ${pings} pings, worst pong ${worstPongMs} ms; ` +
        `open fds ${fdsBefore} → ${fdsAfter}; RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssAfter / 2 ** 20).toFixed(0)} MiB; uploads left ${srv.api.hub.uploads.size}`,
    );
    expect(pings).toBeGreaterThan(5);
    expect(fdsAfter).toBeLessThanOrEqual(fdsBefore + 2);
    expect(srv.api.hub.uploads.size).toBe(0);
    expect(rssAfter - rssBefore).toBeLessThan(512 * 2 ** 20);
  }, within(120_000));
});

/**
 * Server benchmark (`npm run build && npm run bench -- server`). `nnseg serve` runs in its own process;
 * this process is the client.
 *
 * 1. Upload throughput: a 300-slice 512×512 CT phantom series (Part 10, ~150 MB) pushed over the WebSocket
 *    (manifest with sha256 per instance, 1 MiB chunks, the server's flow-control window, every byte
 *    spooled to disk and hashed before its ack) ÷ a raw `net` socket copy of the same bytes to a receiver
 *    process on loopback. Prints MB/s and the ratio, for browser-like random frame masks and for zero
 *    masks (which ws does not apply).
 * 2. Server-added latency: one segment job end to end (push a 48×128×128 phantom CT, queue, assemble,
 *    preprocess, sliding window, export, SEG encoding, result back) with a PlainConvUNet of 8…64
 *    features; the network forward passes are (network calls from the progress messages) × (one forward
 *    pass timed on the same ONNX graph in this process while the server is idle). Prints
 *    (total − forward passes) ÷ total.
 * Env: BENCH_SLICES (default 300) for a quicker upload run; BENCH_WINDOW_MB (default 8, the server's
 * default flow-control window); BENCH_UPLOAD_ONLY=1 skips part 2.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, WS_SUBPROTOCOL, encodeChunk } from '../server/src/contract/protocol.js';
import { phantomSeriesInstances } from '../server/src/demo/demo-study.js';
import { OnnxSession } from '../server/src/engines/onnx/session.js';
import { createBenchModel } from './lib/bench-model.js';

const SLICES = Number(process.env.BENCH_SLICES ?? 300);
const TOKEN = 'bench-token-0123456789abcdef';
const PATCH = [32, 64, 64];
const FEATURES = [8, 16, 32, 64];

const work = mkdtempSync(join(tmpdir(), 'nnseg-bench-server-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

async function startServerProcess(store: string): Promise<string> {
  const config = join(work, 'nnseg.config.json');
  const windowMb = Number(process.env.BENCH_WINDOW_MB ?? 8);
  writeFileSync(config, JSON.stringify({ formatVersion: 1, limits: { uploadWindowBytes: windowMb * 1024 * 1024 } }));
  const args = ['serve', '--port', '0', '--store', store, '--work-dir', join(work, 'server'), '--config', config];
  const child = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'server', 'dist', 'cli', 'main.js'), ...args], {
    env: { ...process.env, NNSEG_TOKENS: `${TOKEN}:admin:bench` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  child.stderr!.resume();
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`nnseg serve exited with ${code}`)));
  });
}

/** A receiver process that counts bytes and answers one byte when `total` arrived. */
async function rawCopySeconds(files: Uint8Array[]): Promise<number> {
  const total = files.reduce((s, f) => s + f.byteLength, 0);
  const script = `const net=require('net');const total=${total};const s=net.createServer(c=>{let n=0;c.on('data',d=>{n+=d.length;if(n>=total)c.end('k')})});s.listen(0,'127.0.0.1',()=>console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise<number>((r) => child.stdout!.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const sock = createConnection({ port, host: '127.0.0.1' }, async () => {
      for (const f of files) if (!sock.write(f)) await new Promise((r) => sock.once('drain', r));
    });
    sock.on('data', () => {
      sock.destroy();
      resolve();
    });
    sock.on('error', reject);
  });
  const s = (performance.now() - t0) / 1000;
  child.kill();
  return s;
}

interface Conn {
  ws: WebSocket;
  wait: (pred: (m: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
  onMessage: (f: (m: Record<string, unknown>) => void) => void;
}

/**
 * `zeroMask`: mask client frames with 0000, which ws skips on both ends (RFC 6455 requires a mask, not a
 * random one from a non-browser client). Browsers always mask randomly, and without the optional native
 * `bufferutil` the server unmasks in a JavaScript byte loop.
 */
async function connect(url: string, zeroMask = false): Promise<Conn> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`, [WS_SUBPROTOCOL], {
    headers: { Authorization: `Bearer ${TOKEN}` },
    ...(zeroMask ? { generateMask: (mask: Buffer) => void mask.fill(0) } : {}),
  });
  const listeners = new Set<(m: Record<string, unknown>) => void>();
  ws.on('message', (d, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(d.toString()) as Record<string, unknown>;
    for (const l of [...listeners]) l(m);
  });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const wait = (pred: (m: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const l = (m: Record<string, unknown>) => {
        if (m.type === 'error') {
          listeners.delete(l);
          reject(new Error(`server error ${m.code}: ${m.message}`));
        } else if (pred(m)) {
          listeners.delete(l);
          resolve(m);
        }
      };
      listeners.add(l);
    });
  const conn = { ws, wait, onMessage: (f: (m: Record<string, unknown>) => void) => listeners.add(f) };
  ws.send(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, client: { name: 'bench' } }));
  await wait((m) => m.type === 'welcome');
  return conn;
}

/** Pushes a series; resolves at the last ack (all bytes on the server's disk) with the upload's seconds. */
async function push(conn: Conn, files: Uint8Array[], options: Record<string, unknown>, requestId: string): Promise<{ seconds: number; hashSeconds: number }> {
  const th = performance.now();
  const manifest = files.map((f, index) => ({ index, size: f.byteLength, sha256: createHash('sha256').update(f).digest('hex') }));
  const hashSeconds = (performance.now() - th) / 1000;
  conn.ws.send(JSON.stringify({ type: 'segment', requestId, series: { kind: 'push', manifest: { instances: manifest } }, options }));
  const status = (await conn.wait((m) => m.type === 'uploadStatus' && m.requestId === requestId)) as { uploadId: string; window: number };
  const total = files.reduce((s, f) => s + f.byteLength, 0);
  const chunk = 1 << 20;
  let acked = 0;
  let sent = 0;
  let wake: (() => void) | undefined;
  conn.onMessage((m) => {
    if (m.type === 'ack' && m.uploadId === status.uploadId) {
      acked = m.totalReceived as number;
      wake?.();
    }
  });
  const t0 = performance.now();
  for (const [index, f] of files.entries()) {
    for (let off = 0; off < f.byteLength; off += chunk) {
      const payload = f.subarray(off, Math.min(f.byteLength, off + chunk));
      while (sent + payload.byteLength - acked > status.window) await new Promise<void>((r) => (wake = r));
      conn.ws.send(encodeChunk({ uploadId: status.uploadId, index, offset: off }, payload));
      sent += payload.byteLength;
    }
  }
  while (acked < total) await new Promise<void>((r) => (wake = r));
  return { seconds: (performance.now() - t0) / 1000, hashSeconds };
}

async function main(): Promise<void> {
  const store = join(work, 'models');
  const stored = await createBenchModel(store, work, {
    datasetName: 'Dataset901_BenchCT',
    name: 'bench-ct',
    patch: PATCH,
    features: FEATURES,
    poolKernels: [
      [2, 2, 2],
      [2, 2, 2],
      [1, 2, 2],
    ],
    spacing: [3, 2.5, 2.5],
    medianShape: [48, 128, 128],
  });
  const onnxPath = join(stored.path, stored.card.configurations[0].folder, 'fold_0', stored.card.configurations[0].folds[0].onnx);
  const url = await startServerProcess(store);

  // ── 1. upload throughput ──
  const tg = performance.now();
  const ct = phantomSeriesInstances(7, { shape: [SLICES, 512, 512], spacing: [1, 0.7, 0.7] }).instances;
  const bytes = ct.reduce((s, f) => s + f.byteLength, 0);
  const mb = bytes / 1e6;
  console.log(`series: ${ct.length} instances, ${mb.toFixed(1)} MB (generated in ${((performance.now() - tg) / 1000).toFixed(1)} s)`);
  const raw = [await rawCopySeconds(ct), await rawCopySeconds(ct)];
  const rawS = Math.min(...raw);
  const upload = async (conn: Conn, tag: string) => {
    const r = await push(conn, ct, { model: 'bench-ct' }, tag);
    // the job would predict on 300 slices: cancel it as soon as it is queued
    const q = await conn.wait((m) => m.type === 'queued' && m.requestId === tag);
    conn.ws.send(JSON.stringify({ type: 'cancel', jobId: q.jobId }));
    await conn.wait((m) => m.type === 'cancelled' && m.jobId === q.jobId);
    return r;
  };
  const browserLike = await connect(url);
  const masked = await upload(browserLike, 'up-masked');
  browserLike.ws.close();
  const conn = await connect(url, true);
  const unmasked = await upload(conn, 'up-zero-mask');
  console.log(`raw net socket copy:                         ${rawS.toFixed(2)} s  ${(mb / rawS).toFixed(0)} MB/s`);
  console.log(`WebSocket push, random masks (as a browser): ${masked.seconds.toFixed(2)} s  ${(mb / masked.seconds).toFixed(0)} MB/s`);
  console.log(`WebSocket push, zero masks (Node client):    ${unmasked.seconds.toFixed(2)} s  ${(mb / unmasked.seconds).toFixed(0)} MB/s`);
  console.log(`  (both: 1 MiB chunks, server spools to disk + sha256 before each ack; client sha256 of the manifest ${unmasked.hashSeconds.toFixed(2)} s not included)`);
  console.log(`upload throughput ÷ raw socket copy: ${(rawS / masked.seconds).toFixed(2)} (browser-like), ${(rawS / unmasked.seconds).toFixed(2)} (zero masks)`);

  if (process.env.BENCH_UPLOAD_ONLY === '1') return;
  // ── 2. server-added latency ──
  const small = phantomSeriesInstances(11, { shape: [48, 128, 128], spacing: [3, 2.5, 2.5] }).instances;
  // one forward pass on the same graph, warm, timed while the server is idle (before and after the jobs);
  // the fastest sample counts: the machine is shared, and a slower one would flatter the server
  const session = await OnnxSession.create(new Uint8Array(readFileSync(onnxPath)));
  const input = new Float32Array(PATCH[0] * PATCH[1] * PATCH[2]).map((_, i) => Math.sin(i));
  let perCall = Infinity;
  const timeCalls = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const tf = performance.now();
      await session.run(input, [1, 1, ...PATCH]);
      perCall = Math.min(perCall, (performance.now() - tf) / 1000);
    }
  };
  await timeCalls(6);
  let calls = 0;
  conn.onMessage((m) => {
    if (m.type === 'progress' && m.stage === 'predicting' && typeof m.total === 'number') calls = m.total;
  });
  const runs: { total: number; timings: Record<string, number> }[] = [];
  for (let rep = 0; rep < 2; rep++) {
    const t0 = performance.now();
    await push(conn, small, { model: 'bench-ct', tta: false }, `lat-${rep}`);
    const result = (await conn.wait((m) => m.type === 'result' && m.requestId === `lat-${rep}`)) as { timings: Record<string, number> };
    runs.push({ total: (performance.now() - t0) / 1000, timings: result.timings });
  }
  conn.ws.close();
  await timeCalls(6);
  await session.release();
  const best = runs.reduce((a, b) => (b.total < a.total ? b : a));
  const forward = Math.min(calls * perCall, best.timings.predicting ?? Infinity);
  const outsidePredicting = best.total - (best.timings.predicting ?? 0);
  console.log(`segment job (48×128×128 CT, patch ${PATCH.join('×')}, features ${FEATURES.join(',')}, no TTA): total ${best.total.toFixed(2)} s (client: push → result)`);
  console.log(`  server stages: ${Object.entries(best.timings).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ')}`);
  console.log(`  network forward passes: ${calls} × ${(perCall * 1000).toFixed(0)} ms = ${(calls * perCall).toFixed(2)} s (capped at the predicting stage)`);
  console.log(`server-added latency ÷ total job time: ${((best.total - forward) / best.total).toFixed(2)}  (everything outside the predicting stage alone: ${(outsidePredicting / best.total).toFixed(2)})`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);

/**
 * A real Orthanc (Debian package, /usr/sbin/Orthanc) with the DICOMweb plugin for integration tests: free
 * loopback HTTP port, DICOM listener on another free loopback port, temp storage + index folder removed on
 * stop. No authentication unless `users` is given (then HTTP Basic with those credentials).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ORTHANC_BINARY = process.env.NNSEG_ORTHANC_BIN ?? '/usr/sbin/Orthanc';
export const ORTHANC_PLUGINS = process.env.NNSEG_ORTHANC_PLUGINS ?? '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

export interface OrthancHandle {
  /** http://127.0.0.1:PORT */
  url: string;
  /** url + '/dicom-web' */
  dicomWebUrl: string;
  /** headers to send when `users` was given (HTTP Basic), else {} */
  headers: Record<string, string>;
  /** stores one Part 10 file through Orthanc's REST API (POST /instances) */
  upload(file: Uint8Array): Promise<void>;
  /** kills Orthanc (waits for exit) and removes its storage folder */
  stop(): Promise<void>;
}

export interface StartOrthancOptions {
  /** seconds without new instances before Orthanc emits StableSeries (default 2, Orthanc's own is 60) */
  stableAge?: number;
  /** HTTP Basic users; when given, authentication is enabled */
  users?: Record<string, string>;
  /** extra top-level configuration keys */
  config?: Record<string, unknown>;
}

/** A port the OS just handed out on 127.0.0.1 (closed again before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startOrthanc(options: StartOrthancOptions = {}): Promise<OrthancHandle> {
  const root = mkdtempSync(join(tmpdir(), 'nnseg-orthanc-'));
  const httpPort = await freePort();
  const dicomPort = await freePort();
  const auth = options.users !== undefined && Object.keys(options.users).length > 0;
  const config = {
    Name: 'NNSEG_TEST',
    StorageDirectory: join(root, 'storage'),
    IndexDirectory: join(root, 'index'),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: 'NNSEGTEST',
    RemoteAccessAllowed: false,
    AuthenticationEnabled: auth,
    RegisteredUsers: options.users ?? {},
    StableAge: options.stableAge ?? 2,
    HttpCompressionEnabled: false,
    Plugins: [ORTHANC_PLUGINS],
    DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: false, Ssl: false, StudiesMetadata: 'Full', SeriesMetadata: 'Full' },
    ...options.config,
  };
  const configPath = join(root, 'orthanc.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));

  const child: ChildProcess = spawn(ORTHANC_BINARY, [configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  let spawnError: Error | undefined;
  child.once('error', (err) => { spawnError = err; });

  const url = `http://127.0.0.1:${httpPort}`;
  const headers: Record<string, string> = {};
  if (auth) {
    const [user, password] = Object.entries(options.users!)[0]!;
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }

  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitPromise;
      clearTimeout(timer);
    }
    rmSync(root, { recursive: true, force: true });
  };

  // Orthanc answers /system once its HTTP server is up (plugins are loaded before that).
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (spawnError) { await stop(); throw new Error(`cannot start Orthanc (${ORTHANC_BINARY}): ${spawnError.message}`); }
    if (exited) { await stop(); throw new Error(`Orthanc exited during start-up:\n${log}`); }
    try {
      const response = await fetch(`${url}/system`, { headers });
      if (response.ok) {
        await response.arrayBuffer();
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) { await stop(); throw new Error(`Orthanc did not answer ${url}/system within 30 s:\n${log}`); }
    await new Promise((r) => setTimeout(r, 100));
  }

  const upload = async (file: Uint8Array): Promise<void> => {
    const response = await fetch(`${url}/instances`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/dicom' },
      body: new Uint8Array(file), // copy: fetch's BodyInit wants an ArrayBuffer-backed view
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`Orthanc upload failed: HTTP ${response.status} ${text.slice(0, 300)}`);
  };

  return { url, dicomWebUrl: `${url}/dicom-web`, headers, upload, stop };
}

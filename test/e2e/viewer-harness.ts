/// <reference lib="dom" />
/**
 * The whole stack for the viewer e2e: a real Orthanc (DICOMweb) holding a synthetic CT series, the real
 * nnseg API server (createApp + in-process queue + the real tiny test model) with the viewer mounted
 * (prebuilt OHIF 3.13.2 + our bundles), and headless Debian Chromium through playwright-core.
 */
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DicomWebClient } from '../../server/src/dicom/dicomweb/client.js';
import { createInProcessQueue } from '../../server/src/jobs/in-process-queue.js';
import type { JobEvent, JobQueue, SegmentRequest } from '../../server/src/jobs/types.js';
import { ModelRegistry } from '../../server/src/models/model-registry.js';
import { ModelStore } from '../../server/src/models/model-store.js';
import { DEFAULT_EXTENSION_BUNDLE, DEFAULT_MODE_BUNDLE, DEFAULT_VIEWER_ROOT, mountViewer } from '../../server/src/viewer/mount.js';
import { startOrthanc, type OrthancHandle } from '../helpers/orthanc.js';
import { syntheticSeries } from '../helpers/synthetic-series.js';
import { createTestModel } from '../helpers/test-model.js';
import { TOKENS, startTestServer, type TestServer } from '../integration/server-harness.js';
import { within } from '../helpers/patience.js';

export const ARTIFACTS = join(process.cwd(), 'test', 'e2e', 'artifacts');
export const CHROMIUM = process.env.NNSEG_CHROMIUM ?? '/usr/bin/chromium';
/** DESIGN.md §3 */
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--use-angle=swiftshader', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** 64×64×12 CT, 0 HU outside and 300 HU inside the in-plane box [16, 48)² on every slice. */
export const SERIES = { nx: 64, ny: 64, nz: 12, box: [16, 48] as const };

export function prerequisites(): string[] {
  const missing: string[] = [];
  if (!existsSync(join(DEFAULT_VIEWER_ROOT, 'index.html'))) missing.push(`${DEFAULT_VIEWER_ROOT} (run node extension/scripts/fetch-ohif.mjs)`);
  if (!existsSync(DEFAULT_EXTENSION_BUNDLE) || !existsSync(DEFAULT_MODE_BUNDLE)) missing.push('extension/mode bundles (run node extension/scripts/build.mjs)');
  if (!existsSync(CHROMIUM)) missing.push(CHROMIUM);
  return missing;
}

/**
 * Holds submitted jobs until `release()` (so a test can cancel one deterministically before it runs);
 * everything else goes to the real queue.
 */
export class GatedQueue implements JobQueue {
  open = true;
  private held = new Map<string, { request: SegmentRequest; onEvent: (e: JobEvent) => void; real?: string }>();
  private n = 0;
  constructor(private readonly inner: JobQueue) {}
  submit(request: SegmentRequest, onEvent: (e: JobEvent) => void): { jobId: string } {
    if (this.open) return this.inner.submit(request, onEvent);
    const jobId = `held-${++this.n}`;
    this.held.set(jobId, { request, onEvent });
    queueMicrotask(() => onEvent({ type: 'queued', jobId, position: 0 }));
    return { jobId };
  }
  subscribe(jobId: string, onEvent: (e: JobEvent) => void): boolean {
    const h = this.held.get(jobId);
    if (h) {
      h.onEvent = onEvent;
      return true;
    }
    return this.inner.subscribe(jobId, onEvent);
  }
  cancel(jobId: string): boolean {
    const h = this.held.get(jobId);
    if (h) {
      this.held.delete(jobId);
      h.onEvent({ type: 'cancelled', jobId });
      return true;
    }
    return this.inner.cancel(jobId);
  }
  get(jobId: string) {
    const h = this.held.get(jobId);
    if (h) return { id: jobId, sessionId: h.request.sessionId, state: 'queued' as const, model: h.request.options.model, createdAt: new Date().toISOString() };
    return this.inner.get(jobId);
  }
  list() {
    return this.inner.list();
  }
  close() {
    return this.inner.close();
  }
}

export interface Stack {
  orthanc: OrthancHandle;
  server: TestServer;
  queue: GatedQueue;
  registry: ModelRegistry;
  studyInstanceUID: string;
  seriesInstanceUID: string;
  /** fresh profile (DESIGN.md: fresh --user-data-dir) */
  browser: BrowserContext;
  stop(): Promise<void>;
}

export async function startStack(o: { serverReachesPacs?: boolean } = {}): Promise<Stack> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const orthanc = await startOrthanc();
  const [lo, hi] = SERIES.box;
  const studyInstanceUID = `2.25.${BigInt('0x' + randomUUID().replace(/-/g, '')).toString()}`;
  const series = syntheticSeries({
    studyInstanceUID,
    nx: SERIES.nx,
    ny: SERIES.ny,
    nz: SERIES.nz,
    pixelSpacing: [1, 1],
    sliceSpacing: 2,
    intercept: 0,
    value: (i, j) => (i >= lo && i < hi && j >= lo && j < hi ? 300 : 0),
    patientName: 'E2E^Phantom',
  });
  for (const f of series.files) await orthanc.upload(f);

  const storeDir = mkdtempSync(join(tmpdir(), 'nnseg-e2e-store-'));
  const store = new ModelStore(storeDir);
  await createTestModel(store.root);
  await createTestModel(store.root, { name: 'broken', corruptOnnx: true });
  const registry = new ModelRegistry(store, { defaults: { intraOpThreads: 1 } });
  let queue!: GatedQueue;
  const server = await startTestServer(
    (workDir) => {
      queue = new GatedQueue(
        createInProcessQueue({
          registry,
          spoolRoot: join(workDir, 'spool'),
          fetchSeries: (src, folder, signal, onInstance) =>
            new DicomWebClient({ baseUrl: orthanc.dicomWebUrl }).retrieveSeriesToFolder(src.studyInstanceUID, src.seriesInstanceUID, folder, { signal, ...(onInstance ? { onInstance } : {}) }),
        }),
      );
      return queue;
    },
    {
      store,
      config: { pacs: { url: orthanc.dicomWebUrl } },
      mount: [
        (app) =>
          mountViewer(app, {
            pacsUrl: orthanc.dicomWebUrl,
            token: TOKENS.annotator,
            serverReachesPacs: o.serverReachesPacs ?? false,
            // the proxy takes the page's token from the cookie app-config.js sets
            auth: { tokens: [{ token: TOKENS.annotator, subject: 'annotator-1', role: 'annotator' }], anonymousRole: null },
          }),
      ],
    },
  );
  const userDataDir = mkdtempSync(join(tmpdir(), 'nnseg-chromium-'));
  let browser: BrowserContext;
  try {
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      args: CHROMIUM_FLAGS.filter((f) => f !== '--headless'),
      headless: true,
      viewport: { width: 1400, height: 900 },
    });
  } catch (e) {
    await server.stop().catch(() => {});
    await registry.close().catch(() => {});
    await orthanc.stop().catch(() => {});
    throw e;
  }
  return {
    orthanc,
    server,
    queue,
    registry,
    studyInstanceUID,
    seriesInstanceUID: series.seriesInstanceUID,
    browser,
    stop: async () => {
      await browser.close().catch(() => {});
      await server.stop().catch(() => {});
      await registry.close().catch(() => {});
      await orthanc.stop().catch(() => {});
      rmSync(storeDir, { recursive: true, force: true });
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Opens the study in the nnseg mode and waits until the series is drawn and the panel is connected. */
export async function openStudy(stack: Stack, page: Page): Promise<void> {
  const log: string[] = [];
  page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning' || /nnseg/i.test(m.text())) && log.push(`[${m.type()}] ${m.text().slice(0, 400)}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  page.on('requestfailed', (r) => log.push(`[requestfailed] ${r.url()} ${r.failure()?.errorText}`));
  try {
    await page.goto(`${stack.server.url}/nnseg?StudyInstanceUIDs=${stack.studyInstanceUID}`);
    await page.waitForSelector('[data-testid=nnseg-panel]', { timeout: within(60_000) });
    await page.waitForSelector('[data-testid=nnseg-status][data-state=ready]', { timeout: within(30_000) });
    await page.waitForFunction(
      () => {
        const w = window as unknown as { __nnseg?: { servicesManager: { services: { viewportGridService: { getActiveViewportId(): string; getDisplaySetsUIDsForViewport(id: string): string[] } } } } };
        const g = w.__nnseg?.servicesManager.services.viewportGridService;
        const id = g?.getActiveViewportId();
        return !!id && (g?.getDisplaySetsUIDsForViewport(id)?.length ?? 0) > 0 && document.querySelector('canvas.cornerstone-canvas') !== null;
      },
      undefined,
      { timeout: within(60_000) },
    );
  } catch (e) {
    await page.screenshot({ path: join(ARTIFACTS, 'open-failed.png') }).catch(() => {});
    throw new Error(`${(e as Error).message}\npage log:\n${log.slice(-40).join('\n')}`);
  }
  // let the first image render
  await page.waitForTimeout(1500);
}

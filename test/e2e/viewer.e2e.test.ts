/// <reference lib="dom" />
/**
 * Viewer e2e in headless Chromium (DESIGN.md §3 flags) against a real Orthanc and the real nnseg server
 * with the real test model: open the study in the nnseg mode, pick the model, Segment, watch progress reach
 * 100 %, check the overlay (segmentation service state + canvas pixels in the expected region), Accept
 * (STOW-RS) and find the SEG in Orthanc; then cancel and a server error. Screenshots: test/e2e/artifacts/.
 * Needs: node extension/scripts/fetch-ohif.mjs && node extension/scripts/build.mjs (checked below).
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, SERIES, openStudy, prerequisites, startStack, type Stack } from './viewer-harness.js';
import { within } from '../helpers/patience.js';

const T = within(300_000);

const missing = prerequisites();
if (missing.length) throw new Error(`viewer e2e prerequisites missing: ${missing.join('; ')}`);

/** Keeps the viewport canvas's current pixels in the page (Cornerstone draws image + labelmap into it). */
async function captureCanvas(page: Page): Promise<{ w: number; h: number }> {
  return page.evaluate(() => {
    const canvas = document.querySelector('canvas.cornerstone-canvas') as HTMLCanvasElement | null;
    if (!canvas) throw new Error('no cornerstone canvas');
    const c = document.createElement('canvas');
    c.width = canvas.width;
    c.height = canvas.height;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(canvas, 0, 0);
    (window as unknown as { __before: ImageData }).__before = ctx.getImageData(0, 0, c.width, c.height);
    return { w: c.width, h: c.height };
  });
}

/** Bounding box of pixels whose colour changed (sum of |ΔRGB| > 30) since captureCanvas. */
async function changedBox(page: Page): Promise<{ x0: number; y0: number; x1: number; y1: number; count: number; w: number; h: number }> {
  return page.evaluate(() => {
    const before = (window as unknown as { __before: ImageData }).__before;
    const canvas = document.querySelector('canvas.cornerstone-canvas') as HTMLCanvasElement;
    const c = document.createElement('canvas');
    c.width = canvas.width;
    c.height = canvas.height;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(canvas, 0, 0);
    const a = before.data;
    const b = ctx.getImageData(0, 0, c.width, c.height).data;
    let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1, count = 0;
    for (let y = 0; y < c.height; y++)
      for (let x = 0; x < c.width; x++) {
        const i = 4 * (y * c.width + x);
        if (Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]) > 30) {
          count++;
          if (x < x0) x0 = x;
          if (y < y0) y0 = y;
          if (x > x1) x1 = x;
          if (y > y1) y1 = y;
        }
      }
    return { x0, y0, x1, y1, count, w: c.width, h: c.height };
  });
}

const stepLog = (msg: string) => appendFileSync(join(ARTIFACTS, 'steps.log'), `${new Date().toISOString()} ${msg}\n`);

interface PageSegState {
  segmentations: { id: string; label?: string; segments: string[] }[];
  representations: number;
}
function segState(page: Page): Promise<PageSegState> {
  return page.evaluate(() => {
    const w = window as unknown as { __nnseg: { servicesManager: { services: Record<string, any> } } }; // eslint-disable-line @typescript-eslint/no-explicit-any
    const { segmentationService, viewportGridService } = w.__nnseg.servicesManager.services;
    const segs = segmentationService.getSegmentations() as { segmentationId: string; label?: string; segments: Record<string, { label: string } | undefined> }[];
    const vp = viewportGridService.getActiveViewportId();
    return {
      segmentations: segs.map((s) => ({ id: s.segmentationId, label: s.label, segments: Object.values(s.segments).filter((x) => x).map((x) => x!.label) })),
      representations: segmentationService.getSegmentationRepresentations(vp).length,
    };
  });
}

describe('nnseg viewer (OHIF 3.13.2 + extension + mode) end to end', () => {
  let stack: Stack;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    page = await stack.browser.newPage();
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    await openStudy(stack, page);
  }, T);

  afterAll(async () => {
    await stack?.stop();
  }, T);

  it('segments the open series: progress to 100 %, overlay drawn in the box, stats, Accept stores the SEG in Orthanc', async () => {
    await page.screenshot({ path: join(ARTIFACTS, '01-opened.png') });
    stepLog('opened');
    await page.selectOption('[data-testid=nnseg-model]', 'test-ct');
    const info = await page.textContent('[data-testid=nnseg-model-info]');
    expect(info).toContain('CT');
    expect(info).toContain('liver');
    const before = await captureCanvas(page);
    stepLog('captured');

    const percents: number[] = [];
    let ticks = 0;
    const poll = setInterval(() => {
      if (++ticks % 30 === 0)
        page
          .evaluate(() => `${document.querySelector('[data-testid=nnseg-job]')?.getAttribute('data-phase')} | ${document.querySelector('[data-testid=nnseg-job]')?.textContent} | ${document.querySelector('[data-testid=nnseg-error]')?.textContent ?? ''}`)
          .then((t) => stepLog(`panel: ${t}`))
          .catch(() => {});
      page
        .getAttribute('[data-testid=nnseg-progress]', 'data-percent', { timeout: 200 })
        .then((p) => p !== null && percents.push(Number(p)))
        .catch(() => {});
    }, 100);
    await page.click('[data-testid=nnseg-segment]');
    stepLog('segment clicked');
    await page.waitForSelector('[data-testid=nnseg-job][data-phase=done], [data-testid=nnseg-error]', { timeout: within(180_000) });
    stepLog(`job ended; percents ${percents.join(',')}`);
    clearInterval(poll);
    const err = await page.$('[data-testid=nnseg-error]');
    if (err) throw new Error(`panel shows an error: ${await err.textContent()}`);
    expect(await page.getAttribute('[data-testid=nnseg-progress]', 'data-percent')).toBe('100');
    expect(percents.some((p) => p > 0 && p < 100)).toBe(true);
    // partial slabs were drawn on the viewer while the job ran
    const partials = Number(await page.getAttribute('[data-testid=nnseg-job]', 'data-partials'));
    stepLog(`partials drawn: ${partials}`);
    expect(partials).toBeGreaterThan(0);
    await page.waitForTimeout(1500);
    await page.screenshot({ path: join(ARTIFACTS, '02-result.png') });

    const state = await segState(page);
    expect(state.segmentations).toHaveLength(1);
    expect(state.segmentations[0].segments).toEqual(expect.arrayContaining(['liver']));
    expect(state.representations).toBeGreaterThanOrEqual(1);

    // the overlay: changed pixels form a square centred on the image, half the image's size (box 16…48 of 64)
    const box = await changedBox(page);
    stepLog(`changed box ${JSON.stringify(box)}`);
    expect(box.count).toBeGreaterThan(100);
    const side = Math.min(before.w, before.h);
    const bw = box.x1 - box.x0 + 1;
    const bh = box.y1 - box.y0 + 1;
    expect(Math.abs(bw - bh) / Math.max(bw, bh)).toBeLessThan(0.15);
    expect(bw / side).toBeGreaterThan(0.35);
    expect(bw / side).toBeLessThan(0.65);
    expect(Math.abs((box.x0 + box.x1) / 2 - before.w / 2) / side).toBeLessThan(0.1);
    expect(Math.abs((box.y0 + box.y1) / 2 - before.h / 2) / side).toBeLessThan(0.1);

    const stats = await page.textContent('[data-testid=nnseg-stats]');
    // liver = the box on every slice: 32·32·12 voxels of 1×1×2 mm = 24.576 mL, mean 300 HU
    expect(stats).toContain('liver');
    expect(stats).toContain(`${((SERIES.box[1] - SERIES.box[0]) ** 2 * SERIES.nz * 2 / 1000).toFixed(1)} mL`);
    expect(stats).toContain('300.0 HU');
    await page.locator('[data-testid=nnseg-panel]').screenshot({ path: join(ARTIFACTS, 'panel.png') });

    await page.click('[data-testid=nnseg-accept]');
    await page.waitForSelector('[data-testid=nnseg-accepted], [data-testid=nnseg-error]', { timeout: within(60_000) });
    const err2 = await page.$('[data-testid=nnseg-error]');
    if (err2) throw new Error(`accept failed: ${await err2.textContent()}`);
    const series = (await (await fetch(`${stack.orthanc.dicomWebUrl}/studies/${stack.studyInstanceUID}/series?Modality=SEG`)).json()) as Record<string, { Value?: string[] }>[];
    expect(series).toHaveLength(1);
    const segSeriesUID = series[0]['0020000E'].Value![0];
    const meta = (await (await fetch(`${stack.orthanc.dicomWebUrl}/studies/${stack.studyInstanceUID}/series/${segSeriesUID}/metadata`)).json()) as Record<string, { Value?: Record<string, { Value?: string[] }>[] }>[];
    const ref = meta[0]['00081115'].Value![0]['0020000E'].Value![0];
    expect(ref).toBe(stack.seriesInstanceUID);
  }, T);

  it('cancels a job: the panel says so, no new segmentation, the viewer keeps working', async () => {
    await page.click('[data-testid=nnseg-reject]');
    expect((await segState(page)).segmentations).toHaveLength(0);
    stack.queue.open = false;
    await page.click('[data-testid=nnseg-segment]');
    await page.waitForSelector('[data-testid=nnseg-job][data-phase=queued]', { timeout: within(60_000) });
    await page.click('[data-testid=nnseg-cancel]');
    await page.waitForSelector('[data-testid=nnseg-job][data-phase=cancelled]', { timeout: within(10_000) });
    stack.queue.open = true;
    await page.screenshot({ path: join(ARTIFACTS, '03-cancelled.png') });
    expect((await segState(page)).segmentations).toHaveLength(0);
    expect(await page.getAttribute('[data-testid=nnseg-status]', 'data-state')).toBe('ready');
  }, T);

  it('shows a server error in the panel (broken model) and still segments afterwards', async () => {
    await page.selectOption('[data-testid=nnseg-model]', 'broken');
    await page.click('[data-testid=nnseg-segment]');
    await page.waitForSelector('[data-testid=nnseg-error]', { timeout: within(120_000) });
    const text = await page.textContent('[data-testid=nnseg-error]');
    expect(text).toMatch(/MODEL_FAILED/);
    await page.screenshot({ path: join(ARTIFACTS, '04-server-error.png') });
    expect(await page.getAttribute('[data-testid=nnseg-job]', 'data-phase')).toBe('failed');
    expect((await segState(page)).segmentations).toHaveLength(0);
    // the viewer and the connection keep working
    await page.selectOption('[data-testid=nnseg-model]', 'test-ct');
    await page.click('[data-testid=nnseg-segment]');
    await page.waitForSelector('[data-testid=nnseg-job][data-phase=done]', { timeout: within(180_000) });
    expect((await segState(page)).segmentations).toHaveLength(1);
    expect(consoleErrors.filter((e) => /nnseg/i.test(e))).toEqual([]);
  }, T);
});

describe('nnseg viewer, series sent by reference (the server pulls it from the same PACS)', () => {
  let stack: Stack;
  let page: Page;

  beforeAll(async () => {
    stack = await startStack({ serverReachesPacs: true });
    page = await stack.browser.newPage();
    await openStudy(stack, page);
  }, T);

  afterAll(async () => {
    await stack?.stop();
  }, T);

  it('segments by Study/Series UID without uploading instances', async () => {
    await page.selectOption('[data-testid=nnseg-model]', 'test-ct');
    await page.click('[data-testid=nnseg-segment]');
    await page.waitForSelector('[data-testid=nnseg-job][data-phase=done], [data-testid=nnseg-error]', { timeout: within(180_000) });
    const err = await page.$('[data-testid=nnseg-error]');
    if (err) throw new Error(`panel shows an error: ${await err.textContent()}`);
    const state = await segState(page);
    expect(state.segmentations).toHaveLength(1);
    // the queue saw a DICOMweb job, not a pushed folder
    expect(stack.queue.list()).toHaveLength(1);
    expect(stack.server.logs.filter((l) => l.event === 'job.submit')).toHaveLength(1);
    expect(stack.server.logs.filter((l) => l.event === 'upload.start')).toHaveLength(0);
    await page.screenshot({ path: join(ARTIFACTS, '05-by-reference.png') });
  }, T);
});

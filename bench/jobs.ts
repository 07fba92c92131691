/**
 * Event-loop responsiveness during a segment job (`npm run build && npm run bench -- jobs`).
 *
 * One job on a 128×256×256 phantom CT series (0.8×0.8×1.5 mm → resampled to the model's 1.6×1.6×2 mm and
 * back, 128-frame binary SEG) through the in-process queue, once with the old same-thread executor (the
 * pipeline on the main thread) and once in an inference thread (the default). While the job runs,
 * `perf_hooks.monitorEventLoopDelay` (10 ms resolution) samples the main thread's event loop: that delay is
 * what every other client's upload, ping and HTTP request waits. Both modes run a warm-up job first (model
 * loaded, thread started), so the measured job is the pipeline only. Prints max / p99 / mean delay per mode,
 * the same-thread ÷ inference-thread ratios, and the job's wall time ratio (the thread's overhead).
 * A small PlainConvUNet (4…16 features) with random weights keeps the forward passes short: the delay comes
 * from the JavaScript steps (series parsing, preprocessing, export resampling, SEG encoding).
 * Env: BENCH_SLICES (default 128).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { phantomSeriesInstances } from '../server/src/demo/demo-study.js';
import { createInProcessQueue } from '../server/src/jobs/in-process-queue.js';
import type { JobEvent, SegmentResult } from '../server/src/jobs/types.js';
import { ModelRegistry } from '../server/src/models/model-registry.js';
import { ModelStore } from '../server/src/models/model-store.js';
import { createBenchModel } from './lib/bench-model.js';

const SLICES = Number(process.env.BENCH_SLICES ?? 128);
const PATCH = [32, 64, 64];
const FEATURES = [4, 8, 16];
const work = mkdtempSync(join(tmpdir(), 'nnseg-bench-jobs-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function writeSeries(name: string, shape: [number, number, number]): string {
  const folder = join(work, name);
  mkdirSync(folder);
  phantomSeriesInstances(7, { shape, spacing: [1.5, 0.8, 0.8] }).instances.forEach((f, i) => writeFileSync(join(folder, `${i}.dcm`), f));
  return folder;
}

interface Measured {
  wall: number;
  max: number;
  p99: number;
  mean: number;
  result: SegmentResult;
}

async function measure(executor: 'same-thread' | 'inference-thread', store: ModelStore, small: string, big: string): Promise<Measured> {
  const registry = new ModelRegistry(store);
  // retainSeries: the same folders serve both modes
  const queue = createInProcessQueue({ registry, executor, retainSeries: true });
  const runJob = (folder: string) =>
    new Promise<SegmentResult>((resolve, reject) => {
      queue.submit({ sessionId: 'bench', series: { kind: 'folder', path: folder }, options: { model: 'bench-jobs', tta: false } }, (e: JobEvent) => {
        if (e.type === 'result') resolve(e.result);
        else if (e.type === 'error') reject(new Error(`${e.code}: ${e.message}`));
      });
    });
  try {
    await runJob(small); // warm-up: model loaded, thread started
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    // the histogram's first sample is its second timer tick: a block right after enable() would go unseen
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    const gaps: string[] = [];
    let prev = performance.now();
    const iv = process.env.BENCH_GAPS
      ? setInterval(() => {
          const t = performance.now();
          if (t - prev > 100) gaps.push(`${(t - prev).toFixed(0)} ms at ${((t - t0) / 1000).toFixed(2)} s`);
          prev = t;
        }, 5)
      : undefined;
    const result = await runJob(big);
    clearInterval(iv);
    if (gaps.length) console.log(`${executor}: loop gaps > 100 ms: ${gaps.join(', ')}`);
    const wall = (performance.now() - t0) / 1000;
    h.disable();
    return { wall, max: h.max / 1e6, p99: h.percentile(99) / 1e6, mean: h.mean / 1e6, result };
  } finally {
    await queue.close();
    await registry.close();
  }
}

const storeRoot = join(work, 'store');
await createBenchModel(storeRoot, work, {
  datasetName: 'Dataset902_BenchJobs',
  name: 'bench-jobs',
  patch: PATCH,
  features: FEATURES,
  poolKernels: [
    [2, 2, 2],
    [2, 2, 2],
  ],
  spacing: [2, 1.6, 1.6],
  medianShape: [96, 128, 128],
});
const store = new ModelStore(storeRoot);
const small = writeSeries('small', [8, 64, 64]);
const big = writeSeries('big', [SLICES, 256, 256]);
console.log(`series ${SLICES}×256×256 (0.8×0.8×1.5 mm), model patch ${PATCH.join('×')}, features ${FEATURES.join('…')}, no TTA`);

function fmt(m: Measured): string {
  return `max ${m.max.toFixed(0).padStart(5)} ms, p99 ${m.p99.toFixed(0).padStart(5)} ms, mean ${m.mean.toFixed(1).padStart(6)} ms, job ${m.wall.toFixed(2)} s`;
}
function steps(m: Measured): string {
  return Object.entries(m.result.timings)
    .filter(([, s]) => s >= 0.05)
    .map(([k, s]) => `${k} ${s.toFixed(2)}`)
    .join(', ');
}

// alternate the modes (the machine is shared: neighbours' load drifts); per mode the median run
const REPEAT = Number(process.env.BENCH_REPEAT ?? 2);
const runs: Record<'same-thread' | 'inference-thread', Measured[]> = { 'same-thread': [], 'inference-thread': [] };
for (let r = 0; r < REPEAT; r++)
  for (const mode of ['same-thread', 'inference-thread'] as const) {
    const m = await measure(mode, store, small, big);
    runs[mode].push(m);
    console.log(`${mode.padEnd(16)}  ${fmt(m)}  (steps s: ${steps(m)})`);
  }
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const stat = (mode: keyof typeof runs, k: 'wall' | 'max' | 'p99') => median(runs[mode].map((m) => m[k]));
console.log(
  `median of ${REPEAT}: same-thread max ${stat('same-thread', 'max').toFixed(0)} ms, p99 ${stat('same-thread', 'p99').toFixed(0)} ms, job ${stat('same-thread', 'wall').toFixed(2)} s; ` +
    `inference-thread max ${stat('inference-thread', 'max').toFixed(0)} ms, p99 ${stat('inference-thread', 'p99').toFixed(0)} ms, job ${stat('inference-thread', 'wall').toFixed(2)} s`,
);
console.log(
  `event-loop delay same-thread ÷ inference-thread: max ${(stat('same-thread', 'max') / stat('inference-thread', 'max')).toFixed(1)}×, p99 ${(stat('same-thread', 'p99') / stat('inference-thread', 'p99')).toFixed(1)}×`,
);
console.log(`job wall time inference-thread ÷ same-thread: ${(stat('inference-thread', 'wall') / stat('same-thread', 'wall')).toFixed(2)}`);

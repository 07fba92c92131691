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
import { writeNnunetCheckpoint } from '../server/src/models/checkpoint/writer.js';
import { ModelRegistry } from '../server/src/models/model-registry.js';
import { ModelStore } from '../server/src/models/model-store.js';
import { networkSpecFromPlans } from '../server/src/nnunet/network/from-plans.js';

const SLICES = Number(process.env.BENCH_SLICES ?? 128);
const PATCH = [32, 64, 64];
const FEATURES = [4, 8, 16];
const work = mkdtempSync(join(tmpdir(), 'nnseg-bench-jobs-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function plans(): Record<string, unknown> {
  const k = [3, 3, 3];
  return {
    dataset_name: 'Dataset902_BenchJobs',
    plans_name: 'nnUNetPlans',
    original_median_spacing_after_transp: [2, 1.6, 1.6],
    original_median_shape_after_transp: [96, 128, 128],
    image_reader_writer: 'SimpleITKIO',
    transpose_forward: [0, 1, 2],
    transpose_backward: [0, 1, 2],
    experiment_planner_used: 'ExperimentPlanner',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: { '0': { max: 3000, mean: 60, median: 55, min: -1024, percentile_00_5: -200, percentile_99_5: 300, std: 60 } },
    configurations: {
      '3d_fullres': {
        data_identifier: 'nnUNetPlans_3d_fullres',
        preprocessor_name: 'DefaultPreprocessor',
        batch_size: 2,
        patch_size: PATCH,
        median_image_size_in_voxels: [96, 128, 128],
        spacing: [2, 1.6, 1.6],
        normalization_schemes: ['CTNormalization'],
        use_mask_for_norm: [false],
        UNet_class_name: 'PlainConvUNet',
        UNet_base_num_features: FEATURES[0],
        n_conv_per_stage_encoder: FEATURES.map(() => 2),
        n_conv_per_stage_decoder: FEATURES.slice(1).map(() => 2),
        num_pool_per_axis: [2, 2, 2],
        pool_op_kernel_sizes: [
          [1, 1, 1],
          [2, 2, 2],
          [2, 2, 2],
        ],
        conv_kernel_sizes: FEATURES.map(() => k),
        unet_max_num_features: FEATURES[FEATURES.length - 1],
        resampling_fn_data: 'resample_data_or_seg_to_shape',
        resampling_fn_seg: 'resample_data_or_seg_to_shape',
        resampling_fn_data_kwargs: { is_seg: false, order: 3, order_z: 0, force_separate_z: null },
        resampling_fn_seg_kwargs: { is_seg: true, order: 1, order_z: 0, force_separate_z: null },
        resampling_fn_probabilities: 'resample_data_or_seg_to_shape',
        resampling_fn_probabilities_kwargs: { is_seg: false, order: 1, order_z: 0, force_separate_z: null },
        batch_dice: true,
      },
    },
  };
}

/** A model with random weights: the numbers of the result do not matter here, only the work. */
async function createBenchModel(storeRoot: string): Promise<void> {
  const p = plans();
  const datasetJson = { name: 'Dataset902_BenchJobs', channel_names: { '0': 'CT' }, labels: { background: 0, liver: 1, kidney: 2 }, numTraining: 0, file_ending: '.nii.gz' };
  const spec = networkSpecFromPlans(p as never, '3d_fullres', datasetJson as never);
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.1;
  const weights = new Map(spec.params.map((q) => [q.name, Float32Array.from({ length: q.shape.reduce((a, b) => a * b, 1) }, rnd)]));
  const results = join(work, 'results', 'Dataset902_BenchJobs', 'nnUNetTrainer__nnUNetPlans__3d_fullres');
  mkdirSync(join(results, 'fold_0'), { recursive: true });
  writeFileSync(join(results, 'plans.json'), JSON.stringify(p));
  writeFileSync(join(results, 'dataset.json'), JSON.stringify(datasetJson));
  writeFileSync(
    join(results, 'fold_0', 'checkpoint_final.pth'),
    writeNnunetCheckpoint({ spec, weights, plans: p, configuration: '3d_fullres', fold: 0, datasetJson, inferenceAllowedMirroringAxes: [0, 1, 2] }),
  );
  await new ModelStore(storeRoot).importModel(join(work, 'results', 'Dataset902_BenchJobs'), { name: 'bench-jobs' });
}

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
await createBenchModel(storeRoot);
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

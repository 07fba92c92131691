/** `nnseg plan-and-preprocess`: integrity check, dataset fingerprint, experiment plans (nnU-Net v2 compatible). */
import type { Command } from 'commander';
import { preprocessedDatasetFolder, resolveRawDataset } from '../../io/nnunet-paths.js';
import { listTrainingCases, loadDatasetJson, verifyDatasetIntegrity } from '../../io/nnunet-raw.js';
import { PLANNER_PRESETS } from '../../nnunet/experiment_planning/planner.js';
import { planDataset } from '../../pipelines/plan-and-preprocess.js';
import { preprocessDataset } from '../../pipelines/preprocess-dataset.js';
import { ProgressBar } from '../progress.js';

const DEFAULT_CONFIGURATIONS = ['2d', '3d_fullres', '3d_lowres'];

interface Opts {
  dataset: string;
  output?: string;
  configurations?: string[];
  pl: string;
  gpuMemoryGb?: string;
  preprocess: boolean;
  verify?: boolean;
  processes: string;
}

export function register(program: Command): void {
  program
    .command('plan-and-preprocess')
    .description('nnU-Net v2 plan and preprocess: dataset fingerprint, plans (<plans name>.json), preprocessed data')
    .requiredOption('-d, --dataset <id|name|folder>', 'dataset id (e.g. 901), Dataset901_Name (under nnUNet_raw) or a raw dataset folder')
    .option('-o, --output <folder>', 'preprocessed root (default: $nnUNet_preprocessed)')
    .option('-c, --configurations <names...>', 'configurations to preprocess (2d 3d_fullres 3d_lowres)')
    .option('--pl <plans>', `planner preset / plans name (${Object.keys(PLANNER_PRESETS).join(', ')})`, 'nnUNetPlans')
    .option('--gpu-memory-gb <n>', 'GPU memory target in GB for the planner (default from the preset)')
    .option('--no-preprocess', 'only fingerprint and plan')
    .option('--verify', 'run the dataset integrity check first')
    .option('--np, --processes <n>', 'cases read / preprocessed concurrently (worker threads)', '2')
    .action(async (opts: Opts) => {
      const ds = resolveRawDataset(opts.dataset);
      const preset = PLANNER_PRESETS[opts.pl];
      if (!preset) throw new Error(`unknown planner preset "${opts.pl}" (available: ${Object.keys(PLANNER_PRESETS).join(', ')})`);
      const out = preprocessedDatasetFolder(ds.name, opts.output);
      const dj = loadDatasetJson(ds.folder);
      const nCases = listTrainingCases(ds.folder, dj).size;
      const concurrency = Math.max(1, Number(opts.processes) || 1);
      if (opts.verify) {
        const bar = new ProgressBar('verify', nCases);
        await verifyDatasetIntegrity(ds.folder, { concurrency, onCase: () => bar.tick() });
      }
      const gpu = opts.gpuMemoryGb !== undefined ? Number(opts.gpuMemoryGb) : undefined;
      if (gpu !== undefined && !(gpu > 0)) throw new Error(`--gpu-memory-gb must be a positive number, got ${opts.gpuMemoryGb}`);
      const bar = new ProgressBar('fingerprint', nCases);
      const plans = await planDataset({
        rawDatasetFolder: ds.folder,
        preprocessedDatasetFolder: out,
        datasetName: ds.name,
        preset,
        gpuMemoryTargetGB: gpu,
        concurrency,
        onCase: () => bar.tick(),
      });
      process.stderr.write(`wrote ${out}/{dataset_fingerprint.json, ${plans.plans_name}.json, dataset.json}; configurations: ${Object.keys(plans.configurations).join(', ')}\n`);
      if (!opts.preprocess) return;
      // nnUNetv2_plan_and_preprocess's default -c; 3d_cascade_fullres reuses 3d_fullres data
      const available = Object.keys(plans.configurations);
      const configurations = opts.configurations ?? DEFAULT_CONFIGURATIONS.filter((c) => available.includes(c));
      const unknown = configurations.filter((c) => !available.includes(c));
      if (unknown.length) throw new Error(`plans have no configuration ${unknown.join(', ')} (available: ${available.join(', ')})`);
      const pbar = new ProgressBar(`preprocess ${configurations.join(', ')}`, nCases);
      const result = await preprocessDataset({
        rawDatasetFolder: ds.folder,
        plans,
        configurations,
        outputFolder: out,
        numWorkers: concurrency,
        onProgress: () => pbar.tick(),
      });
      process.stderr.write(`preprocessed ${result.cases.length} cases into ${Object.values(result.folders).join(', ')}\n`);
    });
}

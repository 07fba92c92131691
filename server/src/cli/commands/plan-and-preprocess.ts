/**
 * `nnseg plan-and-preprocess`: nnUNetv2_plan_and_preprocess — integrity check, dataset fingerprint, experiment
 * plans and preprocessing in one go (the steps of extract-fingerprint, plan-experiment and preprocess).
 */
import type { Command } from 'commander';
import { preprocessedDatasetFolder, resolveRawDataset } from '../../io/nnunet-paths.js';
import { listTrainingCases, loadDatasetJson, verifyDatasetIntegrity } from '../../io/nnunet-raw.js';
import { planDataset } from '../../pipelines/plan-and-preprocess.js';
import { acceptNnunetSpelling, positiveInteger } from '../nnunet-flags.js';
import { ProgressBar } from '../progress.js';
import { PLANNING_SPELLINGS, plannerPreset, planningFor, planningOptions, type PlanningFlags } from './plan-experiment.js';
import { preprocessOrRefuse } from './preprocess.js';

interface Opts extends PlanningFlags {
  datasets: string[];
  output?: string;
  configurations?: string[];
  preprocess: boolean;
  verify?: boolean;
  clean?: boolean;
  np: number;
}

export function register(program: Command): void {
  acceptNnunetSpelling('plan-and-preprocess', {
    ...PLANNING_SPELLINGS,
    '--verify_dataset_integrity': '--verify',
    '--no_pp': '--no-preprocess',
    '-np': '--np',
    '-npfp': '--np',
  });
  planningOptions(
    program
      .command('plan-and-preprocess')
      .description('nnU-Net v2 plan and preprocess: dataset fingerprint, plans (<plans name>.json), preprocessed data')
      .requiredOption('-d, --datasets <id|name|folder...>', 'dataset ids (e.g. 901), Dataset901_Name (under nnUNet_raw) or raw dataset folders')
      .option('-o, --output <folder>', 'preprocessed root (default: $nnUNet_preprocessed)')
      .option('-c, --configurations <names...>', 'configurations to preprocess (default 2d 3d_fullres 3d_lowres, those the plans have)')
      .option('--no-preprocess', 'only fingerprint and plan (also --no_pp)')
      .option('--verify', 'run the dataset integrity check first (also --verify_dataset_integrity)')
      .option('--clean', 'extract the fingerprint again although dataset_fingerprint.json exists')
      .option('--np <n>', 'cases read / preprocessed concurrently (worker threads; also -np)', positiveInteger('--np'), 2),
  ).action(async (o: Opts) => {
    plannerPreset(o.pl); // an unknown planner is refused before any dataset is touched
    for (const spec of o.datasets) {
      const ds = resolveRawDataset(spec);
      const out = preprocessedDatasetFolder(ds.name, o.output);
      const nCases = listTrainingCases(ds.folder, loadDatasetJson(ds.folder)).size;
      if (o.verify) {
        const bar = new ProgressBar('verify', nCases);
        await verifyDatasetIntegrity(ds.folder, { concurrency: o.np, onCase: () => bar.tick() });
      }
      const bar = new ProgressBar('fingerprint', nCases);
      const plans = await planDataset({ ...planningFor(o, ds, out), concurrency: o.np, onCase: () => bar.tick(), clean: o.clean });
      process.stderr.write(`wrote ${out}/{dataset_fingerprint.json, ${plans.plans_name}.json, dataset.json}; configurations: ${Object.keys(plans.configurations).join(', ')}\n`);
      if (o.preprocess) await preprocessOrRefuse(ds, out, plans.plans_name, o.configurations, o.np);
    }
  });
}

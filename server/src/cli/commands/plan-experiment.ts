/** `nnseg plan-experiment`: nnUNetv2_plan_experiment — the fingerprint and dataset.json → <plans>.json. */
import type { Command } from 'commander';
import { preprocessedDatasetFolder, resolveRawDataset, type ResolvedDataset } from '../../io/nnunet-paths.js';
import { PLANNER_PRESETS, type PlannerPreset } from '../../nnunet/experiment_planning/planner.js';
import { planExperimentFolder, type PlanExperimentOptions } from '../../pipelines/plan-and-preprocess.js';
import { acceptNnunetSpelling, positiveNumber } from '../nnunet-flags.js';

/** nnU-Net's planning flags as its entry points spell them (shared with plan-and-preprocess). */
export const PLANNING_SPELLINGS: Record<string, string> = {
  '-pl': '--pl',
  '-gpu_memory_target': '--gpu-memory-gb',
  '-overwrite_target_spacing': '--overwrite-target-spacing',
  '-overwrite_plans_name': '--overwrite-plans-name',
};

export function plannerPreset(name: string): PlannerPreset {
  const preset = PLANNER_PRESETS[name];
  if (!preset) throw new Error(`unknown planner "${name}" (available: ${Object.keys(PLANNER_PRESETS).join(', ')})`);
  return preset;
}

export interface PlanningFlags {
  pl: string;
  gpuMemoryGb?: number;
  overwriteTargetSpacing?: number[];
  overwritePlansName?: string;
}

/** The planning flags of one dataset as plan-and-preprocess.ts options. */
export function planningFor(o: PlanningFlags, ds: ResolvedDataset, out: string): PlanExperimentOptions {
  return {
    rawDatasetFolder: ds.folder,
    preprocessedDatasetFolder: out,
    datasetName: ds.name,
    preset: plannerPreset(o.pl),
    gpuMemoryTargetGB: o.gpuMemoryGb,
    plansName: o.overwritePlansName,
    overwriteTargetSpacing: o.overwriteTargetSpacing,
  };
}

/** Declares the planning options on a command (plan-experiment, plan-and-preprocess). */
export function planningOptions(command: Command): Command {
  return command
    .option('--pl <planner>', `planner class or plans name (also -pl): ${Object.keys(PLANNER_PRESETS).join(', ')}`, 'ExperimentPlanner')
    .option('--gpu-memory-gb <GB>', 'GPU memory target for the planner (also -gpu_memory_target; default the preset\'s)', positiveNumber('--gpu-memory-gb'))
    .option('--overwrite-target-spacing <mm...>', '3d_fullres target spacing z y x instead of the planner\'s (also -overwrite_target_spacing)', (v: string, prev: number[] = []) => [...prev, positiveNumber('--overwrite-target-spacing')(v)])
    .option('--overwrite-plans-name <name>', 'plans identifier instead of the preset\'s, e.g. with the two options above (also -overwrite_plans_name)');
}

export function register(program: Command): void {
  acceptNnunetSpelling('plan-experiment', PLANNING_SPELLINGS);
  planningOptions(
    program
      .command('plan-experiment')
      .description('nnU-Net v2 experiment planning (nnUNetv2_plan_experiment): dataset_fingerprint.json + dataset.json → <plans>.json')
      .requiredOption('-d, --datasets <id|name|folder...>', 'dataset ids (e.g. 901), Dataset901_Name (under nnUNet_raw) or raw dataset folders')
      .option('-o, --output <folder>', 'preprocessed root holding the fingerprints (default: $nnUNet_preprocessed)'),
  ).action((o: PlanningFlags & { datasets: string[]; output?: string }) => {
    plannerPreset(o.pl); // an unknown planner is refused before any dataset is touched
    for (const spec of o.datasets) {
      const ds = resolveRawDataset(spec);
      const out = preprocessedDatasetFolder(ds.name, o.output);
      const plans = planExperimentFolder(planningFor(o, ds, out));
      process.stderr.write(`wrote ${out}/${plans.plans_name}.json; configurations: ${Object.keys(plans.configurations).join(', ')}\n`);
    }
  });
}

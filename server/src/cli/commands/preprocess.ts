/** `nnseg preprocess`: nnUNetv2_preprocess — an existing (possibly edited) plans file → preprocessed cases. */
import type { Command } from 'commander';
import { preprocessedDatasetFolder, resolveRawDataset, type ResolvedDataset } from '../../io/nnunet-paths.js';
import { DEFAULT_PREPROCESS_CONFIGURATIONS, preprocessFolder } from '../../pipelines/plan-and-preprocess.js';
import { acceptNnunetSpelling, positiveInteger } from '../nnunet-flags.js';
import { ProgressBar } from '../progress.js';

export function register(program: Command): void {
  acceptNnunetSpelling('preprocess', { '-plans_name': '--plans-name', '-np': '--np' });
  program
    .command('preprocess')
    .description('nnU-Net v2 preprocessing with an existing plans file (nnUNetv2_preprocess): <plans>.json → <data_identifier>/ cases')
    .requiredOption('-d, --datasets <id|name|folder...>', 'dataset ids (e.g. 901), Dataset901_Name (under nnUNet_raw) or raw dataset folders')
    .option('-o, --output <folder>', 'preprocessed root (default: $nnUNet_preprocessed)')
    .option('-p, --plans-name <name>', 'plans identifier: reads <name>.json (also -plans_name)', 'nnUNetPlans')
    .option('-c, --configurations <names...>', `configurations (default ${DEFAULT_PREPROCESS_CONFIGURATIONS.join(' ')}, those the plans have; one named here that the plans lack is refused)`)
    .option('--np <n>', 'cases preprocessed concurrently (worker threads; also -np)', positiveInteger('--np'), 2)
    .action(async (o: { datasets: string[]; output?: string; plansName: string; configurations?: string[]; np: number }) => {
      for (const spec of o.datasets) {
        const ds = resolveRawDataset(spec);
        await preprocessOrRefuse(ds, preprocessedDatasetFolder(ds.name, o.output), o.plansName, o.configurations, o.np);
      }
    });
}

/**
 * Preprocesses the configurations asked for: with no `-c`, those of nnU-Net's default list the plans have (a 2D
 * dataset has no 3d_fullres); a configuration asked for by name that the plans lack is refused, naming it.
 */
export async function preprocessOrRefuse(ds: ResolvedDataset, out: string, plansName: string, configurations: string[] | undefined, np: number): Promise<void> {
  let bar: ProgressBar | undefined;
  const { result, skipped } = await preprocessFolder({
    rawDatasetFolder: ds.folder,
    preprocessedDatasetFolder: out,
    plansName,
    configurations,
    numWorkers: np,
    onProgress: (p) => (bar ??= new ProgressBar(`preprocess ${ds.name}`, p.total)).update(p.done),
    refuseMissing: configurations !== undefined,
  });
  for (const c of skipped) process.stderr.write(`configuration ${c} is not in ${plansName}.json of ${ds.name}; skipped (as nnU-Net does)\n`);
  if (result) process.stderr.write(`preprocessed ${result.cases.length} cases into ${Object.values(result.folders).join(', ')}\n`);
}

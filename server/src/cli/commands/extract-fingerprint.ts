/** `nnseg extract-fingerprint`: nnUNetv2_extract_fingerprint — dataset_fingerprint.json in nnUNet_preprocessed. */
import type { Command } from 'commander';
import { preprocessedDatasetFolder, resolveRawDataset } from '../../io/nnunet-paths.js';
import { listTrainingCases, loadDatasetJson, verifyDatasetIntegrity } from '../../io/nnunet-raw.js';
import { extractFingerprint } from '../../pipelines/plan-and-preprocess.js';
import { acceptNnunetSpelling, positiveInteger } from '../nnunet-flags.js';
import { ProgressBar } from '../progress.js';

export function register(program: Command): void {
  acceptNnunetSpelling('extract-fingerprint', { '-np': '--np', '--verify_dataset_integrity': '--verify-dataset-integrity' });
  program
    .command('extract-fingerprint')
    .description('nnU-Net v2 dataset fingerprint (nnUNetv2_extract_fingerprint): shapes, spacings, foreground intensities')
    .requiredOption('-d, --datasets <id|name|folder...>', 'dataset ids (e.g. 901), Dataset901_Name (under nnUNet_raw) or raw dataset folders')
    .option('-o, --output <folder>', 'preprocessed root (default: $nnUNet_preprocessed)')
    .option('--np <n>', 'cases read concurrently (also -np)', positiveInteger('--np'), 2)
    .option('--verify-dataset-integrity', 'check the dataset first (also --verify_dataset_integrity)')
    .option('--clean', 'extract again although dataset_fingerprint.json exists')
    .action(async (o: { datasets: string[]; output?: string; np: number; verifyDatasetIntegrity?: boolean; clean?: boolean }) => {
      for (const spec of o.datasets) {
        const ds = resolveRawDataset(spec);
        const out = preprocessedDatasetFolder(ds.name, o.output);
        const nCases = listTrainingCases(ds.folder, loadDatasetJson(ds.folder)).size;
        if (o.verifyDatasetIntegrity) {
          const bar = new ProgressBar(`verify ${ds.name}`, nCases);
          await verifyDatasetIntegrity(ds.folder, { concurrency: o.np, onCase: () => bar.tick() });
        }
        const bar = new ProgressBar(`fingerprint ${ds.name}`, nCases);
        const { extracted } = await extractFingerprint({ rawDatasetFolder: ds.folder, preprocessedDatasetFolder: out, concurrency: o.np, onCase: () => bar.tick(), clean: o.clean });
        process.stderr.write(extracted ? `wrote ${out}/dataset_fingerprint.json\n` : `${out}/dataset_fingerprint.json exists; kept (--clean extracts it again)\n`);
      }
    });
}

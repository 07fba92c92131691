/**
 * `nnseg convert-msd-dataset` (nnUNetv2_convert_MSD_dataset) and `nnseg convert-dicom` (a folder of DICOM series
 * and SEGs): data as it comes → nnUNet_raw/DatasetXXX_Name.
 */
import type { Command } from 'commander';
import { requireNnunetRoot } from '../../io/nnunet-paths.js';
import { convertDicomFolder } from '../../pipelines/convert-dicom.js';
import { convertMsdDataset } from '../../pipelines/convert-msd.js';
import { acceptNnunetSpelling, positiveInteger } from '../nnunet-flags.js';

export function register(program: Command): void {
  acceptNnunetSpelling('convert-msd-dataset', { '-overwrite_id': '--overwrite-id', '-np': '--np' });
  program
    .command('convert-msd-dataset')
    .description('nnUNetv2_convert_MSD_dataset: a Medical Segmentation Decathlon task folder → nnU-Net raw dataset (4D images split into channels)')
    .requiredOption('-i, --input <folder>', 'the extracted MSD task folder, e.g. Task01_BrainTumour')
    .option('--overwrite-id <id>', 'dataset id instead of the task\'s (also -overwrite_id)', positiveInteger('--overwrite-id'))
    .option('--np <n>', 'accepted for nnU-Net compatibility (also -np): files are split one after another', positiveInteger('--np'), 1)
    .action((o: { input: string; overwriteId?: number }) => {
      const r = convertMsdDataset({ sourceFolder: o.input, rawRoot: requireNnunetRoot('nnUNet_raw'), overwriteId: o.overwriteId });
      process.stderr.write(`${r.folder}: ${r.training} training and ${r.test} test cases\n`);
    });

  program
    .command('convert-dicom')
    .description('a folder of DICOM image series and DICOM SEGs → an nnU-Net raw dataset (each SEG with its series a training case)')
    .requiredOption('-i, --input <folder>', 'folder (searched recursively) holding the series and their SEGs')
    .requiredOption('-d, --dataset <name>', 'dataset to create under nnUNet_raw, DatasetXXX_Name')
    .action(async (o: { input: string; dataset: string }) => {
      const r = await convertDicomFolder({ inputFolder: o.input, rawRoot: requireNnunetRoot('nnUNet_raw'), datasetName: o.dataset, log: (l) => process.stderr.write(`${l}\n`) });
      process.stderr.write(`${r.folder}: ${r.training} training and ${r.test} test cases; labels ${JSON.stringify(r.labels)}${r.skipped.length ? `; ${r.skipped.length} skipped (above)` : ''}\n`);
    });
}

/** `nnseg plot-overlay-pngs`: nnUNetv2_plot_overlay_pngs — one overlay picture per training case. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { preprocessedDatasetFolder, resolveRawDataset } from '../../io/nnunet-paths.js';
import { parsePlans, resolveConfiguration } from '../../nnunet/plans/plans.js';
import { overlaysFromPreprocessed, overlaysFromRaw } from '../../pipelines/overlay-pngs.js';
import { acceptNnunetSpelling, positiveInteger, positiveNumber } from '../nnunet-flags.js';

export function register(program: Command): void {
  acceptNnunetSpelling('plot-overlay-pngs', { '-np': '--np', '-channel_idx': '--channel-idx', '--use_raw': '--use-raw', '-overlay_intensity': '--overlay-intensity' });
  program
    .command('plot-overlay-pngs')
    .description('nnUNetv2_plot_overlay_pngs: per training case, the slice with the most foreground with its labels blended in (PNG)')
    .requiredOption('-d, --dataset <id|name|folder>', 'dataset id, name or raw folder')
    .requiredOption('-o, --output <folder>', 'output folder')
    .option('--channel-idx <n>', 'channel (0 = _0000; also -channel_idx)', (v) => Number(v), 0)
    .option('--use-raw', 'draw the raw images and labels (also --use_raw); default: the preprocessed data')
    .option('-p, --plans <name>', 'plans identifier (preprocessed data)', 'nnUNetPlans')
    .option('-c, --configuration <name>', 'configuration (preprocessed data; default 3d_fullres if planned, else 2d)')
    .option('--overlay-intensity <x>', 'how strongly labels are blended in (also -overlay_intensity)', positiveNumber('--overlay-intensity'), 0.6)
    .option('--np <n>', 'accepted for nnU-Net compatibility (also -np)', positiveInteger('--np'), 1)
    .action(async (o: { dataset: string; output: string; channelIdx: number; useRaw?: boolean; plans: string; configuration?: string; overlayIntensity: number }) => {
      if (!(Number.isInteger(o.channelIdx) && o.channelIdx >= 0)) throw new Error(`-channel_idx must be a channel number, got ${o.channelIdx}`);
      const ds = resolveRawDataset(o.dataset);
      const options = { outputFolder: o.output, channel: o.channelIdx, intensity: o.overlayIntensity };
      let drawn: string[];
      if (o.useRaw) drawn = await overlaysFromRaw(ds.folder, options);
      else {
        const pre = preprocessedDatasetFolder(ds.name);
        const plansFile = join(pre, `${o.plans}.json`);
        const plans = parsePlans(JSON.parse(readFileSync(plansFile, 'utf8')), plansFile);
        const configuration = o.configuration ?? ('3d_fullres' in plans.configurations ? '3d_fullres' : '2d');
        drawn = overlaysFromPreprocessed(join(pre, resolveConfiguration(plans, configuration, plansFile).data_identifier), options);
      }
      process.stderr.write(`${drawn.length} overlay(s) → ${o.output}\n`);
    });
}

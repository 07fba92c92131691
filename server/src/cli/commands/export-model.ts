import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { chooseConfiguration } from '../../models/loaded-model.js';
import { exportModelZip, exportResultsFolder, exportSourceOfModel, exportSourceOfResults } from '../../models/model-export.js';
import { installModelZip } from '../../models/results-install.js';
import { datasetNameIn, requireNnunetRoot } from '../../io/nnunet-paths.js';
import { acceptNnunetSpelling } from '../nnunet-flags.js';
import { ModelStore } from '../../models/model-store.js';
import { modelStoreRoot } from '../../models/store-location.js';
import { INPUT_NAME, OUTPUT_NAME } from '../../engines/onnx/graph.js';
import { configurationDict } from '../../nnunet/plans/plans.js';

export function register(program: Command): void {
  program
    .command('export-model')
    .description('write a stored model as an nnU-Net results folder, or as the zip nnUNetv2_export_model_to_zip writes (real nnU-Net predicts with either)')
    .requiredOption('-m, --model <name>', 'model name in the store')
    .requiredOption('-o, --output <path>', 'a folder (gets <DatasetXXX_Name>/<Trainer>__<Plans>__<Configuration>/), or a file ending in .zip')
    .option('-c, --configurations <names...>', 'configurations to export (default: all)')
    .option('-f, --folds <folds...>', 'folds to export (default: all)')
    .option('--store <folder>', 'model store (default $NNSEG_MODEL_STORE or ~/.nnseg/models)')
    .action(async (o) => {
      const stored = new ModelStore(modelStoreRoot(o.store)).get(o.model);
      const selection = { configurations: o.configurations, folds: o.folds };
      const asZip = String(o.output).toLowerCase().endsWith('.zip');
      if (asZip && existsSync(o.output)) throw new Error(`${o.output} exists already`);
      const source = exportSourceOfModel(stored);
      const files = asZip ? await exportModelZip(source, o.output, selection) : exportResultsFolder(source, o.output, selection);
      process.stdout.write(`exported "${stored.card.name}" → ${o.output} (${files.length} files)\n`);
      process.stdout.write(
        asZip
          ? `  nnU-Net: nnUNetv2_install_pretrained_model_from_zip ${o.output}\n`
          : `  nnU-Net: nnUNetv2_predict_from_modelfolder -m ${join(o.output, stored.card.datasetName, stored.card.configurations[0]!.folder)} -i … -o …\n`,
      );
    });

  acceptNnunetSpelling('export-model-to-zip', { '-tr': '--trainer', '-chk': '--chk' });
  program
    .command('export-model-to-zip')
    .description('nnUNetv2_export_model_to_zip: models trained under $nnUNet_results (-d -tr -p -c -f) as one zip')
    .requiredOption('-d, --dataset <id|name>', 'dataset id or name under nnUNet_results')
    .requiredOption('-o, --output <file.zip>', 'output file')
    .option('-c, --configurations <names...>', 'configurations that exist of these are exported', ['3d_lowres', '3d_fullres', '2d', '3d_cascade_fullres'])
    .option('--trainer <name>', 'trainer class (also -tr)', 'nnUNetTrainer')
    .option('-p, --plans <name>', 'plans identifier', 'nnUNetPlans')
    .option('-f, --folds <folds...>', 'folds (default: every fold present)')
    .option('--chk <names...>', 'checkpoints to export (also -chk)', ['checkpoint_final.pth'])
    .action(async (o) => {
      const root = requireNnunetRoot('nnUNet_results');
      const dataset = datasetNameIn('nnUNet_results', o.dataset);
      if (existsSync(o.output)) throw new Error(`${o.output} exists already`);
      const source = exportSourceOfResults(root, dataset, { trainer: o.trainer, plans: o.plans, configurations: o.configurations, checkpoints: o.chk });
      const files = await exportModelZip(source, o.output, { folds: o.folds });
      process.stdout.write(`exported ${source.configurations.map((c) => c.folderName).join(', ')} → ${o.output} (${files.length} files)\n`);
    });

  program
    .command('install-pretrained-model-from-zip <zip>')
    .description('nnUNetv2_install_pretrained_model_from_zip: a model zip into $nnUNet_results (safely; replaces a model of the same name)')
    .action(async (zip: string) => {
      const root = requireNnunetRoot('nnUNet_results');
      const installed = await installModelZip(zip, root);
      for (const f of installed) process.stdout.write(`installed ${join(root, f)}\n`);
    });

  program
    .command('export-onnx')
    .description('write one configuration of a stored model as ONNX (one model.onnx per fold) with the plans and dataset.json it needs')
    .requiredOption('-m, --model <name>', 'model name in the store')
    .requiredOption('-o, --output <folder>', 'output folder')
    .option('-c, --configuration <name>', 'configuration (default: 3d_fullres when present)')
    .option('-f, --folds <folds...>', 'folds to export (default: all)')
    .option('--store <folder>', 'model store (default $NNSEG_MODEL_STORE or ~/.nnseg/models)')
    .action((o) => {
      const stored = new ModelStore(modelStoreRoot(o.store)).get(o.model);
      const conf = chooseConfiguration(stored.card, o.configuration);
      const folds = o.folds ? conf.folds.filter((f) => (o.folds as string[]).includes(f.fold)) : conf.folds;
      if (folds.length === 0) throw new Error(`model "${stored.card.name}" ${conf.configuration} has none of the folds ${(o.folds as string[]).join(', ')}`);
      const folder = join(stored.path, conf.folder);
      if (existsSync(o.output)) throw new Error(`${o.output} exists already`);
      mkdirSync(o.output, { recursive: true });
      for (const f of ['plans.json', 'dataset.json']) copyFileSync(join(folder, f), join(o.output, f));
      for (const fold of folds) {
        mkdirSync(join(o.output, `fold_${fold.fold}`));
        copyFileSync(join(folder, `fold_${fold.fold}`, fold.onnx), join(o.output, `fold_${fold.fold}`, 'model.onnx'));
      }
      // what a consumer of the graph must do around it: the network alone is not nnU-Net's prediction
      const plans = JSON.parse(readFileSync(join(folder, 'plans.json'), 'utf8'));
      const c = configurationDict(plans, conf.configuration);
      const description = {
        model: stored.card.name,
        configuration: conf.configuration,
        folds: folds.map((f) => f.fold),
        input: { name: INPUT_NAME, layout: conf.patchSize.length === 3 ? 'b,c,z,y,x' : 'b,c,y,x', channels: stored.card.channelNames },
        output: { name: OUTPUT_NAME, meaning: stored.card.regionsClassOrder ? 'logits per region (sigmoid)' : 'logits per label (softmax)', labels: stored.card.labels },
        patch_size: conf.patchSize,
        spacing: conf.spacing,
        normalization_schemes: c.normalization_schemes,
        foreground_intensity_properties_per_channel: plans.foreground_intensity_properties_per_channel,
        transpose_forward: plans.transpose_forward,
        inference_allowed_mirroring_axes: conf.inferenceAllowedMirroringAxes,
        nnunet_prediction:
          'crop to nonzero, transpose, resample to spacing, normalize; sliding window with step 0.5 and a Gaussian (sigma 1/8 of the patch) ' +
          'weighting; average the logits of the mirrored inputs (mirroring axes) and of the folds; resample back; argmax (or regions_class_order).',
      };
      writeFileSync(join(o.output, 'onnx-export.json'), `${JSON.stringify(description, null, 2)}\n`);
      process.stdout.write(`exported ${conf.configuration} folds ${folds.map((f) => f.fold).join(', ')} of "${stored.card.name}" → ${o.output}\n`);
    });
}

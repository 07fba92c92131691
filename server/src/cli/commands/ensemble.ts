import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { writeImage } from '../../io/image-file.js';
import { NpzWriter, readNpz } from '../../formats/npz.js';
import { readPredictionGeometry } from '../../io/prediction-properties.js';
import type { Vec3 } from '../../imaging/volume.js';
import { LabelManager } from '../../nnunet/dataset/labels.js';
import { MeanAccumulator } from '../../nnunet/inference/ensemble.js';
import { probabilitiesToSegmentation } from '../../nnunet/inference/label-handling.js';
import { ProgressBar } from '../progress.js';

/**
 * nnUNetv2_ensemble: average the probabilities (`<case>.npz`) that `predict --save-probabilities` wrote in
 * several folders (other configurations, trainers or folds) and segment from the mean. Like nnU-Net, the
 * first folder's dataset.json and plans.json describe the labels, and every folder must hold every case.
 */
export function register(program: Command): void {
  program
    .command('ensemble')
    .description('average saved probabilities of several predictions (nnUNetv2_ensemble equivalent)')
    .requiredOption('-i, --input <folders...>', 'prediction folders written with predict --save-probabilities')
    .requiredOption('-o, --output <folder>', 'output folder')
    .option('--save-npz', 'also write the averaged probabilities (<case>.npz + <case>.pkl)')
    .action(async (o: { input: string[]; output: string; saveNpz?: boolean }) => {
      if (o.input.length < 2) throw new Error(`ensemble needs at least two input folders, got ${o.input.length}`);
      for (const f of o.input) if (!existsSync(f)) throw new Error(`${f}: no such folder`);
      const datasetJsonPath = join(o.input[0], 'dataset.json');
      if (!existsSync(datasetJsonPath)) throw new Error(`${datasetJsonPath} is missing (predict writes it beside the predictions)`);
      const datasetJson = JSON.parse(readFileSync(datasetJsonPath, 'utf8'));
      const labels = new LabelManager(datasetJson.labels, datasetJson.regions_class_order);
      const handling = { channels: labels.numSegmentationHeads, regionsClassOrder: labels.hasRegions ? labels.regionsClassOrder : null };

      const cases = readdirSync(o.input[0])
        .filter((f) => f.endsWith('.npz'))
        .map((f) => f.slice(0, -4))
        .sort();
      if (cases.length === 0) throw new Error(`${o.input[0]}: no <case>.npz files (run predict with --save-probabilities)`);
      for (const folder of o.input.slice(1)) {
        const missing = cases.filter((c) => !existsSync(join(folder, `${c}.npz`)));
        if (missing.length) throw new Error(`${folder} lacks ${missing.length} case(s) of ${o.input[0]}: ${missing.slice(0, 5).join(', ')}`);
      }
      mkdirSync(o.output, { recursive: true });
      for (const f of ['dataset.json', 'plans.json']) if (existsSync(join(o.input[0], f))) copyFileSync(join(o.input[0], f), join(o.output, f));

      const bar = new ProgressBar('ensembling', cases.length);
      for (const caseId of cases) {
        const mean = new MeanAccumulator();
        let shape: number[] | undefined;
        for (const folder of o.input) {
          const path = join(folder, `${caseId}.npz`);
          const p = readNpz(path).get('probabilities');
          if (!p) throw new Error(`${path} has no "probabilities" array`);
          if (p.shape[0] !== handling.channels) throw new Error(`${path}: ${p.shape[0]} channels, dataset.json of ${o.input[0]} needs ${handling.channels}`);
          if (shape && p.shape.join() !== shape.join())
            throw new Error(`${path}: shape [${p.shape.join(', ')}] differs from [${shape.join(', ')}] in ${o.input[0]}`);
          shape = p.shape;
          mean.add(p.data, { consume: true });
        }
        const probabilities = mean.mean();
        const geometry = readPredictionGeometry(join(o.input[0], `${caseId}.pkl`));
        const spatial = shape!.slice(1) as Vec3;
        const spacing = (geometry.spacing.length === 3 ? geometry.spacing : [1, ...geometry.spacing]) as Vec3;
        await writeImage(
          {
            data: probabilitiesToSegmentation(probabilities, handling),
            shape: spatial,
            spacing,
            origin: (geometry.origin ?? [0, 0, 0]) as Vec3,
            direction: geometry.direction ?? [1, 0, 0, 0, 1, 0, 0, 0, 1],
          },
          join(o.output, `${caseId}${datasetJson.file_ending}`),
        );
        if (o.saveNpz) {
          const w = new NpzWriter(join(o.output, `${caseId}.npz`));
          w.beginFloat32('probabilities', shape!);
          w.append(probabilities);
          w.close();
          copyFileSync(join(o.input[0], `${caseId}.pkl`), join(o.output, `${caseId}.pkl`));
        }
        bar.tick();
      }
    });
}

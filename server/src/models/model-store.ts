/**
 * The model store: one folder per model, holding nnU-Net's results layout unchanged plus the ONNX graph
 * built once at import and a model card.
 *
 *   <store>/<name>/model-card.json
 *   <store>/<name>/<Trainer>__<Plans>__<Configuration>/{plans.json, dataset.json, fold_<k>/{checkpoint_final.pth, model.onnx}}
 *
 * Imports are staged in `<store>/.incoming-*` and renamed into place only after every checkpoint was
 * parsed and checked, so a bad import never damages a model already stored.
 */
import { createHash, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { convertCheckpointToOnnx, readOnnxOnlyModel } from './checkpoint-import.js';
import { MODEL_CARD_FORMAT_VERSION, ModelCardSchema, type ConfigurationCard, type FoldCard, type ModelCard } from './model-card.js';
import { describeTrainedModelFolder, findTrainedModelFolders } from './results-folder.js';
import { extractZip } from './zip-archive.js';
import { configurationDict, parsePlans, type Plans } from '../nnunet/plans/plans.js';

export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const DatasetJsonSubset = z.looseObject({
  name: z.string().optional(),
  channel_names: z.record(z.string(), z.string()).optional(),
  modality: z.record(z.string(), z.string()).optional(),
  labels: z.record(z.string(), z.union([z.number().int(), z.array(z.number().int())])),
  regions_class_order: z.array(z.number().int()).optional(),
  file_ending: z.string(),
});

export interface ImportOptions {
  name?: string;
  /** replace a stored model of the same name (only after the new one is fully imported) */
  replace?: boolean;
  /** for a bare .onnx: the plans.json / dataset.json / configuration it was exported with */
  plansPath?: string;
  datasetJsonPath?: string;
  configuration?: string;
  /** which checkpoint of each fold to build the network from (default checkpoint_final.pth, else the best) */
  checkpointName?: string;
  onProgress?: (message: string) => void;
}

export interface StoredModel {
  card: ModelCard;
  path: string;
}

/** nnU-Net writes `dataset_name` into every plans.json; a model card names its dataset by it. */
function requireDatasetName(plans: Plans, where: string): asserts plans is Plans & { dataset_name: string } {
  if (typeof plans.dataset_name !== 'string' || plans.dataset_name === '') throw new Error(`${where}: dataset_name: the plans name no dataset`);
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${what}: ${path} is not valid JSON (${(e as Error).message})`);
  }
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new Error(`${what}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

export class ModelStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    mkdirSync(this.root, { recursive: true });
  }

  /** Stored models; a folder whose card is unreadable is reported in `broken`, never hidden or deleted. */
  list(): { models: StoredModel[]; broken: { name: string; reason: string }[] } {
    const models: StoredModel[] = [];
    const broken: { name: string; reason: string }[] = [];
    for (const name of readdirSync(this.root).sort()) {
      if (name.startsWith('.')) continue;
      const path = join(this.root, name);
      if (!statSync(path).isDirectory()) continue;
      try {
        models.push({ card: this.readCard(path), path });
      } catch (e) {
        broken.push({ name, reason: (e as Error).message });
      }
    }
    return { models, broken };
  }

  get(name: string): StoredModel {
    if (!MODEL_NAME_PATTERN.test(name)) throw new Error(`"${name}" is not a valid model name`);
    const path = join(this.root, name);
    if (!existsSync(path)) throw new Error(`no model named "${name}" in the model store ${this.root}`);
    return { card: this.readCard(path), path };
  }

  delete(name: string): void {
    const { path } = this.get(name);
    const trash = join(this.root, `.deleted-${randomUUID()}`);
    renameSync(path, trash);
    rmSync(trash, { recursive: true, force: true });
  }

  private readCard(path: string): ModelCard {
    const cardPath = join(path, 'model-card.json');
    if (!existsSync(cardPath)) throw new Error(`${path}: model-card.json is missing`);
    return parseWith(ModelCardSchema, readJson(cardPath, 'model card'), `${cardPath}`);
  }

  /** Imports an nnU-Net results folder, an nnUNetv2_export_model_to_zip archive, or an .onnx file. */
  async importModel(source: string, options: ImportOptions = {}): Promise<StoredModel> {
    const log = options.onProgress ?? (() => {});
    if (!existsSync(source)) throw new Error(`${source}: no such file or folder`);
    const staging = join(this.root, `.incoming-${randomUUID()}`);
    mkdirSync(staging);
    try {
      let card: Omit<ModelCard, 'name'>;
      if (source.toLowerCase().endsWith('.onnx')) {
        card = await this.stageOnnx(source, staging, options);
      } else {
        let resultsRoot = source;
        let kind: 'zip' | 'results-folder' = 'results-folder';
        if (statSync(source).isFile()) {
          if (!source.toLowerCase().endsWith('.zip')) throw new Error(`${source}: expected a results folder, a .zip or an .onnx file`);
          kind = 'zip';
          resultsRoot = join(staging, '.unzipped');
          log(`extracting ${basename(source)}`);
          await extractZip(source, resultsRoot);
        }
        card = await this.stageResultsFolders(resultsRoot, staging, kind, basename(source), log, options.checkpointName);
        rmSync(join(staging, '.unzipped'), { recursive: true, force: true });
      }
      const name = options.name ?? card.datasetName;
      if (!MODEL_NAME_PATTERN.test(name)) throw new Error(`"${name}" is not a valid model name (letters, digits, . _ -)`);
      const full: ModelCard = parseWith(ModelCardSchema, { ...card, name }, 'model card');
      writeFileSync(join(staging, 'model-card.json'), JSON.stringify(full, null, 2));
      const target = join(this.root, name);
      if (existsSync(target)) {
        if (!options.replace) throw new Error(`a model named "${name}" is already stored; use another name or replace it`);
        const old = join(this.root, `.replaced-${randomUUID()}`);
        renameSync(target, old);
        renameSync(staging, target);
        rmSync(old, { recursive: true, force: true });
      } else {
        renameSync(staging, target);
      }
      log(`stored model "${name}" in ${target}`);
      return { card: full, path: target };
    } catch (e) {
      rmSync(staging, { recursive: true, force: true });
      throw e;
    }
  }

  private async stageResultsFolders(
    root: string,
    staging: string,
    kind: 'zip' | 'results-folder',
    sourceName: string,
    log: (m: string) => void,
    checkpointName?: string,
  ): Promise<Omit<ModelCard, 'name'>> {
    const folders = findTrainedModelFolders(root);
    if (folders.length === 0)
      throw new Error(`${sourceName}: contains no nnU-Net results folder (<Trainer>__<Plans>__<Configuration> with plans.json)`);
    const configurations: ConfigurationCard[] = [];
    let datasetJson: z.infer<typeof DatasetJsonSubset> | undefined;
    let datasetName = '';
    for (const folder of folders) {
      const trained = describeTrainedModelFolder(folder);
      const plansRaw = readJson(join(folder, 'plans.json'), trained.folderName);
      const plans = parsePlans(plansRaw, `${trained.folderName}/plans.json`);
      requireDatasetName(plans, `${trained.folderName}/plans.json`);
      const dj = parseWith(DatasetJsonSubset, readJson(join(folder, 'dataset.json'), trained.folderName), `${trained.folderName}/dataset.json`);
      if (datasetJson && JSON.stringify(dj.labels) !== JSON.stringify(datasetJson.labels))
        throw new Error(`${trained.folderName}: its dataset.json labels differ from the other configurations in ${sourceName}`);
      datasetJson = dj;
      datasetName = plans.dataset_name;
      const configuration = configurationDict(plans, trained.configuration);
      const outFolder = join(staging, trained.folderName);
      mkdirSync(outFolder, { recursive: true });
      for (const f of ['plans.json', 'dataset.json', 'dataset_fingerprint.json', 'postprocessing.json'])
        if (existsSync(join(folder, f))) copyFileSync(join(folder, f), join(outFolder, f));
      // nnU-Net's find_best_configuration leaves the chosen postprocessing beside the cross-validation results
      const crossval = readdirSync(folder).find((d) => d.startsWith('crossval_results_folds_') && existsSync(join(folder, d, 'postprocessing.json')));
      if (crossval && !existsSync(join(outFolder, 'postprocessing.json')))
        copyFileSync(join(folder, crossval, 'postprocessing.json'), join(outFolder, 'postprocessing.json'));
      const folds: FoldCard[] = [];
      let mirroring: number[] | null = null;
      for (const fold of trained.folds) {
        const foldIn = join(folder, `fold_${fold.fold}`);
        const foldOut = join(outFolder, `fold_${fold.fold}`);
        mkdirSync(foldOut, { recursive: true });
        if (checkpointName && !fold.checkpoints.includes(checkpointName))
          throw new Error(`${trained.folderName}/fold_${fold.fold}: has no ${checkpointName} (has ${fold.checkpoints.join(', ') || 'none'})`);
        const checkpoint = checkpointName ?? fold.checkpoints[0] ?? null;
        if (checkpoint) {
          log(`${trained.folderName} fold ${fold.fold}: reading ${checkpoint}`);
          const converted = await convertCheckpointToOnnx(join(foldIn, checkpoint), plansRaw, trained.configuration, dj);
          copyFileSync(join(foldIn, checkpoint), join(foldOut, checkpoint));
          writeFileSync(join(foldOut, 'model.onnx'), converted.onnx);
          mirroring = converted.inferenceAllowedMirroringAxes;
        } else {
          copyFileSync(join(foldIn, fold.onnx!), join(foldOut, 'model.onnx'));
        }
        const summary = join(foldIn, 'validation', 'summary.json');
        if (existsSync(summary)) {
          mkdirSync(join(foldOut, 'validation'), { recursive: true });
          copyFileSync(summary, join(foldOut, 'validation', 'summary.json'));
        }
        folds.push({
          fold: fold.fold,
          checkpoint,
          onnx: 'model.onnx',
          validationDice: fold.validationDice,
          sha256: sha256File(join(foldOut, checkpoint ?? 'model.onnx')),
        });
      }
      configurations.push({
        folder: trained.folderName,
        trainer: trained.trainer,
        plans: trained.plans,
        configuration: trained.configuration,
        patchSize: (configuration.patch_size as number[] | undefined) ?? [],
        spacing: (configuration.spacing as number[] | undefined) ?? [],
        inferenceAllowedMirroringAxes: mirroring,
        previousStage: typeof configuration.previous_stage === 'string' ? configuration.previous_stage : null,
        folds,
      });
    }
    // a cascade stage is useless without the stage whose segmentation it takes as input
    for (const c of configurations)
      if (c.previousStage && !configurations.some((x) => x.configuration === c.previousStage))
        throw new Error(
          `${sourceName}: configuration ${c.configuration} is a cascade stage after ${c.previousStage}, but there is no trained ${c.previousStage} beside it (has ${configurations.map((x) => x.configuration).join(', ')})`,
        );
    return {
      formatVersion: MODEL_CARD_FORMAT_VERSION,
      datasetName,
      channelNames: datasetJson!.channel_names ?? datasetJson!.modality ?? {},
      labels: datasetJson!.labels,
      regionsClassOrder: datasetJson!.regions_class_order ?? null,
      fileEnding: datasetJson!.file_ending,
      configurations,
      source: { kind, name: sourceName },
      importedAt: new Date().toISOString(),
    };
  }

  private async stageOnnx(source: string, staging: string, options: ImportOptions): Promise<Omit<ModelCard, 'name'>> {
    if (!options.plansPath || !options.datasetJsonPath || !options.configuration)
      throw new Error(`${basename(source)}: an .onnx model needs its plans.json, dataset.json and configuration name`);
    const plansRaw = readJson(options.plansPath, 'plans.json');
    const plans = parsePlans(plansRaw, options.plansPath);
    requireDatasetName(plans, options.plansPath);
    const dj = parseWith(DatasetJsonSubset, readJson(options.datasetJsonPath, 'dataset.json'), options.datasetJsonPath);
    const configuration = configurationDict(plans, options.configuration);
    await readOnnxOnlyModel(source, plansRaw, options.configuration, dj);
    const folderName = `onnx__${plans.plans_name}__${options.configuration}`;
    const foldOut = join(staging, folderName, 'fold_all');
    mkdirSync(foldOut, { recursive: true });
    copyFileSync(options.plansPath, join(staging, folderName, 'plans.json'));
    copyFileSync(options.datasetJsonPath, join(staging, folderName, 'dataset.json'));
    copyFileSync(source, join(foldOut, 'model.onnx'));
    return {
      formatVersion: MODEL_CARD_FORMAT_VERSION,
      datasetName: plans.dataset_name,
      channelNames: dj.channel_names ?? dj.modality ?? {},
      labels: dj.labels,
      regionsClassOrder: dj.regions_class_order ?? null,
      fileEnding: dj.file_ending,
      configurations: [
        {
          folder: folderName,
          trainer: 'onnx',
          plans: plans.plans_name,
          configuration: options.configuration,
          patchSize: (configuration.patch_size as number[] | undefined) ?? [],
          spacing: (configuration.spacing as number[] | undefined) ?? [],
          inferenceAllowedMirroringAxes: null,
          previousStage: typeof configuration.previous_stage === 'string' ? configuration.previous_stage : null,
          folds: [{ fold: 'all', checkpoint: null, onnx: 'model.onnx', sha256: sha256File(join(foldOut, 'model.onnx')) }],
        },
      ],
      source: { kind: 'onnx', name: basename(source) },
      importedAt: new Date().toISOString(),
    };
  }
}

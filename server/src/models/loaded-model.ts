/**
 * A stored model made ready to predict: one onnxruntime session per fold of the chosen configuration
 * (and of its previous stage for a cascade), the plans and dataset.json parsed once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxSession, type ExecutionDevice } from '../engines/onnx/session.js';
import type { Volume } from '../imaging/volume.js';
import type { LabelValue } from '../nnunet/dataset/dataset-json.js';
import { predictCase, type CasePrediction, type CaseModel, type PredictCaseOptions } from '../nnunet/inference/predict-case.js';
import { predictionCost, type PredictionCost } from '../nnunet/inference/prediction-cost.js';
import { parsePostprocessingJson } from '../nnunet/postprocessing/postprocessing.js';
import type { ConfigurationCard, ModelCard } from './model-card.js';
import type { StoredModel } from './model-store.js';
import { parsePlans } from '../nnunet/plans/plans.js';

/** nnU-Net needs -c; without it we take the configuration most models are used with. */
const PREFERRED_CONFIGURATIONS = ['3d_fullres', '3d_cascade_fullres', '2d', '3d_lowres'];

export function chooseConfiguration(card: ModelCard, requested?: string): ConfigurationCard {
  if (requested) {
    const c = card.configurations.find((x) => x.configuration === requested);
    if (!c)
      throw new Error(
        `model "${card.name}" has no configuration "${requested}" (has ${card.configurations.map((x) => x.configuration).join(', ')})`,
      );
    return c;
  }
  for (const name of PREFERRED_CONFIGURATIONS) {
    const c = card.configurations.find((x) => x.configuration === name);
    if (c) return c;
  }
  return card.configurations[0];
}

export interface LoadOptions {
  configuration?: string;
  /** fold names ('0'…'4', 'all'); default: every fold stored */
  folds?: string[];
  device?: ExecutionDevice;
  intraOpThreads?: number;
  /** apply the model's postprocessing.json when it has one (default true) */
  postprocess?: boolean;
}

export class LoadedModel {
  private constructor(
    readonly card: ModelCard,
    readonly configuration: ConfigurationCard,
    private readonly caseModel: CaseModel,
    private readonly sessions: OnnxSession[],
    private readonly previousStage: LoadedModel | null,
  ) {}

  static async load(stored: StoredModel, options: LoadOptions = {}): Promise<LoadedModel> {
    const configuration = chooseConfiguration(stored.card, options.configuration);
    const folder = join(stored.path, configuration.folder);
    const plans = parsePlans(JSON.parse(readFileSync(join(folder, 'plans.json'), 'utf8')), `${configuration.folder}/plans.json`);
    const datasetJson = JSON.parse(readFileSync(join(folder, 'dataset.json'), 'utf8')) as {
      labels: Record<string, LabelValue>;
      regions_class_order?: number[] | null;
    };
    const folds = options.folds
      ? options.folds.map((f) => {
          const fold = configuration.folds.find((x) => x.fold === f);
          if (!fold)
            throw new Error(`model "${stored.card.name}" ${configuration.configuration} has no fold ${f} (has ${configuration.folds.map((x) => x.fold).join(', ')})`);
          return fold;
        })
      : configuration.folds;
    const postprocessingPath = join(folder, 'postprocessing.json');
    const postprocessing =
      options.postprocess !== false && existsSync(postprocessingPath)
        ? parsePostprocessingJson(readFileSync(postprocessingPath, 'utf8'), postprocessingPath)
        : [];
    let previousStage: LoadedModel | null = null;
    if (configuration.previousStage)
      previousStage = await LoadedModel.load(stored, { ...options, configuration: configuration.previousStage, folds: undefined });
    const sessions: OnnxSession[] = [];
    try {
      for (const fold of folds) {
        const bytes = new Uint8Array(readFileSync(join(folder, `fold_${fold.fold}`, fold.onnx)));
        sessions.push(await OnnxSession.create(bytes, { device: options.device, intraOpThreads: options.intraOpThreads }));
      }
    } catch (e) {
      await Promise.all(sessions.map((s) => s.release()));
      await previousStage?.release();
      throw e;
    }
    const caseModel: CaseModel = {
      plans,
      configuration: configuration.configuration,
      datasetJson,
      folds: folds.map((f, i) => ({
        fold: f.fold,
        network: async (input, shape) => (await sessions[i].run(input, [...shape])).data,
      })),
      mirrorAxes: configuration.inferenceAllowedMirroringAxes,
      postprocessing,
    };
    return new LoadedModel(stored.card, configuration, caseModel, sessions, previousStage);
  }

  /** The work `predict` would do for an image of this geometry (the previous stage's included), computed without touching voxels. */
  predictionCost(image: Pick<Volume, 'shape' | 'spacing'>, options: Pick<PredictCaseOptions, 'useMirroring' | 'stepSize'> = {}): PredictionCost {
    const own = predictionCost({
      shape: image.shape,
      spacing: image.spacing,
      transposeForward: this.caseModel.plans.transpose_forward,
      patchSize: this.configuration.patchSize,
      targetSpacing: this.configuration.spacing,
      stepSize: options.stepSize ?? 0.5,
      mirrorAxes: this.configuration.inferenceAllowedMirroringAxes,
      useMirroring: options.useMirroring ?? true,
      folds: this.caseModel.folds.length,
    });
    const prev = this.previousStage?.predictionCost(image, options);
    return prev
      ? { voxels: Math.max(own.voxels, prev.voxels), tiles: own.tiles + prev.tiles, networkCalls: own.networkCalls + prev.networkCalls }
      : own;
  }

  /** Segments one case given as its channel volumes (order of dataset.json channel_names). */
  async predict(images: Volume[], options: PredictCaseOptions = {}): Promise<CasePrediction> {
    const expected = Object.keys(this.card.channelNames).length;
    if (images.length !== expected)
      throw new Error(`model "${this.card.name}" needs ${expected} channel(s) (${Object.values(this.card.channelNames).join(', ')}), got ${images.length}`);
    let previousStageSegmentation: Volume | undefined;
    if (this.previousStage) {
      // the previous stage's own progress and probabilities are not this case's: only its segmentation goes on
      const low = await this.previousStage.predict(images, { ...options, onProgress: undefined, onProbabilities: undefined });
      previousStageSegmentation = low.segmentation;
    }
    return predictCase(images, this.caseModel, { ...options, previousStageSegmentation });
  }

  async release(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.release()));
    await this.previousStage?.release();
  }
}

/**
 * Checkpoint → ONNX at model import: parse the `.pth` as data, check its weights against the network the
 * plans describe, and build the ONNX graph once so serving never touches the pickle again.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { buildOnnxModel } from '../engines/onnx/graph.js';
import { OnnxSession } from '../engines/onnx/session.js';
import { networkSpecFromPlans, type DatasetJsonLike } from '../nnunet/network/from-plans.js';
import { loadWeights } from './checkpoint/weights.js';
import { readNnunetCheckpoint } from './checkpoint/reader.js';
import { type PlansConfigurations } from '../nnunet/plans/plans.js';

export interface ConvertedCheckpoint {
  onnx: Uint8Array;
  inferenceAllowedMirroringAxes: number[] | null;
  trainerName: string | null;
}

export async function convertCheckpointToOnnx(
  pthPath: string,
  plans: unknown,
  configurationName: string,
  datasetJson: DatasetJsonLike,
): Promise<ConvertedCheckpoint> {
  const where = basename(pthPath);
  // the plans first: an absurd plans file is refused before a byte of the checkpoint is parsed
  const spec = networkSpecFromPlans(plans as PlansConfigurations, configurationName, datasetJson);
  let checkpoint;
  try {
    checkpoint = readNnunetCheckpoint(new Uint8Array(readFileSync(pthPath)));
  } catch (e) {
    throw new Error(`${pthPath}: not a readable nnU-Net checkpoint (${(e as Error).message})`);
  }
  if (checkpoint.configuration !== configurationName)
    throw new Error(`${where}: trained for configuration "${checkpoint.configuration}" but stored under "${configurationName}"`);
  let weights;
  try {
    weights = loadWeights(spec, checkpoint);
  } catch (e) {
    throw new Error(`${pthPath}: ${(e as Error).message}`);
  }
  return {
    onnx: buildOnnxModel(spec, weights),
    inferenceAllowedMirroringAxes: checkpoint.inferenceAllowedMirroringAxes,
    trainerName: checkpoint.trainerName,
  };
}

/** An .onnx brought without a checkpoint: its input/output channels must fit the plans and dataset.json. */
export async function readOnnxOnlyModel(onnxPath: string, plans: unknown, configurationName: string, datasetJson: DatasetJsonLike): Promise<void> {
  const spec = networkSpecFromPlans(plans as PlansConfigurations, configurationName, datasetJson);
  let session: OnnxSession;
  try {
    session = await OnnxSession.create(new Uint8Array(readFileSync(onnxPath)), { device: 'cpu', intraOpThreads: 1 });
  } catch (e) {
    throw new Error(`${onnxPath}: not a loadable ONNX model (${(e as Error).message})`);
  }
  try {
    if (session.inputChannels !== spec.inputChannels || session.numOutputs !== spec.numOutputs || session.spatialDims !== spec.dim)
      throw new Error(
        `${onnxPath}: model takes ${session.inputChannels} channels (${session.spatialDims}D) and gives ${session.numOutputs} outputs; ` +
          `the plans/dataset.json need ${spec.inputChannels} channels (${spec.dim}D) and ${spec.numOutputs} outputs`,
      );
  } finally {
    await session.release();
  }
}

/**
 * Write a `.pth` laid out like a real nnU-Net v2 checkpoint: torch zip format (`<archive>/data.pkl`,
 * `<archive>/byteorder`, `<archive>/data/<key>` raw little-endian float32 storages, `<archive>/version`,
 * `<archive>/.data/serialization_id`), entries stored uncompressed as torch does, and the pickled dict with the
 * keys of nnUNetTrainer.save_checkpoint. With a spec, network_weights is the full PyTorch state_dict order
 * including the alias keys (sharing storages with their canonical parameters).
 */
import { zipSync, type Zippable } from 'fflate';
import { stateDictEntries, type NetworkSpec } from '../../nnunet/network/spec.js';
import type { NetworkWeights } from '../../engines/onnx/graph.js';
import { Pickler, PyFloat, PyOrderedDict, PyTuple, WriteDevice, WriteTensor, type WriteValue } from '../../formats/pickler.js';

export interface WriteCheckpointOptions {
  spec: NetworkSpec;
  /** canonical parameter name → values (see NetworkSpec.params) */
  weights: NetworkWeights;
  plans: Record<string, unknown>;
  configuration: string;
  fold: number | 'all';
  datasetJson: Record<string, unknown>;
  trainerName?: string;
  currentEpoch?: number;
  inferenceAllowedMirroringAxes?: number[] | null;
  bestEma?: number | null;
  logging?: Record<string, unknown>;
  /** include the `…all_modules…` / `decoder.encoder.…` alias keys a real state_dict has (default true) */
  includeAliases?: boolean;
  /** top-level folder name in the zip (torch uses the file's base name or "archive") */
  archiveName?: string;
}

/** JSON → pickle values. JSON cannot tell 1.0 from 1: integral numbers are written as Python ints. */
function fromJson(v: unknown): WriteValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(fromJson);
  if (typeof v === 'object') {
    const m = new Map<string, WriteValue>();
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) m.set(k, fromJson(x));
    return m;
  }
  throw new Error(`cannot pickle a ${typeof v}`);
}

export function writeNnunetCheckpoint(o: WriteCheckpointOptions): Uint8Array {
  const shapes = new Map(o.spec.params.map((p) => [p.name, p.shape]));
  const tensors = new Map<string, WriteTensor>();
  for (const p of o.spec.params) {
    const w = o.weights.get(p.name);
    if (!w) throw new Error(`writeNnunetCheckpoint: weights lack ${p.name}`);
    tensors.set(p.name, new WriteTensor(w, p.shape));
  }
  const entries = o.includeAliases === false ? o.spec.params.map((p) => [p.name, p.name] as [string, string]) : stateDictEntries(o.spec);
  const sd = new Map<string, WriteValue>();
  for (const [key, canonical] of entries) {
    if (!shapes.has(canonical)) throw new Error(`internal: ${canonical} has no shape`);
    sd.set(key, tensors.get(canonical)!);
  }

  const root = new Map<string, WriteValue>([
    ['network_weights', new PyOrderedDict(sd)],
    // SGD state of a fresh optimizer: no momentum buffers yet, one param group
    [
      'optimizer_state',
      new Map<string, WriteValue>([
        ['state', new Map()],
        [
          'param_groups',
          [
            new Map<string, WriteValue>([
              ['lr', new PyFloat(0.01)],
              ['momentum', new PyFloat(0.99)],
              ['dampening', 0],
              ['weight_decay', new PyFloat(3e-5)],
              ['nesterov', true],
              ['initial_lr', new PyFloat(0.01)],
              ['params', o.spec.params.map((_, i) => i)],
            ]),
          ],
        ],
      ]),
    ],
    ['grad_scaler_state', null],
    ['logging', fromJson(o.logging ?? {})],
    ['_best_ema', o.bestEma === undefined || o.bestEma === null ? null : new PyFloat(o.bestEma)],
    ['current_epoch', o.currentEpoch ?? 0],
    [
      'init_args',
      new Map<string, WriteValue>([
        ['plans', fromJson(o.plans)],
        ['configuration', o.configuration],
        ['fold', o.fold],
        ['dataset_json', fromJson(o.datasetJson)],
        ['unpack_dataset', true],
        ['device', new WriteDevice('cuda')],
      ]),
    ],
    ['trainer_name', o.trainerName ?? 'nnUNetTrainer'],
    ['inference_allowed_mirroring_axes', o.inferenceAllowedMirroringAxes ? new PyTuple(o.inferenceAllowedMirroringAxes) : null],
  ]);

  const pickler = new Pickler();
  const pkl = pickler.dump(root);
  const a = o.archiveName ?? 'archive';
  if (!/^[A-Za-z0-9_.-]+$/.test(a) || a === '..' || a === '.') throw new Error(`invalid archive name "${a}"`);
  const files: Zippable = {};
  files[`${a}/data.pkl`] = [pkl, { level: 0 }];
  files[`${a}/byteorder`] = [new TextEncoder().encode('little'), { level: 0 }];
  for (const s of pickler.storages) {
    const bytes = new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength);
    files[`${a}/data/${s.key}`] = [bytes, { level: 0 }];
  }
  files[`${a}/version`] = [new TextEncoder().encode('3\n'), { level: 0 }];
  files[`${a}/.data/serialization_id`] = [new TextEncoder().encode('0000000000000000000000000000000000000000'), { level: 0 }];
  return zipSync(files);
}

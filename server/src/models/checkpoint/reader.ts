/**
 * Read a real nnU-Net v2 checkpoint (`checkpoint_final.pth` / `checkpoint_best.pth`) without torch.
 *
 * torch.save (zip format, torch ≥ 1.6) writes a zip with one top-level folder `<archive>/`:
 *   data.pkl        pickle (protocol 2) of the checkpoint dict; tensors are `_rebuild_tensor_v2` calls whose
 *                   storage is a persistent id ('storage', torch.<Type>Storage, key, location, numel)
 *   data/<key>      raw storage bytes (byte order per `byteorder`, little when absent)
 *   version, byteorder, .data/serialization_id, .format_version …
 * The dict (nnunetv2 nnUNetTrainer.save_checkpoint): network_weights (state_dict), optimizer_state,
 * grad_scaler_state, logging, _best_ema, current_epoch, init_args {plans, configuration, fold, dataset_json,
 * unpack_dataset, device}, trainer_name, inference_allowed_mirroring_axes.
 * Only storages referenced by network_weights are decompressed; the rest (optimizer momentum) is skipped.
 */
import { unzipSync } from 'fflate';
import { z } from 'zod';
import {
  TorchTensorRef,
  pyToJson,
  unpickle,
  type PyKey,
  type PyValue,
} from '../../formats/pickle.js';
import { materializeTensor, type Float32Tensor } from './tensor.js';

export interface NnunetCheckpoint {
  /** every state_dict key (aliases included; aliases share the canonical key's array) */
  networkWeights: Map<string, Float32Tensor>;
  plans: Record<string, unknown>;
  configuration: string;
  fold: number | 'all' | string;
  datasetJson: Record<string, unknown>;
  trainerName: string | null;
  currentEpoch: number | null;
  inferenceAllowedMirroringAxes: number[] | null;
  bestEma: number | null;
  /** init_args as JSON-like data (device becomes a string such as "cuda:0") */
  initArgs: Record<string, unknown>;
  /** the trainer's logger state (JSON-like), if present */
  logging: unknown;
}

const CheckpointMetaSchema = z
  .object({
    init_args: z
      .object({
        plans: z.record(z.string(), z.unknown()),
        configuration: z.string(),
        fold: z.union([z.number().int(), z.string()]),
        dataset_json: z.record(z.string(), z.unknown()),
      })
      .loose(),
    trainer_name: z.string().nullable().optional(),
    current_epoch: z.number().int().nullable().optional(),
    inference_allowed_mirroring_axes: z.array(z.number().int()).nullable().optional(),
    _best_ema: z.number().nullable().optional(),
  })
  .loose();

/** Zip entry names must stay inside the archive (no zip-slip). */
export function checkEntryName(name: string): void {
  if (
    name.startsWith('/') ||
    name.startsWith('\\') ||
    /^[A-Za-z]:/.test(name) ||
    name.includes('\\') ||
    name.split('/').some((seg) => seg === '..') ||
    name.includes('\0')
  )
    throw new Error(`unsafe zip entry name "${name}" (absolute or parent path): refusing the checkpoint`);
}

export interface TorchArchive {
  /** the unpickled root object */
  root: PyValue;
  /** load the raw bytes of a storage by key */
  storage(key: string): Uint8Array;
  littleEndian: boolean;
}

/** Open a torch zip-format file: validate entry names, parse data.pkl, read storages lazily. */
export function openTorchArchive(bytes: Uint8Array): TorchArchive {
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! <= 5)
    throw new Error('legacy (pre-zip) torch serialization is not supported: re-save the checkpoint with torch >= 1.6');
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) throw new Error('not a torch checkpoint: the file is not a zip archive');
  let prefix: string | null = null;
  const names: string[] = [];
  const head = unzipSync(bytes, {
    filter: (f) => {
      checkEntryName(f.name);
      names.push(f.name);
      const m = /^([^/]+)\/(data\.pkl|byteorder)$/.exec(f.name);
      if (m && m[2] === 'data.pkl') {
        if (prefix !== null && prefix !== m[1]) throw new Error('torch checkpoint has more than one data.pkl');
        prefix = m[1]!;
      }
      return m !== null;
    },
  });
  if (prefix === null) throw new Error(`not a torch checkpoint: no <archive>/data.pkl among ${names.length} zip entries`);
  const pkl = head[`${prefix}/data.pkl`]!;
  const order = head[`${prefix}/byteorder`];
  const orderText = order ? new TextDecoder().decode(order).trim() : 'little';
  if (orderText !== 'little' && orderText !== 'big') throw new Error(`torch checkpoint: unknown byteorder "${orderText}"`);
  const root = unpickle(pkl);
  const p = prefix as string;
  const cache = new Map<string, Uint8Array>();
  return {
    root,
    littleEndian: orderText === 'little',
    storage(key: string): Uint8Array {
      const hit = cache.get(key);
      if (hit) return hit;
      const entry = `${p}/data/${key}`;
      const got = unzipSync(bytes, { filter: (f) => f.name === entry })[entry];
      if (!got) throw new Error(`torch checkpoint: storage "${entry}" is missing from the zip`);
      cache.set(key, got);
      return got;
    },
  };
}

/** A checkpoint's metadata: everything but the tensors (which are not read). */
export type NnunetCheckpointInfo = Omit<NnunetCheckpoint, 'networkWeights'>;

function checkpointRoot(archive: TorchArchive): Map<PyKey, PyValue> {
  const root = archive.root;
  if (!(root instanceof Map)) throw new Error('nnU-Net checkpoint: the pickled root is not a dict');
  return root;
}

function checkpointInfo(root: Map<PyKey, PyValue>): NnunetCheckpointInfo {
  // everything but the tensors is small: validate it as JSON-like data
  const meta = new Map<PyKey, PyValue>([...root].filter(([k]) => k !== 'network_weights' && k !== 'optimizer_state'));
  const json = pyToJson(meta) as Record<string, unknown>;
  const r = CheckpointMetaSchema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`nnU-Net checkpoint metadata is invalid: ${issues}`);
  }
  const m = r.data;
  return {
    plans: m.init_args.plans,
    configuration: m.init_args.configuration,
    fold: m.init_args.fold,
    datasetJson: m.init_args.dataset_json,
    trainerName: m.trainer_name ?? null,
    currentEpoch: m.current_epoch ?? null,
    inferenceAllowedMirroringAxes: m.inference_allowed_mirroring_axes ?? null,
    bestEma: m._best_ema ?? null,
    initArgs: m.init_args as Record<string, unknown>,
    logging: json.logging ?? null,
  };
}

/**
 * The metadata of an nnU-Net checkpoint (trainer, configuration, fold, plans, mirroring axes) from its pickle
 * alone: no storage is decompressed. What nnUNetPredictor.initialize_from_trained_model_folder reads first.
 */
export function readNnunetCheckpointInfo(bytes: Uint8Array): NnunetCheckpointInfo {
  return checkpointInfo(checkpointRoot(openTorchArchive(bytes)));
}

/** Parse an nnU-Net v2 checkpoint (.pth bytes). */
export function readNnunetCheckpoint(bytes: Uint8Array): NnunetCheckpoint {
  const archive = openTorchArchive(bytes);
  const root = checkpointRoot(archive);
  const sd = root.get('network_weights');
  if (!(sd instanceof Map)) throw new Error('nnU-Net checkpoint: "network_weights" is missing or not a dict');
  // the metadata is checked before any tensor is read
  const info = checkpointInfo(root);

  const networkWeights = new Map<string, Float32Tensor>();
  const views = new Map<string, Float32Tensor>();
  for (const [k, t] of sd) {
    if (typeof k !== 'string') throw new Error(`nnU-Net checkpoint: network_weights key ${String(k)} is not a string`);
    if (!(t instanceof TorchTensorRef)) throw new Error(`nnU-Net checkpoint: network_weights["${k}"] is not a tensor`);
    const viewKey = `${t.storage.key}|${t.storageOffset}|${t.shape.join(',')}|${t.stride.join(',')}`;
    let m = views.get(viewKey);
    if (!m) {
      m = materializeTensor(t, archive.storage(t.storage.key), k, archive.littleEndian);
      views.set(viewKey, m);
    }
    networkWeights.set(k, m);
  }
  return { networkWeights, ...info };
}

/**
 * Fine-tuning start point: the weights of a stored (imported or trained) model, as nnU-Net's
 * load_pretrained_weights (nnunetv2/run/load_pretrained_weights.py) takes them: every parameter must exist
 * with the same shape except the segmentation heads (`.seg_layers.`), which keep their fresh
 * initialisation so a model can be fine-tuned to a different label set.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetworkWeights } from '../engines/onnx/graph.js';
import { readNnunetCheckpoint } from '../models/checkpoint/reader.js';
import type { StoredModel } from '../models/model-store.js';
import type { NetworkSpec } from '../nnunet/network/spec.js';

export function pretrainedWeights(stored: StoredModel, configuration: string, spec: NetworkSpec, init: NetworkWeights, fold?: string): NetworkWeights {
  const conf = stored.card.configurations.find((c) => c.configuration === configuration);
  if (!conf)
    throw new Error(`pretrained model "${stored.card.name}" has no configuration ${configuration} (has ${stored.card.configurations.map((c) => c.configuration).join(', ')})`);
  const f = fold !== undefined ? conf.folds.find((x) => x.fold === fold) : conf.folds.find((x) => x.checkpoint);
  if (!f?.checkpoint) throw new Error(`pretrained model "${stored.card.name}" ${configuration}: no fold with a checkpoint${fold !== undefined ? ` (fold ${fold})` : ''}`);
  const ckpt = readNnunetCheckpoint(new Uint8Array(readFileSync(join(stored.path, conf.folder, `fold_${f.fold}`, f.checkpoint))));
  const out: NetworkWeights = new Map();
  const problems: string[] = [];
  for (const p of spec.params) {
    if (p.name.includes('.seg_layers.')) {
      out.set(p.name, init.get(p.name)!);
      continue;
    }
    const t = ckpt.networkWeights.get(p.name);
    if (!t) problems.push(`missing ${p.name}`);
    else if (t.shape.join() !== p.shape.join()) problems.push(`${p.name}: [${t.shape.join(', ')}] vs [${p.shape.join(', ')}]`);
    else out.set(p.name, Float32Array.from(t.data));
  }
  if (problems.length)
    throw new Error(`pretrained model "${stored.card.name}" does not fit the network of these plans (${problems.length} problems): ${problems.slice(0, 10).join('; ')}`);
  return out;
}

/**
 * Plans overrides for quick runs and CI. (Planning and preprocessing themselves: pipelines/plan-and-preprocess.ts.)
 */
import { configurationDict, type Plans } from '../nnunet/plans/plans.js';

/**
 * A smaller network for quick runs and CI (documented override, not nnU-Net's plans): features capped at
 * `maxFeatures` (base·2^s), at most `maxStages` stages (patch shrunk to stay divisible), and
 * one conv per stage in encoder and decoder when `lean`.
 */
export function shrinkPlans(
  plans: Plans,
  configuration: string,
  o: { baseFeatures: number; maxFeatures: number; maxStages?: number; patchSize?: number[]; batchSize?: number; lean?: boolean },
): Plans {
  const copy = JSON.parse(JSON.stringify(plans)) as Plans;
  const resolved = configurationDict(copy, configuration);
  const arch = JSON.parse(JSON.stringify(resolved.architecture)) as { arch_kwargs: Record<string, unknown> };
  const k = arch.arch_kwargs;
  let n = k.n_stages as number;
  const cut = <T>(v: T) => (Array.isArray(v) ? (v.slice(0, n) as T) : v);
  if (o.maxStages !== undefined && o.maxStages < n) {
    n = o.maxStages;
    k.n_stages = n;
    for (const key of ['features_per_stage', 'kernel_sizes', 'strides', 'n_conv_per_stage', 'n_blocks_per_stage']) if (key in k) k[key] = cut(k[key]);
    if (Array.isArray(k.n_conv_per_stage_decoder)) k.n_conv_per_stage_decoder = (k.n_conv_per_stage_decoder as number[]).slice(0, n - 1);
  }
  k.features_per_stage = Array.from({ length: n }, (_, s) => Math.min(o.baseFeatures * 2 ** s, o.maxFeatures));
  if (o.lean) {
    if ('n_conv_per_stage' in k) k.n_conv_per_stage = new Array(n).fill(1);
    if ('n_blocks_per_stage' in k) k.n_blocks_per_stage = new Array(n).fill(1);
    k.n_conv_per_stage_decoder = new Array(n - 1).fill(1);
  }
  const own = copy.configurations[configuration]!;
  own.architecture = arch;
  // the patch must stay divisible by the total stride of the remaining stages
  const strides = (k.strides as number[][]).map((s) => (Array.isArray(s) ? s : []));
  const total = (resolved.patch_size as number[]).map((_, a) => strides.reduce((p, s) => p * (s[a] ?? 1), 1));
  const patch = (o.patchSize ?? (resolved.patch_size as number[])).map((p, a) => Math.max(total[a]!, Math.round(p / total[a]!) * total[a]!));
  own.patch_size = patch;
  if (o.batchSize !== undefined) own.batch_size = o.batchSize;
  return copy;
}

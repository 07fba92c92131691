/**
 * The `architecture` block of an nnU-Net v2 plans.json configuration, validated.
 *
 * nnU-Net ≥ 2.4 writes, per configuration:
 *   "architecture": { "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
 *                     "arch_kwargs": { n_stages, features_per_stage, conv_op, kernel_sizes, strides,
 *                                      n_conv_per_stage | n_blocks_per_stage, n_conv_per_stage_decoder,
 *                                      conv_bias, norm_op, norm_op_kwargs, dropout_op, dropout_op_kwargs,
 *                                      nonlin, nonlin_kwargs },
 *                     "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"] }
 * Older v2 plans carry the same facts as flat configuration keys (UNet_class_name, UNet_base_num_features,
 * conv_kernel_sizes, pool_op_kernel_sizes, …); `architectureFromLegacyConfiguration` converts them the way
 * nnunetv2/utilities/plans_handling/plans_handler.py (ConfigurationManager, legacy branch) did.
 */
import { z } from 'zod';

/**
 * Bounds far beyond anything nnU-Net plans (features ≤ 512, ≤ 8 stages, kernels ≤ 3, strides ≤ 2, ≤ 6 convs
 * per stage in ResEnc XL): a plans file outside them is absurd and is refused before any weight is read.
 */
export const ARCH_LIMITS = { stages: 16, features: 4096, kernel: 15, stride: 16, convsPerStage: 64 } as const;

const bounded = (max: number) => z.number().int().positive().max(max);
const intOrList = (max: number) => z.union([bounded(max), z.array(bounded(max)).max(ARCH_LIMITS.stages)]);
const sizeList = (max: number) => z.union([bounded(max), z.array(bounded(max)).min(1).max(3)]);

export const ArchKwargsSchema = z
  .object({
    n_stages: z.number().int().min(1).max(ARCH_LIMITS.stages),
    features_per_stage: intOrList(ARCH_LIMITS.features),
    conv_op: z.string(),
    kernel_sizes: z.union([bounded(ARCH_LIMITS.kernel), z.array(sizeList(ARCH_LIMITS.kernel)).max(ARCH_LIMITS.stages)]),
    strides: z.union([bounded(ARCH_LIMITS.stride), z.array(sizeList(ARCH_LIMITS.stride)).max(ARCH_LIMITS.stages)]),
    n_conv_per_stage: intOrList(ARCH_LIMITS.convsPerStage).optional(),
    n_blocks_per_stage: intOrList(ARCH_LIMITS.convsPerStage).optional(),
    n_conv_per_stage_decoder: intOrList(ARCH_LIMITS.convsPerStage),
    conv_bias: z.boolean().default(false),
    norm_op: z.string().nullable().default(null),
    norm_op_kwargs: z.record(z.string(), z.unknown()).nullable().default(null),
    dropout_op: z.string().nullable().default(null),
    dropout_op_kwargs: z.record(z.string(), z.unknown()).nullable().default(null),
    nonlin: z.string().nullable().default(null),
    nonlin_kwargs: z.record(z.string(), z.unknown()).nullable().default(null),
    nonlin_first: z.boolean().optional(),
    block: z.string().optional(),
    bottleneck_channels: z.unknown().optional(),
    stem_channels: bounded(ARCH_LIMITS.features).nullable().optional(),
  })
  .loose();
export type ArchKwargs = z.infer<typeof ArchKwargsSchema>;

export const ArchitectureSchema = z
  .object({
    network_class_name: z.string(),
    arch_kwargs: ArchKwargsSchema,
    _kw_requires_import: z.array(z.string()).optional(),
  })
  .loose();
export type Architecture = z.infer<typeof ArchitectureSchema>;

/** Parse an architecture block; the error names every offending key. */
export function parseArchitecture(raw: unknown, where = 'architecture'): Architecture {
  const r = ArchitectureSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${where}.${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid nnU-Net architecture block: ${issues}`);
  }
  return r.data;
}

const LegacyConfigurationSchema = z
  .object({
    UNet_class_name: z.string(),
    UNet_base_num_features: bounded(ARCH_LIMITS.features),
    unet_max_num_features: bounded(ARCH_LIMITS.features),
    conv_kernel_sizes: z.array(z.array(bounded(ARCH_LIMITS.kernel)).min(2).max(3)).min(1).max(ARCH_LIMITS.stages),
    pool_op_kernel_sizes: z.array(z.array(bounded(ARCH_LIMITS.stride)).min(2).max(3)).min(1).max(ARCH_LIMITS.stages),
    n_conv_per_stage_encoder: z.array(bounded(ARCH_LIMITS.convsPerStage)).max(ARCH_LIMITS.stages),
    n_conv_per_stage_decoder: z.array(bounded(ARCH_LIMITS.convsPerStage)).max(ARCH_LIMITS.stages),
  })
  .loose();

/**
 * Plans written before the `architecture` block existed: rebuild it like the legacy branch of
 * ConfigurationManager did (features = min(base·2^s, max), conv_bias True, InstanceNorm eps 1e-5 affine,
 * LeakyReLU inplace, no dropout).
 */
export function architectureFromLegacyConfiguration(config: unknown): Architecture {
  const r = LegacyConfigurationSchema.safeParse(config);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`configuration has neither an architecture block nor valid legacy keys: ${issues}`);
  }
  const c = r.data;
  const nStages = c.conv_kernel_sizes.length;
  const dim = c.conv_kernel_sizes[0]!.length;
  const features = Array.from({ length: nStages }, (_, s) =>
    Math.min(c.UNet_base_num_features * 2 ** s, c.unet_max_num_features),
  );
  const cls = c.UNet_class_name.includes('.')
    ? c.UNet_class_name
    : `dynamic_network_architectures.architectures.unet.${c.UNet_class_name}`;
  const isRes = cls.endsWith('ResidualEncoderUNet');
  return parseArchitecture({
    network_class_name: cls,
    arch_kwargs: {
      n_stages: nStages,
      features_per_stage: features,
      conv_op: dim === 3 ? 'torch.nn.modules.conv.Conv3d' : 'torch.nn.modules.conv.Conv2d',
      kernel_sizes: c.conv_kernel_sizes,
      strides: c.pool_op_kernel_sizes,
      ...(isRes ? { n_blocks_per_stage: c.n_conv_per_stage_encoder } : { n_conv_per_stage: c.n_conv_per_stage_encoder }),
      n_conv_per_stage_decoder: c.n_conv_per_stage_decoder,
      conv_bias: true,
      norm_op: dim === 3 ? 'torch.nn.modules.instancenorm.InstanceNorm3d' : 'torch.nn.modules.instancenorm.InstanceNorm2d',
      norm_op_kwargs: { eps: 1e-5, affine: true },
      dropout_op: null,
      dropout_op_kwargs: null,
      nonlin: 'torch.nn.LeakyReLU',
      nonlin_kwargs: { inplace: true },
    },
    _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
  });
}

/**
 * Network spec: the nnU-Net U-Net (PlainConvUNet / ResidualEncoderUNet of dynamic-network-architectures)
 * as plain data — layers with their hyper-parameters and every parameter with the exact PyTorch
 * state_dict name and shape. Pure: no I/O. Feeds the ONNX builder (inference) and the trainer.
 *
 * Module tree mirrored (dynamic_network_architectures):
 *  - ConvDropoutNormReLU (simple_conv_blocks.py): `<p>.conv` (+bias if conv_bias), `<p>.norm` (InstanceNorm,
 *    affine → weight, bias), nonlin; `<p>.all_modules.{i}` re-registers the same modules (alias keys).
 *  - PlainConvEncoder (plain_conv_encoder.py, pool='conv'): `encoder.stages.{s}` = Sequential(StackedConvBlocks)
 *    → `encoder.stages.{s}.0.convs.{c}`; the first conv of a stage carries the stage stride.
 *  - ResidualEncoder (residual_encoders.py): `encoder.stem.convs.0` (stride 1, stem_channels or
 *    features[0]), then `encoder.stages.{s}.blocks.{b}` = BasicBlockD (residual.py): conv1 (stride, nonlin),
 *    conv2 (no nonlin), skip = Sequential([AvgPool(stride) if strided], [1×1 ConvDropoutNormReLU, bias False,
 *    no nonlin if channels change]) — so the projection is `skip.1` after a pool, `skip.0` without one —
 *    then out = nonlin(conv2 + skip).
 *  - UNetDecoder (unet_decoder.py): for s = 0..n-2 (bottleneck upwards) `decoder.transpconvs.{s}`
 *    (ConvTranspose, kernel = stride = encoder.strides[-(s+1)], bias = conv_bias, weight [in, out, *k]),
 *    concat(transp, skip) → `decoder.stages.{s}.convs.{c}` (kernel of encoder stage -(s+2)), and
 *    `decoder.seg_layers.{s}` (1×1 conv, bias True), all built even without deep supervision.
 *    `decoder.encoder.*` aliases the whole encoder in the state_dict.
 */
import { parseArchitecture, type Architecture } from './architecture.js';

/** Most parameters a plans file may describe (8 GiB of float32). */
export const MAX_PARAMETERS = 2e9;

export type NetworkClass = 'PlainConvUNet' | 'ResidualEncoderUNet';

export interface ConvSpec {
  inChannels: number;
  outChannels: number;
  kernel: number[];
  stride: number[];
  /** symmetric padding, (k - 1) // 2 per axis as ConvDropoutNormReLU sets it */
  padding: number[];
  bias: boolean;
}

export interface NonlinSpec {
  kind: 'leaky_relu' | 'relu';
  negativeSlope: number;
}

/** ConvDropoutNormReLU: conv → (dropout, identity at inference) → norm → nonlin (or nonlin → norm). */
export interface ConvBlockSpec {
  /** module prefix, e.g. `encoder.stages.0.0.convs.0` */
  name: string;
  conv: ConvSpec;
  norm: { eps: number } | null;
  nonlin: NonlinSpec | null;
  nonlinFirst: boolean;
}

export interface ResidualBlockSpec {
  /** e.g. `encoder.stages.1.blocks.0` */
  name: string;
  conv1: ConvBlockSpec;
  conv2: ConvBlockSpec;
  /** AvgPool kernel = stride on the skip path, null when the block has stride 1 */
  skipPool: number[] | null;
  skipProjection: ConvBlockSpec | null;
  /** nonlin2 applied after the addition */
  nonlin: NonlinSpec | null;
}

export type EncoderStageSpec =
  | { kind: 'plain'; stride: number[]; outChannels: number; convs: ConvBlockSpec[] }
  | { kind: 'residual'; stride: number[]; outChannels: number; blocks: ResidualBlockSpec[] };

export interface DecoderStageSpec {
  transpconv: { name: string; inChannels: number; outChannels: number; kernel: number[]; stride: number[]; bias: boolean };
  convs: ConvBlockSpec[];
  segLayer: { name: string; inChannels: number; outChannels: number };
}

export interface ParamSpec {
  name: string;
  shape: number[];
}

export interface NetworkSpec {
  networkClass: NetworkClass;
  /** 2 or 3 spatial dimensions (Conv2d / Conv3d) */
  dim: 2 | 3;
  inputChannels: number;
  numOutputs: number;
  stem: ConvBlockSpec | null;
  encoder: EncoderStageSpec[];
  /** ordered bottleneck → full resolution, as in UNetDecoder */
  decoder: DecoderStageSpec[];
  /** every real parameter, in state_dict order, without alias keys */
  params: ParamSpec[];
}

/** Total product of the strides of the encoder — the patch must be divisible by it along every axis. */
export function totalStride(spec: NetworkSpec): number[] {
  const out = new Array<number>(spec.dim).fill(1);
  for (const st of spec.encoder) st.stride.forEach((s, a) => (out[a]! *= s));
  return out;
}

function shortClass(name: string): NetworkClass {
  const short = name.split('.').pop()!;
  if (short === 'PlainConvUNet' || short === 'ResidualEncoderUNet') return short;
  throw new Error(
    `unsupported network_class_name "${name}": only PlainConvUNet and ResidualEncoderUNet (dynamic_network_architectures) are supported`,
  );
}

function perStage<T>(v: T | T[], n: number, key: string): T[] {
  if (Array.isArray(v)) {
    if (v.length !== n) throw new Error(`arch_kwargs.${key} has ${v.length} entries, n_stages is ${n}`);
    return v;
  }
  return new Array<T>(n).fill(v);
}

function toSizes(v: number | number[], dim: number, key: string): number[] {
  if (typeof v === 'number') return new Array<number>(dim).fill(v);
  if (v.length !== dim) throw new Error(`arch_kwargs.${key}: ${JSON.stringify(v)} does not have ${dim} entries`);
  return v;
}

function convDim(convOp: string): 2 | 3 {
  if (/Conv3d$/.test(convOp)) return 3;
  if (/Conv2d$/.test(convOp)) return 2;
  throw new Error(`unsupported conv_op "${convOp}": expected torch.nn Conv2d or Conv3d`);
}

function normFrom(op: string | null, kwargs: Record<string, unknown> | null): { eps: number } | null {
  if (op === null) return null;
  if (!/InstanceNorm[23]d$/.test(op)) throw new Error(`unsupported norm_op "${op}": only InstanceNorm2d/3d`);
  const eps = kwargs?.eps ?? 1e-5;
  if (typeof eps !== 'number') throw new Error('arch_kwargs.norm_op_kwargs.eps must be a number');
  // affine=False would mean no weight/bias in the state_dict; nnU-Net always uses affine=True
  if (kwargs?.affine === false) throw new Error('unsupported norm_op_kwargs.affine=false (nnU-Net uses affine InstanceNorm)');
  if (kwargs?.track_running_stats === true) throw new Error('unsupported norm_op_kwargs.track_running_stats=true');
  return { eps };
}

function nonlinFrom(op: string | null, kwargs: Record<string, unknown> | null): NonlinSpec | null {
  if (op === null) return null;
  if (/LeakyReLU$/.test(op)) {
    const slope = kwargs?.negative_slope ?? 0.01; // torch default
    if (typeof slope !== 'number') throw new Error('arch_kwargs.nonlin_kwargs.negative_slope must be a number');
    return { kind: 'leaky_relu', negativeSlope: slope };
  }
  if (/\.ReLU$/.test(op) || op === 'ReLU') return { kind: 'relu', negativeSlope: 0 };
  throw new Error(`unsupported nonlin "${op}": only LeakyReLU and ReLU`);
}

/**
 * Build the spec of the network nnU-Net's get_network_from_plans would instantiate from this architecture
 * block. `numOutputs` = label_manager.num_segmentation_heads (number of labels incl. background, or number
 * of regions for region-based training).
 */
export function buildNetworkSpec(architecture: Architecture | unknown, inputChannels: number, numOutputs: number): NetworkSpec {
  const arch = parseArchitecture(architecture);
  if (!Number.isInteger(inputChannels) || inputChannels < 1) throw new Error(`inputChannels must be a positive integer, got ${inputChannels}`);
  if (!Number.isInteger(numOutputs) || numOutputs < 1) throw new Error(`numOutputs must be a positive integer, got ${numOutputs}`);
  const networkClass = shortClass(arch.network_class_name);
  const k = arch.arch_kwargs;
  const dim = convDim(k.conv_op);
  const n = k.n_stages;
  if (n < 2) throw new Error(`arch_kwargs.n_stages is ${n}: a U-Net needs at least 2 stages (the decoder's last seg layer gives the logits)`);
  const features = perStage(k.features_per_stage, n, 'features_per_stage');
  const kernels = perStage<number | number[]>(k.kernel_sizes, n, 'kernel_sizes').map((v, s) => toSizes(v, dim, `kernel_sizes[${s}]`));
  const strides = perStage<number | number[]>(k.strides, n, 'strides').map((v, s) => toSizes(v, dim, `strides[${s}]`));
  const decConvs = Array.isArray(k.n_conv_per_stage_decoder)
    ? k.n_conv_per_stage_decoder
    : new Array<number>(n - 1).fill(k.n_conv_per_stage_decoder);
  if (decConvs.length !== n - 1)
    throw new Error(`arch_kwargs.n_conv_per_stage_decoder has ${decConvs.length} entries, expected n_stages - 1 = ${n - 1}`);
  const bias = k.conv_bias;
  const norm = normFrom(k.norm_op, k.norm_op_kwargs);
  const nonlin = nonlinFrom(k.nonlin, k.nonlin_kwargs);
  // nonlin_first is a PlainConvUNet argument only; ResidualEncoderUNet never passes it
  const nonlinFirst = networkClass === 'PlainConvUNet' && k.nonlin_first === true;

  const block = (name: string, cin: number, cout: number, kernel: number[], stride: number[], opts?: { bias?: boolean; nonlin?: NonlinSpec | null }): ConvBlockSpec => ({
    name,
    conv: { inChannels: cin, outChannels: cout, kernel, stride, padding: kernel.map((x) => (x - 1) >> 1), bias: opts?.bias ?? bias },
    norm,
    nonlin: opts && 'nonlin' in opts ? (opts.nonlin ?? null) : nonlin,
    nonlinFirst,
  });
  const ones = new Array<number>(dim).fill(1);

  let stem: ConvBlockSpec | null = null;
  const encoder: EncoderStageSpec[] = [];
  if (networkClass === 'PlainConvUNet') {
    const nConv = perStage(k.n_conv_per_stage ?? missing('n_conv_per_stage', networkClass), n, 'n_conv_per_stage');
    let cin = inputChannels;
    for (let s = 0; s < n; s++) {
      const convs: ConvBlockSpec[] = [];
      for (let c = 0; c < nConv[s]!; c++) {
        convs.push(block(`encoder.stages.${s}.0.convs.${c}`, c === 0 ? cin : features[s]!, features[s]!, kernels[s]!, c === 0 ? strides[s]! : ones));
      }
      encoder.push({ kind: 'plain', stride: strides[s]!, outChannels: features[s]!, convs });
      cin = features[s]!;
    }
  } else {
    if (k.block !== undefined && !/BasicBlockD$/.test(k.block))
      throw new Error(`unsupported ResidualEncoderUNet block "${k.block}": only BasicBlockD`);
    const nBlocks = perStage(k.n_blocks_per_stage ?? missing('n_blocks_per_stage', networkClass), n, 'n_blocks_per_stage');
    const stemChannels = k.stem_channels ?? features[0]!;
    stem = block('encoder.stem.convs.0', inputChannels, stemChannels, kernels[0]!, ones);
    let cin = stemChannels;
    for (let s = 0; s < n; s++) {
      const blocks: ResidualBlockSpec[] = [];
      for (let b = 0; b < nBlocks[s]!; b++) {
        const name = `encoder.stages.${s}.blocks.${b}`;
        const stride = b === 0 ? strides[s]! : ones;
        const bin = b === 0 ? cin : features[s]!;
        const strided = stride.some((x) => x !== 1);
        const project = bin !== features[s]!;
        blocks.push({
          name,
          conv1: block(`${name}.conv1`, bin, features[s]!, kernels[s]!, stride),
          conv2: block(`${name}.conv2`, features[s]!, features[s]!, kernels[s]!, ones, { nonlin: null }),
          skipPool: strided ? stride : null,
          skipProjection: project
            ? block(`${name}.skip.${strided ? 1 : 0}`, bin, features[s]!, ones, ones, { bias: false, nonlin: null })
            : null,
          nonlin,
        });
      }
      encoder.push({ kind: 'residual', stride: strides[s]!, outChannels: features[s]!, blocks });
      cin = features[s]!;
    }
  }

  const decoder: DecoderStageSpec[] = [];
  for (let s = 1; s < n; s++) {
    const below = features[n - s]!;
    const skip = features[n - s - 1]!;
    const st = strides[n - s]!;
    const convs: ConvBlockSpec[] = [];
    for (let c = 0; c < decConvs[s - 1]!; c++) {
      convs.push(block(`decoder.stages.${s - 1}.convs.${c}`, c === 0 ? 2 * skip : skip, skip, kernels[n - s - 1]!, ones));
    }
    decoder.push({
      transpconv: { name: `decoder.transpconvs.${s - 1}`, inChannels: below, outChannels: skip, kernel: st, stride: st, bias },
      convs,
      segLayer: { name: `decoder.seg_layers.${s - 1}`, inChannels: skip, outChannels: numOutputs },
    });
  }

  const spec: NetworkSpec = { networkClass, dim, inputChannels, numOutputs, stem, encoder, decoder, params: [] };
  spec.params = listParams(spec);
  // nnU-Net's largest presets (ResEnc XL) have ~0.5 G parameters; beyond 2 G the plans are absurd
  const count = spec.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  if (count > MAX_PARAMETERS) throw new Error(`the plans describe a network of ${count.toExponential(2)} parameters (at most ${MAX_PARAMETERS.toExponential(0)}): refusing absurd plans`);
  return spec;
}

function missing(key: string, cls: string): never {
  throw new Error(`arch_kwargs.${key} is required for ${cls}`);
}

function convBlockParams(b: ConvBlockSpec, out: ParamSpec[]): void {
  const c = b.conv;
  out.push({ name: `${b.name}.conv.weight`, shape: [c.outChannels, c.inChannels, ...c.kernel] });
  if (c.bias) out.push({ name: `${b.name}.conv.bias`, shape: [c.outChannels] });
  if (b.norm) {
    out.push({ name: `${b.name}.norm.weight`, shape: [c.outChannels] });
    out.push({ name: `${b.name}.norm.bias`, shape: [c.outChannels] });
  }
}

/** Real parameters in state_dict registration order (aliases excluded). */
function listParams(spec: NetworkSpec): ParamSpec[] {
  const out: ParamSpec[] = [];
  if (spec.stem) convBlockParams(spec.stem, out);
  for (const st of spec.encoder) {
    if (st.kind === 'plain') st.convs.forEach((c) => convBlockParams(c, out));
    else
      for (const b of st.blocks) {
        convBlockParams(b.conv1, out);
        convBlockParams(b.conv2, out);
        if (b.skipProjection) convBlockParams(b.skipProjection, out);
      }
  }
  // UNetDecoder registers stages, then transpconvs, then seg_layers
  for (const d of spec.decoder) d.convs.forEach((c) => convBlockParams(c, out));
  for (const d of spec.decoder) {
    const t = d.transpconv;
    out.push({ name: `${t.name}.weight`, shape: [t.inChannels, t.outChannels, ...t.kernel] });
    if (t.bias) out.push({ name: `${t.name}.bias`, shape: [t.outChannels] });
  }
  const ones = new Array<number>(spec.dim).fill(1);
  for (const d of spec.decoder) {
    out.push({ name: `${d.segLayer.name}.weight`, shape: [d.segLayer.outChannels, d.segLayer.inChannels, ...ones] });
    out.push({ name: `${d.segLayer.name}.bias`, shape: [d.segLayer.outChannels] });
  }
  return out;
}

/**
 * Every key of the full PyTorch state_dict in its order, as [key, canonical parameter name]: real
 * parameters map to themselves; the aliases PyTorch repeats map to the parameter they share storage with —
 * `….all_modules.{i}.…` (the Sequential inside every ConvDropoutNormReLU: conv at 0, norm at 1, or at 2 with
 * nonlin_first) and `decoder.encoder.…` (UNetDecoder keeps a reference to the encoder, registered first).
 */
export function stateDictEntries(spec: NetworkSpec): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const convBlock = (b: ConvBlockSpec, prefix: string): void => {
    const own: ParamSpec[] = [];
    convBlockParams(b, own);
    for (const p of own) out.push([prefix + p.name, p.name]);
    const normIdx = b.nonlinFirst && b.nonlin ? 2 : 1;
    out.push([`${prefix}${b.name}.all_modules.0.weight`, `${b.name}.conv.weight`]);
    if (b.conv.bias) out.push([`${prefix}${b.name}.all_modules.0.bias`, `${b.name}.conv.bias`]);
    if (b.norm) {
      out.push([`${prefix}${b.name}.all_modules.${normIdx}.weight`, `${b.name}.norm.weight`]);
      out.push([`${prefix}${b.name}.all_modules.${normIdx}.bias`, `${b.name}.norm.bias`]);
    }
  };
  const encoder = (prefix: string): void => {
    if (spec.stem) convBlock(spec.stem, prefix);
    for (const st of spec.encoder) {
      if (st.kind === 'plain') st.convs.forEach((c) => convBlock(c, prefix));
      else
        for (const b of st.blocks) {
          convBlock(b.conv1, prefix);
          convBlock(b.conv2, prefix);
          if (b.skipProjection) convBlock(b.skipProjection, prefix);
        }
    }
  };
  encoder('');
  encoder('decoder.');
  for (const d of spec.decoder) d.convs.forEach((c) => convBlock(c, ''));
  const canonical = new Set(out.map(([, c]) => c));
  for (const p of spec.params) if (!canonical.has(p.name)) out.push([p.name, p.name]);
  return out;
}

/** True for state_dict keys that duplicate a real parameter and are ignored on load. */
export function isAliasKey(name: string): boolean {
  return name.startsWith('decoder.encoder.') || name.includes('.all_modules.');
}

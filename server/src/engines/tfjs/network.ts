/**
 * PlainConvUNet / ResidualEncoderUNet forward pass on TensorFlow.js from a NetworkSpec — the same spec and
 * the same interpretation as the ONNX builder (engines/onnx/graph.ts), so weights trained here export
 * unchanged. Parameters are tf.Variables keyed by the canonical PyTorch state_dict names, stored in tfjs
 * layout (conv [kz, ky, kx, in, out], transposed conv [kz, ky, kx, out, in]); `exportWeights` /
 * `loadWeights` convert to and from PyTorch layout ([out, in, *k] / [in, out, *k]).
 *
 * Tensors are channels-last 5-D [b, z, y, x, c]; a 2-D network runs with z = 1 (see ops.ts).
 * Deep supervision (UNetDecoder.forward): one seg-layer output per decoder stage, returned highest
 * resolution first.
 */
import * as tf from '@tensorflow/tfjs';
import type { ConvBlockSpec, NetworkSpec, NonlinSpec, ParamSpec } from '../../nnunet/network/spec.js';
import type { NetworkWeights } from '../onnx/graph.js';
import { addChannelBias, avgPool3d, concatChannels, conv3d, convTranspose3d, instanceNorm } from './ops.js';

type T5 = tf.Tensor5D;
type V3 = [number, number, number];

/** 2-D kernel sizes / strides get a leading 1 for z. */
function to3(v: number[]): V3 {
  return (v.length === 3 ? v : [1, ...v]) as V3;
}

/** 2-D paddings get a leading 0 for z. */
function pad3(v: number[]): V3 {
  return (v.length === 3 ? v : [0, ...v]) as V3;
}

/** [out|in, in|out, *k] (PyTorch) → [*k, dim1, dim0] (tfjs), 2-D kernels padded to 3-D. */
function torchToTf(w: Float32Array, shape: number[]): { data: Float32Array; shape: number[] } {
  const [a, b] = shape as [number, number];
  const k = to3(shape.slice(2));
  const kn = k[0] * k[1] * k[2];
  const out = new Float32Array(w.length);
  for (let i = 0; i < a; i++)
    for (let j = 0; j < b; j++) {
      const src = (i * b + j) * kn;
      for (let t = 0; t < kn; t++) out[(t * b + j) * a + i] = w[src + t]!;
    }
  return { data: out, shape: [...k, b, a] };
}

function tfToTorch(w: Float32Array, torchShape: number[]): Float32Array {
  const [a, b] = torchShape as [number, number];
  const kn = torchShape.slice(2).reduce((x, y) => x * y, 1);
  const out = new Float32Array(w.length);
  for (let i = 0; i < a; i++)
    for (let j = 0; j < b; j++) {
      const dst = (i * b + j) * kn;
      for (let t = 0; t < kn; t++) out[dst + t] = w[(t * b + j) * a + i]!;
    }
  return out;
}

const isKernel = (p: ParamSpec): boolean => p.shape.length > 2;

/** Deterministic normal samples (mulberry32 + Box–Muller); torch's generator cannot be reproduced anyway. */
export function seededNormal(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/**
 * nnU-Net's initialisation in PyTorch layout: InitWeights_He(1e-2) (nnunetv2/network_initialization.py) =
 * kaiming_normal_(a=1e-2, mode fan_in) on every conv / transposed conv weight, biases 0; norms weight 1,
 * bias 0 (torch defaults); ResidualEncoderUNet additionally zeroes conv2.norm of every BasicBlockD
 * (init_last_bn_before_add_to_0). fan_in = weight.size(1)·prod(kernel) — for ConvTranspose that is the
 * output channel count, as torch computes it.
 */
export function initialWeights(spec: NetworkSpec, seed = 12345): NetworkWeights {
  const normal = seededNormal(seed);
  const gain = Math.sqrt(2 / (1 + 1e-2 * 1e-2));
  const out: NetworkWeights = new Map();
  for (const p of spec.params) {
    const n = p.shape.reduce((x, y) => x * y, 1);
    const w = new Float32Array(n);
    if (p.name.endsWith('.weight') && p.shape.length > 1) {
      const fanIn = p.shape.slice(1).reduce((x, y) => x * y, 1);
      const std = gain / Math.sqrt(fanIn);
      for (let i = 0; i < n; i++) w[i] = normal() * std;
    } else if (p.name.endsWith('.norm.weight')) {
      const zeroed = spec.networkClass === 'ResidualEncoderUNet' && /\.blocks\.\d+\.conv2\.norm\.weight$/.test(p.name);
      if (!zeroed) w.fill(1);
    }
    out.set(p.name, w);
  }
  return out;
}

export class TfjsUNet {
  readonly variables = new Map<string, tf.Variable>();
  private readonly shapes: Map<string, number[]>;

  constructor(readonly spec: NetworkSpec, weights?: NetworkWeights, options: { seed?: number; trainable?: boolean } = {}) {
    this.shapes = new Map(spec.params.map((p) => [p.name, p.shape]));
    const w = weights ?? initialWeights(spec, options.seed);
    for (const p of spec.params) {
      const v = w.get(p.name);
      if (!v) throw new Error(`TfjsUNet: weights lack ${p.name}`);
      const t = isKernel(p) ? torchToTf(v, p.shape) : { data: v, shape: p.shape };
      this.variables.set(p.name, tf.variable(tf.tensor(t.data, t.shape, 'float32'), options.trainable ?? true));
    }
  }

  /** Overwrite the parameters with PyTorch-layout weights (e.g. a checkpoint or a pretrained model). */
  loadWeights(weights: NetworkWeights): void {
    for (const p of this.spec.params) {
      const v = weights.get(p.name);
      if (!v) throw new Error(`loadWeights: missing ${p.name}`);
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (v.length !== n) throw new Error(`loadWeights: ${p.name} has ${v.length} values, expected ${n} [${p.shape.join(', ')}]`);
      const t = isKernel(p) ? torchToTf(v, p.shape) : { data: v, shape: p.shape };
      this.variables.get(p.name)!.assign(tf.tensor(t.data, t.shape, 'float32'));
    }
  }

  /** Current parameters in PyTorch layout, keyed by state_dict name. */
  exportWeights(): NetworkWeights {
    const out: NetworkWeights = new Map();
    for (const p of this.spec.params) {
      const data = this.variables.get(p.name)!.dataSync() as Float32Array;
      out.set(p.name, isKernel(p) ? tfToTorch(data, this.shapes.get(p.name)!) : Float32Array.from(data));
    }
    return out;
  }

  trainableVariables(): tf.Variable[] {
    return [...this.variables.values()];
  }

  private v(name: string): tf.Variable {
    const t = this.variables.get(name);
    if (!t) throw new Error(`internal: no parameter ${name}`);
    return t;
  }

  private nonlin(x: T5, n: NonlinSpec): T5 {
    return n.kind === 'relu' ? tf.relu(x) : tf.leakyRelu(x, n.negativeSlope);
  }

  private convBlock(x: T5, b: ConvBlockSpec): T5 {
    let y = conv3d(x, this.v(`${b.name}.conv.weight`) as unknown as tf.Tensor5D, to3(b.conv.stride), pad3(b.conv.padding));
    if (b.conv.bias) y = addChannelBias(y, this.v(`${b.name}.conv.bias`));
    const norm = (t: T5): T5 =>
      b.norm ? instanceNorm(t, this.v(`${b.name}.norm.weight`) as unknown as tf.Tensor1D, this.v(`${b.name}.norm.bias`) as unknown as tf.Tensor1D, b.norm.eps) : t;
    if (b.nonlinFirst) {
      if (b.nonlin) y = this.nonlin(y, b.nonlin);
      return norm(y);
    }
    y = norm(y);
    return b.nonlin ? this.nonlin(y, b.nonlin) : y;
  }

  /**
   * Forward pass of x [b, z, y, x, C] (z = 1 for 2-D). Returns logits [b, z', y', x', numOutputs]: with
   * deep supervision one per decoder stage, full resolution first; else only the full-resolution one.
   */
  forward(x: T5, deepSupervision: boolean): T5[] {
    const spec = this.spec;
    if (x.shape[4] !== spec.inputChannels) throw new Error(`input has ${x.shape[4]} channels, the network expects ${spec.inputChannels}`);
    let h = x;
    if (spec.stem) h = this.convBlock(h, spec.stem);
    const skips: T5[] = [];
    for (const st of spec.encoder) {
      if (st.kind === 'plain') for (const c of st.convs) h = this.convBlock(h, c);
      else
        for (const b of st.blocks) {
          let residual = h;
          if (b.skipPool) residual = avgPool3d(residual, to3(b.skipPool));
          if (b.skipProjection) residual = this.convBlock(residual, b.skipProjection);
          const y = this.convBlock(this.convBlock(h, b.conv1), b.conv2);
          h = tf.add(y, residual);
          if (b.nonlin) h = this.nonlin(h, b.nonlin);
        }
      skips.push(h);
    }
    const seg: T5[] = [];
    for (let s = 0; s < spec.decoder.length; s++) {
      const d = spec.decoder[s]!;
      const t = d.transpconv;
      let up = convTranspose3d(h, this.v(`${t.name}.weight`) as unknown as tf.Tensor5D, to3(t.stride));
      if (t.bias) up = addChannelBias(up, this.v(`${t.name}.bias`));
      h = concatChannels(up, skips[skips.length - 2 - s]!);
      for (const c of d.convs) h = this.convBlock(h, c);
      if (deepSupervision || s === spec.decoder.length - 1) {
        const l = d.segLayer;
        seg.push(addChannelBias(conv3d(h, this.v(`${l.name}.weight`) as unknown as tf.Tensor5D, [1, 1, 1], [0, 0, 0]), this.v(`${l.name}.bias`)));
      }
    }
    return seg.reverse();
  }

  /** Channels-first input (b, c, *spatial) as the data loader and ONNX use it → NDHWC tensor. */
  static inputFromChannelsFirst(data: Float32Array, shape: number[]): T5 {
    const [b, c, ...sp] = shape as [number, number, ...number[]];
    const s3 = to3(sp);
    return tf.tidy(() => tf.transpose(tf.tensor(data, [b, c, ...s3], 'float32'), [0, 2, 3, 4, 1]) as T5);
  }

  /** NDHWC logits → channels-first Float32Array (b, c, *spatial) with the spec's dimensionality. */
  static toChannelsFirst(t: T5): Float32Array {
    return tf.tidy(() => tf.transpose(t, [0, 4, 1, 2, 3]).dataSync() as Float32Array);
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}

/**
 * The tfjs U-Net computes what the ONNX graph (onnxruntime) and the independent numpy reference of the
 * PyTorch forward pass compute, from the same NetworkSpec and weights (fixtures of test/fixtures/network).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { buildNetworkSpec } from '../../../../server/src/nnunet/network/spec.js';
import { buildOnnxModel, type NetworkWeights } from '../../../../server/src/engines/onnx/graph.js';
import { OnnxSession } from '../../../../server/src/engines/onnx/session.js';
import { selectBackend } from '../../../../server/src/engines/tfjs/backend.js';
import { TfjsUNet, initialWeights } from '../../../../server/src/engines/tfjs/network.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/network');

interface Fixture {
  architecture: unknown;
  input_channels: number;
  num_outputs: number;
  weights: Record<string, { shape: number[]; data: number[] }>;
  input: { shape: number[]; data: number[] };
  output: { shape: number[]; data: number[] };
}

const load = (name: string): Fixture => JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as Fixture;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.each(['cpu', 'wasm'] as const)('TfjsUNet on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend({ prefer: backend, log: null });
  });

  it.each(['plain3d', 'resenc3d', 'plain2d'])('%s: logits equal the numpy reference and onnxruntime to 1e-4', async (name) => {
    const fx = load(name);
    const spec = buildNetworkSpec(fx.architecture, fx.input_channels, fx.num_outputs);
    const weights: NetworkWeights = new Map(Object.entries(fx.weights).map(([k, v]) => [k, Float32Array.from(v.data)]));
    const net = new TfjsUNet(spec, weights);
    const x = TfjsUNet.inputFromChannelsFirst(Float32Array.from(fx.input.data), fx.input.shape);
    const [logits] = net.forward(x, false);
    const ours = TfjsUNet.toChannelsFirst(logits!);
    expect(maxAbsDiff(ours, fx.output.data)).toBeLessThan(1e-4);
    const session = await OnnxSession.create(buildOnnxModel(spec, net.exportWeights()), { intraOpThreads: 1, device: 'cpu' });
    try {
      const out = await session.run(Float32Array.from(fx.input.data), fx.input.shape);
      expect(maxAbsDiff(ours, out.data)).toBeLessThan(1e-4);
    } finally {
      await session.release();
    }
    net.dispose();
  });

  it('deep supervision returns one output per decoder stage, full resolution first, last one equal to inference', () => {
    const fx = load('plain3d');
    const spec = buildNetworkSpec(fx.architecture, fx.input_channels, fx.num_outputs);
    const net = new TfjsUNet(spec, undefined, { seed: 3 });
    const x = TfjsUNet.inputFromChannelsFirst(Float32Array.from(fx.input.data), fx.input.shape);
    const ds = net.forward(x, true);
    expect(ds.length).toBe(spec.decoder.length);
    const full = fx.input.shape.slice(2);
    expect(ds[0]!.shape).toEqual([1, ...full, spec.numOutputs]);
    // each lower output is downsampled by the stride of the matching encoder stage
    for (let i = 1; i < ds.length; i++) expect(ds[i]!.size).toBeLessThan(ds[i - 1]!.size);
    expect(maxAbsDiff(ds[0]!.dataSync(), net.forward(x, false)[0]!.dataSync())).toBe(0);
    net.dispose();
  });

  it('exportWeights(loadWeights(w)) round-trips PyTorch layout exactly', () => {
    const fx = load('resenc3d');
    const spec = buildNetworkSpec(fx.architecture, fx.input_channels, fx.num_outputs);
    const w = initialWeights(spec, 7);
    const net = new TfjsUNet(spec, initialWeights(spec, 8));
    net.loadWeights(w);
    const back = net.exportWeights();
    for (const p of spec.params) expect(Array.from(back.get(p.name)!)).toEqual(Array.from(w.get(p.name)!));
    net.dispose();
  });
});

describe('initialWeights (InitWeights_He(1e-2))', () => {
  it('draws conv weights with std gain/sqrt(fan_in), zero biases, unit norms, zeroed conv2.norm in residual blocks', () => {
    const fx = load('resenc3d');
    const spec = buildNetworkSpec(fx.architecture, fx.input_channels, fx.num_outputs);
    const w = initialWeights(spec, 1);
    const name = 'encoder.stages.1.blocks.0.conv1.conv.weight';
    const v = w.get(name)!;
    const fanIn = 4 * 27;
    let ss = 0;
    for (const x of v) ss += x * x;
    const std = Math.sqrt(ss / v.length);
    expect(Math.abs(std - Math.sqrt(2 / (1 + 1e-4)) / Math.sqrt(fanIn)) / std).toBeLessThan(0.1);
    expect(Array.from(w.get('encoder.stages.1.blocks.0.conv1.conv.bias')!).every((x) => x === 0)).toBe(true);
    expect(Array.from(w.get('encoder.stages.1.blocks.0.conv1.norm.weight')!).every((x) => x === 1)).toBe(true);
    expect(Array.from(w.get('encoder.stages.1.blocks.0.conv2.norm.weight')!).every((x) => x === 0)).toBe(true);
    // the same seed gives the same weights
    expect(Array.from(initialWeights(spec, 1).get(name)!)).toEqual(Array.from(v));
    void tf;
  });
});

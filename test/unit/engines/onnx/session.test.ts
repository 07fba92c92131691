import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNetworkSpec } from '../../../../server/src/nnunet/network/spec.js';
import { buildOnnxModel, type NetworkWeights } from '../../../../server/src/engines/onnx/graph.js';
import { OnnxSession, cudaAvailable, executionProviders } from '../../../../server/src/engines/onnx/session.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/network');
const fx = JSON.parse(readFileSync(join(FIXTURES, 'plain3d.json'), 'utf8')) as {
  architecture: unknown;
  weights: Record<string, { data: number[] }>;
};
const spec = buildNetworkSpec(fx.architecture, 2, 3);
const weights: NetworkWeights = new Map(Object.entries(fx.weights).map(([k, v]) => [k, Float32Array.from(v.data)]));
const input = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + seed));

describe('OnnxSession', () => {
  let session: OnnxSession;
  beforeAll(async () => {
    session = await OnnxSession.create(buildOnnxModel(spec, weights), { intraOpThreads: 1, device: 'cpu' });
  });
  afterAll(() => session.release());

  it('reports the model interface and the providers it asked for', () => {
    expect([session.inputChannels, session.numOutputs, session.spatialDims]).toEqual([2, 3, 3]);
    expect(session.providers).toEqual(['cpu']);
  });

  it('picks CUDA first when it is installed, CPU otherwise, and names a missing CUDA provider', async () => {
    expect(executionProviders('auto', true)).toEqual(['cuda', 'cpu']);
    expect(executionProviders('cuda', true)).toEqual(['cuda', 'cpu']);
    expect(executionProviders('cpu', true)).toEqual(['cpu']);
    expect(executionProviders('auto', false)).toEqual(['cpu']);
    expect(() => executionProviders('cuda', false)).toThrow(/CUDA execution provider requested but not installed/);
    expect(() => executionProviders('tpu' as never, true)).toThrow(/device must be cpu, cuda or auto, got tpu/);
    // this install: CUDA counts as available only when its provider library is really on disk
    const lib = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin/napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
    expect(cudaAvailable()).toBe(existsSync(lib));
    const auto = await OnnxSession.create(buildOnnxModel(spec, weights), { intraOpThreads: 1 });
    try {
      expect(auto.providers).toEqual(cudaAvailable() ? ['cuda', 'cpu'] : ['cpu']);
    } finally {
      await auto.release();
    }
  });

  it('is reusable across patch sizes (symbolic spatial dims) and concurrent calls', async () => {
    const [a, b] = await Promise.all([session.run(input(2 * 4 * 8 * 8, 0), [1, 2, 4, 8, 8]), session.run(input(2 * 2 * 4 * 12, 1), [1, 2, 2, 4, 12])]);
    expect(a.shape).toEqual([1, 3, 4, 8, 8]);
    expect(b.shape).toEqual([1, 3, 2, 4, 12]);
    expect(a.data.length).toBe(3 * 256);
    const again = await session.run(input(2 * 4 * 8 * 8, 0), [1, 2, 4, 8, 8]);
    expect(again.data).toEqual(a.data);
  });

  it('batches are independent (instance norm per sample)', async () => {
    const n = 2 * 4 * 8 * 8;
    const x0 = input(n, 0);
    const x1 = input(n, 5).map((v) => v * 3 + 1);
    const both = new Float32Array(2 * n);
    both.set(x0);
    both.set(x1, n);
    const r = await session.run(both, [2, 2, 4, 8, 8]);
    const r0 = await session.run(x0, [1, 2, 4, 8, 8]);
    const r1 = await session.run(x1, [1, 2, 4, 8, 8]);
    const err = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    expect(err(r.data.subarray(0, r0.data.length), r0.data)).toBeLessThan(1e-5);
    expect(err(r.data.subarray(r0.data.length), r1.data)).toBeLessThan(1e-5);
  });

  it('names bad inputs', async () => {
    await expect(session.run(new Float32Array(10), [1, 2, 4, 8, 8])).rejects.toThrow(/input has 10 values, shape \[1, 2, 4, 8, 8\] needs 512/);
    await expect(session.run(new Float32Array(256), [1, 1, 4, 8, 8])).rejects.toThrow(/1 channels, the model expects 2/);
    await expect(session.run(new Float32Array(64), [1, 2, 32])).rejects.toThrow(/must be \[batch, 2, 3 spatial dims\]/);
  });

  it('rejects an invalid model and a released session clearly', async () => {
    await expect(OnnxSession.create(new Uint8Array([1, 2, 3]))).rejects.toThrow(/onnxruntime/);
    await expect(OnnxSession.create(buildOnnxModel(spec, weights), { intraOpThreads: 0 })).rejects.toThrow(/intraOpThreads/);
    const s = await OnnxSession.create(buildOnnxModel(spec, weights), { intraOpThreads: 1, device: 'cpu' });
    await s.release();
    await expect(s.run(input(512, 0), [1, 2, 4, 8, 8])).rejects.toThrow(/released/);
  });

  it('buildOnnxModel lists every missing or mis-sized weight', () => {
    const w = new Map(weights);
    w.delete('decoder.seg_layers.0.weight');
    w.set('encoder.stages.0.0.convs.0.conv.bias', new Float32Array(5));
    expect(() => buildOnnxModel(spec, w)).toThrow(
      /2 problems\): encoder\.stages\.0\.0\.convs\.0\.conv\.bias: 5 values, expected 4 for shape \[4\]; missing decoder\.seg_layers\.0\.weight \[3, 4, 1, 1, 1\]/,
    );
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { readNnunetCheckpoint, openTorchArchive } from '../../../../server/src/models/checkpoint/reader.js';
import { materializeTensor } from '../../../../server/src/models/checkpoint/tensor.js';
import { TorchTensorRef } from '../../../../server/src/formats/pickle.js';
import { loadWeights } from '../../../../server/src/models/checkpoint/weights.js';
import { buildNetworkSpec, isAliasKey } from '../../../../server/src/nnunet/network/spec.js';
import { buildOnnxModel } from '../../../../server/src/engines/onnx/graph.js';
import { OnnxSession } from '../../../../server/src/engines/onnx/session.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/network');
const bytesOf = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, name)));

interface RefFixture {
  architecture: unknown;
  input_channels: number;
  num_outputs: number;
  weights: Record<string, { shape: number[]; data: number[] }>;
  input: { shape: number[]; data: number[] };
  output: { shape: number[]; data: number[] };
}

describe('reading a torch-format nnU-Net checkpoint', () => {
  const ref = JSON.parse(readFileSync(join(FIXTURES, 'plain3d.json'), 'utf8')) as RefFixture;
  const ckpt = readNnunetCheckpoint(bytesOf('plain3d_checkpoint_final.pth'));

  it('returns the metadata nnU-Net stores', () => {
    expect(ckpt.configuration).toBe('3d_fullres');
    expect(ckpt.fold).toBe(0);
    expect(ckpt.trainerName).toBe('nnUNetTrainer');
    expect(ckpt.currentEpoch).toBe(1000);
    expect(ckpt.inferenceAllowedMirroringAxes).toEqual([0, 1, 2]);
    expect(ckpt.bestEma).toBeCloseTo(0.275, 12); // numpy float64 scalar
    expect(ckpt.datasetJson.labels).toEqual({ background: 0, a: 1, b: 2 });
    expect((ckpt.plans as { plans_name: string }).plans_name).toBe('nnUNetPlans');
    expect(ckpt.initArgs.device).toBe('cuda');
    expect((ckpt.logging as { mean_fg_dice: number[] }).mean_fg_dice).toEqual([0.25, 0.5]);
  });

  it('reads every state_dict key; aliases share the canonical array', () => {
    const names = [...ckpt.networkWeights.keys()];
    expect(names).toContain('encoder.stages.0.0.convs.0.all_modules.0.weight');
    expect(names).toContain('decoder.encoder.stages.1.0.convs.1.norm.bias');
    expect(names.filter((n) => !isAliasKey(n)).sort()).toEqual(Object.keys(ref.weights).sort());
    expect(ckpt.networkWeights.get('encoder.stages.0.0.convs.0.all_modules.0.weight')!.data).toBe(
      ckpt.networkWeights.get('encoder.stages.0.0.convs.0.conv.weight')!.data,
    );
    const w = ckpt.networkWeights.get('decoder.transpconvs.0.weight')!;
    expect(w.shape).toEqual(ref.weights['decoder.transpconvs.0.weight']!.shape);
    expect(Array.from(w.data)).toEqual(Array.from(Float32Array.from(ref.weights['decoder.transpconvs.0.weight']!.data)));
  });

  it('loadWeights + ONNX reproduce the numpy reference logits', async () => {
    const spec = buildNetworkSpec(ref.architecture, ref.input_channels, ref.num_outputs);
    const weights = loadWeights(spec, ckpt);
    expect(weights.size).toBe(spec.params.length);
    const s = await OnnxSession.create(buildOnnxModel(spec, weights), { intraOpThreads: 1, device: 'cpu' });
    try {
      const out = await s.run(Float32Array.from(ref.input.data), ref.input.shape);
      let maxErr = 0;
      out.data.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - ref.output.data[i]!))));
      expect(maxErr).toBeLessThan(1e-4);
    } finally {
      await s.release();
    }
  });

  it('loadWeights reports every missing, misshapen and unexpected parameter in one error', () => {
    const spec = buildNetworkSpec(ref.architecture, ref.input_channels, ref.num_outputs);
    const sd = new Map(ckpt.networkWeights);
    sd.delete('decoder.seg_layers.0.bias');
    sd.delete('encoder.stages.0.0.convs.1.norm.weight');
    sd.set('encoder.stages.1.0.convs.0.conv.weight', { shape: [8, 4, 3, 3], data: new Float32Array(8 * 4 * 9) });
    sd.set('decoder.extra_head.weight', { shape: [1], data: new Float32Array(1) });
    let msg = '';
    try {
      loadWeights(spec, { networkWeights: sd });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/4 problems/);
    expect(msg).toContain('missing decoder.seg_layers.0.bias [3]');
    expect(msg).toContain('missing encoder.stages.0.0.convs.1.norm.weight [4]');
    expect(msg).toContain('encoder.stages.1.0.convs.0.conv.weight: shape [8, 4, 3, 3] in the checkpoint, expected [8, 4, 3, 3, 3]');
    expect(msg).toContain('unexpected decoder.extra_head.weight');
  });

  it('a checkpoint for other outputs fails loadWeights naming the seg layers', () => {
    const spec = buildNetworkSpec(ref.architecture, ref.input_channels, 5);
    expect(() => loadWeights(spec, ckpt)).toThrow(/decoder\.seg_layers\.0\.weight: shape \[3, 4, 1, 1, 1\] in the checkpoint, expected \[5, 4, 1, 1, 1\]/);
  });
});

describe('torch tensors of every layout', () => {
  it('widens float16/bfloat16/float64/int64 and gathers non-contiguous views with offsets', () => {
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'tensors.json'), 'utf8')) as Record<string, { shape: number[]; data: number[] }>;
    const a = openTorchArchive(bytesOf('tensors.pth'));
    const tensors = (a.root as Map<string, unknown>).get('tensors') as Map<string, TorchTensorRef>;
    expect([...tensors.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [name, t] of tensors) {
      const m = materializeTensor(t, a.storage(t.storage.key), name, a.littleEndian);
      expect([name, m.shape]).toEqual([name, expected[name]!.shape]);
      expect([name, Array.from(m.data)]).toEqual([name, Array.from(Float32Array.from(expected[name]!.data))]);
    }
  });

  it('rejects a view that reaches past its storage, naming the tensor', () => {
    const a = openTorchArchive(bytesOf('tensors.pth'));
    const t = ((a.root as Map<string, unknown>).get('tensors') as Map<string, TorchTensorRef>).get('sliced')!;
    const bad = new TorchTensorRef(t.storage, 20, [3, 2], [4, 1], false);
    expect(() => materializeTensor(bad, a.storage(t.storage.key), 'sliced')).toThrow(/tensor sliced: view reaches element 29 but storage \d+ holds 27/);
  });
});

describe('untrusted checkpoints', () => {
  it('refuses a pickle that would call os.system, and nothing runs', () => {
    expect(() => readNnunetCheckpoint(bytesOf('evil.pth'))).toThrow(/refusing to load global "posix\.system"/);
    expect(existsSync('/tmp/nnseg_pwned')).toBe(false);
  });

  it('rejects zip-slip entry names', () => {
    const ok = bytesOf('tensors.pth');
    for (const name of ['../../etc/passwd', '/abs/data.pkl', 'archive/../../x', 'C:/x', 'archive\\..\\x']) {
      const z = zipSync({ 'archive/data.pkl': new Uint8Array([0x80, 2, 0x4e, 0x2e]), [name]: new Uint8Array([1]) });
      expect(() => readNnunetCheckpoint(z)).toThrow(/unsafe zip entry name/);
    }
    expect(ok.length).toBeGreaterThan(0);
  });

  it('names what is wrong with non-checkpoints', () => {
    expect(() => readNnunetCheckpoint(new TextEncoder().encode('hello'))).toThrow(/not a zip archive/);
    expect(() => readNnunetCheckpoint(zipSync({ 'x/y.txt': new Uint8Array([1]) }))).toThrow(/no <archive>\/data\.pkl/);
    expect(() => readNnunetCheckpoint(zipSync({ 'a/data.pkl': new Uint8Array([0x80, 2, 0x7d, 0x2e]) }))).toThrow(/"network_weights" is missing/);
    expect(() => readNnunetCheckpoint(new Uint8Array([0x80, 2, 0x8a, 0x0a]))).toThrow(/legacy \(pre-zip\) torch serialization/);
    // a state_dict without init_args: metadata error names the key
    const noMeta = zipSync({ 'a/data.pkl': Uint8Array.from(Buffer.from('80027d7100580f0000006e6574776f726b5f77656967687473710163636f6c6c656374696f6e730a4f726465726564446963740a71022952710373' + '2e', 'hex')) });
    expect(() => readNnunetCheckpoint(noMeta)).toThrow(/metadata is invalid: init_args/);
  });
});

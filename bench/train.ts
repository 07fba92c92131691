/**
 * Training benchmark: iterations per second of one configuration on every tfjs backend this process can
 * load (tfjs-node-gpu → tfjs-node → wasm → cpu), and the achieved training GFLOP/s as a ratio to
 * onnxruntime's inference GFLOP/s on the same network in the same run (how far training is from the
 * machine's conv throughput). One training iteration = forward with deep supervision + backward + SGD
 * step ≈ 3× the forward FLOPs (input and weight gradients each cost about one forward).
 * Env: BENCH_DIM (2 or 3, default 3), BENCH_FEATURES (default 8,16,32), BENCH_PATCH (default 32 for 3D,
 * 64 for 2D; one edge or a list), BENCH_BATCH (default 2), BENCH_ITERS (timed iterations, default 3).
 * Run: `npm run build && npm run bench -- train`.
 */
import * as tf from '@tensorflow/tfjs';
import { availableBackends, selectBackend } from '../server/src/engines/tfjs/backend.js';
import { TfjsUNet } from '../server/src/engines/tfjs/network.js';
import { buildOnnxModel } from '../server/src/engines/onnx/graph.js';
import { OnnxSession } from '../server/src/engines/onnx/session.js';
import { computeFlops } from '../server/src/nnunet/network/flops.js';
import { buildNetworkSpec } from '../server/src/nnunet/network/spec.js';
import { deepSupervisionLoss } from '../server/src/training/loss.js';
import { NesterovSgd } from '../server/src/training/optimizer.js';
import { deepSupervisionScales } from '../server/src/training/trainer.js';

const dim = Number(process.env.BENCH_DIM ?? 3) as 2 | 3;
const features = (process.env.BENCH_FEATURES ?? '8,16,32').split(',').map(Number);
const pe = (process.env.BENCH_PATCH ?? (dim === 3 ? '32' : '64')).split(',').map(Number);
const patch = pe.length === 1 ? new Array<number>(dim).fill(pe[0]!) : pe;
const batch = Number(process.env.BENCH_BATCH ?? 2);
const iters = Number(process.env.BENCH_ITERS ?? 3);
const n = features.length;
const k = new Array<number>(dim).fill(3);
const spec = buildNetworkSpec(
  {
    network_class_name: 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
    arch_kwargs: {
      n_stages: n,
      features_per_stage: features,
      conv_op: dim === 3 ? 'torch.nn.modules.conv.Conv3d' : 'torch.nn.modules.conv.Conv2d',
      kernel_sizes: new Array(n).fill(k),
      strides: Array.from({ length: n }, (_, s) => new Array<number>(dim).fill(s === 0 ? 1 : 2)),
      n_conv_per_stage: new Array(n).fill(2),
      n_conv_per_stage_decoder: new Array(n - 1).fill(2),
      conv_bias: true,
      norm_op: dim === 3 ? 'torch.nn.modules.instancenorm.InstanceNorm3d' : 'torch.nn.modules.instancenorm.InstanceNorm2d',
      norm_op_kwargs: { eps: 1e-5, affine: true },
      nonlin: 'torch.nn.LeakyReLU',
      nonlin_kwargs: { inplace: true },
    },
  },
  1,
  3,
);
const forwardFlops = computeFlops(spec, patch).total * batch;
const voxels = patch.reduce((a, b) => a * b, 1);

async function onnxGflops(): Promise<number> {
  const net = new TfjsUNet(spec);
  const weights = net.exportWeights();
  net.dispose();
  const session = await OnnxSession.create(buildOnnxModel(spec, weights), { device: 'cpu' });
  const input = new Float32Array(batch * voxels).map(() => Math.random());
  const shape = [batch, 1, ...patch];
  await session.run(input, shape);
  const t = performance.now();
  for (let i = 0; i < iters; i++) await session.run(input, shape);
  const s = (performance.now() - t) / 1000 / iters;
  await session.release();
  return forwardFlops / s / 1e9;
}

async function trainIterationsPerSecond(): Promise<number> {
  const net = new TfjsUNet(spec);
  const opt = new NesterovSgd(new Map(net.variables));
  const scales = deepSupervisionScales(spec);
  const x = TfjsUNet.inputFromChannelsFirst(new Float32Array(batch * voxels).map(() => Math.random()), [batch, 1, ...patch]);
  const targets = scales.map((sc) => {
    const sp = patch.map((p, a) => Math.round(p * sc[a]!));
    const sz = sp.reduce((a, b) => a * b, 1);
    return tf.tensor(Int32Array.from({ length: batch * sz }, (_, i) => i % 3), [batch, ...(dim === 2 ? [1, ...sp] : sp)], 'int32');
  });
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => deepSupervisionLoss(net.forward(x, true), targets, { numClasses: 3, batchDice: true }), net.trainableVariables());
      const byName: Record<string, tf.Tensor> = {};
      for (const [name, v] of net.variables) byName[name] = grads[v.name]!;
      opt.apply(byName);
      return value.dataSync()[0];
    });
  step();
  const t = performance.now();
  for (let i = 0; i < iters; i++) step();
  const s = (performance.now() - t) / 1000 / iters;
  net.dispose();
  opt.dispose();
  return 1 / s;
}

const ort = await onnxGflops();
console.log(`network: PlainConvUNet ${dim}D features ${features.join(',')}, patch ${patch.join('×')}, batch ${batch}; forward ${(forwardFlops / 1e9).toFixed(3)} GFLOP`);
console.log(`onnxruntime inference (cpu): ${ort.toFixed(2)} GFLOP/s`);
for (const kind of await availableBackends()) {
  await selectBackend({ prefer: kind, log: null });
  const ips = await trainIterationsPerSecond();
  const gflops = (3 * forwardFlops * ips) / 1e9;
  console.log(`tfjs ${kind}: ${ips.toFixed(3)} it/s, ${gflops.toFixed(3)} GFLOP/s training = ${(gflops / ort).toFixed(3)} × onnxruntime inference`);
}

/**
 * nnU-Net's optimisation (nnUNetTrainer.configure_optimizers / train_step): torch.optim.SGD with
 * momentum 0.99, nesterov, weight_decay 3e-5; PolyLRScheduler lr = initial_lr · (1 − epoch/num_epochs)^0.9
 * set at the start of every epoch; clip_grad_norm_(params, 12) before every step.
 *
 * torch SGD step per parameter p with gradient g: g ← g + wd·p; buf ← g on the first step, else
 * momentum·buf + g (dampening 0); nesterov: g ← g + momentum·buf; p ← p − lr·g.
 */
import * as tf from '@tensorflow/tfjs';

export interface SgdOptions {
  initialLr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  /** max total gradient norm (clip_grad_norm_), null = off */
  clipNorm: number | null;
}

export const NNUNET_SGD: SgdOptions = { initialLr: 1e-2, momentum: 0.99, weightDecay: 3e-5, nesterov: true, clipNorm: 12 };

/** PolyLRScheduler (nnunetv2/training/lr_scheduler/polylr.py). */
export function polyLr(initialLr: number, epoch: number, maxEpochs: number, exponent = 0.9): number {
  return initialLr * (1 - epoch / maxEpochs) ** exponent;
}

export interface SgdState {
  step: number;
  /** momentum buffers by parameter name (tfjs layout of the variable) */
  buffers: Map<string, Float32Array>;
}

export class NesterovSgd {
  private readonly buffers = new Map<string, tf.Variable>();
  step = 0;
  lr: number;

  constructor(private readonly params: Map<string, tf.Variable>, readonly options: SgdOptions = NNUNET_SGD) {
    this.lr = options.initialLr;
  }

  /** Total L2 norm of the gradients (what clip_grad_norm_ returns). */
  static globalNorm(grads: tf.Tensor[]): number {
    return tf.tidy(() => Math.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g)))).dataSync()[0]!));
  }

  /** Apply one step with gradients keyed by parameter name; returns the pre-clipping gradient norm. */
  apply(grads: Record<string, tf.Tensor>): number {
    const names = [...this.params.keys()].filter((n) => grads[n]);
    const norm = NesterovSgd.globalNorm(names.map((n) => grads[n]!));
    const { clipNorm, momentum, weightDecay, nesterov } = this.options;
    // torch: clip_coef = max_norm / (total_norm + 1e-6), applied when < 1
    const coef = clipNorm !== null && clipNorm / (norm + 1e-6) < 1 ? clipNorm / (norm + 1e-6) : 1;
    tf.tidy(() => {
      for (const name of names) {
        const p = this.params.get(name)!;
        let g = coef === 1 ? grads[name]! : tf.mul(grads[name]!, coef);
        if (weightDecay !== 0) g = tf.add(g, tf.mul(p, weightDecay));
        let buf = this.buffers.get(name);
        if (!buf) {
          buf = tf.variable(g, false);
          this.buffers.set(name, buf);
        } else buf.assign(tf.add(tf.mul(buf, momentum), g));
        const d = nesterov ? tf.add(g, tf.mul(buf, momentum)) : buf;
        p.assign(tf.sub(p, tf.mul(d, this.lr)));
      }
    });
    this.step++;
    return norm;
  }

  getState(): SgdState {
    const buffers = new Map<string, Float32Array>();
    for (const [k, v] of this.buffers) buffers.set(k, Float32Array.from(v.dataSync() as Float32Array));
    return { step: this.step, buffers };
  }

  setState(state: SgdState): void {
    for (const v of this.buffers.values()) v.dispose();
    this.buffers.clear();
    for (const [k, data] of state.buffers) {
      const p = this.params.get(k);
      if (!p) throw new Error(`optimizer state has a buffer for unknown parameter ${k}`);
      if (data.length !== p.size) throw new Error(`optimizer state: ${k} has ${data.length} values, the parameter ${p.size}`);
      this.buffers.set(k, tf.variable(tf.tensor(data, p.shape, 'float32'), false));
    }
    this.step = state.step;
  }

  dispose(): void {
    for (const v of this.buffers.values()) v.dispose();
    this.buffers.clear();
  }
}

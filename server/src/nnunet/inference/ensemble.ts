/**
 * Ensembling, as nnU-Net v2 does it:
 * - folds of one configuration: the predictor sums the sliding-window **logits** of every fold's
 *   parameters and divides by the number of folds (`predict_logits_from_preprocessed_data` in
 *   nnunetv2/inference/predict_from_raw_data.py);
 * - different configurations / trainers (`nnUNetv2_ensemble`): each member exports **probabilities**
 *   (softmax/sigmoid, resampled to the original geometry, .npz), and `average_probabilities` in
 *   nnunetv2/ensembling/ensemble.py averages those in float32.
 * Both are plain element-wise means; the difference is only what is averaged. Streaming use:
 * `MeanAccumulator` adds one member at a time so only one extra array is alive.
 */

/** Running element-wise mean over Float32Arrays of equal length. */
export class MeanAccumulator {
  private sum: Float32Array | null = null;
  private count = 0;

  /**
   * `consume`: the caller hands the array over (it is not used afterwards), so the first member becomes the
   * running sum instead of being copied — for a single-fold prediction of a large CT that copy alone is
   * one more float32 array per class.
   */
  add(values: Float32Array, options: { consume?: boolean } = {}): void {
    if (!this.sum) {
      this.sum = options.consume ? values : Float32Array.from(values);
    } else {
      if (values.length !== this.sum.length)
        throw new Error(`ensemble member ${this.count} has ${values.length} values, the first had ${this.sum.length}`);
      const s = this.sum;
      for (let i = 0; i < s.length; i++) s[i] += values[i];
    }
    this.count++;
  }

  get members(): number {
    return this.count;
  }

  /** The mean; the accumulator is consumed (its buffer is returned). */
  mean(): Float32Array {
    if (!this.sum) throw new Error('ensemble: no members were added');
    const s = this.sum;
    if (this.count > 1) for (let i = 0; i < s.length; i++) s[i] /= this.count;
    this.sum = null;
    this.count = 0;
    return s;
  }
}

function meanOf(arrays: readonly Float32Array[], what: string): Float32Array {
  if (arrays.length === 0) throw new Error(`${what}: at least one array is needed`);
  const acc = new MeanAccumulator();
  for (const a of arrays) acc.add(a);
  return acc.mean();
}

/** Mean of the logits of several folds of one configuration (nnU-Net's fold ensemble). */
export function ensembleLogits(foldLogits: readonly Float32Array[]): Float32Array {
  return meanOf(foldLogits, 'ensembleLogits');
}

/** Mean of the probabilities of several configurations (nnU-Net's `average_probabilities`). */
export function averageProbabilities(memberProbabilities: readonly Float32Array[]): Float32Array {
  return meanOf(memberProbabilities, 'averageProbabilities');
}

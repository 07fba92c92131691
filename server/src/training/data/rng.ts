/**
 * The seeded generator of the data pipeline: numpy's legacy MT19937 (RandomState) with numpy's
 * double (`random_sample`: 53 bits from two draws) and helpers in numpy's spirit. Sampling semantics
 * follow nnU-Net; the streams are not bit-identical to torch/numpy calls in nnU-Net (those interleave
 * with global state we do not reproduce), only reproducible for a given seed.
 */
import { RandomState } from '../../nnunet/experiment_planning/random-state.js';

export class Rng {
  private readonly rs: RandomState;
  private spare: number | undefined;

  constructor(seed: number) {
    this.rs = new RandomState(seed >>> 0);
  }

  /** [0, 1), numpy random_sample */
  random(): number {
    const a = this.rs.nextUint32() >>> 5;
    const b = this.rs.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.random();
  }

  /** integer in [lo, hi) (numpy randint's bounds) */
  randint(lo: number, hi: number): number {
    if (!(hi > lo)) throw new Error(`randint: empty range [${lo}, ${hi})`);
    return lo + this.rs.randintBelow(hi - lo, 1)[0];
  }

  /** standard normal (Marsaglia polar, as numpy's legacy gauss) */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let x1: number, x2: number, r2: number;
    do {
      x1 = 2 * this.random() - 1;
      x2 = 2 * this.random() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    this.spare = f * x1;
    return f * x2;
  }

  /** a 32-bit seed for a child generator */
  nextSeed(): number {
    return this.rs.nextUint32();
  }
}

/** A seed mixing a base seed with an index (splitmix-style), so batch i is the same whichever worker makes it. */
export function deriveSeed(base: number, index: number): number {
  let h = (Math.imul(base >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

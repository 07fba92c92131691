import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { encodePngRgb as encodePng } from '../../../server/src/formats/png.js';
import { emptyLog, renderCurves } from '../../../server/src/training/curves.js';
import { readTrainingState, writeTrainingState } from '../../../server/src/training/training-state.js';
import { makeTempDir } from '../../helpers/tmp.js';

describe('encodePng', () => {
  it('writes a valid PNG whose IDAT inflates to the filtered rows', () => {
    const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]); // 2×2
    const png = Buffer.from(encodePng(rgb, 2, 2));
    expect(Array.from(png.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    expect(png.readUInt32BE(16)).toBe(2);
    expect(png.readUInt32BE(20)).toBe(2);
    const idatAt = png.indexOf('IDAT');
    const len = png.readUInt32BE(idatAt - 4);
    const raw = inflateSync(png.subarray(idatAt + 4, idatAt + 4 + len));
    expect(Array.from(raw)).toEqual([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 10, 20, 30]);
  });

  it('renders curves with NaN pseudo Dice entries without throwing', () => {
    const log = emptyLog();
    log.train_losses.push(0.5, 0.1);
    log.val_losses.push(0.6, NaN);
    log.mean_fg_dice.push(NaN, 0.8);
    log.ema_fg_dice.push(NaN, 0.8);
    log.lrs.push(0.01, 0.005);
    const png = renderCurves(log, 200, 120);
    expect(png.length).toBeGreaterThan(100);
  });
});

describe('training state', () => {
  it('round-trips weights, momentum buffers and the log (NaN kept)', () => {
    const tmp = makeTempDir();
    try {
      const log = emptyLog();
      log.mean_fg_dice.push(NaN, 0.5);
      log.lrs.push(0.01, 0.009);
      writeTrainingState(tmp.dir, {
        epoch: 2,
        numEpochs: 10,
        iterationsPerEpoch: 5,
        lr: 0.009,
        initialLr: 0.01,
        bestEma: 0.5,
        seed: 1,
        configuration: '2d',
        fold: 'all',
        backend: 'cpu',
        weights: new Map([['a.weight', Float32Array.from([1, 2, 3])]]),
        optimizer: { step: 10, buffers: new Map([['a.weight', Float32Array.from([0.5, -1, 2])]]) },
        log,
      });
      const s = readTrainingState(tmp.dir);
      expect(s.epoch).toBe(2);
      expect(s.fold).toBe('all');
      expect(Array.from(s.weights.get('a.weight')!)).toEqual([1, 2, 3]);
      expect(Array.from(s.optimizer.buffers.get('a.weight')!)).toEqual([0.5, -1, 2]);
      expect(s.optimizer.step).toBe(10);
      expect(Number.isNaN(s.log.mean_fg_dice[0])).toBe(true);
      expect(s.log.mean_fg_dice[1]).toBe(0.5);
      const json = JSON.parse(readFileSync(join(tmp.dir, 'nnseg_training_state.json'), 'utf8'));
      json.version = 99;
      writeFileSync(join(tmp.dir, 'nnseg_training_state.json'), JSON.stringify(json));
      expect(() => readTrainingState(tmp.dir)).toThrow(/nnseg-training-state v1/);
    } finally {
      tmp.cleanup();
    }
  });
});

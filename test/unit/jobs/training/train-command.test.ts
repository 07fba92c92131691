/** The command lines a train job runs (pure), checked argument by argument. */
import { correctionsDatasetArgs, correctionsDatasetName, defaultSaveEvery, trainArgs } from '../../../../server/src/jobs/training/train-command.js';
import { parseTrainRequest } from '../../../../server/src/contract/train-request.js';

const paths = { rawDatasetFolder: '/data/raw/Dataset901_Liver', preprocessedRoot: '/w/t/1/preprocessed', resultsRoot: '/w/t/1/results', store: '/models' };

describe('train job command lines', () => {
  it('saves about 20 times per run, at most every 50 epochs (nnU-Net) and at least every epoch', () => {
    expect([defaultSaveEvery(1000), defaultSaveEvery(2000), defaultSaveEvery(100), defaultSaveEvery(40), defaultSaveEvery(4)]).toEqual([50, 50, 5, 2, 1]);
  });

  it('defaults: nnU-Net length (1000 epochs), fold 0, events on stdout, registered in the store', () => {
    const r = parseTrainRequest({ source: { kind: 'dataset', name: 'Dataset901_Liver' }, configuration: '3d_fullres', registerAs: 'liver' });
    expect(trainArgs(r, paths, { resume: false })).toEqual([
      'train', '-d', '/data/raw/Dataset901_Liver', '-c', '3d_fullres', '-f', '0',
      '--preprocessed', '/w/t/1/preprocessed', '--results', '/w/t/1/results', '--store', '/models', '--register-as', 'liver',
      '--epochs', '1000', '--save-every', '50', '--events-json',
    ]);
  });

  it('passes every override, the pretrained model, and --resume', () => {
    const r = parseTrainRequest({
      source: { kind: 'dataset', name: 'Dataset901_Liver' },
      configuration: '2d',
      fold: 'all',
      registerAs: 'liver-v2',
      pretrained: 'liver',
      epochs: 40,
      iterationsPerEpoch: 25,
      validationIterations: 2,
      seed: 7,
      backend: 'wasm',
      network: { baseFeatures: 4, maxFeatures: 8, maxStages: 3, patchSize: [32, 32], batchSize: 2 },
    });
    const args = trainArgs(r, paths, { resume: true });
    expect(args.slice(args.indexOf('--epochs'))).toEqual([
      '--epochs', '40', '--save-every', '2', '--events-json', '--iters', '25', '--val-iters', '2', '--seed', '7', '--backend', 'wasm', '--pretrained', 'liver',
      '--base-features', '4', '--max-features', '8', '--max-stages', '3', '--patch-size', '32,32', '--batch-size', '2', '--resume',
    ]);
    expect(args.slice(0, 7)).toEqual(['train', '-d', '/data/raw/Dataset901_Liver', '-c', '2d', '-f', 'all']);
  });

  it('builds a corrections dataset with a safe name, only the chosen model\'s corrections', () => {
    expect(correctionsDatasetName('liver.v2')).toBe('Dataset500_liver_v2');
    const r = parseTrainRequest({ source: { kind: 'corrections', model: 'liver' }, configuration: '3d_fullres', registerAs: 'liver.v2' });
    expect(correctionsDatasetArgs(r, { datasetName: 'Dataset500_liver_v2', rawRoot: '/w/t/1/raw', workDir: '/w', configFile: '/w/t/1/.pacs-config.json' })).toEqual([
      'corrections', 'dataset', '--name', 'Dataset500_liver_v2', '-o', '/w/t/1/raw', '--work-dir', '/w', '--config', '/w/t/1/.pacs-config.json', '--overwrite', '--model', 'liver',
    ]);
  });

  it('refuses requests that name a path, an unknown configuration or a hostile model name', () => {
    const base = { source: { kind: 'dataset', name: 'Dataset901_Liver' }, configuration: '3d_fullres', registerAs: 'liver' };
    expect(() => parseTrainRequest({ ...base, source: { kind: 'dataset', name: '/etc/passwd' } })).toThrow(/source\.name/);
    expect(() => parseTrainRequest({ ...base, source: { kind: 'folder', path: '/tmp' } })).toThrow(/source/);
    expect(() => parseTrainRequest({ ...base, configuration: '3d_cascade_fullres' })).toThrow(/configuration/);
    expect(() => parseTrainRequest({ ...base, registerAs: '../x' })).toThrow(/registerAs/);
    expect(() => parseTrainRequest({ ...base, epochs: 0 })).toThrow(/epochs/);
    expect(() => parseTrainRequest({ ...base, network: { patchSize: [1, 2, 3, 4] } })).toThrow(/network\.patchSize/);
    expect(() => parseTrainRequest({ ...base, extra: 1 })).toThrow(/extra/);
  });
});

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpPythonJson, parsePythonJson, pythonFloatRepr } from '../../../../server/src/formats/python-json.js';
import { computeMetrics, parseSummary, serializeSummary, summarize } from '../../../../server/src/nnunet/evaluation/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, '../../../fixtures/evaluation');
const fx = parsePythonJson(readFileSync(join(fixtures, 'evaluation.json'), 'utf8')) as { shape: [number, number, number]; reference: string; prediction: string };
const digits = (s: string) => Uint8Array.from(s, (c) => Number(c));

describe('summary.json', () => {
  it('is byte-identical to what nnU-Net (Python json, sort_keys, indent 4) writes for the same cases', () => {
    const ref = digits(fx.reference);
    const pred = digits(fx.prediction);
    const labels = [1, 2, [1, 2], 3];
    const summary = summarize([
      { reference_file: '/data/ref/case_a.nii.gz', prediction_file: '/data/pred/case_a.nii.gz', metrics: computeMetrics(ref, pred, fx.shape, labels) },
      { reference_file: '/data/ref/case_b.nii.gz', prediction_file: '/data/pred/case_b.nii.gz', metrics: computeMetrics(pred, ref, fx.shape, labels) },
    ]);
    const golden = readFileSync(join(fixtures, 'summary_golden.json'), 'utf8');
    expect(serializeSummary(summary)).toBe(golden);
  });
  it('aggregates with nanmean per label and a plain mean over foreground labels (label 0 excluded)', () => {
    const s = summarize([
      { reference_file: 'r1', prediction_file: 'p1', metrics: { '0': { Dice: 1 } as never, '1': { Dice: 0.5 } as never, '2': { Dice: NaN } as never } },
      { reference_file: 'r2', prediction_file: 'p2', metrics: { '0': { Dice: 1 } as never, '1': { Dice: 1 } as never, '2': { Dice: 0.25 } as never } },
    ]);
    expect(s.mean['1'].Dice).toBe(0.75);
    expect(s.mean['2'].Dice).toBe(0.25);
    expect(s.foreground_mean.Dice).toBe(0.5);
  });
  it('parses back, NaN included, and rejects files that are not summaries', () => {
    const s = parseSummary(readFileSync(join(fixtures, 'summary_golden.json'), 'utf8'));
    expect(s.metric_per_case).toHaveLength(2);
    expect(s.mean['3'].Dice).toBeNaN();
    expect(s.mean['(1, 2)'].TP).toBe(52);
    expect(() => parseSummary('{"mean": {}}', 'x/summary.json')).toThrow(/x\/summary.json: not an nnU-Net summary/);
  });
});

describe('Python json', () => {
  it('formats floats like repr()', () => {
    expect(pythonFloatRepr(1)).toBe('1.0');
    expect(pythonFloatRepr(0.5)).toBe('0.5');
    expect(pythonFloatRepr(1e-5)).toBe('1e-05');
    expect(pythonFloatRepr(0.0001)).toBe('0.0001');
    expect(pythonFloatRepr(1.5e-7)).toBe('1.5e-07');
    expect(pythonFloatRepr(1e16)).toBe('1e+16');
    expect(pythonFloatRepr(123456789012345.6)).toBe('123456789012345.6');
    expect(pythonFloatRepr(-2.5)).toBe('-2.5');
    expect(pythonFloatRepr(NaN)).toBe('NaN');
  });
  it('sorts keys by code point, not like JS integer-key order', () => {
    expect(dumpPythonJson({ b: 1, '10': 2, '2': 3, A: [] }, { indent: 1 })).toBe('{\n "10": 2,\n "2": 3,\n "A": [],\n "b": 1\n}');
  });
  it('reads NaN/Infinity tokens but leaves strings alone', () => {
    expect(parsePythonJson('{"a": NaN, "b": [Infinity, -Infinity], "c": "NaN"}')).toEqual({ a: NaN, b: [Infinity, -Infinity], c: 'NaN' });
  });
});

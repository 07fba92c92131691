import type { StoredCorrection } from '../../../server/src/contract/corrections.js';
import { planCorrectionsDataset } from '../../../server/src/training/corrections-dataset.js';

let n = 0;
function correction(o: { series: string; model?: string; at: string; labels?: Record<string, number> }): StoredCorrection {
  n++;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    header: { version: 1, model: o.model ?? 'm', studyInstanceUID: '1.2', seriesInstanceUID: o.series, shape: [1, 2, 2], labels: o.labels ?? { kidney: 2, background: 0, liver: 1 } },
    receivedAt: o.at,
    subject: 'a',
    byteLength: 4,
  };
}

describe('planCorrectionsDataset', () => {
  it('names cases in receive order, keeps the newest per series and model, orders labels by value', () => {
    const c1 = correction({ series: '1.1', at: '2026-01-01T10:00:00.000Z' });
    const c2 = correction({ series: '1.2', at: '2026-01-01T09:00:00.000Z' });
    const c3 = correction({ series: '1.1', at: '2026-01-02T10:00:00.000Z' });
    const c4 = correction({ series: '1.1', model: 'm2', at: '2026-01-03T10:00:00.000Z' });
    const plan = planCorrectionsDataset([c1, c2, c3, c4]);
    expect(plan.cases.map((c) => [c.case, c.correction.id])).toEqual([
      ['correction_001', c2.id],
      ['correction_002', c3.id],
      ['correction_003', c4.id],
    ]);
    expect(plan.superseded).toEqual([{ correctionId: c1.id, by: c3.id }]);
    expect(Object.entries(plan.labels)).toEqual([
      ['background', 0],
      ['liver', 1],
      ['kidney', 2],
    ]);
    expect(planCorrectionsDataset([c1, c2, c3, c4], { model: 'm2', casePrefix: 'liver' }).cases.map((c) => c.case)).toEqual(['liver_001']);
  });

  it('widens the case number past 999 cases', () => {
    const many = Array.from({ length: 1000 }, (_, i) => correction({ series: `1.${i}`, at: `2026-01-01T00:00:00.${String(i % 1000).padStart(3, '0')}Z` }));
    const plan = planCorrectionsDataset(many);
    expect(plan.cases[0].case).toBe('correction_0001');
    expect(plan.cases[999].case).toBe('correction_1000');
  });

  it('refuses differing label sets, naming both sides, and an empty selection', () => {
    const c1 = correction({ series: '1.1', at: '2026-01-01T10:00:00.000Z' });
    const c2 = correction({ series: '1.2', model: 'x', at: '2026-01-01T11:00:00.000Z', labels: { background: 0, liver: 1 } });
    expect(() => planCorrectionsDataset([c1, c2])).toThrow(`the corrections do not agree on their labels: ${c1.id} (model m) has {"kidney":2,"background":0,"liver":1} but ${c2.id} (model x) has {"background":0,"liver":1}; build one dataset per label set (--model)`);
    // the same names with different values differ too
    const c3 = correction({ series: '1.3', at: '2026-01-01T12:00:00.000Z', labels: { background: 0, liver: 2, kidney: 1 } });
    expect(() => planCorrectionsDataset([c1, c3])).toThrow(/do not agree/);
    expect(() => planCorrectionsDataset([])).toThrow('no stored corrections');
    expect(() => planCorrectionsDataset([c1], { model: 'y' })).toThrow('no stored corrections for model "y" (models with corrections: m)');
  });
});

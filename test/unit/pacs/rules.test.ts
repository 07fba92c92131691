import { parsePacsConfig, pacsHeaders } from '../../../server/src/pacs/config.js';
import { routeSeries, ruleMatches } from '../../../server/src/pacs/rules.js';

const base = { version: 1, dicomWeb: { url: 'http://pacs:8042/dicom-web' }, ledger: '/tmp/l.jsonl' };
const s = (o: Record<string, string | undefined>) => ({ studyInstanceUID: '1.2', seriesInstanceUID: '1.2.3', ...o });

describe('routing rules', () => {
  const config = parsePacsConfig({
    ...base,
    rules: [
      { name: 'liver', match: { modality: 'CT', bodyPart: ['ABDOMEN', 'chest'], seriesDescription: 'portal|venous' }, model: 'liver-v2' },
      { match: { modality: ['MR'], callingAE: 'SCANNER1' }, model: 'brain', options: { tta: false } },
      { match: { modality: 'CT' }, model: 'generic-ct' },
    ],
  });

  it('first matching rule wins; modality, body part and AE compare case-insensitively; description is a regex', () => {
    expect(routeSeries(config.rules, s({ modality: 'ct', bodyPart: 'Abdomen', seriesDescription: 'AX PORTAL 3mm' }))?.name).toBe('liver');
    expect(routeSeries(config.rules, s({ modality: 'CT', bodyPart: 'CHEST', seriesDescription: 'arterial' }))?.rule.model).toBe('generic-ct');
    expect(routeSeries(config.rules, s({ modality: 'MR', callingAE: 'scanner1' }))?.name).toBe('rule-1');
    expect(routeSeries(config.rules, s({ modality: 'MR', callingAE: 'SCANNER2' }))).toBeUndefined();
    // an AE rule never matches when the sender is unknown (QIDO does not say)
    expect(routeSeries(config.rules, s({ modality: 'MR' }))).toBeUndefined();
  });

  it('a missing attribute fails a rule that asks for it', () => {
    expect(ruleMatches({ bodyPart: 'ABDOMEN' }, s({ modality: 'CT' }))).toBe(false);
    expect(ruleMatches({ seriesDescription: '^$' }, s({}))).toBe(true);
    expect(ruleMatches({}, s({}))).toBe(true);
  });

  it('never routes SEG, SR and other derived objects, even with a match-all rule', () => {
    const all = parsePacsConfig({ ...base, rules: [{ match: {}, model: 'm' }] }).rules;
    expect(routeSeries(all, s({ modality: 'SEG' }))).toBeUndefined();
    expect(routeSeries(all, s({ modality: 'sr' }))).toBeUndefined();
    expect(routeSeries(all, s({ modality: 'CT' }))?.rule.model).toBe('m');
  });
});

describe('PACS config', () => {
  it('fills defaults', () => {
    const c = parsePacsConfig({ ...base, rules: [{ match: {}, model: 'm' }] });
    expect(c.discovery).toEqual({ mode: 'auto', pollIntervalSeconds: 10, stableSeconds: 30, lookbackDays: 1, startFrom: 'now' });
    expect(c.dicomWeb.retries).toBe(3);
    expect(c.maxInFlight).toBe(2);
    expect(c.rules[0]!.options).toEqual({});
  });

  it('names every problem with its path', () => {
    expect(() => parsePacsConfig({ ...base, version: 2, rules: [] }, 'rules.json')).toThrow(/^rules.json: version: .*; rules: at least one routing rule is needed/);
    expect(() => parsePacsConfig({ ...base, rules: [{ match: { seriesDescription: '(' }, model: 'm' }] })).toThrow(/rules.0.match.seriesDescription: not a valid regular expression/);
    expect(() => parsePacsConfig({ ...base, rules: [{ match: { modalty: 'CT' }, model: 'm' }] })).toThrow(/rules.0.match: .*modalty/);
    expect(() => parsePacsConfig({ ...base, dicomWeb: { url: 'not a url' }, rules: [{ match: {}, model: 'm' }] })).toThrow(/dicomWeb.url/);
  });

  it('builds the PACS headers; the env token wins over the file', () => {
    const c = parsePacsConfig({ ...base, dicomWeb: { url: base.dicomWeb.url, token: 'file-token', headers: { 'x-site': 'a' } }, rules: [{ match: {}, model: 'm' }] });
    expect(pacsHeaders(c, {})).toEqual({ 'x-site': 'a', authorization: 'Bearer file-token' });
    expect(pacsHeaders(c, { NNSEG_PACS_TOKEN: 'env-token' }).authorization).toBe('Bearer env-token');
  });
});

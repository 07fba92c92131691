/**
 * Finding new, complete series in the PACS. Two sources, one interface:
 *  - QIDO-RS polling (any PACS): series of studies dated from (watermark − lookback) on; a series is
 *    complete when its instance count has not changed for `stableSeconds`. The watermark is the date of the
 *    last poll.
 *  - Orthanc's change feed (/changes): 'StableSeries' events after the last seen sequence number (the
 *    watermark); Orthanc itself decides when a series is complete (its StableAge) and knows the sender AE.
 * A poll returns the series plus the watermark to commit once the watcher has recorded them in its ledger.
 */
import { jsonValue, type DicomWebClient } from '../dicom/dicomweb/client.js';
import type { SeriesAttributes } from './rules.js';

export type DiscoverySource = 'qido' | 'orthanc-changes';

export interface DiscoveryPoll {
  series: SeriesAttributes[];
  /** value to store as the new watermark after `series` are recorded */
  watermark: string;
  /** true when these series were already in the PACS at first start (startFrom 'now'): record, do not run */
  baseline?: boolean;
}

export interface SeriesDiscovery {
  readonly source: DiscoverySource;
  /** `known(series)` tells discovery to skip series the ledger already holds */
  poll(watermark: string | undefined, known: (series: string) => boolean, signal?: AbortSignal): Promise<DiscoveryPoll>;
}

const dicomDate = (d: Date) => d.toISOString().slice(0, 10).replace(/-/g, '');

function seriesFromQido(item: Record<string, unknown>): SeriesAttributes | undefined {
  const study = jsonValue(item, '0020000D');
  const series = jsonValue(item, '0020000E');
  if (!study || !series) return undefined;
  const count = jsonValue(item, '00201209');
  return {
    studyInstanceUID: study,
    seriesInstanceUID: series,
    modality: jsonValue(item, '00080060'),
    bodyPart: jsonValue(item, '00180015'),
    seriesDescription: jsonValue(item, '0008103E'),
    instances: count !== undefined && Number.isFinite(Number(count)) ? Number(count) : undefined,
  };
}

export class QidoDiscovery implements SeriesDiscovery {
  readonly source = 'qido' as const;
  /** series seen but not yet stable: instance count and when it was last seen changing */
  private readonly settling = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly client: DicomWebClient,
    private readonly options: { stableSeconds: number; lookbackDays: number; startFrom: 'now' | 'all'; now?: () => Date },
  ) {}

  async poll(watermark: string | undefined, known: (series: string) => boolean, signal?: AbortSignal): Promise<DiscoveryPoll> {
    const now = this.options.now?.() ?? new Date();
    const query: Record<string, string> = { includefield: '00180015,0008103E,00201209,00080060' };
    let baseline = false;
    if (watermark !== undefined || this.options.startFrom === 'now') {
      const from = watermark ? parseDicomDate(watermark) : now;
      from.setUTCDate(from.getUTCDate() - this.options.lookbackDays);
      query.StudyDate = `${dicomDate(from)}-`;
      baseline = watermark === undefined;
    }
    const found = await this.client.searchForSeries(query, { signal });
    const ready: SeriesAttributes[] = [];
    const t = now.getTime();
    const seen = new Set<string>();
    for (const item of found) {
      const s = seriesFromQido(item);
      if (!s || known(s.seriesInstanceUID)) continue;
      seen.add(s.seriesInstanceUID);
      if (baseline) {
        ready.push(s);
        continue;
      }
      const count = s.instances ?? -1;
      const prev = this.settling.get(s.seriesInstanceUID);
      if (!prev || prev.count !== count) this.settling.set(s.seriesInstanceUID, { count, since: t });
      const since = this.settling.get(s.seriesInstanceUID)!.since;
      if (t - since >= this.options.stableSeconds * 1000) {
        ready.push(s);
        this.settling.delete(s.seriesInstanceUID);
      }
    }
    for (const key of this.settling.keys()) if (!seen.has(key)) this.settling.delete(key); // deleted from the PACS
    return { series: ready, watermark: dicomDate(now), baseline };
  }
}

function parseDicomDate(v: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(v);
  if (!m) throw new Error(`QIDO watermark "${v}" is not a DICOM date (YYYYMMDD)`);
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
}

interface OrthancChange {
  ChangeType: string;
  ID: string;
  ResourceType: string;
  Seq: number;
}

export class OrthancChangesDiscovery implements SeriesDiscovery {
  readonly source = 'orthanc-changes' as const;

  constructor(
    private readonly orthancUrl: string,
    private readonly headers: Record<string, string>,
    private readonly options: { startFrom: 'now' | 'all'; timeoutMs?: number },
  ) {}

  private async get<T>(path: string, signal?: AbortSignal, allow404 = false): Promise<T | undefined> {
    const url = `${this.orthancUrl.replace(/\/+$/, '')}${path}`;
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 30_000);
    const response = await fetch(url, { headers: this.headers, signal: signal ? AbortSignal.any([signal, timeout]) : timeout }).catch((err: Error) => {
      throw new Error(`GET ${url}: ${(err.cause as Error | undefined)?.message ?? err.message}`);
    });
    if (allow404 && response.status === 404) {
      await response.arrayBuffer();
      return undefined;
    }
    if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status} ${(await response.text()).slice(0, 200)}`);
    const text = await response.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T;
    }
  }

  async poll(watermark: string | undefined, known: (series: string) => boolean, signal?: AbortSignal): Promise<DiscoveryPoll> {
    if (watermark === undefined && this.options.startFrom === 'now') {
      const last = await this.get<{ Last: number }>('/changes?last', signal);
      return { series: [], watermark: String(last?.Last ?? 0) };
    }
    let since = Number(watermark ?? 0);
    if (!Number.isInteger(since) || since < 0) throw new Error(`Orthanc change-feed watermark "${watermark}" is not a sequence number`);
    const ids: string[] = [];
    for (;;) {
      const page = await this.get<{ Changes: OrthancChange[]; Done: boolean; Last: number }>(`/changes?since=${since}&limit=500`, signal);
      if (!page) break;
      for (const c of page.Changes) if (c.ChangeType === 'StableSeries' && !ids.includes(c.ID)) ids.push(c.ID);
      since = Math.max(since, page.Last);
      if (page.Done || page.Changes.length === 0) break;
    }
    const series: SeriesAttributes[] = [];
    for (const id of ids) {
      const s = await this.get<{ MainDicomTags: Record<string, string>; ParentStudy: string; Instances: string[] }>(`/series/${id}`, signal, true);
      if (!s) continue; // deleted meanwhile
      const uid = s.MainDicomTags.SeriesInstanceUID;
      if (!uid || known(uid)) continue;
      const study = await this.get<{ MainDicomTags: Record<string, string> }>(`/studies/${s.ParentStudy}`, signal, true);
      if (!study?.MainDicomTags.StudyInstanceUID) continue;
      let callingAE: string | undefined;
      if (s.Instances[0]) {
        const aet = await this.get<string>(`/instances/${s.Instances[0]}/metadata/RemoteAET`, signal, true);
        if (typeof aet === 'string' && aet.trim()) callingAE = aet.trim();
      }
      series.push({
        studyInstanceUID: study.MainDicomTags.StudyInstanceUID,
        seriesInstanceUID: uid,
        modality: s.MainDicomTags.Modality,
        bodyPart: s.MainDicomTags.BodyPartExamined,
        seriesDescription: s.MainDicomTags.SeriesDescription,
        callingAE,
        instances: s.Instances.length,
      });
    }
    return { series, watermark: String(since) };
  }
}

/** Whether `url` is an Orthanc REST root (GET /system names it). */
export async function isOrthanc(url: string, headers: Record<string, string>): Promise<boolean> {
  try {
    const response = await fetch(`${url.replace(/\/+$/, '')}/system`, { headers, signal: AbortSignal.timeout(5000) });
    if (!response.ok) {
      await response.arrayBuffer();
      return false;
    }
    const body = (await response.json()) as Record<string, unknown>;
    return typeof body.ApiVersion === 'number' && typeof body.Version === 'string';
  } catch {
    return false;
  }
}

/** Orthanc's REST root from its DICOMweb root (…/dicom-web → …). */
export const orthancRootOf = (dicomWebUrl: string) => dicomWebUrl.replace(/\/+$/, '').replace(/\/dicom-web$/, '');

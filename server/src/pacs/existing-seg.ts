/**
 * Is there already a SEG from nnseg for this series in the PACS? Checked before a job is submitted and
 * again right before storing, so a restart or a second watcher never stores a second SEG.
 * QIDO-RS cannot filter on ReferencedSeriesSequence, so: SEG series of the study (QIDO), then their
 * instance metadata (WADO-RS): Manufacturer "nnseg" and a ReferencedSeriesSequence item naming the series.
 */
import { jsonValue, type DicomJson, type DicomWebClient } from '../dicom/dicomweb/client.js';

const MANUFACTURER = '00080070';
const SOP_INSTANCE_UID = '00080018';
const SERIES_INSTANCE_UID = '0020000E';
const REFERENCED_SERIES_SEQUENCE = '00081115';

/** What seg-writer.ts writes as Manufacturer. */
export const NNSEG_MANUFACTURER = 'nnseg';

export interface ExistingSeg {
  segSeriesInstanceUID: string;
  segSopInstanceUID: string;
}

export function referencesSeries(instance: DicomJson, series: string): boolean {
  const items = (instance[REFERENCED_SERIES_SEQUENCE]?.Value ?? []) as DicomJson[];
  return items.some((item) => jsonValue(item, SERIES_INSTANCE_UID) === series);
}

export async function findExistingSeg(client: DicomWebClient, study: string, series: string, signal?: AbortSignal): Promise<ExistingSeg | undefined> {
  const segSeries = await client.searchForSeries({ Modality: 'SEG' }, { study, signal });
  for (const s of segSeries) {
    const segSeriesUID = jsonValue(s, SERIES_INSTANCE_UID);
    if (!segSeriesUID) continue;
    const instances = await client.retrieveSeriesMetadata(study, segSeriesUID, { signal });
    for (const instance of instances) {
      if (jsonValue(instance, MANUFACTURER) !== NNSEG_MANUFACTURER) continue;
      if (referencesSeries(instance, series)) return { segSeriesInstanceUID: segSeriesUID, segSopInstanceUID: jsonValue(instance, SOP_INSTANCE_UID) ?? '' };
    }
  }
  return undefined;
}
